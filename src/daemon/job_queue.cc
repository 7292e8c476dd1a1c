#include "daemon/job_queue.h"

#include <algorithm>

namespace cairn {
namespace {

// The first target both jobs use where at least one of them wants it alone.
const TargetUse* Conflict(const JobRequest& a, const JobRequest& b) {
  for (const TargetUse& ua : a.targets)
    for (const TargetUse& ub : b.targets)
      if (ua.target == ub.target && (ua.mode == LockMode::kExclusive || ub.mode == LockMode::kExclusive))
        return &ua;
  return nullptr;
}

bool SameService(const JobRequest& a, const JobRequest& b) { return !a.service.empty() && a.service == b.service; }

std::string Named(const Job& j) { return Describe(j.request) + " (job " + std::to_string(j.id) + ")"; }

// How a running job that holds `target` should be waited for: a job of the
// target alone "finishes", a service's job "releases" the target.
std::string UntilReleased(const Job& holder, const std::string& target) {
  if (holder.request.service.empty()) return "waiting for " + Named(holder) + " to finish";
  return "waiting for " + Named(holder) + " to release target " + target;
}

}  // namespace

std::string Describe(const JobRequest& r) {
  std::string s(ToString(r.kind));
  if (!r.service.empty()) return s + " of " + r.service;
  if (r.targets.empty()) return s;
  s += r.targets.size() == 1 ? " of target " : " of targets ";
  for (size_t i = 0; i < r.targets.size(); ++i) s += (i ? ", " : "") + r.targets[i].target;
  return s;
}

void JobQueue::Add(Job job) { queued_.push_back(std::move(job)); }

std::string JobQueue::Blocker(size_t index) const {
  const Job& q = queued_[index];
  for (const Job& r : running_)
    if (SameService(q.request, r.request)) return "waiting for " + Named(r) + " to finish";
  for (size_t i = 0; i < index; ++i)
    if (SameService(q.request, queued_[i].request))
      return "waiting for " + Named(queued_[i]) + ", queued before it";
  for (const Job& r : running_)
    if (const TargetUse* u = Conflict(q.request, r.request)) return UntilReleased(r, u->target);
  for (size_t i = 0; i < index; ++i)
    if (const TargetUse* u = Conflict(q.request, queued_[i].request))
      return "waiting for " + Named(queued_[i]) + ", queued before it for target " + u->target;
  if (static_cast<int>(running_.size()) >= max_running_)
    return "waiting for a free slot: " + std::to_string(running_.size()) + " of " + std::to_string(max_running_) +
           " running";
  return "";
}

std::optional<JobId> JobQueue::FirstStartable() const {
  if (static_cast<int>(running_.size()) >= max_running_) return std::nullopt;
  for (size_t i = 0; i < queued_.size(); ++i)
    if (Blocker(i).empty()) return queued_[i].id;
  return std::nullopt;
}

bool JobQueue::Start(JobId id, int64_t now_ns) {
  auto it = std::find_if(queued_.begin(), queued_.end(), [&](const Job& j) { return j.id == id; });
  if (it == queued_.end()) return false;
  Job job = std::move(*it);
  queued_.erase(it);
  job.started_ns = now_ns;
  running_.push_back(std::move(job));
  return true;
}

std::optional<Job> JobQueue::Finish(JobId id) {
  auto it = std::find_if(running_.begin(), running_.end(), [&](const Job& j) { return j.id == id; });
  if (it == running_.end()) return std::nullopt;
  Job job = std::move(*it);
  running_.erase(it);
  return job;
}

std::optional<Job> JobQueue::Cancel(JobId id) {
  auto it = std::find_if(queued_.begin(), queued_.end(), [&](const Job& j) { return j.id == id; });
  if (it == queued_.end()) return std::nullopt;
  Job job = std::move(*it);
  queued_.erase(it);
  return job;
}

std::string JobQueue::WaitingOn(JobId id) const {
  for (size_t i = 0; i < queued_.size(); ++i)
    if (queued_[i].id == id) return Blocker(i);
  return "";
}

const Job* JobQueue::Find(JobId id) const {
  for (const auto* list : {&running_, &queued_})
    for (const Job& j : *list)
      if (j.id == id) return &j;
  return nullptr;
}

bool JobQueue::IsRunning(JobId id) const {
  return std::any_of(running_.begin(), running_.end(), [&](const Job& j) { return j.id == id; });
}

const Job* JobQueue::ActiveForService(const std::string& service) const {
  if (service.empty()) return nullptr;
  for (const auto* list : {&running_, &queued_})
    for (const Job& j : *list)
      if (j.request.service == service) return &j;
  return nullptr;
}

const Job* JobQueue::ActiveForTask(const std::string& key) const {
  if (key.empty()) return nullptr;
  for (const auto* list : {&running_, &queued_})
    for (const Job& j : *list)
      if (j.request.task_key == key) return &j;
  return nullptr;
}

const Job* JobQueue::ActiveLike(const JobRequest& r) const {
  auto names = [](const JobRequest& x) {
    std::vector<std::string> n;
    for (const TargetUse& u : x.targets) n.push_back(u.target);
    std::sort(n.begin(), n.end());
    return n;
  };
  for (const auto* list : {&running_, &queued_})
    for (const Job& j : *list)
      if (j.request.kind == r.kind && j.request.service == r.service && names(j.request) == names(r)) return &j;
  return nullptr;
}

}  // namespace cairn
