#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cairn/storage.h"
#include "storage/testing/storage_conformance.h"
#include "storage/testing/storage_test_util.h"

namespace cairn::storage_testing {
namespace {

INSTANTIATE_TEST_SUITE_P(Local, StorageConformanceTest,
                         ::testing::Values(StorageDriver{"local", &MakeScratchLocalStorage}));

constexpr std::string_view kTempMarker = ".cairn-tmp-";

class LocalStorageTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(storage_, nullptr); }

  std::string PathOf(std::string_view key) const { return storage_->location() + "/" + std::string(key); }

  // Stands in for what a crashed Put leaves behind.
  void WriteStrayFile(std::string_view key) const {
    std::filesystem::create_directories(std::filesystem::path(PathOf(key)).parent_path());
    std::ofstream(PathOf(key)) << "partial";
  }

  std::vector<std::string> FilesWithTempMarker() const {
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(storage_->location()))
      if (entry.path().filename().string().find(kTempMarker) != std::string::npos) found.push_back(entry.path());
    return found;
  }

  std::unique_ptr<Storage> storage_ = MakeScratchLocalStorage();
};

TEST_F(LocalStorageTest, PutLeavesNoTempFilesBehind) {
  ASSERT_TRUE(IsOk(storage_->Put("data/ab/ab01", PatternBytes(1000, 1))));
  ASSERT_TRUE(IsOk(storage_->Put("data/ab/ab01", PatternBytes(10, 2))));
  ASSERT_TRUE(IsOk(storage_->Put("config", {})));
  // Fails at the rename, after the temp file was written: a directory is in the way.
  EXPECT_FALSE(storage_->Put("data", AsBytes("x")).ok());
  EXPECT_EQ(FilesWithTempMarker(), std::vector<std::string>{});
}

TEST_F(LocalStorageTest, ListIgnoresStrayTempFiles) {
  ASSERT_TRUE(IsOk(storage_->Put("data/ab/ab01", PatternBytes(100, 1))));
  WriteStrayFile("data/ab/ab01.cairn-tmp-123-0");
  WriteStrayFile("config.cairn-tmp-123-1");
  auto listed = ListAll(*storage_, "");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_EQ(*listed, (std::map<std::string, uint64_t>{{"data/ab/ab01", 100}}));
}

TEST_F(LocalStorageTest, RemoveIncompleteWritesDeletesOnlyTempFiles) {
  ASSERT_TRUE(IsOk(storage_->Put("data/ab/ab01", PatternBytes(100, 1))));
  WriteStrayFile("data/ab/ab02.cairn-tmp-123-0");
  WriteStrayFile("index/cd.cairn-tmp-9-9");
  auto removed = storage_->RemoveIncompleteWrites();
  ASSERT_TRUE(IsOk(removed.status()));
  EXPECT_EQ(*removed, 2u);
  EXPECT_EQ(FilesWithTempMarker(), std::vector<std::string>{});
  EXPECT_TRUE(storage_->Stat("data/ab/ab01").ok());
}

// Otherwise an object could exist that List never reports.
TEST_F(LocalStorageTest, KeysContainingTheTempMarkerAreRejected) {
  EXPECT_TRUE(HasCode(storage_->Put("config.cairn-tmp-1-0", AsBytes("x")), StatusCode::kInvalidArgument));
}

// In a container every run may get the same pid, so a crashed run's temp files
// can carry exactly the names a new run would pick.
TEST_F(LocalStorageTest, PutSucceedsDespiteTempFilesFromACrashedRunWithTheSamePid) {
  for (int counter = 0; counter < 16; ++counter)
    WriteStrayFile("config" + std::string(kTempMarker) + std::to_string(::getpid()) + "-" + std::to_string(counter));
  EXPECT_TRUE(IsOk(storage_->Put("config", AsBytes("{}"))));
  EXPECT_TRUE(HoldsBytes(storage_->Get("config"), AsBytes("{}")));
}

TEST_F(LocalStorageTest, OpeningAMissingDirectoryWithoutCreateIsNotFound) {
  auto opened = OpenLocalStorage(storage_->location() + "/missing", /*create=*/false);
  EXPECT_TRUE(HasCode(opened.status(), StatusCode::kNotFound));
}

TEST_F(LocalStorageTest, OpeningAMissingDirectoryWithCreateMakesIt) {
  auto opened = OpenLocalStorage(storage_->location() + "/new/repo", /*create=*/true);
  ASSERT_TRUE(IsOk(opened.status()));
  EXPECT_TRUE(std::filesystem::is_directory(storage_->location() + "/new/repo"));
}

TEST_F(LocalStorageTest, OpeningAFileIsInvalidArgument) {
  ASSERT_TRUE(IsOk(storage_->Put("file", AsBytes("x"))));
  for (bool create : {false, true}) {
    auto opened = OpenLocalStorage(PathOf("file"), create);
    EXPECT_TRUE(HasCode(opened.status(), StatusCode::kInvalidArgument)) << "create=" << create;
  }
}

}  // namespace
}  // namespace cairn::storage_testing
