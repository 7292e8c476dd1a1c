#include "storage/testing/storage_test_util.h"

#include "cairn/forwarding_storage.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace cairn::storage_testing {

::testing::AssertionResult IsOk(const Status& status) {
  if (status.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status code " << static_cast<int>(status.code()) << ": "
                                       << status.message();
}

::testing::AssertionResult HasCode(const Status& status, StatusCode expected) {
  if (status.code() == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "expected status code " << static_cast<int>(expected) << ", got "
                                       << static_cast<int>(status.code()) << " (" << status.ToString() << ")";
}

::testing::AssertionResult SameBytes(ByteView actual, ByteView expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << actual.size() << " bytes, expected " << expected.size();
  auto [differs, _] = std::mismatch(actual.begin(), actual.end(), expected.begin());
  if (differs != actual.end())
    return ::testing::AssertionFailure() << "bytes differ from offset " << (differs - actual.begin());
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult HoldsBytes(const Result<Bytes>& actual, ByteView expected) {
  if (!actual.ok()) return IsOk(actual.status());
  return SameBytes(*actual, expected);
}

Bytes PatternBytes(size_t size, uint64_t seed) {
  Bytes out(size);
  uint64_t state = seed;
  for (size_t i = 0; i < size; i += sizeof(uint64_t)) {
    // splitmix64: fast enough for tens of MiB, and every seed gives a distinct stream.
    uint64_t z = (state += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    z ^= z >> 31;
    std::memcpy(out.data() + i, &z, std::min(sizeof(z), size - i));
  }
  return out;
}

Result<std::map<std::string, uint64_t>> ListAll(Storage& storage, std::string_view prefix) {
  std::map<std::string, uint64_t> sizes;
  Status status = storage.List(prefix, [&](const ObjectInfo& info) {
    if (!sizes.emplace(info.key, info.size).second)
      return Status::Corruption("List reported " + info.key + " twice");
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return sizes;
}

namespace {

class StorageWithCleanup final : public ForwardingStorage {
 public:
  StorageWithCleanup(std::unique_ptr<Storage> storage, std::function<void()> cleanup)
      : ForwardingStorage(storage.get()), storage_(std::move(storage)), cleanup_(std::move(cleanup)) {}
  ~StorageWithCleanup() override {
    storage_.reset();
    cleanup_();
  }

  // Forwards PutUnsynced and Flush too: the wrapped driver's own durability is under test.
  Status PutUnsynced(std::string_view key, ByteView data) override { return storage_->PutUnsynced(key, data); }
  Status Flush() override { return storage_->Flush(); }

 private:
  std::unique_ptr<Storage> storage_;
  std::function<void()> cleanup_;
};

}  // namespace

std::unique_ptr<Storage> WithCleanup(std::unique_ptr<Storage> storage, std::function<void()> cleanup) {
  return std::make_unique<StorageWithCleanup>(std::move(storage), std::move(cleanup));
}

std::unique_ptr<Storage> MakeScratchLocalStorage() {
  char dir_template[] = "/tmp/cairn-storage-test-XXXXXX";
  if (!::mkdtemp(dir_template)) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return nullptr;
  }
  const std::string dir = dir_template;
  auto remove_dir = [dir] {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  };
  auto storage = OpenLocalStorage(dir, /*create=*/false);
  if (!storage.ok()) {
    remove_dir();
    ADD_FAILURE() << "OpenLocalStorage(" << dir << "): " << storage.status().ToString();
    return nullptr;
  }
  return WithCleanup(std::move(storage).value(), remove_dir);
}

}  // namespace cairn::storage_testing
