// The clock seam (LevelDB's Env idea, for time only): the daemon's scheduler,
// alert rules and staleness checks read wall time through a Clock so that
// tests can move through days, time zones and DST changes in milliseconds.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace cairn {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, ns since the Unix epoch (UTC).
  virtual int64_t NowNs() const = 0;
};

// The real clock; a process-wide instance that is never destroyed.
Clock* SystemClock();

// A clock that only moves when told to (tests).
class FakeClock : public Clock {
 public:
  explicit FakeClock(int64_t now_ns = 0) : now_(now_ns) {}
  int64_t NowNs() const override { return now_.load(); }
  void Set(int64_t now_ns) { now_.store(now_ns); }
  void Advance(int64_t delta_ns) { now_.fetch_add(delta_ns); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace cairn
