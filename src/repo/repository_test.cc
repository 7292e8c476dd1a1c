#include "cairn/repository.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>
#include <fstream>
#include <map>
#include <mutex>

#include "cairn/engine.h"
#include "cairn/maintenance.h"
#include "cairn/forwarding_storage.h"
#include "storage/testing/fault_storage.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using storage_testing::FaultInjectingStorage;

constexpr char kPassword[] = "correct horse";

InitOptions FastInit() {
  InitOptions o;
  o.kdf = {1, 8 * 1024 * 1024};  // tests do not need a costly KDF
  o.chunker = {16 * 1024, 64 * 1024, 256 * 1024};
  o.pack_size = 256 * 1024;
  return o;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-repo-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
    repo_path_ = dir_ + "/repo";
    src_ = dir_ + "/src";
    fs::create_directories(src_ + "/sub");
    Write(src_ + "/a.txt", std::string(100000, 'a'));
    std::string noise(700000, '\0');
    std::mt19937 rng(7);
    for (char& c : noise) c = static_cast<char>(rng());
    Write(src_ + "/sub/noise.bin", noise);
    auto storage = OpenLocalStorage(repo_path_, true);
    ASSERT_TRUE(storage.ok());
    ASSERT_TRUE(Repository::Init(**storage, kPassword, FastInit()).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void Write(const std::string& path, const std::string& data) { std::ofstream(path, std::ios::binary) << data; }

  std::unique_ptr<Repository> OpenRepo(Storage* wrapped_target = nullptr) {
    auto storage = OpenLocalStorage(repo_path_, false);
    EXPECT_TRUE(storage.ok());
    inner_ = std::move(storage).value();
    std::unique_ptr<Storage> top;
    if (wrapped_target) {
      fault_ = new FaultInjectingStorage(inner_.get());
      top.reset(fault_);
    } else {
      top = OpenLocalStorage(repo_path_, false).value();
    }
    auto repo = Repository::Open(std::move(top), kPassword);
    EXPECT_TRUE(repo.ok()) << repo.status().message();
    return repo.ok() ? std::move(repo).value() : nullptr;
  }

  BackupOptions Options() {
    BackupOptions o;
    o.paths = {src_};
    o.threads = 2;
    return o;
  }

  std::string dir_, repo_path_, src_;
  std::unique_ptr<Storage> inner_;
  FaultInjectingStorage* fault_ = nullptr;
};

TEST_F(RepositoryTest, OpenRejectsWrongPasswordAndNonRepositories) {
  auto wrong = Repository::Open(OpenLocalStorage(repo_path_, false).value(), "nope");
  EXPECT_EQ(wrong.status().code(), StatusCode::kWrongPassword);
  auto not_repo = Repository::Open(OpenLocalStorage(src_, false).value(), kPassword);
  EXPECT_EQ(not_repo.status().code(), StatusCode::kNotFound);
  EXPECT_NE(not_repo.status().message().find("not a cairn repository"), std::string::npos);
  auto again = Repository::Init(*OpenLocalStorage(repo_path_, false).value(), kPassword, FastInit());
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
}

TEST_F(RepositoryTest, UnknownFormatVersionIsRefusedByName) {
  std::ifstream in(repo_path_ + "/config");
  auto config = nlohmann::json::parse(in);
  config["version"] = 99;
  Write(repo_path_ + "/config", config.dump());
  auto repo = Repository::Open(OpenLocalStorage(repo_path_, false).value(), kPassword);
  EXPECT_EQ(repo.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(repo.status().message().find("version 99"), std::string::npos);
}

TEST_F(RepositoryTest, TamperedConfigFailsAuthentication) {
  std::ifstream in(repo_path_ + "/config");
  auto config = nlohmann::json::parse(in);
  config["chunker"]["min_size"] = 8192;
  Write(repo_path_ + "/config", config.dump());
  auto repo = Repository::Open(OpenLocalStorage(repo_path_, false).value(), kPassword);
  EXPECT_EQ(repo.status().code(), StatusCode::kCorruption);
}

TEST_F(RepositoryTest, BackupRestoreAndIncrementalCounts) {
  auto repo = OpenRepo();
  auto first = RunBackup(*repo, Options());
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_EQ(first->snapshot.summary.files_new, 2u);
  EXPECT_EQ(first->snapshot.summary.bytes_read, 800000u);
  auto second = RunBackup(*repo, Options());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->snapshot.summary.files_unmodified, 2u);
  EXPECT_EQ(second->snapshot.summary.bytes_added, 0u);
  EXPECT_EQ(second->snapshot.parent, first->snapshot.id);

  RestoreOptions ro;
  ro.target = dir_ + "/out";
  auto restored = RunRestore(*repo, second->snapshot, ro);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_EQ(restored->files, 2u);
  std::ifstream a(dir_ + "/out" + src_ + "/a.txt");
  std::string content((std::istreambuf_iterator<char>(a)), {});
  EXPECT_EQ(content, std::string(100000, 'a'));
}

// An object store as restore sees it: range reads are round trips, so the
// restore goes pack by pack. Counts range reads per pack.
class RoundTripStorage : public ForwardingStorage {
 public:
  explicit RoundTripStorage(std::unique_ptr<Storage> inner) : ForwardingStorage(inner.get()), owned_(std::move(inner)) {}
  StorageCapabilities capabilities() const override {
    StorageCapabilities caps = ForwardingStorage::capabilities();
    caps.cheap_range_reads = false;
    caps.preferred_concurrency = 4;
    return caps;
  }
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    {
      std::lock_guard lock(mu_);
      if (key.starts_with("data/")) ++range_reads_[std::string(key)];
    }
    return ForwardingStorage::GetRange(key, offset, length);
  }
  std::map<std::string, int> range_reads() {
    std::lock_guard lock(mu_);
    return range_reads_;
  }

 private:
  std::unique_ptr<Storage> owned_;
  std::mutex mu_;
  std::map<std::string, int> range_reads_;
};

