#include "cairn/context.h"

#include "cairn/system.h"

namespace cairn {

void OpContext::Cancel(const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    if (reason_.empty()) reason_ = reason;
    cancelled_.store(true);
  }
  cv_.notify_all();
}

bool OpContext::Done() const {
  if (cancelled_.load(std::memory_order_relaxed)) return true;
  const int64_t deadline = deadline_ns_.load(std::memory_order_relaxed);
  return deadline != 0 && NowNs() >= deadline;
}

Status OpContext::Check() const {
  if (cancelled_.load()) {
    std::lock_guard lock(mu_);
    return Status::Aborted(reason_.empty() ? "cancelled" : reason_);
  }
  const int64_t deadline = deadline_ns_.load();
  if (deadline != 0 && NowNs() >= deadline) return Status::Aborted("deadline exceeded");
  return Status::Ok();
}

bool OpContext::SleepFor(std::chrono::nanoseconds duration) const {
  std::unique_lock lock(mu_);
  auto until = std::chrono::steady_clock::now() + duration;
  const int64_t deadline = deadline_ns_.load();
  if (deadline != 0) {
    const auto left = std::chrono::nanoseconds(deadline - NowNs());
    if (left < duration) until = std::chrono::steady_clock::now() + std::max(left, std::chrono::nanoseconds(0));
  }
  cv_.wait_until(lock, until, [&] { return cancelled_.load(); });
  return !Done();
}

}  // namespace cairn
