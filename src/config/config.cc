#include "cairn/config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace cairn {
namespace {

const std::set<std::string> kServiceTypes = {"postgres", "mysql", "redis", "sqlite", "volume"};
const std::set<std::string> kTargetTypes = {"repository", "borg"};
// Keys whose values are file system paths, resolved against the config's directory.
const std::set<std::string> kPathKeys = {"password_file", "path", "paths", "data_dir", "volumes", "location",
                                         "temp_dir", "bin_dir", "s3_credentials_file", "s3_ca_bundle"};

bool ValidName(const std::string& name) {
  if (name.empty() || name[0] == '.' || name[0] == '-') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

// YAML to JSON: plain scalars become numbers, booleans or null where they
// look like one; quoted scalars stay strings.
Json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return nullptr;
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& item : node) a.push_back(ToJson(item));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : node) o[kv.first.as<std::string>()] = ToJson(kv.second);
      return o;
    }
    default: break;
  }
  const std::string text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "no" || text == "off") return false;
  if (text == "null" || text == "~") return nullptr;
  if (!text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-')) {
    size_t used = 0;
    try {
      long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    } catch (...) {
    }
  }
  return text;
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || path.find(':') != std::string::npos || base_dir.empty()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

void ResolvePaths(const std::string& base_dir, Json& settings) {
  for (auto& [key, value] : settings.items()) {
    if (!kPathKeys.count(key)) continue;
    if (value.is_string()) value = Resolve(base_dir, value.get<std::string>());
    if (value.is_array())
      for (auto& v : value)
        if (v.is_string()) v = Resolve(base_dir, v.get<std::string>());
  }
}

