// The cairn command line. Every failure ends as one line on stderr naming the
// cause and exit code 1 (3: backup finished but some source files were
// unreadable). Machine-readable output goes to stdout with --json.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <malloc.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "cairn/engine.h"
#include "cairn/maintenance.h"
#include "cairn/repository.h"
#include "repo/snapshot_json.h"
#include "util/json_text.h"
#include "cli/common.h"

namespace cairn {
namespace {


std::string Clock(double seconds) {
  long s = static_cast<long>(seconds);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

// Prints live progress on a TTY (one rewritten line) or as JSON lines.
class ProgressPrinter {
 public:
  enum class Mode { kOff, kTty, kJson };
  ProgressPrinter(JobProgress* progress, Mode mode, const char* verb) : progress_(progress), mode_(mode), verb_(verb) {
    if (mode_ != Mode::kOff) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressPrinter() { Stop(); }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (mode_ == Mode::kTty) std::fprintf(stderr, "\r\033[K");
  }

 private:
  void Print() {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const double done = static_cast<double>(progress_->bytes_done.load());
    const double total = static_cast<double>(progress_->bytes_total.load());
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const bool known = progress_->totals_known;
    double eta = known && rate > 0 && total > done ? (total - done) / rate : 0;
    if (mode_ == Mode::kJson) {
      json j = {{"message_type", "status"}, {"seconds_elapsed", elapsed}, {"files_done", progress_->files_done.load()},
                {"bytes_done", progress_->bytes_done.load()}, {"errors", progress_->errors.load()}};
      if (known) {
        j["files_total"] = progress_->files_total.load();
        j["bytes_total"] = progress_->bytes_total.load();
        j["percent_done"] = total > 0 ? std::min(1.0, done / total) : 1.0;
        j["seconds_remaining"] = eta;
      }
      std::fprintf(stderr, "%s\n", Dump(j).c_str());
    } else {
      std::string line = "[" + Clock(elapsed) + "] " + verb_ + " " + std::to_string(progress_->files_done.load()) +
                         (known ? "/" + std::to_string(progress_->files_total.load()) : "") + " files, " +
                         HumanBytes(done) + (known ? " of " + HumanBytes(total) : "") + ", " + HumanBytes(rate) + "/s";
      if (known && total > 0) line += ", " + std::to_string(static_cast<int>(std::min(100.0, 100 * done / total))) + "%, ETA " + Clock(eta);
      if (progress_->errors) line += ", " + std::to_string(progress_->errors.load()) + " errors";
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    }
    std::fflush(stderr);
  }
  void Loop() {
    std::unique_lock lock(mu_);
    auto period = mode_ == Mode::kTty ? std::chrono::milliseconds(250) : std::chrono::milliseconds(1000);
    while (!cv_.wait_for(lock, period, [&] { return stop_; })) Print();
  }

  JobProgress* progress_;
  Mode mode_;
  std::string verb_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

ProgressPrinter::Mode ProgressMode(const Globals& g, bool progress_json) {
  if (progress_json) return ProgressPrinter::Mode::kJson;
  if (!g.quiet && isatty(STDERR_FILENO)) return ProgressPrinter::Mode::kTty;
  return ProgressPrinter::Mode::kOff;
}

// A snapshot id (prefix), "latest", or the restore point id every service
// command shows (a service point's snapshot carries the tag point=<id>).
Snapshot FindSnapshotOrPoint(Repository& repo, const std::string& wanted) {
  auto found = repo.FindSnapshot(wanted);
  if (found.ok() || !found.status().IsNotFound() || wanted == "latest") return ValueOrThrow(std::move(found));
  std::vector<std::string> damaged;
  auto all = ValueOrThrow(repo.ListSnapshots(&damaged));
  const Snapshot* match = nullptr;
  for (const Snapshot& s : all)
    for (const std::string& tag : s.tags)
      if (tag.starts_with("point=" + wanted)) {
        if (match && match->id != s.id)
          throw CommandError{Status::InvalidArgument("restore point id prefix '" + wanted + "' is ambiguous")};
        match = &s;
      }
  if (!match) throw CommandError{Status::NotFound("no snapshot or restore point with id " + wanted)};
  return *match;
}

json SnapshotListEntry(const Snapshot& s) {
  json j = SnapshotToJson(s);
  j["id"] = s.id.Hex();
  j["short_id"] = s.id.ShortHex();
  j["host"] = s.hostname;
  return j;
}

CompressionOptions ParseCompression(const std::string& text) {
  if (text == "auto" || text.empty()) return {3};
  if (text == "off") return {0};
  if (text == "max") return {19};
  if (text == "fastest") return {1};
  try {
    int level = std::stoi(text);
    if (level >= 1 && level <= 22) return {level};
  } catch (...) {
  }
  throw CommandError{Status::InvalidArgument("--compression must be auto, off, fastest, max or a zstd level 1-22")};
}

double ParsePercent(const std::string& text) {
  std::string t = text;
  if (!t.empty() && t.back() == '%') t.pop_back();
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end || !(v > 0 && v <= 100))
    throw CommandError{Status::InvalidArgument("--read-data-subset wants a percentage in (0, 100], e.g. 10%")};
  return v / 100;
}

void AddRepoCommands(CLI::App& app, Globals& g, int& exit_code) {
  CLI::App* repo = app.add_subcommand("repo", "Work with a repository directly");
  repo->require_subcommand(1);
  auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--repo,-r", g.repo, "Repository location (or CAIRN_REPOSITORY)");
    cmd->add_option("--password-file", g.password_file, "Read the password from this file (or CAIRN_PASSWORD)");
    cmd->add_flag("--json", g.json, "Machine-readable output on stdout");
    cmd->add_flag("--quiet,-q", g.quiet, "No progress output");
  };

  // init
  auto* init = repo->add_subcommand("init", "Create a new repository");
  add_common(init);
  static uint32_t pack_size_mib = InitOptions{}.pack_size >> 20;
  init->add_option("--pack-size", pack_size_mib, "Target pack size in MiB (object stores like larger packs)")
      ->check(CLI::Range(1, 128));
  init->callback([&] {
    auto storage = ValueOrThrow(OpenStorage(RepoLocation(g), /*create=*/true));
    InitOptions options;
    options.pack_size = pack_size_mib << 20;
    ThrowIfError(Repository::Init(*storage, Password(g), options));
    auto opened = ValueOrThrow(Repository::Open(std::move(storage), Password(g)));
    if (g.json) std::cout << Dump(json{{"id", opened->config().id}, {"location", RepoLocation(g)}}) << "\n";
    else std::cout << "created repository " << opened->config().id.substr(0, 8) << " at " << RepoLocation(g) << "\n";
  });

  // backup
  static BackupOptions bopt;
  static std::string compression = "auto";
  static std::string stdin_name;
  static bool progress_json = false;
  auto* backup = repo->add_subcommand("backup", "Back up files and directories, or standard input");
  add_common(backup);
  backup->add_option("paths", bopt.paths, "Files and directories to back up");
  backup->add_option("--tag", bopt.tags, "Tag the snapshot (repeatable)")->allow_extra_args(false);
  backup->add_option("--exclude,-e", bopt.excludes, "Skip paths matching this glob (full path or name; repeatable)")->allow_extra_args(false);
  backup->add_option("--host", bopt.hostname, "Host name to record (default: this machine)");
  backup->add_option("--stdin-name", stdin_name, "Back up standard input as a file of this name");
  backup->add_flag("--force", bopt.force_reread, "Re-read every file even if unchanged since the parent snapshot");
  backup->add_option("--compression", compression, "auto (zstd 3), off, fastest, max or a zstd level");
  backup->add_option("--threads", bopt.threads, "Worker threads (default: one per core)");
  backup->add_flag("--progress-json", progress_json, "Print progress as JSON lines on stderr");
  backup->callback([&] {
    if (!stdin_name.empty()) bopt.stdin_name = stdin_name;
    if (bopt.stdin_name && !bopt.paths.empty())
      throw CommandError{Status::InvalidArgument("give either paths or --stdin-name, not both")};
    bopt.compression = ParseCompression(compression);
    auto r = OpenRepo(g, bopt.stdin_name.has_value());
    JobProgress progress;
    bopt.progress = &progress;
    ProgressPrinter printer(&progress, ProgressMode(g, progress_json), "backed up");
    bopt.on_warning = [&](const std::string& w) {
      if (!g.json) std::fprintf(stderr, "\r\033[Kwarning: %s\n", OneLine(w).c_str());
      else std::fprintf(stderr, "warning: %s\n", OneLine(w).c_str());
    };
    auto result = ValueOrThrow(RunBackup(*r, bopt));
    printer.Stop();
    const Snapshot& s = result.snapshot;
    if (g.json) {
      json j = SummaryToJson(s.summary);
      j["snapshot_id"] = s.id.Hex();
      j["short_id"] = s.id.ShortHex();
      j["time"] = FormatTime(s.time_ns);
      j["parent"] = s.parent ? s.parent->Hex() : "";
      j["warnings"] = JsonSafeText(result.warnings);
      std::cout << Dump(j) << "\n";
    } else {
      const auto& m = s.summary;
      if (!g.quiet)
        std::fprintf(stderr, "files: %llu new, %llu changed, %llu unmodified; read %s, added %s (%s stored) in %.2fs\n",
                     (unsigned long long)m.files_new, (unsigned long long)m.files_changed,
                     (unsigned long long)m.files_unmodified, HumanBytes(m.bytes_read).c_str(),
                     HumanBytes(m.bytes_added).c_str(), HumanBytes(m.bytes_stored).c_str(), m.duration_s);
      std::cout << s.id.Hex() << "\n";
    }
    if (!result.warnings.empty()) {
      std::fprintf(stderr, "cairn: snapshot %s saved, but %zu source file(s) could not be read (see warnings)\n",
                   s.id.ShortHex().c_str(), result.warnings.size());
      exit_code = kExitPartial;
    }
  });

  // snapshots
  auto* snapshots = repo->add_subcommand("snapshots", "List snapshots");
  add_common(snapshots);
  snapshots->callback([&] {
    auto r = OpenRepo(g);
    std::vector<std::string> damaged;
    auto list = ValueOrThrow(r->ListSnapshots(&damaged));
    for (const auto& d : damaged) std::fprintf(stderr, "warning: %s (see cairn repo check)\n", OneLine(d).c_str());
    if (!damaged.empty()) exit_code = kExitFailure;
    if (g.json) {
      json arr = json::array();
      for (const Snapshot& s : list) arr.push_back(SnapshotListEntry(s));
      std::cout << Dump(arr) << "\n";
      return;
    }
    std::printf("%-8s  %-20s  %-16s  %-16s  %10s  %s\n", "ID", "Time (UTC)", "Host", "Tags", "Size", "Paths");
    for (const Snapshot& s : list) {
      std::string tags;
      for (const auto& t : s.tags) tags += (tags.empty() ? "" : ",") + t;
      std::string paths;
      for (const auto& p : s.paths) paths += (paths.empty() ? "" : " ") + p;
      std::printf("%-8s  %-20s  %-16s  %-16s  %10s  %s\n", s.id.ShortHex().c_str(),
                  FormatTime(s.time_ns).substr(0, 19).c_str(), s.hostname.c_str(), tags.c_str(),
                  HumanBytes(s.summary.total_bytes).c_str(), paths.c_str());
    }
    std::printf("%zu snapshots\n", list.size());
  });

  static bool no_lock = false;

  // restore
  static std::string snapshot_arg, target;
  static std::vector<std::string> includes;
  static int restore_threads = 0;
  auto* restore = repo->add_subcommand("restore", "Restore a snapshot into a directory");
  add_common(restore);
  restore->add_option("snapshot", snapshot_arg, "Snapshot id (prefix) or 'latest'")->required();
  restore->add_option("--target,-t", target, "Directory to restore into")->required();
  restore->add_option("--include,-i", includes, "Restore only this absolute path inside the snapshot (repeatable)")->allow_extra_args(false);
  restore->add_option("--threads", restore_threads, "Worker threads");
  static bool keep_partial = false;
  restore->add_flag("--keep-partial", keep_partial,
                    "Keep files whose data is damaged as NAME.cairn-partial instead of removing them");
  restore->add_flag("--no-lock", no_lock, "Do not read or write locks (a repository on read-only media)");
  restore->add_flag("--progress-json", progress_json, "Print progress as JSON lines on stderr");
  restore->callback([&] {
    auto r = OpenRepo(g);
    Snapshot s = FindSnapshotOrPoint(*r, snapshot_arg);
    JobProgress progress;
    RestoreOptions ropt{.target = target,
                        .includes = includes,
                        .threads = restore_threads,
                        .progress = &progress,
                        .on_warning = [&](const std::string& w) {
                          std::fprintf(stderr, "\r\033[Kwarning: %s\n", OneLine(w).c_str());
                        },
                        .keep_partial = keep_partial,
                        .lock = no_lock ? ReadLock::kNone : ReadLock::kBestEffort};
    ProgressPrinter printer(&progress, ProgressMode(g, progress_json), "restored");
    auto result = ValueOrThrow(RunRestore(*r, s, ropt));
    printer.Stop();
    json damaged = json::array();
    for (const auto& d : result.damaged) {
      damaged.push_back({{"path", d.path}, {"reason", d.reason}, {"kept_as", d.kept_as}});
      std::fprintf(stderr, "damaged: %s: %s%s\n", OneLine(d.path).c_str(), OneLine(d.reason).c_str(),
                   d.kept_as.empty() ? " (not restored)" : (" (partial data kept as " + d.kept_as + ")").c_str());
    }
    if (g.json)
      std::cout << Dump(json{{"snapshot_id", s.id.Hex()}, {"files", result.files}, {"dirs", result.dirs},
                        {"bytes", result.bytes}, {"warnings", result.warnings}, {"damaged", damaged}})
                << "\n";
    else
      std::cout << "restored snapshot " << s.id.ShortHex() << " to " << target << ": " << result.files << " files, "
                << result.dirs << " directories, " << HumanBytes(result.bytes) << "\n";
    if (!result.damaged.empty())
      throw CommandError{Status::Corruption(std::to_string(result.damaged.size()) +
                                            " file(s) could not be restored because their data is damaged (first: " +
                                            result.damaged.front().path + "); run cairn repo check")};
  });

  // dump
  static std::string dump_path;
  auto* dump = repo->add_subcommand("dump", "Write one file of a snapshot to stdout");
  add_common(dump);
  dump->add_option("snapshot", snapshot_arg, "Snapshot id (prefix), restore point id, or 'latest'")->required();
  dump->add_option("path", dump_path, "Absolute path inside the snapshot, or the --stdin-name")->required();
  dump->callback([&] {
    auto r = OpenRepo(g);
    Snapshot s = FindSnapshotOrPoint(*r, snapshot_arg);
    ThrowIfError(DumpFile(*r, s, dump_path, STDOUT_FILENO));
  });

  // check
  static bool read_data = false;
  static std::string subset;
  auto* check = repo->add_subcommand("check", "Verify the repository's structure and, optionally, its data");
  add_common(check);
  auto* rd = check->add_flag("--read-data", read_data, "Read and verify every pack");
  check->add_option("--read-data-subset", subset, "Read and verify a random N% of packs")->excludes(rd);
  check->add_flag("--no-lock", no_lock, "Do not read or write locks (a repository on read-only media)");
  check->callback([&] {
    auto r = OpenRepo(g);
    CheckOptions copt;
    copt.lock = no_lock ? ReadLock::kNone : ReadLock::kBestEffort;
    copt.read_data = read_data || !subset.empty();
    if (!subset.empty()) copt.read_data_fraction = ParsePercent(subset);
    auto report = ValueOrThrow(CheckRepository(*r, copt, StepLog(g)));
    if (g.json) {
      json damaged = json::array();
      for (const auto& d : report.damaged_snapshots)
        damaged.push_back({{"id", d.id.Hex()}, {"short_id", d.id.ShortHex()},
                           {"time", d.time_ns ? FormatTime(d.time_ns) : ""}, {"paths", JsonSafeText(d.paths)},
                           {"unreadable", d.unreadable}, {"damaged_files", d.damaged_files},
                           {"examples", JsonSafeText(d.examples)}});
      std::cout << Dump(json{{"errors", JsonSafeText(report.errors)}, {"warnings", JsonSafeText(report.warnings)},
                             {"damaged_snapshots", damaged}, {"repairs", report.repairs},
                             {"snapshots", report.snapshots}, {"trees", report.trees}, {"packs", report.packs},
                             {"packs_read", report.packs_read}, {"blobs_verified", report.blobs_verified}})
                << "\n";
    } else {
      for (const auto& w : report.warnings) std::cout << "warning: " << w << "\n";
      for (const auto& e : report.errors) std::cout << "error: " << e << "\n";
      if (!report.repairs.empty()) {
        std::cout << "to repair, in this order:\n";
        for (size_t i = 0; i < report.repairs.size(); ++i) std::cout << "  " << i + 1 << ". " << report.repairs[i] << "\n";
      }
      if (report.errors.empty())
        std::cout << "no errors found: " << report.snapshots << " snapshots, " << report.trees << " trees, "
                  << report.packs << " packs" << (copt.read_data ? ", " + std::to_string(report.packs_read) + " packs read" : "")
                  << "\n";
    }
    if (!report.errors.empty())
      throw CommandError{Status::Corruption(
          "check found " + std::to_string(report.errors.size()) + " error(s)" +
          (report.damaged_snapshots.empty() ? "" : ", " + std::to_string(report.damaged_snapshots.size()) +
                                                       " snapshot(s) cannot be restored whole") +
          "; first: " + report.errors.front() +
          (report.repairs.empty() ? "" : "; repair: " + report.repairs.front().substr(0, report.repairs.front().find(':'))))};
  });

  // forget
  static ForgetOptions fopt;
  static std::string keep_within;
  static bool prune_after = false;
  auto* forget = repo->add_subcommand("forget", "Remove snapshots by retention policy, or by id");
  add_common(forget);
  forget->add_option("ids", fopt.ids, "Snapshot ids (prefixes) to remove, instead of a policy");
  forget->add_option("--keep-last", fopt.policy.keep_last, "Keep the N newest snapshots");
  forget->add_option("--keep-hourly", fopt.policy.keep_hourly, "Keep the newest of each of N hours (-1: all)");
  forget->add_option("--keep-daily", fopt.policy.keep_daily, "Keep the newest of each of N days");
  forget->add_option("--keep-weekly", fopt.policy.keep_weekly, "Keep the newest of each of N weeks");
  forget->add_option("--keep-monthly", fopt.policy.keep_monthly, "Keep the newest of each of N months");
  forget->add_option("--keep-yearly", fopt.policy.keep_yearly, "Keep the newest of each of N years");
  forget->add_option("--keep-within", keep_within, "Keep all within this duration of the newest (e.g. 7d, 1y2m)");
  forget->add_option("--keep-tag", fopt.policy.keep_tags, "Keep snapshots with this tag (repeatable)")->allow_extra_args(false);
  forget->add_option("--host", fopt.hostname, "Only consider snapshots of this host");
  forget->add_flag("--dry-run,-n", fopt.dry_run, "Show what would be removed, change nothing");
  forget->add_flag("--prune", prune_after, "Run prune afterwards");
  forget->callback([&] {
    if (!keep_within.empty()) fopt.policy.keep_within = ValueOrThrow(ParseRetentionDuration(keep_within));
    auto r = OpenRepo(g);
    ForgetResult forgot = ValueOrThrow(Forget(*r, fopt));
    for (const auto& d : forgot.damaged)
      std::fprintf(stderr, "warning: %s (left alone; remove it by id)\n", OneLine(d).c_str());
    if (!fopt.ids.empty()) {
      json removed_ids = json::array();
      for (const Id& id : forgot.removed_by_id) {
        removed_ids.push_back(id.Hex());
        if (!g.json) std::printf("%s snapshot %s\n", fopt.dry_run ? "would remove" : "removed", id.ShortHex().c_str());
      }
      if (g.json) std::cout << Dump(json{{"removed", removed_ids}, {"dry_run", fopt.dry_run}}) << "\n";
    }
    json out = json::array();
    size_t removed = 0;
    for (const auto& group : forgot.groups) {
      json jg = {{"host", group.hostname}, {"paths", group.paths}, {"keep", json::array()}, {"remove", json::array()}};
      if (!g.json) {
        std::string paths;
        for (const auto& p : group.paths) paths += " " + p;
        std::printf("snapshots of host %s, paths%s:\n", group.hostname.c_str(), paths.c_str());
      }
      for (const auto& [snap, decision] : group.decisions) {
        std::string reasons;
        for (const auto& why : decision.reasons) reasons += (reasons.empty() ? "" : ", ") + why;
        json js = SnapshotListEntry(snap);
        js["reasons"] = decision.reasons;
        jg[decision.keep ? "keep" : "remove"].push_back(js);
        if (!decision.keep) ++removed;
        if (!g.json)
          std::printf("  %s  %s  %-6s %s\n", snap.id.ShortHex().c_str(), FormatTime(snap.time_ns).substr(0, 19).c_str(),
                      decision.keep ? "keep" : "remove", reasons.c_str());
      }
      out.push_back(jg);
    }
    if (fopt.ids.empty()) {
      if (g.json) std::cout << Dump(out) << "\n";
      else std::printf("%s %zu snapshot(s)\n", fopt.dry_run ? "would remove" : "removed", removed);
    }
    if (prune_after && !fopt.dry_run) {
      auto report = ValueOrThrow(Prune(*r, PruneOptions{}, StepLog(g)));
      if (!g.json) std::printf("prune freed %s\n", HumanBytes(report.bytes_freed).c_str());
    }
  });

  // prune
  static PruneOptions popt;
  auto* prune = repo->add_subcommand("prune", "Remove data no snapshot uses");
  add_common(prune);
  prune->add_flag("--dry-run,-n", popt.dry_run, "Show what would be removed, change nothing");
  prune->callback([&] {
    auto r = OpenRepo(g);
    auto report = ValueOrThrow(Prune(*r, popt, StepLog(g)));
    json j = {{"packs_total", report.packs_total},         {"packs_deleted", report.packs_deleted},
              {"packs_repacked", report.packs_repacked},   {"packs_unreferenced", report.packs_unreferenced},
              {"blobs_used", report.blobs_used},           {"blobs_unused", report.blobs_unused},
              {"bytes_freed", report.bytes_freed},         {"bytes_repacked", report.bytes_repacked},
              {"index_files_replaced", report.index_files_replaced},
              {"incomplete_writes_removed", report.incomplete_writes_removed}, {"dry_run", popt.dry_run}};
    if (g.json) std::cout << Dump(j) << "\n";
    else
      std::printf("%s %llu unused and %llu unreferenced packs, repacked %llu; %s freed\n",
                  popt.dry_run ? "would delete" : "deleted", (unsigned long long)report.packs_deleted,
                  (unsigned long long)report.packs_unreferenced, (unsigned long long)report.packs_repacked,
                  HumanBytes(report.bytes_freed).c_str());
  });

  // stats
  auto* stats = repo->add_subcommand("stats", "Show repository size and deduplication");
  add_common(stats);
  stats->callback([&] {
    auto r = OpenRepo(g);
    auto s = ValueOrThrow(ComputeStats(*r));
    // How many bytes of snapshots each byte of repository holds.
    const double ratio = s.pack_bytes ? static_cast<double>(s.restore_bytes) / s.pack_bytes : 0;
    json j = {{"snapshots_count", s.snapshots},  {"total_blob_count", s.blobs},   {"data_blobs", s.data_blobs},
              {"tree_blobs", s.tree_blobs},      {"total_uncompressed_size", s.raw_bytes},
              {"total_stored_size", s.stored_bytes}, {"packs", s.packs},       {"total_size", s.pack_bytes},
              {"index_files", s.index_files},    {"total_restore_size", s.restore_bytes},
              {"compression_ratio", s.stored_bytes ? static_cast<double>(s.raw_bytes) / s.stored_bytes : 0},
              {"deduplication_ratio", s.raw_bytes ? static_cast<double>(s.restore_bytes) / s.raw_bytes : 0},
              {"restore_size_to_repository_ratio", ratio}};
    if (g.json) std::cout << Dump(j) << "\n";
    else
      std::printf("snapshots: %llu\nblobs: %llu (%llu data, %llu trees)\nunique data: %s, stored as %s in %llu packs\n"
                  "all snapshots together: %s (%.1fx the repository size)\n",
                  (unsigned long long)s.snapshots, (unsigned long long)s.blobs, (unsigned long long)s.data_blobs,
                  (unsigned long long)s.tree_blobs, HumanBytes(s.raw_bytes).c_str(), HumanBytes(s.pack_bytes).c_str(),
                  (unsigned long long)s.packs, HumanBytes(s.restore_bytes).c_str(), ratio);
  });

  AddRepairCommands(repo, g, add_common);

  // keys
  static std::string new_password_file, key_id;
  auto* key = repo->add_subcommand("key", "Manage the passwords (key files) of a repository");
  key->require_subcommand(1);
  auto* key_add = key->add_subcommand("add", "Add a password");
  auto* key_list = key->add_subcommand("list", "List key files");
  auto* key_remove = key->add_subcommand("remove", "Remove a key file");
  auto* key_passwd = key->add_subcommand("passwd", "Change the password of the current key");
  for (auto* k : {key_add, key_list, key_remove, key_passwd}) add_common(k);
  for (auto* k : {key_add, key_passwd})
    k->add_option("--new-password-file", new_password_file, "Read the new password from this file (or CAIRN_NEW_PASSWORD)");
  key_remove->add_option("id", key_id, "Key id (prefix)")->required();
  key_add->callback([&] {
    auto r = OpenRepo(g);
    std::string id = ValueOrThrow(r->AddKey(NewPassword(new_password_file)));
    if (g.json) std::cout << Dump(json{{"id", id}}) << "\n";
    else std::cout << "added key " << id.substr(0, 8) << "\n";
  });
  key_list->callback([&] {
    auto r = OpenRepo(g);
    auto keys = ValueOrThrow(r->ListKeys());
    json arr = json::array();
    for (const auto& k : keys) {
      arr.push_back({{"id", k.id}, {"current", k.current}, {"created", k.created}, {"hostname", k.hostname},
                     {"username", k.username}});
      if (!g.json)
        std::printf("%s %s  %s  %s@%s\n", k.current ? "*" : " ", k.id.substr(0, 8).c_str(), k.created.substr(0, 19).c_str(),
                    k.username.c_str(), k.hostname.c_str());
    }
    if (g.json) std::cout << Dump(arr) << "\n";
  });
  key_remove->callback([&] {
    auto r = OpenRepo(g);
    auto lock = ValueOrThrow(r->Lock(/*exclusive=*/true));
    ThrowIfError(r->RemoveKey(key_id));
    if (!g.json) std::cout << "removed key " << key_id << "\n";
  });
  key_passwd->callback([&] {
    auto r = OpenRepo(g);
    auto lock = ValueOrThrow(r->Lock(/*exclusive=*/true));
    std::string old_id = r->current_key_id();
    std::string id = ValueOrThrow(r->AddKey(NewPassword(new_password_file)));
    ThrowIfError(r->storage().Delete("keys/" + old_id));
    if (g.json) std::cout << Dump(json{{"id", id}}) << "\n";
    else std::cout << "changed password; new key " << id.substr(0, 8) << " replaces " << old_id.substr(0, 8) << "\n";
  });
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) {
  using namespace cairn;
  // One malloc arena: per-thread arenas each kept their own freed chunk
  // buffers, which measured as 25% of a backup's peak memory, at no speed gain.
  mallopt(M_ARENA_MAX, 1);
  // A dump tool or server that exits early must give an error on the write
  // into its pipe, not kill Cairn.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"cairn: backup and restore for the services you run"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("cairn ") + CAIRN_VERSION);
  Globals globals;
  int exit_code = 0;
  AddRepoCommands(app, globals, exit_code);
  AddServiceCommands(app, exit_code);
  AddTokenCommands(app);
  AddServeCommand(app, exit_code);
  AddJobCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "cairn: %s (see --help)\n", OneLine(e.what()).c_str());
    return kExitFailure;
  } catch (const CommandError& e) {
    std::fprintf(stderr, "cairn: %s\n", OneLine(e.status.message()).c_str());
    return kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cairn: internal error: %s\n", OneLine(e.what()).c_str());
    return kExitFailure;
  }
  return exit_code;
}
