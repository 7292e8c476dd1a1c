#include "daemon/job_protocol.h"

namespace cairn {

Json JobSpec::ToJson() const {
  return {{"id", id},           {"kind", ToString(kind)}, {"sync", sync},
          {"config", config_path}, {"service", service},  {"targets", targets},
          {"args", args}};
}

Result<JobSpec> JobSpec::FromJson(const Json& j) {
  if (!j.is_object()) return Status::InvalidArgument("job spec is not a JSON object");
  try {
    JobSpec s;
    s.id = j.value("id", int64_t{0});
    auto kind = ParseJobKind(j.value("kind", ""));
    if (!kind) return Status::InvalidArgument("job spec has an unknown kind '" + j.value("kind", "") + "'");
    s.kind = *kind;
    s.sync = j.value("sync", false);
    s.config_path = j.value("config", "");
    if (s.config_path.empty()) return Status::InvalidArgument("job spec names no configuration file");
    s.service = j.value("service", "");
    s.targets = j.value("targets", std::vector<std::string>{});
    s.args = j.value("args", Json::object());
    return s;
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("job spec is malformed: ") + e.what());
  }
}

Json RestorePointToJson(const RestorePoint& p) {
  return {{"id", p.id},         {"service", p.service},     {"target", p.target},     {"time_ns", p.time_ns},
          {"kind", p.kind},     {"status", p.status},       {"size", p.size},         {"stored", p.stored},
          {"duration_s", p.duration_s}, {"manifest", p.manifest}, {"native_id", p.native_id}};
}

Result<RestorePoint> RestorePointFromJson(const Json& j) {
  if (!j.is_object()) return Status::InvalidArgument("restore point is not a JSON object");
  try {
    RestorePoint p;
    p.id = j.value("id", "");
    p.service = j.value("service", "");
    p.target = j.value("target", "");
    p.time_ns = j.value("time_ns", int64_t{0});
    p.kind = j.value("kind", "manual");
    p.status = j.value("status", "complete");
    p.size = j.value("size", uint64_t{0});
    p.stored = j.value("stored", uint64_t{0});
    p.duration_s = j.value("duration_s", 0.0);
    p.manifest = j.value("manifest", Json::object());
    p.native_id = j.value("native_id", "");
    return p;
  } catch (const Json::exception& e) {
    return Status::InvalidArgument(std::string("restore point is malformed: ") + e.what());
  }
}

}  // namespace cairn