Result<std::string> ReadFirstLine(const std::string& path, const std::string& where) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(where + ": cannot read password file " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<std::vector<std::string>> StringList(const Json& v, const std::string& where) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
  if (!v.is_array()) return Status::InvalidArgument(where + ": expected a list of strings");
  for (const auto& item : v) {
    if (!item.is_string()) return Status::InvalidArgument(where + ": expected a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Result<RetentionPolicy> ParseRetention(const Json& r, const std::string& where) {
  RetentionPolicy p;
  if (r.is_null()) return p;
  if (!r.is_object()) return Status::InvalidArgument(where + ": retention must be a mapping");
  for (const auto& [key, value] : r.items()) {
    int* slot = key == "keep_last"      ? &p.keep_last
                : key == "keep_hourly"  ? &p.keep_hourly
                : key == "keep_daily"   ? &p.keep_daily
                : key == "keep_weekly"  ? &p.keep_weekly
                : key == "keep_monthly" ? &p.keep_monthly
                : key == "keep_yearly"  ? &p.keep_yearly
                                        : nullptr;
    if (slot) {
      if (!value.is_number_integer()) return Status::InvalidArgument(where + ": retention " + key + " must be a number");
      *slot = value.get<int>();
    } else if (key == "keep_within") {
      if (!value.is_string()) return Status::InvalidArgument(where + ": retention keep_within must be like \"7d\"");
      CAIRN_ASSIGN_OR_RETURN(p.keep_within, ParseRetentionDuration(value.get<std::string>()));
    } else if (key == "keep_tags") {
      CAIRN_ASSIGN_OR_RETURN(p.keep_tags, StringList(value, where + ": retention keep_tags"));
    } else {
      return Status::InvalidArgument(where + ": unknown retention rule '" + key + "'");
    }
  }
  return p;
}

Result<std::string> Password(const Json& o, const std::string& where) {
  if (o.contains("password")) {
    if (!o["password"].is_string()) return Status::InvalidArgument(where + ": password must be a string");
    return o["password"].get<std::string>();
  }
  if (o.contains("password_file")) return ReadFirstLine(o["password_file"].get<std::string>(), where);
  return std::string();
}

}  // namespace

const ServiceConfig* Config::FindService(const std::string& name) const {
  for (const auto& s : services)
    if (s.name == name) return &s;
  return nullptr;
}

const TargetConfig* Config::FindTarget(const std::string& name) const {
  for (const auto& t : targets)
    if (t.name == name) return &t;
  return nullptr;
}

Result<uint64_t> ParseByteSize(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (...) {
    return Status::InvalidArgument("not a size: '" + text + "'");
  }
  std::string unit = text.substr(used);
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b') && unit.size() > 1) unit.pop_back();
  uint64_t mult = 1;
  if (unit == "" || unit == "B" || unit == "b") mult = 1;
  else if (unit == "k" || unit == "K" || unit == "Ki") mult = 1ull << 10;
  else if (unit == "M" || unit == "m" || unit == "Mi") mult = 1ull << 20;
  else if (unit == "G" || unit == "g" || unit == "Gi") mult = 1ull << 30;
  else return Status::InvalidArgument("not a size: '" + text + "' (use e.g. 512k, 10M, 1G)");
  if (value < 0) return Status::InvalidArgument("not a size: '" + text + "'");
  return static_cast<uint64_t>(value * static_cast<double>(mult));
}

Result<Config> ParseConfig(const std::string& yaml, const std::string& origin, const std::string& base_dir) {
  Json root;
  std::map<std::string, std::vector<std::string>> order;  // section -> names in file order
  try {
    YAML::Node doc = YAML::Load(yaml);
    root = ToJson(doc);
    for (const char* section : {"targets", "services"})
      if (doc.IsMap() && doc[section] && doc[section].IsMap())
        for (const auto& kv : doc[section]) order[section].push_back(kv.first.as<std::string>());
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(origin + ": not valid YAML: " + e.what());
  }
  if (root.is_null()) root = Json::object();
  if (!root.is_object()) return Status::InvalidArgument(origin + ": expected a mapping with targets and services");
  for (const auto& [key, unused] : root.items())
    if (key != "targets" && key != "services")
      return Status::InvalidArgument(origin + ": unknown top-level key '" + key + "' (expected targets, services)");

  Config config;
  config.path = origin;
  const Json targets = root.value("targets", Json::object());
  if (!targets.is_object()) return Status::InvalidArgument(origin + ": targets must be a mapping of name to target");
  for (const std::string& name : order["targets"]) {
    const Json& raw = targets[name];
    const std::string where = origin + ": target " + name;
    if (!ValidName(name)) return Status::InvalidArgument(where + ": names use letters, digits, '.', '_' and '-'");
    if (!raw.is_object()) return Status::InvalidArgument(where + ": expected a mapping");
    Json t = raw;
    ResolvePaths(base_dir, t);
    TargetConfig tc;
    tc.name = name;
    tc.type = t.value("type", "repository");
    if (!kTargetTypes.count(tc.type))
      return Status::InvalidArgument(where + ": unknown type '" + tc.type + "' (repository or borg)");
    if (!t.contains("location") || !t["location"].is_string() || t["location"].get<std::string>().empty())
      return Status::InvalidArgument(where + ": location is required");
    tc.location = t["location"].get<std::string>();
    CAIRN_ASSIGN_OR_RETURN(tc.password, Password(t, where));
    if (tc.password.empty() && tc.type == "repository")
      if (const char* env = std::getenv("CAIRN_PASSWORD")) tc.password = env;
    if (tc.password.empty()) return Status::InvalidArgument(where + ": password or password_file is required");
    CAIRN_ASSIGN_OR_RETURN(tc.retention, ParseRetention(t.value("retention", Json()), where));
    for (const char* key : {"type", "location", "password", "password_file", "retention"}) t.erase(key);
    tc.settings = std::move(t);
    config.targets.push_back(std::move(tc));
  }

  const Json services = root.value("services", Json::object());
  if (!services.is_object()) return Status::InvalidArgument(origin + ": services must be a mapping of name to service");
  for (const std::string& name : order["services"]) {
    const Json& raw = services[name];
    const std::string where = origin + ": service " + name;
    if (!ValidName(name)) return Status::InvalidArgument(where + ": names use letters, digits, '.', '_' and '-'");
    if (!raw.is_object()) return Status::InvalidArgument(where + ": expected a mapping");
    Json s = raw;
    ResolvePaths(base_dir, s);
    ServiceConfig sc;
    sc.name = name;
    if (!s.contains("type") || !s["type"].is_string()) return Status::InvalidArgument(where + ": type is required");
    sc.type = s["type"].get<std::string>();
    if (!kServiceTypes.count(sc.type))
      return Status::InvalidArgument(where + ": unknown type '" + sc.type +
                                     "' (postgres, mysql, redis, sqlite or volume)");
    CAIRN_ASSIGN_OR_RETURN(sc.volumes, StringList(s.value("volumes", Json()), where + ": volumes"));
    for (const auto& v : sc.volumes)
      if (v.empty() || v[0] != '/') return Status::InvalidArgument(where + ": volume path '" + v + "' must be absolute");
    CAIRN_ASSIGN_OR_RETURN(sc.targets, StringList(s.value("targets", Json()), where + ": targets"));
    if (sc.targets.empty()) {
      if (config.targets.size() != 1)
        return Status::InvalidArgument(where + ": targets is required when the file declares " +
                                       std::to_string(config.targets.size()) + " targets");
      sc.targets.push_back(config.targets[0].name);
    }
    for (const auto& t : sc.targets)
      if (!config.FindTarget(t)) return Status::InvalidArgument(where + ": unknown target '" + t + "'");
    for (const char* key : {"pre_hook", "post_hook", "temp_dir"}) {
      if (!s.contains(key)) continue;
      if (!s[key].is_string()) return Status::InvalidArgument(where + ": " + key + " must be a string");
    }
    sc.pre_hook = s.value("pre_hook", "");
    sc.post_hook = s.value("post_hook", "");
    sc.temp_dir = s.value("temp_dir", "");
    if (s.contains("bandwidth_limit")) {
      const Json& b = s["bandwidth_limit"];
      if (b.is_number_unsigned() || b.is_number_integer()) sc.bandwidth_limit = b.get<uint64_t>();
      else if (b.is_string()) {
        CAIRN_ASSIGN_OR_RETURN(sc.bandwidth_limit, ParseByteSize(b.get<std::string>()));
      } else return Status::InvalidArgument(where + ": bandwidth_limit must be a size such as 20M");
    }
    for (const char* key : {"type", "volumes", "targets", "pre_hook", "post_hook", "temp_dir", "bandwidth_limit"})
      s.erase(key);
    sc.settings = std::move(s);
    config.services.push_back(std::move(sc));
  }
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read configuration file " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::string dir = std::filesystem::absolute(path).parent_path().string();
  return ParseConfig(text.str(), path, dir);
}

}  // namespace cairn