TEST_F(RepositoryTest, RestoreFromAnObjectStoreReadsEachPackOnceAndRestoresEveryFile) {
  // Multi-chunk files spread over many packs, duplicates across and within
  // files (one blob, several destinations), a zero run, an empty file.
  std::mt19937 rng(11);
  auto random_text = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  const std::string big = random_text(3 << 20), block = random_text(300000);
  Write(src_ + "/big.bin", big);
  Write(src_ + "/sub/zz-big-copy.bin", big);  // restored long after big.bin: reads the same packs
  Write(src_ + "/twice.bin", block + block);
  Write(src_ + "/zeros-then-data.bin", std::string(1 << 20, '\0') + block);
  Write(src_ + "/empty", "");
  for (int i = 0; i < 200; ++i) Write(src_ + "/sub/small-" + std::to_string(i), random_text(1000 + 97 * i));
  {
    auto repo = OpenRepo();
    ASSERT_TRUE(RunBackup(*repo, Options()).ok());
  }
  auto storage = std::make_unique<RoundTripStorage>(OpenLocalStorage(repo_path_, false).value());
  RoundTripStorage* counted = storage.get();
  auto repo = Repository::Open(std::move(storage), kPassword);
  ASSERT_TRUE(repo.ok());
  auto snapshots = (*repo)->ListSnapshots();
  ASSERT_TRUE(snapshots.ok() && snapshots->size() == 1);

  auto expect_same_files = [&](const std::string& out) {
    for (const auto& entry : fs::recursive_directory_iterator(src_)) {
      if (!entry.is_regular_file()) continue;
      const std::string rel = entry.path().string();
      std::ifstream a(rel, std::ios::binary), b(out + rel, std::ios::binary);
      std::string want((std::istreambuf_iterator<char>(a)), {}), got((std::istreambuf_iterator<char>(b)), {});
      EXPECT_TRUE(want == got) << out + rel << ": " << got.size() << " bytes restored, " << want.size() << " expected";
    }
  };

  // Restore over an existing tree whose files are longer than the snapshot's.
  const std::string out = dir_ + "/out";
  fs::create_directories(out + src_ + "/sub");
  Write(out + src_ + "/twice.bin", std::string(2 << 20, 'x'));
  RestoreOptions ro;
  ro.target = out;
  auto restored = RunRestore(**repo, (*snapshots)[0], ro);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  EXPECT_EQ(restored->warnings, 0u);
  expect_same_files(out);
  const auto reads = counted->range_reads();
  EXPECT_GT(reads.size(), 4u) << "the data should span several packs";
  for (const auto& [key, count] : reads) EXPECT_EQ(count, 1) << key << " was read " << count << " times";

  // With one open file at most, partly written files are closed between
  // pieces and reopened without losing what they hold.
  const std::string out2 = dir_ + "/out2";
  ro.target = out2;
  ro.max_open_files = 1;
  restored = RunRestore(**repo, (*snapshots)[0], ro);
  ASSERT_TRUE(restored.ok()) << restored.status().message();
  expect_same_files(out2);
}

