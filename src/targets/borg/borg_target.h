// A Borg repository as a target, driven through the real `borg` binary
// (docs/targets/borg.md). One restore point is a group of archives
// "<service>.<point_id>.<part>" sharing one timestamp, published by a last
// archive "<service>.<point_id>.manifest"; a point without it is incomplete.
#pragma once

#include <memory>

#include "cairn/target.h"

namespace cairn {

// Checks the settings (compression, ssh_command, remote_path, encryption,
// base_dir, lock_wait); runs no borg command yet.
Result<std::unique_ptr<Target>> OpenBorgTarget(const TargetConfig& config);

}  // namespace cairn
