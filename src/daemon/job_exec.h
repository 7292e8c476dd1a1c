// What a job process does (`cairn __job`, daemon/job_protocol.h): loads the
// configuration, runs the operation its JobSpec names through cairn/ops.h,
// and reports every step as protocol events through `emit`, the result last.
// Everything that can change process-wide state (priority, signals) is the
// hosting command's business, not this function's.
// Thread-safety: `emit` may be called from this thread only; the caller's
// progress thread reads `progress` concurrently (it is made for that).
#pragma once

#include <functional>

#include "cairn/context.h"
#include "cairn/progress.h"
#include "daemon/job_protocol.h"

namespace cairn {

// Returns the process exit status: 0 succeeded, 1 failed or cancelled, 3 partial.
int RunJobProcess(const JobSpec& spec, const OpContext& context, JobProgress& progress,
                  const std::function<void(const Json&)>& emit);

}  // namespace cairn
