#include "sources/sqlite/sqlite_source.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

namespace cairn {
namespace {

namespace fs = std::filesystem;

class MemoryReader : public PartReader {
 public:
  std::map<std::string, std::string> streams;  // "part/file" -> content
  Status ReadStream(const std::string& part, const std::string& file_name, int fd) override {
    auto it = streams.find(part + "/" + file_name);
    if (it == streams.end()) return Status::NotFound("no stream " + part + "/" + file_name);
    size_t off = 0;
    while (off < it->second.size()) {
      ssize_t n = ::write(fd, it->second.data() + off, it->second.size() - off);
      if (n <= 0) return Status::IOError("write failed");
      off += static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  Status ExtractFiles(const std::string&, const std::string&) override { return Status::Unsupported("no files"); }
};

struct Captured {
  MemoryReader reader;
  Json manifest;
};

// What a target does: read every part to EOF, finish it, then Finish().
Result<Captured> CaptureAll(Source& source) {
  CAIRN_ASSIGN_OR_RETURN(auto capture, source.StartCapture());
  Captured out;
  Json parts = Json::array();
  for (CapturePart& part : capture->parts()) {
    CAIRN_ASSIGN_OR_RETURN(int fd, part.open());
    std::string data;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
    ::close(fd);
    CAIRN_RETURN_IF_ERROR(part.finish());
    parts.push_back({{"name", part.name}, {"kind", "stream"}, {"file", part.file_name}, {"bytes", data.size()}});
    out.reader.streams[part.name + "/" + part.file_name] = std::move(data);
  }
  CAIRN_ASSIGN_OR_RETURN(Json facts, capture->Finish());
  out.manifest = facts;
  out.manifest["parts"] = parts;
  out.manifest["point_id"] = "0123456789abcdef";
  return out;
}

class SqliteSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-sqlite-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/app.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<Source> MakeSource(const std::string& path) {
    ServiceConfig c;
    c.name = "app";
    c.type = "sqlite";
    c.settings = {{"path", path}};
    c.temp_dir = dir_;
    auto s = MakeSqliteSource(c);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(*s);
  }

  static void Exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "") << " in " << sql;
  }

  sqlite3* Open(const std::string& path) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    return db;
  }

  void CreateDb(const std::string& journal_mode, int rows) {
    sqlite3* db = Open(path_);
    Exec(db, "PRAGMA journal_mode=" + journal_mode);
    Exec(db, "PRAGMA user_version=7");
    Exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, f REAL, b BLOB)");
    Exec(db, "CREATE TABLE u(k TEXT PRIMARY KEY, n INTEGER) WITHOUT ROWID");
    Exec(db, "CREATE INDEX t_v ON t(v)");
    Exec(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<" + std::to_string(rows) +
                 ") INSERT INTO t SELECT x, hex(randomblob(40)), x*0.5, randomblob(20) FROM c");
    Exec(db, "INSERT INTO u VALUES('a', 1), ('b', NULL)");
    sqlite3_close(db);
  }

  static std::string Text(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
    std::string out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      if (!out.empty()) out += "\n";
      const unsigned char* t = sqlite3_column_text(s, 0);
      out += t ? reinterpret_cast<const char*>(t) : "NULL";
    }
    sqlite3_finalize(s);
    return out;
  }

  std::string IntegrityCheck(const std::string& path) {
    sqlite3* db = Open(path);
    std::string r = Text(db, "PRAGMA integrity_check");
    sqlite3_close(db);
    return r;
  }

  // A writer in its own thread inserting rows one transaction at a time.
  struct Writer {
    std::atomic<bool> stop{false};
    std::atomic<int> inserted{0};
    std::thread thread;
    void Start(const std::string& path) {
      thread = std::thread([this, path] {
        sqlite3* db = nullptr;
        sqlite3_open(path.c_str(), &db);
        sqlite3_busy_timeout(db, 10000);
        while (!stop) {
          if (sqlite3_exec(db, "INSERT INTO t(v, f, b) VALUES(hex(randomblob(40)), 1.5, randomblob(100))", nullptr,
                           nullptr, nullptr) == SQLITE_OK)
            ++inserted;
        }
        sqlite3_close(db);
      });
    }
    void Stop() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
    ~Writer() { Stop(); }
  };

  std::string dir_, path_;
};

