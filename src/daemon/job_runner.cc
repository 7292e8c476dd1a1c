#include "daemon/job_runner.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "cairn/system.h"
#include "util/fd_io.h"
#include "util/process.h"

namespace cairn {
namespace {

constexpr size_t kLogBatch = 64;
constexpr int64_t kLogFlushNs = 500'000'000;
constexpr size_t kMaxLine = 1 << 20;  // a job's event line; longer is a broken job

std::optional<JobStatus> StatusOfResult(const std::string& s) {
  if (s == "succeeded") return JobStatus::kSucceeded;
  if (s == "partial") return JobStatus::kPartial;
  if (s == "failed") return JobStatus::kFailed;
  if (s == "cancelled") return JobStatus::kCancelled;
  return std::nullopt;
}

LogLevel LevelOf(const std::string& s) {
  if (s == "warning") return LogLevel::kWarning;
  if (s == "error") return LogLevel::kError;
  if (s == "debug") return LogLevel::kDebug;
  return LogLevel::kInfo;
}

}  // namespace

struct JobRunner::Running {
  JobId id = 0;
  bool sync = false;
  std::thread thread;
  std::mutex mu;
  pid_t pid = 0;
  bool cancel_requested = false;
  bool done = false;    // the process ended and its outcome is recorded
  bool exited = false;  // on_end returned too: the thread may be joined without waiting
  int64_t kill_at_ns = 0;  // SIGKILL due (0 = none)
  Json progress;
  // For the rate behind eta_s: when the current phase's progress began.
  std::string phase;
  int64_t phase_started_ns = 0;
};

JobRunner::JobRunner(Catalog& catalog, JobRunnerOptions options) : catalog_(catalog), options_(std::move(options)) {}

JobRunner::~JobRunner() { StopAll(); }

void JobRunner::Publish(const std::string& event, const Json& data) {
  if (options_.publish) options_.publish(ApiEvent{event, data});
}

void JobRunner::Launch(const JobSpec& spec, std::function<void(JobId, const JobOutcome&)> on_end) {
  auto job = std::make_shared<Running>();
  job->id = spec.id;
  job->sync = spec.sync;
  std::vector<std::thread> finished;
  {
    std::lock_guard lock(mu_);
    // Join the threads of jobs that ended since the last launch: only those
    // whose on_end returned, since the caller may hold a lock on_end takes.
    for (auto it = running_.begin(); it != running_.end();) {
      bool exited;
      {
        std::lock_guard job_lock(it->second->mu);
        exited = it->second->exited;
      }
      if (exited) {
        finished.push_back(std::move(it->second->thread));
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    if (stopping_) {
      // Not on_end: the caller may hold a lock it takes. The daemon is going
      // away; the job ends here, recorded.
      if (!spec.sync) {
        JobOutcome outcome;
        outcome.status = JobStatus::kCancelled;
        outcome.error = "the daemon was stopping when this job was due to start";
        (void)catalog_.FinishJob(spec.id, outcome);
      }
      return;
    }
    running_[spec.sync ? next_sync_key_-- : spec.id] = job;
    job->thread = std::thread(&JobRunner::RunJob, this, job, spec, std::move(on_end));
  }
  for (auto& t : finished)
    if (t.joinable()) t.join();
}

Status JobRunner::Cancel(JobId id) {
  std::shared_ptr<Running> job;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(id);
    if (it == running_.end()) return Status::NotFound("job " + std::to_string(id) + " is not running");
    job = it->second;
  }
  std::lock_guard lock(job->mu);
  if (job->done) return Status::AlreadyExists("job " + std::to_string(id) + " has already ended");
  job->cancel_requested = true;
  if (job->pid > 0) {
    ::kill(-job->pid, SIGTERM);  // the whole group: the job and the tools it runs
    job->kill_at_ns = NowNs() + options_.cancel_grace_ns;
  }
  return Status::Ok();
}

Json JobRunner::Progress(JobId id) const {
  std::lock_guard lock(mu_);
  auto it = running_.find(id);
  if (it == running_.end()) return nullptr;
  std::lock_guard job_lock(it->second->mu);
  return it->second->done ? Json(nullptr) : it->second->progress;
}

size_t JobRunner::running() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, job] : running_) {
    std::lock_guard job_lock(job->mu);
    n += (!job->done && !job->sync) ? 1 : 0;
  }
  return n;
}

void JobRunner::StopAll() {
  std::vector<std::shared_ptr<Running>> jobs;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [key, job] : running_) jobs.push_back(job);
  }
  for (auto& job : jobs) {
    std::lock_guard lock(job->mu);
    if (!job->done && job->pid > 0) {
      job->cancel_requested = true;
      ::kill(-job->pid, SIGTERM);
      job->kill_at_ns = NowNs() + options_.cancel_grace_ns;
    }
  }
  for (auto& job : jobs)
    if (job->thread.joinable()) job->thread.join();
  std::lock_guard lock(mu_);
  running_.clear();
}

