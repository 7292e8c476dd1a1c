#include "cairn/progress.h"

namespace cairn {

std::string_view ToString(Phase phase) {
  switch (phase) {
    case Phase::kStarting: return "starting";
    case Phase::kSafetyBackup: return "safety_backup";
    case Phase::kCapturing: return "capturing";
    case Phase::kCopying: return "copying";
    case Phase::kRestoring: return "restoring";
    case Phase::kValidating: return "validating";
    case Phase::kForgetting: return "forgetting";
    case Phase::kPruning: return "pruning";
    case Phase::kChecking: return "checking";
    case Phase::kDrilling: return "drilling";
    case Phase::kFinishing: return "finishing";
  }
  return "unknown";
}

}  // namespace cairn
