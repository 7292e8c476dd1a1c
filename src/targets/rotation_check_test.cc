// A rotating read-data check on a real repository target: every pack is
// read exactly once over ceil(1/share) runs, and each run reads about its
// share, so a scheduled `check: {read_data: 34%}` proves all the data
// within three runs at a third of the cost each.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "cairn/engine.h"
#include "cairn/repository.h"
#include "cairn/target.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

TEST(RotationCheckTest, EveryPackIsReadOnceWithinTheRotation) {
  char tmpl[] = "/tmp/cairn-rotation-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string repo_path = dir + "/repo", src = dir + "/src";
  fs::create_directories(src);
  std::mt19937 rng(5);
  for (int i = 0; i < 12; ++i) {
    std::string noise(200000, '\0');
    for (char& c : noise) c = static_cast<char>(rng());
    std::ofstream(src + "/f" + std::to_string(i), std::ios::binary) << noise;
  }
  InitOptions o;
  o.kdf = {1, 8 * 1024 * 1024};
  o.chunker = {16 * 1024, 64 * 1024, 256 * 1024};
  o.pack_size = 128 * 1024;  // many packs
  {
    auto storage = OpenLocalStorage(repo_path, true);
    ASSERT_TRUE(storage.ok());
    ASSERT_TRUE(Repository::Init(**storage, "rot", o).ok());
    auto repo = Repository::Open(OpenLocalStorage(repo_path, false).value(), "rot");
    ASSERT_TRUE(repo.ok());
    BackupOptions b;
    b.paths = {src};
    b.threads = 1;
    ASSERT_TRUE(RunBackup(**repo, b).ok());
  }
  TargetConfig tc;
  tc.name = "local";
  tc.type = "repository";
  tc.location = repo_path;
  tc.password = "rot";
  auto target = OpenTarget(tc);
  ASSERT_TRUE(target.ok()) << target.status().message();

  const double share = 0.34;  // ceil(1/0.34) = 3 runs
  uint64_t total = 0, read = 0;
  for (int64_t run = 0; run < 3; ++run) {
    TargetCheckReport report;
    Status st = (*target)->Check(TargetCheckOptions{share, run}, &report);
    ASSERT_TRUE(st.ok()) << st.message();
    if (run == 0) total = report.packs;
    EXPECT_EQ(report.packs, total);
    EXPECT_GT(report.packs_read, 0u) << "run " << run;
    EXPECT_LT(report.packs_read, total) << "run " << run << " read everything";
    read += report.packs_read;
  }
  EXPECT_GE(total, 10u);
  EXPECT_EQ(read, total) << "three runs of a third read every pack exactly once";
  // Run 3 starts the rotation again: the packs of run 0.
  TargetCheckReport first, again;
  ASSERT_TRUE((*target)->Check(TargetCheckOptions{share, 0}, &first).ok());
  ASSERT_TRUE((*target)->Check(TargetCheckOptions{share, 3}, &again).ok());
  EXPECT_EQ(first.packs_read, again.packs_read);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cairn