void JobRunner::RunJob(std::shared_ptr<Running> job, JobSpec spec, std::function<void(JobId, const JobOutcome&)> on_end) {
  const JobId id = spec.id;
  JobOutcome outcome;
  outcome.status = JobStatus::kFailed;
  std::vector<LogLine> pending_logs;
  int64_t last_flush = NowNs();
  bool got_result = false;
  auto flush_logs = [&] {
    if (!spec.sync && !pending_logs.empty()) (void)catalog_.AppendLog(id, pending_logs);
    pending_logs.clear();
    last_flush = NowNs();
  };
  auto log = [&](LogLevel level, const std::string& text) {
    pending_logs.push_back(LogLine{0, NowNs(), level, text});
    if (pending_logs.size() >= kLogBatch) flush_logs();
  };

  ProcessOptions o;
  o.argv = {options_.cairn_binary, "__job"};
  o.stdin_pipe = true;
  o.stdout_mode = ProcessOptions::Output::kPipe;
  o.new_process_group = true;
  auto process = Process::Start(o);
  if (!process.ok()) {
    outcome.error = "cannot start the job process: " + process.status().message();
  } else {
    Process& p = **process;
    {
      std::lock_guard lock(job->mu);
      job->pid = p.pid();
      if (job->cancel_requested) {  // cancelled before it started
        ::kill(-job->pid, SIGTERM);
        job->kill_at_ns = NowNs() + options_.cancel_grace_ns;
      }
    }
    if (!spec.sync) (void)catalog_.SetJobPid(id, p.pid());
    {
      const std::string input = spec.ToJson().dump(-1, ' ', false, Json::error_handler_t::replace);
      SigpipeGuard guard;  // a job that dies at once must not take the daemon with it
      (void)WriteFully(p.stdin_fd(), AsBytes(input), -1, "job spec");
      p.CloseStdin();
    }
    const int fd = p.stdout_fd();
    std::string buffer;
    char chunk[65536];
    for (;;) {
      pollfd pfd{fd, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, 250);
      {
        std::lock_guard lock(job->mu);
        if (job->kill_at_ns && NowNs() >= job->kill_at_ns) {
          ::kill(-job->pid, SIGKILL);
          job->kill_at_ns = 0;
        }
      }
      if (NowNs() - last_flush >= kLogFlushNs) flush_logs();
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      const ssize_t n = ::read(fd, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
      for (size_t nl; (nl = buffer.find('\n')) != std::string::npos;) {
        const std::string line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        Json e = Json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (!e.is_object()) {
          log(LogLevel::kWarning, "unreadable output of the job process: " + line.substr(0, 200));
          continue;
        }
        const std::string type = e.value("event", "");
        if (type == "log") {
          log(LevelOf(e.value("level", "info")), e.value("text", ""));
        } else if (type == "progress") {
          Json progress = e;
          progress.erase("event");
          const int64_t now = NowNs();
          {
            std::lock_guard lock(job->mu);
            const std::string phase = progress.value("phase", "") + "/" + progress.value("target", "");
            if (phase != job->phase) {
              job->phase = phase;
              job->phase_started_ns = now;
            }
            const double done = progress.value("bytes_done", 0.0);
            const Json total = progress.value("bytes_total", Json());
            progress["percent"] = nullptr;
            progress["eta_s"] = nullptr;
            if (total.is_number() && total.get<double>() > 0) {
              const double t = total.get<double>();
              progress["percent"] = std::min(100.0, 100.0 * done / t);
              const double elapsed = static_cast<double>(now - job->phase_started_ns) / 1e9;
              if (elapsed > 1 && done > 0) progress["eta_s"] = std::max(0.0, (t - done) * elapsed / done);
            }
            job->progress = progress;
          }
          if (!spec.sync) {
            (void)catalog_.UpdateProgress(id, progress);
            Publish("job", {{"id", id}});
          }
        } else if (type == "points") {
          const std::string target = e.value("target", "");
          std::vector<PointWrite> writes;
          for (const Json& pj : e.value("points", Json::array())) {
            auto point = RestorePointFromJson(pj);
            if (!point.ok()) continue;
            point->target = target;
            auto w = ToPointWrite(*point);
            if (w.ok()) writes.push_back(std::move(w).value());
          }
          if (e.value("replace", false)) {
            std::optional<std::string> service;
            if (e.contains("service") && e["service"].is_string()) service = e["service"].get<std::string>();
            auto synced = catalog_.ReplaceTargetPoints(target, service, writes);
            if (!synced.ok()) log(LogLevel::kWarning, "caching the points of " + target + ": " + synced.status().message());
          } else {
            for (auto& w : writes) outcome.points.push_back(std::move(w));
          }
        } else if (type == "removed") {
          for (const Json& pid : e.value("point_ids", Json::array()))
            if (pid.is_string())
              (void)catalog_.RemovePoint(e.value("service", ""), pid.get<std::string>(), e.value("target", ""));
        } else if (type == "result") {
          got_result = true;
          auto status = StatusOfResult(e.value("status", ""));
          outcome.status = status.value_or(JobStatus::kFailed);
          outcome.error = e.contains("error") && e["error"].is_string() ? e["error"].get<std::string>() : "";
          outcome.bytes_read = e.value("bytes_read", uint64_t{0});
          outcome.bytes_added = e.value("bytes_added", uint64_t{0});
          outcome.point_id = e.value("point_id", "");
          outcome.result = e.value("result", Json());
          for (const Json& t : e.value("targets", Json::array())) {
            TargetOutcome to;
            to.target = t.value("target", "");
            to.status = t.value("status", "") == "succeeded" ? JobStatus::kSucceeded : JobStatus::kFailed;
            to.error = t.contains("error") && t["error"].is_string() ? t["error"].get<std::string>() : "";
            to.point_id = t.value("point_id", "");
            to.size = t.value("size", uint64_t{0});
            to.added = t.value("added", uint64_t{0});
            outcome.targets.push_back(std::move(to));
          }
          if (e.contains("drill") && e["drill"].is_object() && !outcome.point_id.empty()) {
            const Json& d = e["drill"];
            DrillRecord drill;
            drill.service = spec.service;
            drill.point_id = outcome.point_id;
            drill.target = d.value("target", "");
            drill.job = id;
            drill.verified_ns = NowNs();
            drill.duration_s = d.value("duration_s", 0.0);
            drill.outcome = d.value("passed", false) ? DrillOutcome::kPassed : DrillOutcome::kFailed;
            drill.details = d.value("details", Json::object());
            outcome.drills.push_back(std::move(drill));
          }
          if (!spec.sync && outcome.error.size())
            log(outcome.status == JobStatus::kCancelled ? LogLevel::kWarning : LogLevel::kError, outcome.error);
        }
        if (buffer.size() > kMaxLine) buffer.clear();
      }
    }
    Status exited = p.Wait();
    bool cancelled;
    {
      std::lock_guard lock(job->mu);
      cancelled = job->cancel_requested;
    }
    if (!got_result) {
      outcome.status = cancelled ? JobStatus::kCancelled : JobStatus::kFailed;
      outcome.error = cancelled ? "cancelled (the job process was stopped)"
                                : "the job process ended without a result: " + exited.message();
      log(LogLevel::kError, outcome.error);
      // A drill killed half-way may have left a server running in its scratch directory.
      if (spec.kind == JobKind::kDrill && !spec.sync)
        for (LogLine& l : CleanUpDrill(spec.config_path, spec.service)) log(l.level, l.text);
    }
  }
  flush_logs();
  if (!spec.sync) {
    Status st = catalog_.FinishJob(id, outcome);
    if (!st.ok()) {
      // The outcome must be recorded; a second attempt with only the status.
      JobOutcome bare;
      bare.status = outcome.status;
      bare.error = outcome.error + " (recording the full outcome failed: " + st.message() + ")";
      (void)catalog_.FinishJob(id, bare);
    }
  }
  {
    std::lock_guard lock(job->mu);
    job->done = true;
  }
  if (!spec.sync) Publish("job", {{"id", id}});
  if (on_end) on_end(id, outcome);
  std::lock_guard lock(job->mu);
  job->exited = true;
}

std::vector<LogLine> JobRunner::CleanUpDrill(const std::string& config_path, const std::string& service) {
  std::vector<LogLine> lines;
  JobSpec spec;
  spec.kind = JobKind::kDrill;
  spec.config_path = config_path;
  spec.service = service;
  spec.args = {{"cleanup", true}};
  ProcessOptions o;
  o.argv = {options_.cairn_binary, "__job"};
  o.stdin_pipe = true;
  o.stdout_mode = ProcessOptions::Output::kCapture;
  o.new_process_group = true;
  auto p = Process::Start(o);
  if (!p.ok()) {
    lines.push_back(LogLine{0, NowNs(), LogLevel::kError, "cannot clean up after the drill: " + p.status().message()});
    return lines;
  }
  {
    SigpipeGuard guard;
    (void)WriteFully((*p)->stdin_fd(), AsBytes(spec.ToJson().dump()), -1, "job spec");
    (*p)->CloseStdin();
  }
  Status st = (*p)->Wait();
  const std::string& out = (*p)->captured_stdout();
  for (size_t at = 0; at < out.size();) {
    size_t nl = out.find('\n', at);
    if (nl == std::string::npos) nl = out.size();
    Json e = Json::parse(out.substr(at, nl - at), nullptr, false);
    at = nl + 1;
    if (e.is_object() && e.value("event", "") == "log")
      lines.push_back(LogLine{0, NowNs(), LevelOf(e.value("level", "info")), "cleanup: " + e.value("text", "")});
  }
  if (!st.ok()) lines.push_back(LogLine{0, NowNs(), LogLevel::kError, "cleanup after the drill failed: " + st.message()});
  return lines;
}

}  // namespace cairn
