// Live progress of a job, typed: what it is doing (a phase, the part and
// target it works on) and how far it is (bytes and files, done and total).
// Operations update it; a printer (the CLI) or the job runner (the daemon,
// which turns it into the `progress` of a job, docs/api.md) reads it.
//
// Thread-safety: counters are atomics, updated from many threads; the phase
// and its labels are guarded by a mutex. Readers take a Snapshot.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace cairn {

enum class Phase {
  kStarting,
  kSafetyBackup,  // an overwrite restore backs up the current state first
  kCapturing,     // reading the service and storing it on the first target
  kCopying,       // sending the stored point to the other targets
  kRestoring,
  kValidating,
  kForgetting,
  kPruning,
  kChecking,
  kDrilling,
  kFinishing,
};
std::string_view ToString(Phase phase);

struct ProgressSnapshot {
  Phase phase = Phase::kStarting;
  std::string part, target;  // "" when not applicable
  uint64_t bytes_done = 0, files_done = 0, errors = 0;
  std::optional<uint64_t> bytes_total, files_total;
};

struct JobProgress {
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> files_total{0};  // 0 while unknown
  std::atomic<uint64_t> bytes_total{0};
  std::atomic<bool> totals_known{false};
  std::atomic<uint64_t> errors{0};

  // Starts a new phase: labels change and the counters start over.
  void SetPhase(Phase phase, std::string part = "", std::string target = "") {
    std::lock_guard lock(mu_);
    phase_ = phase;
    part_ = std::move(part);
    target_ = std::move(target);
    files_done = bytes_done = files_total = bytes_total = 0;
    totals_known = false;
  }
  ProgressSnapshot Snapshot() const {
    ProgressSnapshot s;
    {
      std::lock_guard lock(mu_);
      s.phase = phase_;
      s.part = part_;
      s.target = target_;
    }
    s.bytes_done = bytes_done;
    s.files_done = files_done;
    s.errors = errors;
    if (totals_known) {
      s.bytes_total = bytes_total.load();
      s.files_total = files_total.load();
    }
    return s;
  }

 private:
  mutable std::mutex mu_;
  Phase phase_ = Phase::kStarting;
  std::string part_, target_;
};

}  // namespace cairn
