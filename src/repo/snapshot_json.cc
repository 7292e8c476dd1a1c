#include "repo/snapshot_json.h"

#include "util/json_text.h"

namespace cairn {

using json = nlohmann::json;

json SummaryToJson(const SnapshotSummary& s) {
  return {{"files_new", s.files_new},         {"files_changed", s.files_changed},
          {"files_unmodified", s.files_unmodified}, {"dirs", s.dirs},
          {"bytes_read", s.bytes_read},       {"bytes_added", s.bytes_added},
          {"bytes_stored", s.bytes_stored},   {"total_bytes", s.total_bytes},
          {"errors", s.errors},               {"duration_s", s.duration_s}};
}

json SnapshotToJson(const Snapshot& s) {
  json j = {{"time", FormatTime(s.time_ns)},
          {"tree", s.tree.Hex()},
          {"paths", JsonSafeText(s.paths)},
          {"hostname", JsonSafeText(s.hostname)},
          {"username", JsonSafeText(s.username)},
          {"tags", JsonSafeText(s.tags)},
          {"parent", s.parent ? s.parent->Hex() : ""},
          {"excludes", JsonSafeText(s.excludes)},
          {"program_version", s.program_version},
          {"summary", SummaryToJson(s.summary)}};
  if (!s.service.empty()) j["service"] = json::parse(s.service, nullptr, /*allow_exceptions=*/false);
  return j;
}

Result<Snapshot> SnapshotFromJson(const json& j) {
  try {
    Snapshot s;
    auto time = ParseTime(j.at("time").get<std::string>());
    if (!time.ok()) return Status::Corruption("snapshot time is malformed");
    s.time_ns = *time;
    if (!Id::FromHex(j.at("tree").get<std::string>(), &s.tree)) return Status::Corruption("bad tree id");
    s.paths = j.at("paths").get<std::vector<std::string>>();
    s.hostname = j.value("hostname", "");
    s.username = j.value("username", "");
    s.tags = j.value("tags", std::vector<std::string>{});
    std::string parent = j.value("parent", "");
    if (!parent.empty()) {
      s.parent.emplace();
      if (!Id::FromHex(parent, &*s.parent)) return Status::Corruption("bad parent id");
    }
    s.excludes = j.value("excludes", std::vector<std::string>{});
    s.program_version = j.value("program_version", "");
    if (j.contains("service") && j["service"].is_object()) s.service = j["service"].dump();
    if (j.contains("summary")) {
      const json& m = j["summary"];
      auto& o = s.summary;
      o.files_new = m.value("files_new", 0ull);
      o.files_changed = m.value("files_changed", 0ull);
      o.files_unmodified = m.value("files_unmodified", 0ull);
      o.dirs = m.value("dirs", 0ull);
      o.bytes_read = m.value("bytes_read", 0ull);
      o.bytes_added = m.value("bytes_added", 0ull);
      o.bytes_stored = m.value("bytes_stored", 0ull);
      o.total_bytes = m.value("total_bytes", 0ull);
      o.errors = m.value("errors", 0ull);
      o.duration_s = m.value("duration_s", 0.0);
    }
    return s;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("snapshot is malformed: ") + e.what());
  }
}

}  // namespace cairn
