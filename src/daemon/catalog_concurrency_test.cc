// The SQLite catalog under concurrency: readers beside a writer, another
// process holding the write lock, and a writer killed mid-transaction.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <thread>

#include "daemon/catalog.h"
#include "daemon/testing/catalog_test_util.h"

namespace cairn {
namespace {

using catalog_testing::CatalogFixture;
using catalog_testing::IsOk;
using catalog_testing::kSecond;
using catalog_testing::kT0;
using catalog_testing::MakePoint;
using catalog_testing::RawQuery;
using Clock = std::chrono::steady_clock;

using CatalogConcurrencyTest = CatalogFixture;

// One backup on one target that makes one point: afterwards the succeeded
// backups, the target's cached points and its status row all agree.
void BackupOnce(Catalog& cat, const std::string& service, int n) {
  auto id = cat.InsertJob({JobKind::kBackup, service, {"local"}, Trigger::kSchedule});
  ASSERT_TRUE(IsOk(id));
  ASSERT_TRUE(IsOk(cat.StartJob(*id)));
  ASSERT_TRUE(IsOk(cat.UpdateProgress(*id, {{"bytes_done", n}})));
  ASSERT_TRUE(IsOk(cat.AppendLog(*id, {{0, 0, LogLevel::kInfo, "backup " + std::to_string(n)}})));
  JobOutcome out;
  out.status = JobStatus::kSucceeded;
  out.point_id = service + "-" + std::to_string(n);
  out.points = {MakePoint(service, out.point_id, "local", kT0 + n)};
  ASSERT_TRUE(IsOk(cat.FinishJob(*id, out)));
}

TEST_F(CatalogConcurrencyTest, ReadersBesideAWriterSeeOnlyWholeTransactions) {
  constexpr int kWrites = 150;
  std::atomic<bool> done{false};
  std::atomic<int> reads{0}, torn{0}, errors{0};
  auto reader = [&](int which) {
    while (!done.load()) {
      if (which % 2 == 0) {
        // In one snapshot: succeeded backups == cached points == status rows' points.
        auto m = cat().Metrics();
        if (!m.ok()) {
          ++errors;
          continue;
        }
        int64_t succeeded = 0, points = 0;
        for (const auto& c : m->job_totals)
          if (c.kind == JobKind::kBackup && c.status == JobStatus::kSucceeded) succeeded = c.count;
        for (const auto& b : m->backups) points += b.points;
        if (succeeded != points) ++torn;
      } else {
        auto page = cat().ListJobs({}, {20, ""});
        if (!page.ok()) {
          ++errors;
          continue;
        }
        for (size_t i = 1; i < page->items.size(); ++i)
          if (page->items[i].id >= page->items[i - 1].id) ++torn;
        for (const auto& j : page->items)
          if (j.status == JobStatus::kSucceeded && j.point_id.empty()) ++torn;
      }
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) readers.emplace_back(reader, i);
  std::thread writer([&] {
    for (int n = 0; n < kWrites; ++n) BackupOnce(cat(), n % 2 ? "a" : "b", n);
    done = true;
  });
  writer.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 4);
  auto m = cat().Metrics();
  ASSERT_TRUE(IsOk(m));
  int64_t points = 0;
  for (const auto& b : m->backups) points += b.points;
  EXPECT_EQ(points, kWrites);
}

TEST_F(CatalogConcurrencyTest, ReadersDoNotWaitForAnotherProcesssWrite) {
  SqliteCatalogOptions options;
  options.busy_timeout_ms = 300;
  Reopen(options);
  ASSERT_TRUE(IsOk(cat().PutSetting("k", "before")));
  // A second connection (a CLI, say) takes the write lock and keeps it.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE; UPDATE settings SET value = 'during' WHERE key = 'k';", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  auto start = Clock::now();
  auto value = cat().GetSetting("k");
  ASSERT_TRUE(IsOk(value));
  EXPECT_EQ(value->value_or(""), "before");  // uncommitted: not visible
  ASSERT_TRUE(IsOk(cat().ListJobs({}, {})));
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(250));

  // A write waits for the busy timeout, then says why it failed.
  start = Clock::now();
  Status st = cat().PutSetting("k", "mine");
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(250));
  EXPECT_EQ(st.code(), StatusCode::kLocked);
  EXPECT_NE(st.message().find("catalog " + path_ + " is busy"), std::string::npos) << st.message();

  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  value = cat().GetSetting("k");
  ASSERT_TRUE(IsOk(value));
  EXPECT_EQ(value->value_or(""), "during");
  EXPECT_TRUE(IsOk(cat().PutSetting("k", "mine")));
  sqlite3_close(other);
}

TEST_F(CatalogConcurrencyTest, AWriteWaitsForAShortLockElsewhere) {
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO settings VALUES ('x', 'y', 0);", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  });
  auto start = Clock::now();
  auto id = cat().InsertJob({JobKind::kBackup, "a", {"local"}, Trigger::kManual});
  EXPECT_TRUE(IsOk(id));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(200));
  release.join();
  sqlite3_close(other);
}

