// The daemon catalog at scale: seeds an SQLite catalog with 200 services,
// 1,000,000 jobs and 500,000 restore points (manifests of realistic sizes),
// then measures the queries behind the dashboard's lists and /metrics.
// docs/catalog.md has the figures and how to run it:
//
//   cmake --build build --target cairn_catalog_bench
//   nice build/cairn_catalog_bench [--dir DIR] [--jobs N] [--points N]
//                                  [--services N] [--iterations N] [--keep]
//                                  [--seed-only] [--manifest-tables N] [--until-now]
//
// Prints seed times, p50/p99/max per query, the file size and the bytes
// each table and index takes.
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "daemon/catalog.h"
#include "daemon/catalog_sqlite.h"

namespace cairn {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Options {
  std::string dir;
  int services = 200;
  int64_t jobs = 1000000;
  int64_t points = 500000;
  int iterations = 400;
  bool keep = false;
  bool reuse = false;       // measure an already seeded catalog in --dir
  bool skip_prune = false;  // leave the history as seeded (for --reuse later)
  bool seed_only = false;   // seed, then stop (a catalog for a daemon: tests/integration/test_dashboard.sh)
  int max_tables = 0;       // at most this many fingerprint items per manifest (0: as TablesOf says)
  bool until_now = false;   // the seeded year ends now, not on 2025-12-31
};

constexpr int64_t kNsPerSecond = 1000000000LL;
// The seeded year starts here: 2025-01-01, or with --until-now 366 days ago
// (the newest points and jobs are then a day old, as on a live system).
int64_t kStart = 1735689600LL * kNsPerSecond;

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

[[noreturn]] void Die(const std::string& what, const Status& st) {
  std::fprintf(stderr, "catalog_bench: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}
template <typename T>
T Check(Result<T> r, const std::string& what) {
  if (!r.ok()) Die(what, r.status());
  return std::move(r).value();
}
void Check(const Status& st, const std::string& what) {
  if (!st.ok()) Die(what, st);
}

std::string ServiceName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "svc-%03d", i);
  return buf;
}
// Every third service also copies its points to an object store.
bool HasOffsite(int service) { return service % 3 == 0; }

// Table counts of each service's databases: most services are small
// (Redis, SQLite, a volume: a handful of items), a third are PostgreSQL or
// MariaDB with tens of tables, a few have hundreds. --manifest-tables caps
// it (a small catalog file for tests that need the counts, not the sizes).
int g_max_tables = 0;
int TablesOf(int service) {
  const int n = service % 25 == 7 ? 300 + (service * 37) % 300
                : service % 3 == 1 ? 10 + (service * 13) % 70
                                   : 2 + service % 4;
  return g_max_tables > 0 ? std::min(g_max_tables, n) : n;
}

void AppendHex(std::string& out, std::mt19937_64& rng, int digits) {
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < digits; i += 16) {
    uint64_t v = rng();
    for (int k = 0; k < 16 && i + k < digits; ++k, v >>= 4) out += hex[v & 15];
  }
}

// A manifest like docs/services.md's: parts, then a fingerprint with one
// item (row count and SHA-256) per table.
std::string Manifest(int service, const std::string& id, int64_t time_ns, std::mt19937_64& rng) {
  std::string m;
  m.reserve(256 + TablesOf(service) * 110);
  m += R"({"format":1,"point_id":")" + id + R"(","service":")" + ServiceName(service) +
       R"(","type":"postgres","kind":"scheduled","time_ns":)" + std::to_string(time_ns) +
       R"(,"hostname":"db1","server_version":"15.18","cairn_version":"0.1.0","duration_s":3.2,"size":52428800,)"
       R"("parts":[{"name":"globals","kind":"stream","file":"globals.sql","bytes":1311},)"
       R"({"name":"db.app","kind":"stream","file":"app.dump","bytes":52427489}],)"
       R"("fingerprint":{"exact":true,"items":{)";
  const int tables = TablesOf(service);
  for (int t = 0; t < tables; ++t) {
    if (t) m += ',';
    m += R"("app.public.table_)" + std::to_string(t) + R"(":{"rows":)" + std::to_string(rng() % 10000000) +
         R"(,"checksum":")";
    AppendHex(m, rng, 64);
    m += "\"}";
  }
  m += R"(}},"source":{"method":"logical","databases":["app"]}})";
  return m;
}

