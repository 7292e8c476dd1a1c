// Maps a target's type to its implementation, and the manifest entry of a part.
#include "cairn/target.h"
#include "targets/repository/repository_target.h"

#include "targets/borg/borg_target.h"

#include <cmath>

namespace cairn {

Result<std::unique_ptr<Target>> OpenTarget(const TargetConfig& config) {
  if (config.type == "repository") return OpenRepositoryTarget(config);
  if (config.type == "borg") return OpenBorgTarget(config);
  return Status::Unsupported("target " + config.name + ": type " + config.type + " is not supported by this build");
}

int64_t RotationLength(double read_share) {
  if (read_share <= 0) return 0;
  if (read_share >= 1) return 1;
  return static_cast<int64_t>(std::ceil(1.0 / read_share - 1e-9));
}

bool PackInRotation(const std::string& pack_hex, double read_share, int64_t rotation) {
  const int64_t n = RotationLength(read_share);
  if (n <= 1) return n == 1;
  // The first 15 hex digits of a hash: an even spread over the buckets.
  const uint64_t h = std::strtoull(pack_hex.substr(0, 15).c_str(), nullptr, 16);
  return static_cast<int64_t>(h % static_cast<uint64_t>(n)) == ((rotation % n) + n) % n;
}

Status Target::Check(const TargetCheckOptions& options, TargetCheckReport* report) {
  const int64_t n = RotationLength(options.read_share);
  const bool read_all = n >= 1 && ((options.rotation % n) + n) % n == 0;
  (void)report;
  return Check(read_all);
}

Status Target::PutWal(const std::string&, const std::string&, ByteView) {
  return Status::Unsupported("target " + config().name + " (" + config().type + ") cannot hold WAL archives");
}
Result<Bytes> Target::GetWal(const std::string&, const std::string&) {
  return Status::Unsupported("target " + config().name + " (" + config().type + ") cannot hold WAL archives");
}
Result<WalListing> Target::ListWal(const std::string&) {
  return Status::Unsupported("target " + config().name + " (" + config().type + ") cannot hold WAL archives");
}
Status Target::DeleteWal(const std::string&, const std::vector<std::string>&) {
  return Status::Unsupported("target " + config().name + " (" + config().type + ") cannot hold WAL archives");
}
Status Target::MarkWalCurrent(const std::string&, int64_t) {
  return Status::Unsupported("target " + config().name + " (" + config().type + ") cannot hold WAL archives");
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
