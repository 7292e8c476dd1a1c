// Helpers shared by the storage tests: assertions that print a Status (gtest
// cannot), reproducible test data, and scratch storages that clean up after
// themselves.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/bytes.h"
#include "cairn/status.h"
#include "cairn/storage.h"

namespace cairn::storage_testing {

::testing::AssertionResult IsOk(const Status& status);
::testing::AssertionResult HasCode(const Status& status, StatusCode expected);

// Compares without printing megabytes of bytes when they differ.
::testing::AssertionResult SameBytes(ByteView actual, ByteView expected);
// Ok and holding exactly `expected`.
::testing::AssertionResult HoldsBytes(const Result<Bytes>& actual, ByteView expected);

// Pseudo-random bytes, the same for the same seed. Random rather than repeated
// content makes a read at the wrong offset or from the wrong object visible.
Bytes PatternBytes(size_t size, uint64_t seed);

// Every object under `prefix`, key -> size.
Result<std::map<std::string, uint64_t>> ListAll(Storage& storage, std::string_view prefix);

// Runs `cleanup` once `storage` is destroyed, so a test can own a storage
// together with the scratch space behind it (a temp dir, a bucket prefix).
std::unique_ptr<Storage> WithCleanup(std::unique_ptr<Storage> storage, std::function<void()> cleanup);

// A local storage in a fresh directory under /tmp, removed with the storage.
// Null (and a test failure) when the directory cannot be made.
std::unique_ptr<Storage> MakeScratchLocalStorage();

}  // namespace cairn::storage_testing
