// A Cairn repository (local directory or S3) as a target: one restore point
// per snapshot, its manifest inside the snapshot object.
#pragma once

#include <memory>

#include "cairn/repository.h"
#include "cairn/target.h"

namespace cairn {

Result<std::unique_ptr<Target>> OpenRepositoryTarget(const TargetConfig& config);
// The repository behind a repository target (for copy); opened on first use.
Result<Repository*> RepositoryOf(Target& target);

}  // namespace cairn