std::string PointId(int service, int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x%012llx", service, static_cast<unsigned long long>(n * 2654435761ULL));
  return std::string(buf, 16);
}

struct Seeded {
  double jobs_s = 0, points_s = 0, rest_s = 0;
  uint64_t manifest_bytes = 0;
};

Seeded Seed(Catalog& cat, const Options& o, FakeClock& clock) {
  Seeded out;
  std::mt19937_64 rng(42);
  // Jobs: a year of history, one job every ~30 s across all services.
  auto t0 = SteadyClock::now();
  const int64_t step = 365LL * 86400 * kNsPerSecond / o.jobs;
  std::vector<JobRecord> batch;
  constexpr int64_t kBatch = 50000;
  batch.reserve(kBatch);
  for (int64_t n = 0; n < o.jobs; ++n) {
    JobRecord j;
    const int service = static_cast<int>(rng() % o.services);
    const int r = static_cast<int>(rng() % 100);
    j.kind = r < 70 ? JobKind::kBackup
             : r < 80 ? JobKind::kForget
             : r < 85 ? JobKind::kPrune
             : r < 90 ? JobKind::kCheck
             : r < 95 ? JobKind::kCopy
             : r < 98 ? JobKind::kDrill
                      : JobKind::kRestore;
    j.service = ServiceName(service);
    j.targets = HasOffsite(service) && j.kind == JobKind::kBackup && rng() % 2 ? std::vector<std::string>{"local", "s3"}
                                                                              : std::vector<std::string>{"local"};
    j.trigger = rng() % 20 ? Trigger::kSchedule : Trigger::kManual;
    const int s = static_cast<int>(rng() % 1000);
    j.status = s < 930 ? JobStatus::kSucceeded
               : s < 970 ? JobStatus::kFailed
               : s < 990 ? JobStatus::kPartial
               : s < 995 ? JobStatus::kCancelled
                         : JobStatus::kInterrupted;
    j.queued_ns = kStart + n * step;
    j.started_ns = j.queued_ns + static_cast<int64_t>(rng() % 5) * kNsPerSecond;
    j.ended_ns = j.started_ns + static_cast<int64_t>(5 + rng() % 600) * kNsPerSecond;
    j.bytes_read = rng() % (8ULL << 30);
    j.bytes_added = j.bytes_read / (5 + rng() % 50);
    if (j.kind == JobKind::kBackup && j.status != JobStatus::kFailed) j.point_id = PointId(service, n);
    if (j.status == JobStatus::kFailed) j.error = "part db.app: pg_dump failed (exit 1): connection refused";
    j.result = {{"files", rng() % 1000}, {"parts", 2}};
    batch.push_back(std::move(j));
    if (static_cast<int64_t>(batch.size()) == kBatch || n + 1 == o.jobs) {
      Check(cat.ImportJobs(batch), "import jobs");
      batch.clear();
    }
  }
  out.jobs_s = Seconds(SteadyClock::now() - t0);

  // Points: each service's share, one sync per (service, target) as the
  // daemon's first sync of a target does it.
  t0 = SteadyClock::now();
  const int64_t per_service = o.points / o.services;
  const int64_t point_step = 365LL * 86400 * kNsPerSecond / per_service;
  for (int s = 0; s < o.services; ++s) {
    std::vector<PointWrite> local;
    local.reserve(per_service);
    for (int64_t k = 0; k < per_service; ++k) {
      PointWrite p;
      p.service = ServiceName(s);
      p.id = PointId(s, k);
      p.target = "local";
      p.native_id = PointId(s, k + 7) + PointId(s, k + 11);
      p.time_ns = kStart + k * point_step + s * kNsPerSecond;
      p.kind = k % 50 == 0 ? PointKind::kManual : PointKind::kScheduled;
      p.status = k % 97 == 0 ? PointStatus::kIncomplete : PointStatus::kComplete;
      p.size = 1ULL << 20 | rng() % (4ULL << 30);
      p.added = p.size / (3 + rng() % 40);
      p.duration_s = 1 + static_cast<double>(rng() % 6000) / 10;
      p.parts = {{"globals", "stream", 1311, std::nullopt}, {"db.app", "stream", p.size - 1311, std::nullopt}};
      p.manifest = Manifest(s, p.id, p.time_ns, rng);
      out.manifest_bytes += p.manifest.size();
      local.push_back(std::move(p));
    }
    Check(cat.ReplaceTargetPoints("local", ServiceName(s), local), "sync local");
    if (HasOffsite(s)) {
      for (auto& p : local) p.target = "s3";
      Check(cat.ReplaceTargetPoints("s3", ServiceName(s), local), "sync s3");
    }
  }
  out.points_s = Seconds(SteadyClock::now() - t0);

  // The rest: a few drills per service, open alerts, live jobs.
  t0 = SteadyClock::now();
  clock.Set(kStart + 366LL * 86400 * kNsPerSecond);
  for (int s = 0; s < o.services; ++s) {
    for (int k = 0; k < 2; ++k) {
      DrillRecord d;
      d.service = ServiceName(s);
      d.point_id = PointId(s, std::max<int64_t>(0, per_service - 1 - k * 30));
      d.target = "local";
      d.duration_s = 20 + s % 40;
      d.outcome = (s + k) % 17 ? DrillOutcome::kPassed : DrillOutcome::kFailed;
      d.verified_ns = clock.NowNs() - k * 86400 * kNsPerSecond;
      Check(cat.RecordDrill(d).status(), "record drill");
    }
  }
  for (int a = 0; a < 20; ++a)
    Check(cat.RaiseAlert(a % 2 ? AlertRule::kOverdue : AlertRule::kJobFailed,
                         a % 3 ? Severity::kWarning : Severity::kCritical, ServiceName(a * 7 % o.services), "local",
                         "see the last job's log")
              .status(),
          "raise alert");
  for (int r = 0; r < 5; ++r) {
    JobId id = Check(cat.InsertJob({JobKind::kBackup, ServiceName(r), {"local"}, Trigger::kSchedule}), "insert job");
    if (r < 3) Check(cat.StartJob(id), "start job");
  }
  out.rest_s = Seconds(SteadyClock::now() - t0);
  return out;
}

