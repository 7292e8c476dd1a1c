// Runs jobs in processes of their own (`cairn __job`, daemon/job_protocol.h)
// and turns what they report into catalog rows and live events. Each job has
// a thread here for its whole life: it starts the process (in a new process
// group, so that a cancel or a kill reaches the tools it runs), feeds it the
// JobSpec, reads its event lines, writes progress, logs, points and the
// outcome to the catalog, and calls `on_end` when the process is gone.
//
// Why processes (docs/daemon.md): process-wide state (priority, signals,
// memory) stays out of the daemon, a crashing job cannot take it down, and a
// cancel is a signal to the job's group that the tools die with.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "daemon/catalog.h"
#include "daemon/daemon_api.h"
#include "daemon/job_protocol.h"

namespace cairn {

struct JobRunnerOptions {
  std::string cairn_binary;                // what to run as `<binary> __job`
  int64_t cancel_grace_ns = 10'000'000'000;  // SIGTERM, then SIGKILL after this
  std::function<void(const ApiEvent&)> publish;  // live events (job progress and state)
};

class JobRunner {
 public:
  JobRunner(Catalog& catalog, JobRunnerOptions options);
  ~JobRunner();  // StopAll

  // Starts `spec`'s process on a thread of its own. `on_end(id, outcome)` is
  // called from that thread once the job's final state is in the catalog (for
  // a sync spec: once its points are). A process that cannot start ends the
  // job failed at once. Launch may be called with a lock held that on_end
  // takes: it never waits for an on_end, and never calls one itself (after
  // StopAll the job is recorded cancelled instead).
  void Launch(const JobSpec& spec, std::function<void(JobId, const JobOutcome&)> on_end);
  // Asks a running job to stop: SIGTERM to its group now, SIGKILL after the
  // grace period. NotFound when it is not running here.
  Status Cancel(JobId id);
  // Live progress of a running job (the `progress` of docs/api.md), or null.
  Json Progress(JobId id) const;
  size_t running() const;
  // Cancels every job and waits for all threads (daemon shutdown).
  void StopAll();
  // Runs the cleanup of a drill of `service` that died without finishing
  // (its scratch servers and files) in a job process, and waits for it.
  // Returns its log lines. Also called at start-up for interrupted drills.
  std::vector<LogLine> CleanUpDrill(const std::string& config_path, const std::string& service);

 private:
  struct Running;
  void RunJob(std::shared_ptr<Running> job, JobSpec spec, std::function<void(JobId, const JobOutcome&)> on_end);
  void Publish(const std::string& event, const Json& data);

  Catalog& catalog_;
  JobRunnerOptions options_;
  mutable std::mutex mu_;
  std::map<int64_t, std::shared_ptr<Running>> running_;  // by job id (sync jobs by a negative key)
  int64_t next_sync_key_ = -1;
  bool stopping_ = false;
};

}  // namespace cairn
