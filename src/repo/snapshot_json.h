// JSON form of snapshots (docs/format.md, "Snapshots"); shared by the
// repository and the CLI's --json output.
#pragma once

#include <nlohmann/json.hpp>

#include "cairn/repository.h"

namespace cairn {

nlohmann::json SnapshotToJson(const Snapshot& snapshot);
nlohmann::json SummaryToJson(const SnapshotSummary& summary);
Result<Snapshot> SnapshotFromJson(const nlohmann::json& j);

}  // namespace cairn
