// The daemon's job queue: which queued job may start now, and what the
// others wait on. The Scheduler (scheduler.h) owns one; it is separate so
// that the start rules can be read and tested on their own.
//
// A queued job may start when all of these hold:
//  - a slot is free under the global cap (server.max_concurrent_jobs);
//  - no other job of the same service is running;
//  - its target locks are free: a shared use (backup, copy, restore, drill,
//    check) waits only for an exclusive holder, an exclusive use (prune,
//    forget) for any holder;
//  - no job queued before it conflicts with it (same service, or a
//    conflicting use of a target). Jobs that conflict with nothing earlier
//    overtake blocked ones (no head-of-line blocking); conflicting ones keep
//    their order, so a prune waiting for backups is not starved by later ones.
//
// Not thread-safe; owned and driven by one thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/job_types.h"

namespace cairn {

enum class LockMode { kShared, kExclusive };

struct TargetUse {
  std::string target;
  LockMode mode = LockMode::kShared;
  bool operator==(const TargetUse&) const = default;
};

// A job as it is asked for and recorded when queued.
struct JobRequest {
  JobKind kind = JobKind::kBackup;
  std::string service;              // empty for jobs of targets alone (prune, check)
  std::vector<TargetUse> targets;
  Trigger trigger = Trigger::kManual;
  std::string task_key;             // the scheduled task it runs for; "" for ad-hoc jobs
  int64_t scheduled_ns = 0;         // nominal fire time (schedule and catch-up runs); 0 otherwise
  int64_t missed = 0;               // earlier fires of the task that got no run of their own
  nlohmann::json args;              // opaque here: what the daemon needs to run it (a restore's point, ...)
};

struct Job {
  JobId id = 0;
  JobRequest request;
  int64_t queued_ns = 0;
  int64_t started_ns = 0;  // 0 while queued
};

// "backup of app-db", "prune of target local", "copy of targets a, b".
std::string Describe(const JobRequest& r);

class JobQueue {
 public:
  explicit JobQueue(int max_running = 1) { set_max_running(max_running); }

  void set_max_running(int n) { max_running_ = n < 1 ? 1 : n; }
  int max_running() const { return max_running_; }

  // Appends a job (it keeps its id; ids need not be ordered).
  void Add(Job job);
  // The first queued job that may start now.
  std::optional<JobId> FirstStartable() const;
  // Moves queued job `id` to running; false if it is not queued.
  bool Start(JobId id, int64_t now_ns);
  // Removes running (Finish) or queued (Cancel) job `id`.
  std::optional<Job> Finish(JobId id);
  std::optional<Job> Cancel(JobId id);

  // What queued job `id` waits on ("waiting for a free slot: 1 of 1
  // running"), or "" when it may start now.
  std::string WaitingOn(JobId id) const;

  const Job* Find(JobId id) const;
  bool IsRunning(JobId id) const;
  // A queued or running job of `service` / of task `key` (running first).
  const Job* ActiveForService(const std::string& service) const;
  const Job* ActiveForTask(const std::string& key) const;
  // A queued or running job with the same kind, service and target names.
  const Job* ActiveLike(const JobRequest& r) const;

  const std::vector<Job>& queued() const { return queued_; }
  const std::vector<Job>& running() const { return running_; }

 private:
  std::string Blocker(size_t index) const;

  int max_running_ = 1;
  std::vector<Job> queued_;   // in arrival order
  std::vector<Job> running_;  // in start order
};

}  // namespace cairn