TEST_F(RepositoryTest, DiskFullDuringBackupLeavesNoSnapshotAndAConsistentRepository) {
  auto repo = OpenRepo(/*wrapped_target=*/reinterpret_cast<Storage*>(1));
  fault_->FailPutsAfter(2);  // the lock and one pack, then the disk is full
  auto result = RunBackup(*repo, Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNoSpace);
  EXPECT_NE(result.status().message().find("disk full"), std::string::npos);
  fault_->ClearFaults();
  repo.reset();

  auto fresh = OpenRepo();
  auto snapshots = fresh->ListSnapshots();
  ASSERT_TRUE(snapshots.ok());
  EXPECT_TRUE(snapshots->empty());
  auto report = CheckRepository(*fresh, CheckOptions{true}, [](const std::string&) {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->errors.empty()) << report->errors.front();
  EXPECT_TRUE(RunBackup(*fresh, Options()).ok());
}

// Much more data than the pipeline's in-flight budget, so the failure arrives
// while the walker is still producing; the backup must end with the cause.
// (A full tmpfs in tests/integration/test_errors.sh once hung here, with the
// walker waiting for budget a stopped assembler never returned.)
TEST_F(RepositoryTest, DiskFullDuringALargeBackupEndsWithAnError) {
  std::mt19937 rng(11);
  std::string noise(1 << 20, '\0');
  for (int f = 0; f < 24; ++f) {
    for (char& c : noise) c = static_cast<char>(rng());
    Write(src_ + "/big-" + std::to_string(f), noise);
  }
  auto repo = OpenRepo(reinterpret_cast<Storage*>(1));
  fault_->FailPutsAfter(3);
  auto result = RunBackup(*repo, Options());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kNoSpace);
}

TEST_F(RepositoryTest, CorruptReadsAreReportedByCheck) {
  {
    auto repo = OpenRepo();
    ASSERT_TRUE(RunBackup(*repo, Options()).ok());
  }
  auto repo = OpenRepo(reinterpret_cast<Storage*>(1));
  fault_->CorruptReadsOfKeysWithPrefix("data/");
  auto report = CheckRepository(*repo, CheckOptions{true}, [](const std::string&) {});
  // Trees live in packs too, so a corrupt read also fails the structure walk;
  // the point is that every message names a pack or blob.
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->errors.empty());
  for (const auto& e : report->errors) EXPECT_NE(e.find("corrupt"), std::string::npos) << e;
}

TEST_F(RepositoryTest, CheckNamesACorruptSnapshotAndStillWalksTheOthers) {
  auto repo = OpenRepo();
  auto first = RunBackup(*repo, Options());
  ASSERT_TRUE(first.ok());
  Write(src_ + "/a.txt", "changed");
  ASSERT_TRUE(RunBackup(*repo, Options()).ok());
  const std::string damaged = repo_path_ + "/snapshots/" + first->snapshot.id.Hex();
  std::string bytes;
  {
    std::ifstream in(damaged, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x10;
  Write(damaged, bytes);
  auto report = CheckRepository(*repo, CheckOptions{}, [](const std::string&) {});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->errors.size(), 1u);
  EXPECT_NE(report->errors[0].find(first->snapshot.id.Hex()), std::string::npos) << report->errors[0];
  EXPECT_EQ(report->snapshots, 1u);
  EXPECT_GT(report->trees, 0u);
}

TEST_F(RepositoryTest, ExclusiveLockConflictsAndStaleLocksAreCleared) {
  auto repo = OpenRepo();
  {
    auto shared = repo->Lock(false);
    ASSERT_TRUE(shared.ok());
    auto shared2 = repo->Lock(false);
    EXPECT_TRUE(shared2.ok());
    auto exclusive = repo->Lock(true);
    EXPECT_EQ(exclusive.status().code(), StatusCode::kLocked);
    EXPECT_NE(exclusive.status().message().find("locked by PID"), std::string::npos);
  }
  EXPECT_TRUE(repo->Lock(true).ok());

  // A lock left by a process that no longer exists on this host is stale.
  pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  nlohmann::json dead = {{"hostname", Hostname()}, {"pid", child}, {"username", "x"},
                         {"time", FormatTime(NowNs())}, {"exclusive", true}};
  std::string text = dead.dump();
  ASSERT_TRUE(repo->storage().Put("locks/" + std::string(64, 'a'), crypto::Seal(repo->key(), AsBytes(text)).value()).ok());
  EXPECT_TRUE(repo->Lock(true).ok());
  EXPECT_TRUE(repo->storage().Stat("locks/" + std::string(64, 'a')).status().IsNotFound());
}

TEST_F(RepositoryTest, ForgetAndPruneReclaimSpaceAndKeepTheRest) {
  auto repo = OpenRepo();
  ASSERT_TRUE(RunBackup(*repo, Options()).ok());
  Write(src_ + "/sub/noise.bin", std::string(300000, 'n'));
  auto kept = RunBackup(*repo, Options());
  ASSERT_TRUE(kept.ok());
  ForgetOptions fo;
  fo.policy.keep_last = 1;
  auto groups = Forget(*repo, fo);
  ASSERT_TRUE(groups.ok());
  auto report = Prune(*repo, PruneOptions{}, [](const std::string&) {});
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_GT(report->bytes_freed + report->bytes_repacked, 500000u);
  auto fresh = OpenRepo();
  auto check = CheckRepository(*fresh, CheckOptions{true}, [](const std::string&) {});
  ASSERT_TRUE(check.ok());
  EXPECT_TRUE(check->errors.empty()) << check->errors.front();
  EXPECT_TRUE(check->warnings.empty());
  RestoreOptions ro;
  ro.target = dir_ + "/out";
  auto snap = fresh->FindSnapshot("latest");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->id, kept->snapshot.id);
  ASSERT_TRUE(RunRestore(*fresh, *snap, ro).ok());
  EXPECT_EQ(fs::file_size(dir_ + "/out" + src_ + "/sub/noise.bin"), 300000u);
}

