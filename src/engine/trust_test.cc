// Trust: a backup never saves a snapshot on top of data that is gone, a
// writer that failed never feeds deduplication, a crypto failure in a worker
// is an error, and damage to one object degrades only what needs it.
#include <fcntl.h>
#include <sys/wait.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "cairn/engine.h"
#include "cairn/maintenance.h"
#include "storage/testing/fault_storage.h"
#include "util/staging.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using storage_testing::FaultInjectingStorage;

constexpr char kPassword[] = "trust";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class TrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-trust-XXXXXX";
    dir_ = mkdtemp(tmpl);
    repo_path_ = dir_ + "/repo";
    src_ = dir_ + "/src";
    fs::create_directories(src_ + "/sub");
    std::mt19937 rng(11);
    for (int i = 0; i < 6; ++i) {
      std::string noise(300000, '\0');
      for (char& c : noise) c = static_cast<char>(rng());
      Write(src_ + "/sub/f" + std::to_string(i) + ".bin", noise);
    }
    Write(src_ + "/small.txt", "hello");
    InitOptions o;
    o.kdf = {1, 8 * 1024 * 1024};
    o.chunker = {16 * 1024, 64 * 1024, 256 * 1024};
    o.pack_size = 256 * 1024;  // several packs, so one can go missing alone
    auto storage = OpenLocalStorage(repo_path_, true);
    ASSERT_TRUE(storage.ok());
    ASSERT_TRUE(Repository::Init(**storage, kPassword, o).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Write(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

  std::unique_ptr<Repository> Open(FaultInjectingStorage** fault = nullptr) {
    auto storage = OpenLocalStorage(repo_path_, false).value();
    if (fault) {
      inner_ = std::move(storage);
      *fault = new FaultInjectingStorage(inner_.get());
      storage.reset(*fault);
    }
    auto repo = Repository::Open(std::move(storage), kPassword);
    EXPECT_TRUE(repo.ok()) << repo.status().message();
    return std::move(repo).value();
  }

  Result<Snapshot> Backup(Repository& repo, bool force = false) {
    BackupOptions o;
    o.paths = {src_};
    o.threads = 2;
    o.force_reread = force;
    auto r = RunBackup(repo, o);
    if (!r.ok()) return r.status();
    return r->snapshot;
  }

  Result<RestoreResult> Restore(Repository& repo, const Snapshot& s, const std::string& target,
                                RestoreOptions o = {}) {
    o.target = target;
    return RunRestore(repo, s, o);
  }

  // The packs holding data blobs of `file` in snapshot `snap`.
  std::set<Id> PacksOf(Repository& repo, const Snapshot& snap, const std::string& file) {
    auto node = FindNode(repo, snap, file);
    EXPECT_TRUE(node.ok()) << node.status().message();
    std::set<Id> packs;
    for (const Id& id : node->content) packs.insert(repo.Lookup(id)->pack);
    return packs;
  }

  std::string PackPath(const Id& pack) { return repo_path_ + "/" + PackKey(pack); }

  std::string dir_, repo_path_, src_;
  std::unique_ptr<Storage> inner_;
};

TEST_F(TrustTest, ALostPackIsStoredAgainAndCheckNamesTheDamagedSnapshot) {
  auto repo = Open();
  auto first = Backup(*repo);
  ASSERT_TRUE(first.ok()) << first.status().message();
  ASSERT_TRUE(repo->LoadIndex().ok());
  const std::string file = src_ + "/sub/f2.bin";
  std::set<Id> lost = PacksOf(*repo, *first, file);
  ASSERT_FALSE(lost.empty());
  for (const Id& p : lost) fs::remove(PackPath(p));

  // Unchanged files reused their parent's content lists: that was a snapshot
  // pointing at nothing, saved with exit 0.
  auto again = Open();
  auto second = Backup(*again);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_GT(second->summary.bytes_added, 0u) << "the lost data must be stored again";
  auto restored = Restore(*again, *second, dir_ + "/out");
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_TRUE(restored->damaged.empty());
  EXPECT_TRUE(ReadAll(dir_ + "/out" + file) == ReadAll(file));

  // The same blob ids are back, so the first snapshot is whole again too.
  auto check = CheckRepository(*again, CheckOptions{}, [](const std::string&) {});
  ASSERT_TRUE(check.ok());
  for (const auto& e : check->errors) EXPECT_NE(e.find("missing"), std::string::npos) << e;  // only the pack itself
  EXPECT_TRUE(check->damaged_snapshots.empty());
}

TEST_F(TrustTest, CheckNamesEverySnapshotThatLostDataAndTheRepair) {
  auto repo = Open();
  auto first = Backup(*repo);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  const std::string file = src_ + "/sub/f4.bin";
  for (const Id& p : PacksOf(*repo, *first, file)) fs::remove(PackPath(p));
  auto check = CheckRepository(*Open(), CheckOptions{}, [](const std::string&) {});
  ASSERT_TRUE(check.ok());
  ASSERT_EQ(check->damaged_snapshots.size(), 1u);
  const DamagedSnapshot& d = check->damaged_snapshots[0];
  EXPECT_EQ(d.id, first->id);
  EXPECT_GE(d.damaged_files, 1u);
  ASSERT_FALSE(d.examples.empty());
  bool names_file = false;
  for (const auto& e : d.examples) names_file = names_file || e.find("/sub/f4.bin: blob ") != std::string::npos;
  EXPECT_TRUE(names_file) << d.examples[0];
  bool names_repair = false;
  for (const auto& r : check->repairs) names_repair = names_repair || r.starts_with("cairn repo repair snapshots");
  EXPECT_TRUE(names_repair);
}

TEST_F(TrustTest, ATruncatedPackCountsAsMissingEvenWithForce) {
  auto repo = Open();
  auto first = Backup(*repo);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  const std::string file = src_ + "/sub/f1.bin";
  for (const Id& p : PacksOf(*repo, *first, file)) fs::resize_file(PackPath(p), fs::file_size(PackPath(p)) / 2);
  auto again = Open();
  auto second = Backup(*again, /*force=*/true);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_GT(second->summary.bytes_added, 0u);
  auto restored = Restore(*again, *second, dir_ + "/out");
  ASSERT_TRUE(restored.ok());
  EXPECT_TRUE(restored->damaged.empty());
  EXPECT_TRUE(ReadAll(dir_ + "/out" + file) == ReadAll(file));
}

TEST_F(TrustTest, AFailedWriterLeavesTheInMemoryIndexAsItWas) {
  FaultInjectingStorage* fault = nullptr;
  auto repo = Open(&fault);
  fault->FailKeysWithPrefix("index/");  // packs land, the index file never does
  auto failed = Backup(*repo);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(repo->IndexedBlobCount(), 0u);
  fault->ClearFaults();
  // The same Repository object (a daemon keeps them open) backs up again.
  auto second = Backup(*repo);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_GT(second->summary.bytes_added, 0u) << "deduplicated against blobs no index file lists";
  auto fresh = Open();
  auto restored = Restore(*fresh, *second, dir_ + "/out");
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_TRUE(restored->damaged.empty());
  EXPECT_TRUE(ReadAll(dir_ + "/out" + src_ + "/sub/f3.bin") == ReadAll(src_ + "/sub/f3.bin"));
}

TEST_F(TrustTest, LoadIndexReplacesWhatItLoadedBefore) {
  auto repo = Open();
  ASSERT_TRUE(Backup(*repo).ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  const size_t blobs = repo->IndexedBlobCount();
  ASSERT_GT(blobs, 0u);
  ASSERT_TRUE(repo->LoadIndex().ok());
  EXPECT_EQ(repo->IndexedBlobCount(), blobs);
  for (const auto& e : fs::directory_iterator(repo_path_ + "/index")) fs::remove(e.path());
  ASSERT_TRUE(repo->LoadIndex().ok());
  EXPECT_EQ(repo->IndexedBlobCount(), 0u) << "LoadIndex appended to the old index";
  EXPECT_EQ(repo->index_files().size(), 0u);
}

TEST_F(TrustTest, ACryptoFailureInAPipelineWorkerFailsTheBackupInsteadOfTheProcess) {
  auto repo = Open();
  crypto::testing::FailNextOperations(1);
  auto r = Backup(*repo);
  crypto::testing::FailNextOperations(0);
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  EXPECT_TRUE(m.find("inside OpenSSL") != std::string::npos || m.find("random number generator") != std::string::npos)
      << m;
  auto again = Backup(*repo);
  EXPECT_TRUE(again.ok()) << again.status().message();
}

TEST_F(TrustTest, ADamagedBlobFailsOnlyTheFilesThatNeedIt) {
  auto repo = Open();
  auto snap = Backup(*repo);
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  const std::string bad = src_ + "/sub/f0.bin";
  std::set<Id> bad_packs = PacksOf(*repo, *snap, bad);
  auto node = FindNode(*repo, *snap, bad);
  const BlobLocation loc = *repo->Lookup(node->content[0]);
  {  // flip a byte inside the first blob of f0.bin
    std::fstream f(PackPath(loc.pack), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(loc.offset + 20);
    char c;
    f.read(&c, 1);
    c ^= 0x40;
    f.seekp(loc.offset + 20);
    f.write(&c, 1);
  }
  auto restored = Restore(*Open(), *snap, dir_ + "/out");
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  ASSERT_GE(restored->damaged.size(), 1u);
  bool named = false;
  for (const auto& d : restored->damaged) {
    named = named || d.path == dir_ + "/out" + bad;
    EXPECT_NE(d.reason.find("pack"), std::string::npos) << d.reason;
  }
  EXPECT_TRUE(named);
  EXPECT_FALSE(fs::exists(dir_ + "/out" + bad)) << "a truncated file must not look like a good one";
  for (int i = 1; i < 6; ++i) {
    const std::string f = src_ + "/sub/f" + std::to_string(i) + ".bin";
    bool in_bad_pack = false;
    for (const Id& p : PacksOf(*repo, *snap, f)) in_bad_pack = in_bad_pack || p == loc.pack;
    if (!in_bad_pack || restored->damaged.size() == 1) EXPECT_TRUE(ReadAll(dir_ + "/out" + f) == ReadAll(f)) << f;
  }
  EXPECT_EQ(ReadAll(dir_ + "/out" + src_ + "/small.txt"), "hello");

  RestoreOptions keep;
  keep.keep_partial = true;
  auto partial = Restore(*Open(), *snap, dir_ + "/partial", keep);
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(fs::exists(dir_ + "/partial" + bad));
  EXPECT_TRUE(fs::exists(dir_ + "/partial" + bad + ".cairn-partial"));
}

TEST_F(TrustTest, AnIncludeThatMatchesNothingIsAnError) {
  auto repo = Open();
  auto snap = Backup(*repo);
  ASSERT_TRUE(snap.ok());
  for (const std::string& include : {src_ + "/sub/nope.bin", std::string("sub/f0.bin"), src_ + "/small.txt/x"}) {
    RestoreOptions o;
    o.includes = {include};
    auto r = Restore(*repo, *snap, dir_ + "/out", o);
    ASSERT_FALSE(r.ok()) << include;
    EXPECT_NE(r.status().message().find(include), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(fs::exists(dir_ + "/out" + src_)) << "nothing is written when an include is wrong";
}

TEST_F(TrustTest, RestoringNeedsNoWritableRepository) {
  {
    auto repo = Open();
    ASSERT_TRUE(Backup(*repo).ok());
  }
  FaultInjectingStorage* fault = nullptr;
  auto repo = Open(&fault);
  fault->FailPutsAfter(0);  // a read-only mount, a full disk, another user's files
  auto snap = repo->FindSnapshot("latest");
  ASSERT_TRUE(snap.ok());
  std::vector<std::string> warnings;
  RestoreOptions o;
  o.on_warning = [&](const std::string& w) { warnings.push_back(w); };
  auto restored = Restore(*repo, *snap, dir_ + "/out", o);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_EQ(ReadAll(dir_ + "/out" + src_ + "/small.txt"), "hello");
  ASSERT_FALSE(warnings.empty());
  EXPECT_NE(warnings[0].find("reading without one"), std::string::npos) << warnings[0];
  CheckOptions co;
  auto check = CheckRepository(*repo, co, [](const std::string&) {});
  ASSERT_TRUE(check.ok()) << check.status().message();
  EXPECT_TRUE(check->errors.empty());
}

TEST_F(TrustTest, RestoreDoesNotChangeTheUmaskAndHonoursItForWhatItCreates) {
  auto repo = Open();
  auto snap = Backup(*repo);
  ASSERT_TRUE(snap.ok());
  const mode_t before = ::umask(027);
  auto restored = Restore(*repo, *snap, dir_ + "/new/parent/out");
  const mode_t during = ::umask(before);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(during, 027) << "restore changed the process umask";
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/new/parent").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0750u) << "a missing parent of the target ignored the umask";
  // What the snapshot holds keeps its recorded mode whatever the umask.
  ASSERT_EQ(::chmod((src_ + "/small.txt").c_str(), 0664), 0);
  auto snap2 = Backup(*repo);
  ASSERT_TRUE(snap2.ok());
  ::umask(077);
  auto again = Restore(*repo, *snap2, dir_ + "/out2");
  ::umask(before);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(::stat((dir_ + "/out2" + src_ + "/small.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0664u);
}

TEST_F(TrustTest, ADamagedSnapshotObjectSpoilsNoOtherSnapshot) {
  auto repo = Open();
  auto a = Backup(*repo);
  ASSERT_TRUE(a.ok());
  Write(src_ + "/later.txt", "later");
  auto b = Backup(*repo);
  ASSERT_TRUE(b.ok());
  {
    std::fstream f(repo_path_ + "/snapshots/" + a->id.Hex(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(30);
    f.put('\x7f');
  }
  auto fresh = Open();
  std::vector<std::string> damaged;
  auto list = fresh->ListSnapshots(&damaged);
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->size(), 1u);
  ASSERT_EQ(damaged.size(), 1u);
  EXPECT_NE(damaged[0].find(a->id.Hex()), std::string::npos) << damaged[0];
  auto latest = fresh->FindSnapshot("latest");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->id, b->id);
  auto restored = Restore(*fresh, *latest, dir_ + "/out");
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_EQ(ReadAll(dir_ + "/out" + src_ + "/later.txt"), "later");
  EXPECT_TRUE(Backup(*fresh).ok());
  ForgetOptions keep_all;
  keep_all.policy.keep_last = 10;
  auto forgot = Forget(*fresh, keep_all);
  ASSERT_TRUE(forgot.ok()) << forgot.status().message();
  EXPECT_EQ(forgot->damaged.size(), 1u);
  // Prune cannot know what the unreadable snapshot references: it refuses,
  // naming it, until the snapshot is removed by id.
  auto pruned = Prune(*fresh, PruneOptions{}, [](const std::string&) {});
  ASSERT_FALSE(pruned.ok());
  EXPECT_NE(pruned.status().message().find(a->id.Hex()), std::string::npos) << pruned.status().message();
  ForgetOptions by_id;
  by_id.ids = {a->id.Hex().substr(0, 8)};
  ASSERT_TRUE(Forget(*fresh, by_id).ok());
  EXPECT_TRUE(Prune(*fresh, PruneOptions{}, [](const std::string&) {}).ok());
}

TEST_F(TrustTest, ACorruptIndexFileIsSkippedByReadersAndRebuiltByRepairIndex) {
  auto repo = Open();
  auto snap = Backup(*repo);
  ASSERT_TRUE(snap.ok());
  Write(src_ + "/later.txt", "later");
  auto second = Backup(*repo);
  ASSERT_TRUE(second.ok());
  std::vector<fs::path> index_files;
  for (const auto& e : fs::directory_iterator(repo_path_ + "/index")) index_files.push_back(e.path());
  ASSERT_EQ(index_files.size(), 2u);
  fs::path victim;  // the bigger one: the first backup's
  for (const auto& p : index_files)
    if (victim.empty() || fs::file_size(p) > fs::file_size(victim)) victim = p;
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x01');
  }
  auto fresh = Open();
  ASSERT_TRUE(fresh->LoadIndex().ok());
  ASSERT_EQ(fresh->damaged_index_files().size(), 1u);
  EXPECT_NE(fresh->damaged_index_files()[0].find(victim.filename().string()), std::string::npos);
  auto latest = fresh->FindSnapshot("latest");
  ASSERT_TRUE(latest.ok());
  // Prune must not delete the packs only the damaged index listed.
  auto pruned = Prune(*fresh, PruneOptions{}, [](const std::string&) {});
  ASSERT_FALSE(pruned.ok());
  EXPECT_NE(pruned.status().message().find("repair index"), std::string::npos) << pruned.status().message();
  auto check = CheckRepository(*fresh, CheckOptions{}, [](const std::string&) {});
  ASSERT_TRUE(check.ok());
  ASSERT_FALSE(check->repairs.empty());
  EXPECT_TRUE(check->repairs[0].starts_with("cairn repo repair index")) << check->repairs[0];
  for (const auto& w : check->warnings) EXPECT_EQ(w.find("prune removes it"), std::string::npos) << w;

  auto repaired = RepairIndex(*fresh, [](const std::string&) {});
  ASSERT_TRUE(repaired.ok()) << repaired.status().message();
  EXPECT_TRUE(repaired->unreadable_packs.empty());
  auto after = CheckRepository(*Open(), CheckOptions{true}, [](const std::string&) {});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->errors.empty()) << after->errors.front();
  auto restored = Restore(*Open(), *snap, dir_ + "/out");
  ASSERT_TRUE(restored.ok());
  EXPECT_TRUE(restored->damaged.empty());
  EXPECT_TRUE(ReadAll(dir_ + "/out" + src_ + "/sub/f5.bin") == ReadAll(src_ + "/sub/f5.bin"));
}

TEST_F(TrustTest, RepairSnapshotsReplacesLostFilesWithMarkedEmptyOnesAndKeepsTheOriginal) {
  auto repo = Open();
  auto snap = Backup(*repo);
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  const std::string lost_file = src_ + "/sub/f3.bin";
  for (const Id& p : PacksOf(*repo, *snap, lost_file)) fs::remove(PackPath(p));
  auto fresh = Open();
  auto report = RepairSnapshots(*fresh, RepairSnapshotsOptions{}, [](const std::string&) {});
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->repaired.size(), 1u);
  const RepairedSnapshot& r = report->repaired[0];
  EXPECT_EQ(r.original, snap->id);
  auto copy = fresh->LoadSnapshot(r.repaired);
  ASSERT_TRUE(copy.ok());
  EXPECT_NE(std::find(copy->tags.begin(), copy->tags.end(), "repaired"), copy->tags.end());
  EXPECT_TRUE(fresh->LoadSnapshot(snap->id).ok()) << "the original must be kept without --forget";
  auto restored = Restore(*fresh, *copy, dir_ + "/out");
  ASSERT_TRUE(restored.ok());
  EXPECT_TRUE(restored->damaged.empty());
  EXPECT_FALSE(fs::exists(dir_ + "/out" + lost_file));
  EXPECT_TRUE(fs::exists(dir_ + "/out" + lost_file + ".damaged"));
  EXPECT_EQ(fs::file_size(dir_ + "/out" + lost_file + ".damaged"), 0u);
  EXPECT_EQ(ReadAll(dir_ + "/out" + src_ + "/small.txt"), "hello");

  RepairSnapshotsOptions forget;
  forget.forget = true;
  auto second = RepairSnapshots(*fresh, forget, [](const std::string&) {});
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(fresh->LoadSnapshot(snap->id).ok()) << "--forget removes the original";
}

TEST_F(TrustTest, RepairPacksSalvagesWhatDecodesSoABackupCanHealTheRest) {
  auto repo = Open();
  auto snap = Backup(*repo);
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(repo->LoadIndex().ok());
  auto node = FindNode(*repo, *snap, src_ + "/sub/f5.bin");
  const BlobLocation loc = *repo->Lookup(node->content[0]);
  {
    std::fstream f(PackPath(loc.pack), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(loc.offset + 7);
    f.put('\x55');
  }
  CheckOptions read;
  read.read_data = true;
  auto check = CheckRepository(*Open(), read, [](const std::string&) {});
  ASSERT_TRUE(check.ok());
  ASSERT_EQ(check->damaged_packs.size(), 1u);
  EXPECT_EQ(check->damaged_packs[0], loc.pack);
  auto fresh = Open();
  auto repaired = RepairPacks(*fresh, check->damaged_packs, [](const std::string&) {});
  ASSERT_TRUE(repaired.ok()) << repaired.status().message();
  EXPECT_EQ(repaired->blobs_dropped, 1u);
  EXPECT_FALSE(fs::exists(PackPath(loc.pack)));
  // The source still has the file: the next backup stores the blob again and
  // the old snapshot is whole.
  ASSERT_TRUE(Backup(*fresh).ok());
  auto after = CheckRepository(*Open(), read, [](const std::string&) {});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->errors.empty()) << after->errors.front();
  auto restored = Restore(*Open(), *snap, dir_ + "/out");
  ASSERT_TRUE(restored.ok());
  EXPECT_TRUE(restored->damaged.empty());
  EXPECT_TRUE(ReadAll(dir_ + "/out" + src_ + "/sub/f5.bin") == ReadAll(src_ + "/sub/f5.bin"));
}

TEST_F(TrustTest, ATreeWithADirectoryAndASymlinkOfOneNameCannotMakeRestoreWriteOutsideItsTarget) {
  // Anyone holding the password (one compromised client of a shared
  // repository) can write such a tree; restore runs as root.
  const std::string outside = dir_ + "/outside";
  fs::create_directories(outside);
  auto repo = Open();
  ASSERT_TRUE(repo->LoadIndex().ok());
  auto writer = repo->NewWriter(CompressionOptions{});
  auto data = writer->Add(BlobType::kData, AsBytes("planted by an attacker"));
  ASSERT_TRUE(data.ok());
  Node evil;
  evil.name = "evil";
  evil.type = NodeType::kFile;
  evil.mode = 0104755;
  evil.size = 22;
  evil.content = {*data};
  auto sub = writer->Add(BlobType::kTree, EncodeTree(Tree{{evil}}));
  ASSERT_TRUE(sub.ok());
  Node dir;
  dir.name = "a";
  dir.type = NodeType::kDir;
  dir.mode = 040755;
  dir.subtree = *sub;
  Node link;
  link.name = "a";
  link.type = NodeType::kSymlink;
  link.mode = 0120777;
  link.link_target = outside;
  auto root = writer->Add(BlobType::kTree, EncodeTree(Tree{{dir, link}}));
  ASSERT_TRUE(root.ok());
  ASSERT_TRUE(writer->Finish().ok());
  Snapshot snap;
  snap.time_ns = NowNs();
  snap.tree = *root;
  snap.paths = {"/a"};
  auto id = repo->SaveSnapshot(snap);
  ASSERT_TRUE(id.ok());
  snap.id = *id;

  auto restored = Restore(*Open(), snap, dir_ + "/target");
  EXPECT_FALSE(fs::exists(outside + "/evil")) << "restore wrote outside its target";
  ASSERT_FALSE(restored.ok() && restored->damaged.empty()) << "an invalid tree was restored as if whole";
  CheckOptions read;
  read.read_data = true;
  auto check = CheckRepository(*Open(), read, [](const std::string&) {});
  ASSERT_TRUE(check.ok());
  bool named = false;
  for (const auto& e : check->errors) named = named || e.find("two entries are named 'a'") != std::string::npos;
  EXPECT_TRUE(named) << "check --read-data called the crafted tree clean";
}

TEST_F(TrustTest, StagingLeftOverByAKilledRestoreIsRemovedByTheNextRun) {
  // What a restore killed with -9 leaves: a staging directory of a dead pid.
  pid_t child = ::fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  int status;
  ::waitpid(child, &status, 0);
  const std::string dead = dir_ + "/.cairn-restore-" + std::to_string(child) + "-abcdef";
  const std::string live = dir_ + "/.cairn-restore-" + std::to_string(::getpid()) + "-ghijkl";
  const std::string old_style = dir_ + "/.cairn-restore-restored_20261201_101010";
  for (const auto& d : {dead, live, old_style}) fs::create_directories(d + "/data");
  std::vector<std::string> said;
  ASSERT_TRUE(RemoveStaleStaging(dir_, ".cairn-restore-", [&](const std::string& m) { said.push_back(m); }).ok());
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live)) << "a running restore's staging was removed";
  EXPECT_TRUE(fs::exists(old_style));
  bool named_old = false;
  for (const auto& m : said) named_old = named_old || m.find(old_style) != std::string::npos;
  EXPECT_TRUE(named_old) << "an unattributable leftover must be named, with what to delete";
  auto a = MakeStagingDir(dir_, ".cairn-staging-");
  auto b = MakeStagingDir(dir_, ".cairn-staging-");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b) << "two stagings in one second share a name";
  struct stat st;
  ASSERT_EQ(::stat(a->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

}  // namespace
}  // namespace cairn
