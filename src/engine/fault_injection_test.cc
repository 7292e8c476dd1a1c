// 200 seeded single faults (a flipped byte or a truncation) across packs,
// index files, snapshots and key files of a small repository: for each,
// check --read-data must report it naming the object, nothing may crash,
// every snapshot check calls intact must restore byte for byte, a damaged one
// must never restore wrong data silently, and a new backup must work.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "cairn/engine.h"
#include "cairn/maintenance.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

constexpr char kPassword[] = "fault-injection";
constexpr int kSeeds = 200;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteAll(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

// Every regular file below `root`, relative path -> content.
std::map<std::string, std::string> Contents(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = ReadAll(e.path());
  return out;
}

class FaultInjectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/cairn-faults-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    const std::string src = *dir_ + "/src";
    InitOptions o;
    o.kdf = {1, 8 * 1024 * 1024};
    o.chunker = {16 * 1024, 64 * 1024, 256 * 1024};
    o.pack_size = 128 * 1024;
    auto storage = OpenLocalStorage(*dir_ + "/pristine", true);
    ASSERT_TRUE(storage.ok());
    ASSERT_TRUE(Repository::Init(**storage, kPassword, o).ok());
    auto repo = Repository::Open(OpenLocalStorage(*dir_ + "/pristine", false).value(), kPassword).value();
    ASSERT_TRUE(repo->AddKey("second-password", o.kdf).ok());  // a damaged key must not lock everyone out
    std::mt19937 rng(5);
    expected_ = new std::map<std::string, std::map<std::string, std::string>>();
    // Three snapshots of a changing tree; each has files of its own and files
    // shared with the others (deduplicated).
    for (int round = 0; round < 3; ++round) {
      fs::create_directories(src + "/d" + std::to_string(round));
      for (int i = 0; i < 4; ++i) {
        std::string noise(40000 + 30000 * i, '\0');
        for (char& c : noise) c = static_cast<char>(rng());
        WriteAll(src + "/d" + std::to_string(round) + "/f" + std::to_string(i), noise);
      }
      WriteAll(src + "/text.txt", std::string(20000, static_cast<char>('a' + round)));
      BackupOptions b;
      b.paths = {src};
      b.threads = 2;
      auto r = RunBackup(*repo, b);
      ASSERT_TRUE(r.ok()) << r.status().message();
      (*expected_)[r->snapshot.id.Hex()] = Contents(src);
    }
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
    delete expected_;
  }

  static std::string* dir_;
  static std::map<std::string, std::map<std::string, std::string>>* expected_;  // snapshot -> files
};

std::string* FaultInjectionTest::dir_ = nullptr;
std::map<std::string, std::map<std::string, std::string>>* FaultInjectionTest::expected_ = nullptr;

