// Opening the SQLite catalog: the file, its mode, WAL, schema versions and
// migrations, and the one-line errors for files that cannot be used.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "daemon/catalog_sqlite.h"
#include "daemon/catalog_sqlite_impl.h"
#include "daemon/sqlite_db.h"
#include "daemon/testing/catalog_test_util.h"

namespace cairn {
namespace {

using catalog_testing::IsOk;
using catalog_testing::kT0;
using catalog_testing::MakePoint;
using catalog_testing::RawQuery;
using catalog_testing::ScratchDir;

int Mode(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 07777) : -1;
}

void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs fn in a child process and returns what it wrote ("<code>|<message>").
std::string InChild(const std::function<std::string()>& fn) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string out = fn();
    ssize_t ignored = ::write(fds[1], out.data(), out.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return got;
}

std::string Describe(const Status& st) { return std::to_string(static_cast<int>(st.code())) + "|" + st.message(); }

TEST(CatalogOpenTest, CreatesItsFilesWithMode0600WhateverTheUmask) {
  ScratchDir dir;
  const std::string path = dir.File("catalog.db");
  const mode_t old = ::umask(0);  // the most permissive umask: nothing masked
  {
    auto cat = OpenSqliteCatalog(path);
    ASSERT_TRUE(IsOk(cat));
    ASSERT_TRUE(IsOk((*cat)->PutSetting("k", "v")));
    EXPECT_EQ(Mode(path), 0600);
    EXPECT_EQ(Mode(path + "-wal"), 0600);
    EXPECT_EQ(Mode(path + "-shm"), 0600);
  }
  EXPECT_EQ(::umask(old), 0u);  // the library left the process umask alone
}

TEST(CatalogOpenTest, NewFileIsWalWithTheCurrentSchemaAndKeepsDataAcrossReopen) {
  ScratchDir dir;
  const std::string path = dir.File("catalog.db");
  JobId id = 0;
  {
    auto cat = OpenSqliteCatalog(path);
    ASSERT_TRUE(IsOk(cat));
    auto job = (*cat)->InsertJob({JobKind::kBackup, "app-db", {"local"}, Trigger::kManual});
    ASSERT_TRUE(IsOk(job));
    id = *job;
    // A second catalog on the same file (a CLI beside the daemon) sees it.
    auto second = OpenSqliteCatalog(path);
    ASSERT_TRUE(IsOk(second));
    EXPECT_TRUE(IsOk((*second)->GetJob(id)));
  }
  EXPECT_EQ(RawQuery(path, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), std::to_string(SqliteCatalogSchemaVersion()));
  EXPECT_EQ(RawQuery(path, "PRAGMA application_id"), std::to_string(catalog_internal::kApplicationId));
  EXPECT_EQ(RawQuery(path, "PRAGMA auto_vacuum"), "2");  // incremental
  EXPECT_EQ(RawQuery(path, "SELECT value FROM meta WHERE key = 'writer_version'"), CAIRN_VERSION);
  auto again = OpenSqliteCatalog(path);
  ASSERT_TRUE(IsOk(again));
  auto job = (*again)->GetJob(id);
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->service, "app-db");
}

TEST(CatalogOpenTest, MigrationsRunOnceInOrderAndAllOrNothing) {
  using catalog_internal::Migration;
  ScratchDir dir;
  const std::string path = dir.File("catalog.db");
  { std::ofstream touch(path); }
  auto db = sql::Db::Open(path, 1000);
  ASSERT_TRUE(IsOk(db));
  const Migration v1 = catalog_internal::SqliteMigrations().front();
  const Migration v2{2, "extra table", "CREATE TABLE extra (x); INSERT INTO extra VALUES (1);"};
  const Migration v3_broken{3, "broken", "CREATE TABLE t3 (x); INSERT INTO no_such_table VALUES (1);"};

  ASSERT_TRUE(IsOk(catalog_internal::Migrate(**db, {v1})));
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "1");
  ASSERT_TRUE(IsOk(catalog_internal::Migrate(**db, {v1, v2})));
  ASSERT_TRUE(IsOk(catalog_internal::Migrate(**db, {v1, v2})));  // nothing left to do
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "2");
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM extra"), "1");

  Status st = catalog_internal::Migrate(**db, {v1, v2, v3_broken});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("migration to schema version 3 (broken) failed"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(path), std::string::npos);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "2");
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM sqlite_schema WHERE name = 't3'"), "0");
  db->reset();

  // This build knows version 1 only: the version-2 file is refused, untouched.
  const std::string before = ReadFile(path);
  auto cat = OpenSqliteCatalog(path);
  ASSERT_FALSE(cat.ok());
  EXPECT_EQ(cat.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(ReadFile(path), before);
}