TEST_F(RepositoryTest, KeysCanBeAddedListedAndRemoved) {
  auto repo = OpenRepo();
  auto id = repo->AddKey("second password", {1, 8 * 1024 * 1024});
  ASSERT_TRUE(id.ok());
  auto keys = repo->ListKeys();
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->size(), 2u);
  EXPECT_TRUE(Repository::Open(OpenLocalStorage(repo_path_, false).value(), "second password").ok());
  EXPECT_FALSE(repo->RemoveKey(repo->current_key_id()).ok());  // the key in use stays
  EXPECT_TRUE(repo->RemoveKey(*id).ok());
  EXPECT_EQ(Repository::Open(OpenLocalStorage(repo_path_, false).value(), "second password").status().code(),
            StatusCode::kWrongPassword);
}

}  // namespace
}  // namespace cairn

namespace cairn {
namespace {

// A stream part fed by a thread writing `data` into a pipe, like a dump tool.
CapturePart PipePart(const std::string& name, const std::string& file, std::string data, Status finish_status,
                     std::thread* producer) {
  CapturePart part;
  part.name = name;
  part.file_name = file;
  part.open = [data = std::move(data), producer]() -> Result<int> {
    int p[2];
    if (::pipe(p) != 0) return Status::IOError("pipe");
    *producer = std::thread([fd = p[1], data] {
      size_t off = 0;
      while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, std::min<size_t>(65536, data.size() - off));
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      ::close(fd);
    });
    return p[0];
  };
  part.finish = [producer, finish_status] {
    producer->join();
    return finish_status;
  };
  return part;
}

TEST_F(RepositoryTest, ServiceRestorePointHoldsStreamAndFilesPartsAndItsManifest) {
  auto repo = OpenRepo();
  std::string dump(1500000, '\0');
  std::mt19937 rng(3);
  for (char& c : dump) c = static_cast<char>(rng() % 16);
  std::thread producer;
  std::vector<CapturePart> parts;
  parts.push_back(PipePart("db.app", "app.dump", dump, Status::Ok(), &producer));
  CapturePart files;
  files.name = "volumes";
  files.kind = CapturePart::Kind::kFiles;
  files.paths = {src_};
  parts.push_back(files);
  BackupOptions o;
  o.parts = &parts;
  o.tags = {"service=app"};
  o.parent_tag = "service=app";
  std::vector<std::pair<std::string, uint64_t>> sizes;
  o.on_part_done = [&](const CapturePart& p, uint64_t bytes, uint64_t) { sizes.emplace_back(p.name, bytes); };
  o.before_save = [](Snapshot& s) {
    s.service = R"({"point_id":"00112233aabbccdd","service":"app"})";
    return Status::Ok();
  };
  auto r = RunBackup(*repo, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(sizes, (std::vector<std::pair<std::string, uint64_t>>{{"db.app", dump.size()}, {"volumes", 800000}}));
  EXPECT_EQ(r->snapshot.paths, (std::vector<std::string>{"db.app", "volumes"}));

  auto snaps = repo->ListSnapshots();
  ASSERT_TRUE(snaps.ok());
  ASSERT_EQ(snaps->size(), 1u);
  EXPECT_NE((*snaps)[0].service.find("00112233aabbccdd"), std::string::npos);  // the manifest round-trips
  auto node = FindNode(*repo, (*snaps)[0], "/db.app/app.dump");
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->size, dump.size());
  char tmpl[] = "/tmp/cairn-dump-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_TRUE(DumpFile(*repo, (*snaps)[0], "/db.app/app.dump", fd).ok());
  ::close(fd);
  std::ifstream in(tmpl, std::ios::binary);
  std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ::unlink(tmpl);
  EXPECT_TRUE(back == dump);
  EXPECT_TRUE(FindNode(*repo, (*snaps)[0], "/volumes" + src_ + "/sub/noise.bin").ok());

  // A second point of the same service: the dump deduplicates, the files use the cache.
  parts[0] = PipePart("db.app", "app.dump", dump, Status::Ok(), &producer);
  auto again = RunBackup(*repo, o);
  ASSERT_TRUE(again.ok());
  EXPECT_LT(again->snapshot.summary.bytes_added, 1000u);
  EXPECT_EQ(again->snapshot.summary.files_unmodified, 2u);
  EXPECT_TRUE(again->snapshot.parent.has_value());
}

TEST_F(RepositoryTest, FailedProducerLeavesNoRestorePoint) {
  auto repo = OpenRepo();
  std::thread producer;
  std::vector<CapturePart> parts;
  parts.push_back(PipePart("db.app", "app.dump", std::string(300000, 'x'), Status::IOError("pg_dump failed (exit 1)"),
                           &producer));
  BackupOptions o;
  o.parts = &parts;
  bool saved = false;
  o.before_save = [&](Snapshot&) {
    saved = true;
    return Status::Ok();
  };
  auto r = RunBackup(*repo, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("part db.app: pg_dump failed"), std::string::npos) << r.status().message();
  EXPECT_FALSE(saved);
  EXPECT_TRUE(repo->ListSnapshots()->empty());
  auto report = CheckRepository(*repo, CheckOptions{}, [](const std::string&) {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->errors.empty());

  std::vector<CapturePart> bad(1);
  bad[0].name = "../escape";
  o.parts = &bad;
  EXPECT_EQ(RunBackup(*repo, o).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RepositoryTest, CopyMovesOnlyWhatTheDestinationLacks) {
  auto repo = OpenRepo();
  ASSERT_TRUE(RunBackup(*repo, Options()).ok());
  const std::string other = dir_ + "/other";
  ASSERT_TRUE(Repository::Init(*OpenLocalStorage(other, true).value(), "other pw", FastInit()).ok());
  auto dest = Repository::Open(OpenLocalStorage(other, false).value(), "other pw");
  ASSERT_TRUE(dest.ok());
  CopyStats first;
  auto copied = CopySnapshots(*repo, **dest, *repo->ListSnapshots(), &first);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_GE(first.bytes_copied, 800000u);
  // The copy restores to the same content.
  RestoreOptions ro;
  ro.target = dir_ + "/restored";
  ASSERT_TRUE(RunRestore(**dest, (*copied)[0], ro).ok());
  std::ifstream in(dir_ + "/restored" + src_ + "/a.txt");
  std::string a((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(a, std::string(100000, 'a'));
  // A new snapshot with one changed file: only that file's new data moves.
  Write(src_ + "/a.txt", std::string(100000, 'b'));
  ASSERT_TRUE(RunBackup(*repo, Options()).ok());
  auto all = *repo->ListSnapshots();
  CopyStats second;
  ASSERT_TRUE(CopySnapshots(*repo, **dest, {all.back()}, &second).ok());
  EXPECT_LE(second.bytes_copied, 150000u);
  EXPECT_GT(second.blobs_skipped, 0u);
  auto report = CheckRepository(**dest, CheckOptions{true}, [](const std::string&) {});
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->errors.empty());
}

}  // namespace
}  // namespace cairn