// A child process writes in a loop (jobs with logs and points, and syncs of
// 400 points in one transaction) and is killed with SIGKILL at a random
// moment, five times over the same file. Then the file must be intact and
// show every transaction whole or not at all.
TEST_F(CatalogConcurrencyTest, AKilledWriterLeavesAConsistentCatalog) {
  catalog_.reset();
  constexpr int kSyncPoints = 400;
  std::vector<JobId> long_jobs;
  std::mt19937 rng(12345);
  for (int round = 0; round < 5; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto opened = OpenSqliteCatalog(path_);
      if (!opened.ok()) ::_exit(2);
      Catalog& c = **opened;
      // A job that is still running when the child dies.
      auto long_job = c.InsertJob({JobKind::kBackup, "long", {"local"}, Trigger::kSchedule});
      if (!long_job.ok() || !c.StartJob(*long_job).ok()) ::_exit(3);
      JobId id = *long_job;
      if (::write(fds[1], &id, sizeof id) != sizeof id) ::_exit(4);
      for (int n = 0;; ++n) {
        auto job = c.InsertJob({JobKind::kBackup, "svc", {"local"}, Trigger::kSchedule});
        if (!job.ok() || !c.StartJob(*job).ok()) ::_exit(5);
        std::vector<LogLine> lines(20, LogLine{0, 0, LogLevel::kInfo, std::string(80, 'l')});
        if (!c.AppendLog(*job, lines).ok()) ::_exit(6);
        JobOutcome out;
        out.status = JobStatus::kSucceeded;
        out.point_id = "r" + std::to_string(round) + "n" + std::to_string(n);
        out.points = {MakePoint("svc", out.point_id, "local", kT0 + n)};
        out.points[0].manifest = std::string(3000, 'm');
        if (!c.FinishJob(*job, out).ok()) ::_exit(7);
        // Replace target "mirror" with a set of points named after this step.
        std::vector<PointWrite> set;
        char prefix[16];
        std::snprintf(prefix, sizeof prefix, "%02d%06d", round, n);
        for (int k = 0; k < kSyncPoints; ++k) {
          PointWrite p = MakePoint("svc", std::string(prefix) + "-" + std::to_string(k), "mirror", kT0 + k);
          p.manifest = std::string(2000, 'x');
          set.push_back(std::move(p));
        }
        if (!c.ReplaceTargetPoints("mirror", "svc", set).ok()) ::_exit(8);
      }
    }
    ::close(fds[1]);
    JobId long_job = 0;
    ASSERT_EQ(::read(fds[0], &long_job, sizeof long_job), static_cast<ssize_t>(sizeof long_job));
    ::close(fds[0]);
    long_jobs.push_back(long_job);
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 400));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself with exit code " << WEXITSTATUS(status);
  }

  // Recovery happens when the file is next opened.
  EXPECT_EQ(RawQuery(path_, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(RawQuery(path_, "PRAGMA foreign_key_check"), "");
  // Counters, status rows, points and logs agree with the jobs: no
  // transaction is half there.
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM jobs WHERE kind = 'backup' AND status = 'succeeded'"),
            RawQuery(path_, "SELECT n FROM job_counts WHERE kind = 'backup' AND status = 'succeeded'"));
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM jobs j WHERE status = 'succeeded' AND NOT EXISTS "
                            "(SELECT 1 FROM points p WHERE p.service = j.service AND p.point_id = j.point_id)"),
            "0");
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM service_targets s WHERE points != (SELECT count(*) FROM "
                            "point_targets t WHERE t.service = s.service AND t.target = s.target)"),
            "0");
  EXPECT_EQ(RawQuery(path_, "SELECT last_job = (SELECT max(id) FROM jobs WHERE status = 'succeeded' AND "
                            "service = 'svc') FROM service_targets WHERE service = 'svc' AND target = 'local'"),
            "1");
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM jobs j WHERE log_next_seq - 1 != "
                            "(SELECT count(*) FROM job_logs l WHERE l.job_id = j.id)"),
            "0");
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM points p WHERE NOT EXISTS "
                            "(SELECT 1 FROM point_targets t WHERE t.point_pk = p.pk)"),
            "0");
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM points p WHERE NOT EXISTS "
                            "(SELECT 1 FROM point_manifests m WHERE m.point_pk = p.pk)"),
            "0");
  // The mirror holds exactly one sync's set.
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM point_targets WHERE target = 'mirror'"),
            std::to_string(kSyncPoints));
  EXPECT_EQ(RawQuery(path_, "SELECT count(DISTINCT substr(p.point_id, 1, 8)) FROM point_targets t "
                            "JOIN points p ON p.pk = t.point_pk WHERE t.target = 'mirror'"),
            "1");

  // The restart marks what was running as interrupted.
  Reopen();
  auto marked = cat().MarkInterrupted("the daemon stopped unexpectedly while this job ran");
  ASSERT_TRUE(IsOk(marked));
  std::set<JobId> marked_ids;
  for (const auto& j : *marked) marked_ids.insert(j.id);
  for (JobId id : long_jobs) EXPECT_TRUE(marked_ids.count(id)) << "job " << id;
  JobFilter running;
  running.status = JobStatus::kRunning;
  auto left = cat().ListJobs(running, {});
  ASSERT_TRUE(IsOk(left));
  EXPECT_TRUE(left->items.empty());
}

}  // namespace
}  // namespace cairn
