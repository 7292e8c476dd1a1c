// Maps a target's type to its implementation, and the manifest entry of a part.
#include "cairn/target.h"
#include "targets/repository/repository_target.h"

#include "targets/borg/borg_target.h"

namespace cairn {

Result<std::unique_ptr<Target>> OpenTarget(const TargetConfig& config) {
  if (config.type == "repository") return OpenRepositoryTarget(config);
  if (config.type == "borg") return OpenBorgTarget(config);
  return Status::Unsupported("target " + config.name + ": type " + config.type + " is not supported by this build");
}

Json PartManifest(const CapturePart& part, uint64_t bytes, uint64_t files) {
  Json j = {{"name", part.name}, {"bytes", bytes}};
  if (part.kind == CapturePart::Kind::kStream) {
    j["kind"] = "stream";
    j["file"] = part.file_name;
  } else {
    j["kind"] = "files";
    j["paths"] = part.paths;
    j["files"] = files;
  }
  return j;
}

}  // namespace cairn
