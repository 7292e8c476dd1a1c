#include "engine/safe_path.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace cairn {
namespace {

namespace fs = std::filesystem;

class SafePathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-safe-XXXXXX";
    dir_ = mkdtemp(tmpl);
    fs::create_directories(dir_ + "/root/real");
    fs::create_directories(dir_ + "/outside");
    fs::create_symlink(dir_ + "/outside", dir_ + "/root/link");
    testing::ForceComponentWalk(GetParam());
  }
  void TearDown() override {
    testing::ForceComponentWalk(false);
    fs::remove_all(dir_);
  }
  std::string dir_;
};

TEST_P(SafePathTest, NeverOpensThroughASymlinkInAnyComponent) {
  auto root = SafeRoot::Open(dir_ + "/root", false);
  ASSERT_TRUE(root.ok());
  auto inside = root->OpenAt("real/f", O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_TRUE(inside.ok()) << inside.status().message();
  EXPECT_TRUE(fs::exists(dir_ + "/root/real/f"));
  int err = 0;
  auto through = root->OpenAt("link/f", O_WRONLY | O_CREAT | O_EXCL, 0600, &err);
  ASSERT_FALSE(through.ok());
  EXPECT_EQ(err, ELOOP);
  EXPECT_NE(through.status().message().find("refusing to follow a symlink"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ + "/outside/f")) << "wrote outside the restore target";
  auto final_link = root->OpenAt("link", O_WRONLY | O_CREAT, 0600, &err);
  EXPECT_FALSE(final_link.ok()) << "a symlink as the last component was followed";
  auto parent = root->OpenParent("link/x");
  EXPECT_FALSE(parent.ok());
}

TEST_P(SafePathTest, RemoveDeletesALinkNotWhatItPointsTo) {
  std::ofstream(dir_ + "/outside/keep") << "x";
  auto root = SafeRoot::Open(dir_ + "/root", false);
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE(root->Remove("link").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/root/link"));
  EXPECT_TRUE(fs::exists(dir_ + "/outside/keep"));
  fs::create_directories(dir_ + "/root/real/deep/er");
  fs::create_symlink(dir_ + "/outside", dir_ + "/root/real/deep/er/l");
  ASSERT_TRUE(root->Remove("real").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/root/real"));
  EXPECT_TRUE(fs::exists(dir_ + "/outside/keep"));
}

INSTANTIATE_TEST_SUITE_P(Openat2AndComponentWalk, SafePathTest, ::testing::Values(false, true));

}  // namespace
}  // namespace cairn
