// An operation's context: cancellation and a deadline (restic's idea). Every
// long operation (backup, restore, copy, forget, check, drill) takes one and
// looks at it between units of work: the backup pipeline between chunks,
// restore between files and packs, retries between attempts, waits on child
// processes between polls. A cancelled operation stops at the next such
// point with an Aborted status and leaves the repository consistent (the
// format is crash-safe at every step; docs/format.md).
//
// Thread-safety: Cancel may be called from any thread, including a signal
// handler's deferred context (it only stores atomics and notifies); the
// readers are lock-free.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>

#include "cairn/status.h"

namespace cairn {

class OpContext {
 public:
  OpContext() = default;
  OpContext(const OpContext&) = delete;
  OpContext& operator=(const OpContext&) = delete;

  // Asks the operation to stop. The first reason given is the one reported.
  void Cancel(const std::string& reason = "cancelled");
  // Stop once the wall clock passes `unix_ns` (0 = no deadline).
  void SetDeadline(int64_t unix_ns) { deadline_ns_.store(unix_ns); }

  // True once cancelled or past the deadline.
  bool Done() const;
  // OK, or Aborted naming why the operation must stop.
  Status Check() const;
  // Waits up to `duration`, waking early when cancelled; false if the
  // operation is done (the caller should stop instead of retrying).
  bool SleepFor(std::chrono::nanoseconds duration) const;

 private:
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> deadline_ns_{0};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string reason_;  // guarded by mu_
};

// Check() of a context that may be null.
inline Status CheckContext(const OpContext* context) { return context ? context->Check() : Status::Ok(); }

}  // namespace cairn
