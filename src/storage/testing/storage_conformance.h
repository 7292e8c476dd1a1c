// The conformance suite every storage driver must pass: the contract of
// cairn::Storage (include/cairn/storage.h) as tests. The tests live in
// storage_conformance.cc; a driver's test file runs them with one line:
//
//   namespace cairn::storage_testing {
//   INSTANTIATE_TEST_SUITE_P(Local, StorageConformanceTest,
//                            ::testing::Values(StorageDriver{"local", &MakeScratchLocalStorage}));
//   }
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "cairn/storage.h"

namespace cairn::storage_testing {

struct StorageDriver {
  std::string name;
  // A fresh, empty storage per call; whatever it needs to clean up when
  // destroyed it should own (see WithCleanup in storage_test_util.h).
  std::function<std::unique_ptr<Storage>()> make_empty_storage;
};

inline void PrintTo(const StorageDriver& driver, std::ostream* out) { *out << driver.name; }

class StorageConformanceTest : public ::testing::TestWithParam<StorageDriver> {
 protected:
  void SetUp() override;
  Storage& storage() { return *storage_; }

 private:
  std::unique_ptr<Storage> storage_;
};

}  // namespace cairn::storage_testing
