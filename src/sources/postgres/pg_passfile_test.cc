#include "sources/postgres/pg_passfile.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace cairn::pgsrc {
namespace {

TEST(PassFileTest, EscapesTheSeparatorAndTheEscape) {
  EXPECT_EQ(PassFile::Line("s3cret"), "*:*:*:*:s3cret\n");
  EXPECT_EQ(PassFile::Line("a:b\\c"), "*:*:*:*:a\\:b\\\\c\n");
}

TEST(PassFileTest, OwnerOnlyInAPrivateDirectoryAndGoneWithTheLastReference) {
  const std::string parent = ::testing::TempDir();
  std::string path, dir;
  {
    auto f = PassFile::Create("pw:1", parent);
    ASSERT_TRUE(f.ok()) << f.status().message();
    path = (*f)->path();
    dir = std::filesystem::path(path).parent_path().string();
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), "*:*:*:*:pw\\:1\n");
    auto copy = *f;  // an Endpoint copy keeps it
    f = Status::Aborted("dropped");
    EXPECT_EQ(::access(path.c_str(), F_OK), 0);
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
  EXPECT_NE(::access(dir.c_str(), F_OK), 0);
}

TEST(PassFileTest, ALineBreakCannotBeWrittenAsOneEntry) {
  EXPECT_FALSE(PassFile::Create("a\nb", ::testing::TempDir()).ok());
}

}  // namespace
}  // namespace cairn::pgsrc
