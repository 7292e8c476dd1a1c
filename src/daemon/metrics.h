// The Prometheus text exposition of /metrics (docs/api.md, "Metrics"): names,
// labels and meanings are a contract dashboards and alert rules depend on.
// Rendered from one catalog snapshot; a scrape never opens a repository.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "daemon/catalog.h"

namespace cairn {

// The point-in-time recovery window of a service (cairn_pitr_* gauges).
struct PitrMetrics {
  std::string service;
  int64_t window_start_ns = 0, window_end_ns = 0;
  double lag_s = 0;
};

std::string RenderMetrics(const MetricsSnapshot& snapshot, const std::vector<PitrMetrics>& pitr);

}  // namespace cairn