TEST_F(SqliteSourceTest, WalCaptureWhileWritingRestoresConsistentCopy) {
  CreateDb("WAL", 20000);
  auto source = MakeSource(path_);
  Writer writer;
  writer.Start(path_);
  while (writer.inserted < 50) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int before = writer.inserted;
  auto captured = CaptureAll(*source);
  const int after = writer.inserted;
  writer.Stop();
  ASSERT_TRUE(captured.ok()) << captured.status().ToString();
  // The writer kept committing while the capture ran: an online capture
  // does not lock the database for its whole duration.
  EXPECT_GT(after, before) << "no row was inserted while the capture ran";
  const Json& m = captured->manifest;
  EXPECT_EQ(m["source"]["method"], "wal-snapshot");
  EXPECT_EQ(m["source"]["journal_mode"], "wal");
  EXPECT_TRUE(m["fingerprint"]["exact"].get<bool>());
  EXPECT_EQ(m["fingerprint"]["items"]["user_version"], 7);
  EXPECT_EQ(m["fingerprint"]["items"]["table u"]["rows"], 2);
  EXPECT_GE(m["fingerprint"]["items"]["table t"]["rows"].get<int>(), 20050);
  EXPECT_EQ(m["parts"][0]["file"], "app.db");
  EXPECT_EQ(m["server_version"], sqlite3_libversion());

  RestoreRequest req;
  req.mode = RestoreMode::kNewInstance;
  req.manifest = m;
  req.reader = &captured->reader;
  req.suffix = "restored_1";
  auto out = source->Restore(req);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const std::string restored = dir_ + "/app.restored_1.db";
  EXPECT_EQ(out->connection["path"], restored);
  EXPECT_EQ(IntegrityCheck(restored), "ok");
  auto fp = source->Fingerprint(out->locator);
  ASSERT_TRUE(fp.ok()) << fp.status().ToString();
  FingerprintDiff diff = CompareFingerprints(m["fingerprint"], *fp);
  EXPECT_TRUE(diff.ok()) << (diff.differences.empty() ? "" : diff.differences[0]);
  // The live database kept growing, so it differs from the snapshot now.
  auto live = source->Fingerprint(Json::object());
  ASSERT_TRUE(live.ok());
  EXPECT_NE((*live)["items"]["table t"], m["fingerprint"]["items"]["table t"]);

  // The same name again is refused before anything is written.
  auto again = source->Restore(req);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
}

TEST_F(SqliteSourceTest, RollbackJournalCaptureAndNewName) {
  CreateDb("DELETE", 3000);
  auto source = MakeSource(path_);
  auto captured = CaptureAll(*source);
  ASSERT_TRUE(captured.ok()) << captured.status().ToString();
  EXPECT_EQ(captured->manifest["source"]["method"], "locked-file");
  std::ifstream in(path_, std::ios::binary);
  std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(captured->reader.streams["db/app.db"], original);  // byte for byte: nothing changed

  RestoreRequest req;
  req.manifest = captured->manifest;
  req.reader = &captured->reader;
  req.new_name = "copy.sqlite";
  auto out = source->Restore(req);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->connection["path"], dir_ + "/copy.sqlite");
  auto fp = source->Fingerprint(out->locator);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ((*fp)["items"], captured->manifest["fingerprint"]["items"]);
}

TEST_F(SqliteSourceTest, OverwriteReplacesContentUnderOpenConnection) {
  CreateDb("WAL", 2000);
  auto source = MakeSource(path_);
  auto captured = CaptureAll(*source);
  ASSERT_TRUE(captured.ok()) << captured.status().ToString();

  sqlite3* app = Open(path_);  // an application connection that stays open
  Exec(app, "DELETE FROM t WHERE id % 3 = 0");
  Exec(app, "CREATE TABLE extra(x)");
  Exec(app, "PRAGMA user_version=8");
  EXPECT_EQ(Text(app, "SELECT count(*) FROM t"), "1334");

  RestoreRequest req;
  req.mode = RestoreMode::kOverwrite;
  req.manifest = captured->manifest;
  req.reader = &captured->reader;
  auto out = source->Restore(req);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Text(app, "SELECT count(*) FROM t"), "2000");
  EXPECT_EQ(Text(app, "PRAGMA user_version"), "7");
  EXPECT_EQ(Text(app, "SELECT count(*) FROM sqlite_schema WHERE name = 'extra'"), "0");
  sqlite3_close(app);
  auto fp = source->Fingerprint(out->locator);
  ASSERT_TRUE(fp.ok()) << fp.status().ToString();
  EXPECT_EQ((*fp)["items"], captured->manifest["fingerprint"]["items"]);
  EXPECT_EQ(IntegrityCheck(path_), "ok");
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".cairn-"), std::string::npos) << "left behind: " << e.path();
}