TEST(CatalogOpenTest, ACatalogOfANewerCairnIsRefusedWithOneLine) {
  ScratchDir dir;
  const std::string path = dir.File("catalog.db");
  { ASSERT_TRUE(IsOk(OpenSqliteCatalog(path))); }
  RawExec(path, "PRAGMA user_version = 99; UPDATE meta SET value = '9.0.0' WHERE key = 'writer_version';");
  auto cat = OpenSqliteCatalog(path);
  ASSERT_FALSE(cat.ok());
  const std::string& msg = cat.status().message();
  EXPECT_EQ(cat.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("newer cairn (schema version 99, cairn 9.0.0)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("upgrade cairn"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos);
  EXPECT_EQ(RawQuery(path, "PRAGMA user_version"), "99");
}

TEST(CatalogOpenTest, AnotherProgramsDatabaseIsRefused) {
  ScratchDir dir;
  const std::string path = dir.File("app.db");
  RawExec(path, "CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1);");
  auto cat = OpenSqliteCatalog(path);
  ASSERT_FALSE(cat.ok());
  EXPECT_EQ(cat.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cat.status().message().find("is not a cairn catalog"), std::string::npos) << cat.status().message();
  EXPECT_EQ(RawQuery(path, "SELECT count(*) FROM users"), "1");
}

TEST(CatalogOpenTest, AFileOfGarbageIsReportedAsCorrupt) {
  ScratchDir dir;
  const std::string path = dir.File("catalog.db");
  {
    std::ofstream out(path, std::ios::binary);
    std::mt19937 rng(7);
    for (int i = 0; i < 8192; ++i) out.put(static_cast<char>(rng()));
  }
  auto cat = OpenSqliteCatalog(path);
  ASSERT_FALSE(cat.ok());
  EXPECT_EQ(cat.status().code(), StatusCode::kCorruption);
  EXPECT_NE(cat.status().message().find("catalog " + path + " is corrupt"), std::string::npos)
      << cat.status().message();
}

TEST(CatalogOpenTest, DamagedPagesAreReportedAsCorruption) {
  ScratchDir dir;
  const std::string path = dir.File("catalog.db");
  {
    auto cat = OpenSqliteCatalog(path);
    ASSERT_TRUE(IsOk(cat));
    std::vector<JobRecord> jobs(3000);
    for (auto& j : jobs) {
      j.service = "svc";
      j.targets = {"local"};
      j.status = JobStatus::kSucceeded;
      j.error = std::string(100, 'e');
    }
    ASSERT_TRUE(IsOk((*cat)->ImportJobs(jobs)));
  }  // the last close checkpoints the WAL into the file
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    ASSERT_GT(size, 100 * 4096);
    f.seekp(8192);
    std::mt19937 rng(3);
    for (std::streamoff i = 8192; i < size; ++i) f.put(static_cast<char>(rng()));
  }
  Status seen = Status::Ok();
  auto cat = OpenSqliteCatalog(path);
  if (!cat.ok()) {
    seen = cat.status();
  } else {
    auto page = (*cat)->ListJobs({}, {1000, ""});
    seen = page.status();
  }
  EXPECT_EQ(seen.code(), StatusCode::kCorruption) << seen.ToString();
  EXPECT_NE(seen.message().find(path), std::string::npos) << seen.message();
}

TEST(CatalogOpenTest, AMissingDirectoryIsNamed) {
  ScratchDir dir;
  const std::string path = dir.File("no/such/dir/catalog.db");
  auto cat = OpenSqliteCatalog(path);
  ASSERT_FALSE(cat.ok());
  EXPECT_NE(cat.status().message().find("cannot create catalog " + path + ": No such file or directory"),
            std::string::npos)
      << cat.status().message();
}

TEST(CatalogOpenTest, AReadOnlyCatalogIsNamed) {
  ScratchDir dir;
  const std::string path = dir.File("catalog.db");
  { ASSERT_TRUE(IsOk(OpenSqliteCatalog(path))); }
  // Readable by everyone, writable by nobody but root: run as nobody.
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  std::string got = InChild([&]() -> std::string {
    if (::geteuid() == 0 && ::setuid(65534) != 0) return "setuid failed";
    auto cat = OpenSqliteCatalog(path);
    if (!cat.ok()) return Describe(cat.status());
    auto id = (*cat)->InsertJob({JobKind::kBackup, "a", {}, Trigger::kManual});
    return id.ok() ? "wrote to a read-only file" : Describe(id.status());
  });
  EXPECT_EQ(got.rfind(std::to_string(static_cast<int>(StatusCode::kIOError)) + "|", 0), 0u) << got;
  EXPECT_NE(got.find("catalog " + path + " is read-only"), std::string::npos) << got;
}

// Mounts a 1 MiB tmpfs at `dir` in a mount namespace of this process only
// (as root, or as a user through a user namespace). "" or why not.
std::string MountSmallTmpfs(const std::string& dir) {
  const uid_t uid = ::geteuid();
  const gid_t gid = ::getegid();
  if (uid != 0) {
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return std::string("unshare: ") + std::strerror(errno);
    auto write_file = [](const char* path, const std::string& text) {
      int fd = ::open(path, O_WRONLY);
      bool ok = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
      if (fd >= 0) ::close(fd);
      return ok;
    };
    write_file("/proc/self/setgroups", "deny");
    if (!write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1"))
      return "cannot map ids in a user namespace";
  } else if (::unshare(CLONE_NEWNS) != 0) {
    return std::string("unshare: ") + std::strerror(errno);
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return std::string("mount --make-rprivate: ") + std::strerror(errno);
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") != 0) return std::string("mount: ") + std::strerror(errno);
  return "";
}

TEST(CatalogOpenTest, AFullDiskIsNamedAndCommittedDataSurvives) {
  ScratchDir dir;
  const std::string small = dir.File("small");
  ASSERT_EQ(::mkdir(small.c_str(), 0700), 0);
  const std::string path = small + "/catalog.db";
  // The child fills a 1 MiB file system with points until a write fails,
  // then reopens the catalog and counts what is there.
  std::string got = InChild([&]() -> std::string {
    if (std::string why = MountSmallTmpfs(small); !why.empty()) return "skip|" + why;
    int committed = 0;
    Status failure;
    {
      auto cat = OpenSqliteCatalog(path);
      if (!cat.ok()) return Describe(cat.status());
      std::mt19937_64 rng(1);
      for (int i = 0; i < 100000 && failure.ok(); ++i) {
        PointWrite p = MakePoint("svc", "p" + std::to_string(i), "local", kT0 + i);
        p.manifest.clear();
        for (int k = 0; k < 2000; ++k) p.manifest += static_cast<char>(rng());  // incompressible
        failure = (*cat)->PutPoint(p);
        if (failure.ok()) ++committed;
      }
    }
    auto cat = OpenSqliteCatalog(path);
    if (!cat.ok()) return "reopen failed: " + cat.status().ToString();
    auto points = (*cat)->ListPoints("svc", {1000, ""});
    size_t listed = points.ok() ? points->items.size() : 0;
    return Describe(failure) + "|" + std::to_string(committed) + "|" + std::to_string(listed) + "|" +
           RawQuery(path, "PRAGMA integrity_check");
  });
  if (got.rfind("skip|", 0) == 0) GTEST_SKIP() << "no small file system to fill: " << got.substr(5);
  EXPECT_EQ(got.rfind(std::to_string(static_cast<int>(StatusCode::kNoSpace)) + "|disk full: cannot write catalog " +
                          path,
                      0),
            0u)
      << got;
  // What was committed before the disk filled is all there, intact.
  std::vector<std::string> fields;
  for (size_t pos = 0, bar; pos <= got.size(); pos = bar + 1) {
    bar = got.find('|', pos);
    if (bar == std::string::npos) bar = got.size();
    fields.push_back(got.substr(pos, bar - pos));
  }
  ASSERT_EQ(fields.size(), 5u) << got;
  EXPECT_GT(std::stoi(fields[2]), 10);
  EXPECT_EQ(fields[3], fields[2]);
  EXPECT_EQ(fields[4], "ok");
}

}  // namespace
}  // namespace cairn