TEST_F(FaultInjectionTest, EverySingleFaultIsReportedAndSpoilsOnlyWhatItTouches) {
  std::vector<std::string> objects;
  for (const char* dir : {"data", "index", "snapshots", "keys"})
    for (const auto& e : fs::recursive_directory_iterator(*dir_ + "/pristine/" + dir))
      if (e.is_regular_file()) objects.push_back(fs::relative(e.path(), *dir_ + "/pristine").string());
  std::sort(objects.begin(), objects.end());
  ASSERT_GT(objects.size(), 10u);
  int flips = 0, truncations = 0, restores = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const std::string repo_dir = *dir_ + "/work";
    fs::remove_all(repo_dir);
    fs::copy(*dir_ + "/pristine", repo_dir, fs::copy_options::recursive);
    const std::string object = objects[rng() % objects.size()];
    const std::string path = repo_dir + "/" + object;
    std::string bytes = ReadAll(path);
    ASSERT_FALSE(bytes.empty());
    const bool flip = rng() % 2 == 0;
    if (flip) {
      const size_t at = rng() % bytes.size();
      bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
      ++flips;
    } else {
      bytes.resize(rng() % bytes.size());
      ++truncations;
    }
    WriteAll(path, bytes);
    const std::string name = fs::path(object).filename().string();

    auto opened = Repository::Open(OpenLocalStorage(repo_dir, false).value(), kPassword);
    if (!opened.ok()) {
      // The key this password opens is the damaged one: the error must say
      // so by name, and the repository's other password still opens it.
      ASSERT_TRUE(object.starts_with("keys/")) << object << ": " << opened.status().message();
      EXPECT_NE(opened.status().message().find(name), std::string::npos) << opened.status().message();
      opened = Repository::Open(OpenLocalStorage(repo_dir, false).value(), "second-password");
    }
    ASSERT_TRUE(opened.ok()) << object << ": " << opened.status().message();
    Repository& repo = **opened;
    CheckOptions options;
    options.read_data = true;
    auto report = CheckRepository(repo, options, [](const std::string&) {});
    ASSERT_TRUE(report.ok()) << object << ": " << report.status().message();
    bool named = false;
    for (const auto& e : report->errors) named = named || e.find(name) != std::string::npos;
    EXPECT_TRUE(named) << (flip ? "flip" : "truncation") << " in " << object << " was not reported by name ("
                       << report->errors.size() << " errors)";

    std::set<std::string> damaged;
    for (const auto& d : report->damaged_snapshots) damaged.insert(d.id.Hex());
    std::vector<std::string> unreadable;
    auto snapshots = repo.ListSnapshots(&unreadable);
    ASSERT_TRUE(snapshots.ok()) << snapshots.status().message();
    for (const Snapshot& snap : *snapshots) {
      const auto& want = expected_->at(snap.id.Hex());
      const std::string target = *dir_ + "/restore";
      fs::remove_all(target);
      RestoreOptions ro;
      ro.target = target;
      auto restored = RunRestore(repo, snap, ro);
      ASSERT_TRUE(restored.ok()) << restored.status().message();
      const std::string root = target + *dir_ + "/src";
      // A lost directory listing names the directory, not each file in it.
      std::vector<std::string> reported;
      for (const auto& d : restored->damaged) reported.push_back(fs::path(d.path).lexically_normal().string());
      auto is_reported = [&](const std::string& file) {
        for (const auto& r : reported) {
          std::string dir = r;
          while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
          if (file == dir || file.starts_with(dir + "/")) return true;
        }
        return false;
      };
      if (!damaged.count(snap.id.Hex())) {
        // Check called it intact: it must come back whole.
        ++restores;
        EXPECT_TRUE(restored->damaged.empty()) << "snapshot " << snap.id.ShortHex() << " that check calls intact lost "
                                               << restored->damaged.size() << " file(s), first "
                                               << restored->damaged.front().reason;
      }
      // Intact or not: every file is either exact or named as damaged, never wrong and silent.
      for (const auto& [rel, content] : want) {
        const std::string got_path = root + "/" + rel;
        if (is_reported(got_path)) {
          EXPECT_FALSE(fs::exists(got_path)) << rel << " is damaged but was left in place";
          continue;
        }
        EXPECT_TRUE(fs::exists(got_path) && ReadAll(got_path) == content)
            << "snapshot " << snap.id.ShortHex() << ": " << rel << " restored wrong without a word (" << got_path
            << (fs::exists(got_path) ? " differs" : " missing") << ", " << restored->files << " files restored)";
      }
    }
    // A backup taken now works; its snapshot may share a blob that rotted in
    // place (deduplication trusts the index), so its restore must either be
    // exact or name the damaged files, never be wrong in silence.
    BackupOptions b;
    b.paths = {*dir_ + "/src"};
    b.threads = 2;
    const std::string target = *dir_ + "/restore";
    RestoreOptions ro;
    ro.target = target;
    auto restore_exact = [&](const Snapshot& snap, bool must_be_whole) {
      fs::remove_all(target);
      auto r = RunRestore(repo, snap, ro);
      ASSERT_TRUE(r.ok()) << r.status().message();
      if (must_be_whole)
        EXPECT_TRUE(r->damaged.empty()) << "the newest snapshot lost " << r->damaged.front().path << ": "
                                        << r->damaged.front().reason;
      if (r->damaged.empty()) EXPECT_TRUE(Contents(target + *dir_ + "/src") == Contents(*dir_ + "/src"));
      for (const auto& d : r->damaged) EXPECT_FALSE(fs::exists(d.path)) << d.path << ": " << d.reason;
    };
    auto fresh = RunBackup(repo, b);
    ASSERT_TRUE(fresh.ok()) << "backup after a fault in " << object << ": " << fresh.status().message();
    restore_exact(fresh->snapshot, /*must_be_whole=*/report->damaged_packs.empty());
    // The documented repair (check names it): salvage the damaged packs, back
    // up again; the newest snapshot is then whole.
    if (!report->damaged_packs.empty()) {
      auto repaired = RepairPacks(repo, report->damaged_packs, [](const std::string&) {});
      ASSERT_TRUE(repaired.ok()) << repaired.status().message();
      auto healed = RunBackup(repo, b);
      ASSERT_TRUE(healed.ok()) << healed.status().message();
      restore_exact(healed->snapshot, /*must_be_whole=*/true);
      fresh = healed;
    }
    // Prune either refuses with a reason or works; it never deletes what the newest snapshot needs.
    auto pruned = Prune(repo, PruneOptions{}, [](const std::string&) {});
    if (pruned.ok()) restore_exact(fresh->snapshot, /*must_be_whole=*/true);
    else EXPECT_FALSE(pruned.status().message().empty());
  }
  EXPECT_GT(flips, 50);
  EXPECT_GT(truncations, 50);
  EXPECT_GT(restores, 100);
}

}  // namespace
}  // namespace cairn