TEST_F(SqliteSourceTest, OverwriteRefusesCorruptBackupAndLeavesLiveUntouched) {
  CreateDb("WAL", 500);
  auto source = MakeSource(path_);
  auto captured = CaptureAll(*source);
  ASSERT_TRUE(captured.ok());
  std::string& data = captured->reader.streams["db/app.db"];
  for (size_t i = 4096 + 100; i < data.size(); i += 997) data[i] = static_cast<char>(data[i] ^ 0x5a);
  sqlite3* app = Open(path_);
  Exec(app, "DELETE FROM t WHERE id > 100");
  RestoreRequest req;
  req.mode = RestoreMode::kOverwrite;
  req.manifest = captured->manifest;
  req.reader = &captured->reader;
  auto out = source->Restore(req);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("integrity"), std::string::npos) << out.status().ToString();
  EXPECT_EQ(Text(app, "SELECT count(*) FROM t"), "100");
  sqlite3_close(app);
}

TEST_F(SqliteSourceTest, PinnedOldSnapshotFallsBackToBackupApi) {
  CreateDb("WAL", 1000);
  sqlite3* w = Open(path_);
  Exec(w, "PRAGMA wal_autocheckpoint=0");
  Exec(w, "INSERT INTO t(v) VALUES('a')");
  sqlite3* reader = Open(path_);
  Exec(reader, "BEGIN");
  EXPECT_EQ(Text(reader, "SELECT count(*) FROM t"), "1001");  // pins WAL frames up to here
  Exec(w, "INSERT INTO t(v) VALUES('b')");
  auto source = MakeSource(path_);
  auto captured = CaptureAll(*source);
  Exec(reader, "COMMIT");
  sqlite3_close(reader);
  sqlite3_close(w);
  ASSERT_TRUE(captured.ok()) << captured.status().ToString();
  EXPECT_EQ(captured->manifest["source"]["method"], "backup-api");
  EXPECT_EQ(captured->manifest["fingerprint"]["items"]["table t"]["rows"], 1002);
  RestoreRequest req;
  req.manifest = captured->manifest;
  req.reader = &captured->reader;
  req.suffix = "fallback";
  auto out = source->Restore(req);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto fp = source->Fingerprint(out->locator);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ((*fp)["items"], captured->manifest["fingerprint"]["items"]);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find("cairn-sqlite-"), std::string::npos) << "left behind: " << e.path();
}

TEST_F(SqliteSourceTest, AbandonedCaptureReleasesTheDatabase) {
  CreateDb("DELETE", 30000);  // several MiB: the producer blocks on the full pipe
  auto source = MakeSource(path_);
  {
    auto capture = source->StartCapture();
    ASSERT_TRUE(capture.ok()) << capture.status().ToString();
    auto fd = (*capture)->parts()[0].open();
    ASSERT_TRUE(fd.ok());
    char buf[1000];
    ASSERT_GT(::read(*fd, buf, sizeof buf), 0);
    // destroyed with the reader still open and unread data in the pipe
    capture->reset();
    ::close(*fd);
  }
  sqlite3* db = Open(path_);
  sqlite3_busy_timeout(db, 100);
  Exec(db, "INSERT INTO t(v) VALUES('after')");  // no lock left behind
  sqlite3_close(db);
}

TEST_F(SqliteSourceTest, ClearErrors) {
  auto missing = MakeSource(dir_ + "/nope.db");
  auto p = missing->Probe();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  EXPECT_NE(p.status().message().find("does not exist"), std::string::npos) << p.status().ToString();
  EXPECT_FALSE(missing->StartCapture().ok());
  EXPECT_FALSE(fs::exists(dir_ + "/nope.db"));  // never created by accident

  {
    std::ofstream junk(dir_ + "/junk.db", std::ios::binary);
    for (int i = 0; i < 5000; ++i) junk << "this is not a database ";
  }
  auto junk = MakeSource(dir_ + "/junk.db");
  auto j = junk->StartCapture();
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("is not an SQLite database"), std::string::npos) << j.status().ToString();

  auto d = MakeSource(dir_)->Probe();
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("is a directory"), std::string::npos);

  ServiceConfig c;
  c.name = "x";
  c.type = "sqlite";
  auto no_path = MakeSqliteSource(c);
  ASSERT_FALSE(no_path.ok());
  EXPECT_EQ(no_path.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
