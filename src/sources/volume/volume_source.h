// Files as a service: type "volume" (settings.paths), and the `volumes:` any
// service may add to its restore points. The files go through the engine
// (deduplicated, file cache); pre/post hooks quiesce the writers.
#pragma once

#include <memory>
#include <string>

#include "cairn/service.h"

namespace cairn {

Result<std::unique_ptr<Source>> MakeVolumeSource(const ServiceConfig& config);
// A source over config.volumes stored as the files part `part_name`.
std::unique_ptr<Source> MakeVolumesOf(const ServiceConfig& config, const std::string& part_name);

}  // namespace cairn