struct Timing {
  double p50 = 0, p99 = 0, max = 0;
  double cpu_p99 = 0;  // CPU time of the calling thread: the wall time less waiting for a core
};

double ThreadCpuMs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

Timing Measure(int iterations, const std::function<void(int)>& fn) {
  for (int i = 0; i < std::min(iterations / 10, 20); ++i) fn(i);  // warm the caches
  std::vector<double> ms, cpu;
  ms.reserve(iterations);
  cpu.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const double c0 = ThreadCpuMs();
    auto t0 = SteadyClock::now();
    fn(i);
    ms.push_back(Seconds(SteadyClock::now() - t0) * 1000);
    cpu.push_back(ThreadCpuMs() - c0);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  const size_t p99 = std::min(ms.size() - 1, ms.size() * 99 / 100);
  return {ms[ms.size() / 2], ms[p99], ms.back(), cpu[p99]};
}

void Report(const char* name, const Timing& t) {
  std::printf("| %-52s | %8.3f | %8.3f | %8.3f | %8.3f |\n", name, t.p50, t.p99, t.max, t.cpu_p99);
}

void Header() {
  std::printf("| %-52s | %8s | %8s | %8s | %8s |\n|---|---:|---:|---:|---:|\n", "query", "p50", "p99", "max",
              "cpu p99");
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Bytes per table and index (the dbstat table, when this SQLite has it).
void ReportSpace(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 14", -1, &st,
                         nullptr) == SQLITE_OK) {
    std::printf("\n| table or index | MiB |\n|---|---:|\n");
    while (sqlite3_step(st) == SQLITE_ROW)
      std::printf("| %s | %.1f |\n", reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                  sqlite3_column_int64(st, 1) / 1048576.0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress shows in a log file as it happens
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--dir") o.dir = next();
    else if (a == "--services") o.services = std::atoi(next().c_str());
    else if (a == "--jobs") o.jobs = std::atoll(next().c_str());
    else if (a == "--points") o.points = std::atoll(next().c_str());
    else if (a == "--iterations") o.iterations = std::atoi(next().c_str());
    else if (a == "--keep") o.keep = true;
    else if (a == "--reuse") o.reuse = true;
    else if (a == "--skip-prune") o.skip_prune = true;
    else if (a == "--seed-only") o.seed_only = true;
    else if (a == "--manifest-tables") o.max_tables = std::atoi(next().c_str());
    else if (a == "--until-now") o.until_now = true;
    else {
      std::fprintf(stderr, "usage: %s [--dir DIR] [--services N] [--jobs N] [--points N] [--iterations N] [--keep]\n"
                   "          [--reuse] [--skip-prune] [--seed-only] [--manifest-tables N] [--until-now]\n",
                   argv[0]);
      return 2;
    }
  }
  if (o.services < 1 || o.jobs < 1 || o.points < o.services || o.iterations < 1) {
    std::fprintf(stderr, "catalog_bench: the counts must be positive, with at least one point per service\n");
    return 2;
  }
  std::string dir = o.dir;
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-catalog-bench-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/catalog.db";
  const bool reuse = o.reuse && std::filesystem::exists(path);
  if (!reuse) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
  }

  if (o.until_now) {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    kStart = (static_cast<int64_t>(ts.tv_sec) - 366LL * 86400) * kNsPerSecond;
  }
  FakeClock clock(kStart);
  SqliteCatalogOptions options;
  options.clock = &clock;
  auto cat = Check(OpenSqliteCatalog(path, options), "open catalog");
  std::printf("catalog %s: %d services, %lld jobs, %lld points\n", path.c_str(), o.services,
              static_cast<long long>(o.jobs), static_cast<long long>(o.points));
  if (reuse) {
    clock.Set(kStart + 366LL * 86400 * kNsPerSecond);
    std::printf("seed: reusing the catalog seeded before\n");
  } else {
    g_max_tables = o.max_tables;
    Seeded seeded = Seed(*cat, o, clock);
    std::printf("seed: jobs %.1f s, points %.1f s (%.0f MiB of manifests), drills/alerts/live jobs %.1f s\n",
                seeded.jobs_s, seeded.points_s, seeded.manifest_bytes / 1048576.0, seeded.rest_s);
  }
  if (o.seed_only) {
    cat.reset();
    std::printf("file: %.1f MiB\n", FileSize(path) / 1048576.0);
    return 0;
  }
  // Reopen: measure from a fresh process state (WAL checkpointed, caches cold).
  cat.reset();
  cat = Check(OpenSqliteCatalog(path, options), "reopen catalog");
  std::printf("file: %.1f MiB (+ WAL %.1f MiB)\n", FileSize(path) / 1048576.0, FileSize(path + "-wal") / 1048576.0);
  ReportSpace(path);

  std::mt19937 rng(7);
  auto service = [&]() { return ServiceName(static_cast<int>(rng() % o.services)); };
  std::printf("\n%d iterations each, ms\n\n", o.iterations);
  Header();
  auto run_all = [&](const char* suffix) {
    auto name = [&](const char* n) { return std::string(n) + suffix; };
    Report(name("services overview (all services)").c_str(), Measure(o.iterations, [&](int) {
             auto r = Check(cat->ServicesOverview(), "overview");
             if (static_cast<int>(r.size()) != o.services) Die("overview", Status::Corruption("services missing"));
           }));
    Report(name("points: first page (50) of one service").c_str(), Measure(o.iterations, [&](int) {
             auto r = Check(cat->ListPoints(service(), {50, ""}), "points");
             if (static_cast<int64_t>(r.items.size()) != std::min<int64_t>(50, o.points / o.services))
               Die("points", Status::Corruption("short page"));
           }));
    std::vector<std::pair<std::string, std::string>> cursors;
    for (int i = 0; i < 64; ++i) {
      const std::string s = service();
      cursors.emplace_back(s, Check(cat->ListPoints(s, {50, ""}), "points").next_cursor);
    }
    Report(name("points: second page (cursor)").c_str(), Measure(o.iterations, [&](int i) {
             const auto& [s, cursor] = cursors[i % cursors.size()];
             Check(cat->ListPoints(s, {50, cursor}), "points page 2");
           }));
    Report(name("jobs: first page (50), no filter").c_str(),
           Measure(o.iterations, [&](int) { Check(cat->ListJobs({}, {50, ""}), "jobs"); }));
    Report(name("jobs: first page, ?service=").c_str(), Measure(o.iterations, [&](int) {
             JobFilter f;
             f.service = service();
             Check(cat->ListJobs(f, {50, ""}), "jobs by service");
           }));
    Report(name("jobs: first page, ?service=&status=failed").c_str(), Measure(o.iterations, [&](int) {
             JobFilter f;
             f.service = service();
             f.status = JobStatus::kFailed;
             Check(cat->ListJobs(f, {50, ""}), "jobs by service and status");
           }));
    Report(name("jobs: first page, ?status=failed").c_str(), Measure(o.iterations, [&](int) {
             JobFilter f;
             f.status = JobStatus::kFailed;
             Check(cat->ListJobs(f, {50, ""}), "jobs by status");
           }));
    Report(name("jobs: first page, ?kind=drill").c_str(), Measure(o.iterations, [&](int) {
             JobFilter f;
             f.kind = JobKind::kDrill;
             Check(cat->ListJobs(f, {50, ""}), "jobs by kind");
           }));
    Report(name("one job (GetJob)").c_str(), Measure(o.iterations, [&](int) {
             Check(cat->GetJob(1 + static_cast<JobId>(rng() % o.jobs)), "job");
           }));
    Report(name("/metrics snapshot").c_str(), Measure(o.iterations, [&](int) { Check(cat->Metrics(), "metrics"); }));
    Report(name("p95 input: 50 recent durations").c_str(), Measure(o.iterations, [&](int) {
             Check(cat->RecentDurations(service(), JobKind::kBackup, 50), "durations");
           }));
  };
  run_all("");

  // The same while a writer keeps the write lock busy (a sync of 2,500
  // points per transaction): readers must not wait for it.
  std::atomic<bool> stop{false};
  std::atomic<int> syncs{0};
  std::thread writer([&] {
    std::mt19937_64 wrng(9);
    const int64_t per_service = o.points / o.services;
    while (!stop.load()) {
      const int s = static_cast<int>(wrng() % o.services);
      std::vector<PointWrite> set;
      for (int64_t k = 0; k < per_service; ++k) {
        PointWrite p;
        p.service = ServiceName(s);
        p.id = PointId(s, k);
        p.target = "mirror";
        p.native_id = "m";
        p.time_ns = kStart + k;
        p.size = 1;
        p.manifest = Manifest(s, p.id, p.time_ns, wrng);
        set.push_back(std::move(p));
      }
      Check(cat->ReplaceTargetPoints("mirror", ServiceName(s), set), "mirror sync");
      ++syncs;
    }
  });
  std::printf("\nwith a concurrent writer (syncs of %lld points, one transaction each):\n\n",
              static_cast<long long>(o.points / o.services));
  Header();
  run_all(" [writer busy]");
  stop = true;
  writer.join();
  std::printf("\n(%d syncs ran meanwhile)\n", syncs.load());

  // History retention: keep 90 of the 365 days.
  if (o.skip_prune) {
    cat.reset();
    return 0;
  }
  const uint64_t before_prune = FileSize(path);
  auto t0 = SteadyClock::now();
  PruneStats pruned = Check(cat->PruneHistory({90, 0}), "prune history");
  std::printf("\nPruneHistory(90 days): %lld jobs deleted in %.1f s; file %.1f MiB -> %.1f MiB\n",
              static_cast<long long>(pruned.jobs), Seconds(SteadyClock::now() - t0), before_prune / 1048576.0,
              FileSize(path) / 1048576.0);
  Report("jobs: first page (50), no filter [after prune]",
         Measure(o.iterations, [&](int) { Check(cat->ListJobs({}, {50, ""}), "jobs"); }));
  cat.reset();
  std::printf("file after the run: %.1f MiB\n", FileSize(path) / 1048576.0);
  ReportSpace(path);
  if (!o.keep && o.dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) { return cairn::Main(argc, argv); }
