// The configuration file, read strictly: a key this build does not know is
// an error (with a suggestion), so a typo fails when the file is loaded and
// not at 3 a.m. when the first scheduled backup runs.
#include "cairn/config.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "config/duration.h"
#include "config/schedule.h"

namespace cairn {

Result<double> ParseReadData(const Json& value, const std::string& where) {
  if (value.is_null()) return 0.0;
  if (value.is_boolean()) return value.get<bool>() ? 1.0 : 0.0;
  if (value.is_string()) {
    std::string t = value.get<std::string>();
    if (!t.empty() && t.back() == '%') {
      t.pop_back();
      char* end = nullptr;
      const double v = std::strtod(t.c_str(), &end);
      if (!t.empty() && *end == 0 && v > 0 && v <= 100) return v / 100;
    }
  }
  return Status::InvalidArgument(where + ": read_data must be a share of the packs such as 10%, or true/false");
}

namespace {

const std::set<std::string> kServiceTypes = {"postgres", "mysql", "redis", "sqlite", "volume"};
const std::set<std::string> kTargetTypes = {"repository", "borg"};
// Keys whose values are file system paths, resolved against the config's directory.
const std::set<std::string> kPathKeys = {"password_file", "path", "paths", "data_dir", "volumes", "location",
                                         "temp_dir", "bin_dir", "s3_credentials_file", "s3_ca_bundle", "base_dir",
                                         "socket"};
// Keys whose values are never shown (config check, errors).
const std::set<std::string> kSecretKeys = {"password", "s3_secret_access_key", "s3_access_key_id"};

// YAML nesting deeper than this, or more nodes than this in all, is refused:
// a self-referencing alias recursed until the stack overflowed, and aliases
// can expand a small file into billions of nodes.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 200000;

enum class Kind { kString, kInt, kNumber, kBool, kStringList, kMapping, kSize, kRetention, kAny };

struct KeySpec {
  std::string key;
  Kind kind;
};

const std::vector<KeySpec> kTargetCommon = {
    {"type", Kind::kString},           {"location", Kind::kString}, {"password", Kind::kString},
    {"password_file", Kind::kString},  {"retention", Kind::kRetention},
    {"prune", Kind::kMapping},         {"check", Kind::kMapping},
};
const std::vector<KeySpec> kTargetRepository = {
    {"s3_credentials_file", Kind::kString}, {"s3_access_key_id", Kind::kString},
    {"s3_secret_access_key", Kind::kString}, {"s3_region", Kind::kString}, {"s3_ca_bundle", Kind::kString},
};
const std::vector<KeySpec> kTargetBorg = {
    {"compression", Kind::kString}, {"ssh_command", Kind::kString}, {"remote_path", Kind::kString},
    {"encryption", Kind::kString},  {"base_dir", Kind::kString},    {"lock_wait", Kind::kInt},
};
const std::vector<KeySpec> kServiceCommon = {
    {"type", Kind::kString},      {"targets", Kind::kStringList}, {"volumes", Kind::kStringList},
    {"pre_hook", Kind::kString},  {"post_hook", Kind::kString},   {"temp_dir", Kind::kString},
    {"bandwidth_limit", Kind::kSize}, {"schedule", Kind::kMapping}, {"freshness", Kind::kString},
    {"verify", Kind::kAny},
};

bool ValidName(const std::string& name) {
  if (name.empty() || name[0] == '.' || name[0] == '-') return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

class YamlToJson {
 public:
  explicit YamlToJson(std::string origin) : origin_(std::move(origin)) {}

  // YAML to JSON: plain scalars become numbers, booleans or null where they
  // look like one; quoted scalars stay strings. Duplicate keys are errors.
  Result<Json> Convert(const YAML::Node& node, int depth, const std::string& where) {
    if (depth > kMaxDepth)
      return Status::InvalidArgument(origin_ + ": " + where + ": nested more than " + std::to_string(kMaxDepth) +
                                     " levels deep (a self-referencing alias?)");
    if (++nodes_ > kMaxNodes)
      return Status::InvalidArgument(origin_ + ": more than " + std::to_string(kMaxNodes) +
                                     " values in all (aliases expanding without end?)");
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined: return Json(nullptr);
      case YAML::NodeType::Sequence: {
        Json a = Json::array();
        size_t i = 0;
        for (const auto& item : node) {
          CAIRN_ASSIGN_OR_RETURN(Json v, Convert(item, depth + 1, where + "[" + std::to_string(i++) + "]"));
          a.push_back(std::move(v));
        }
        return a;
      }
      case YAML::NodeType::Map: {
        Json o = Json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) return Status::InvalidArgument(origin_ + ": " + where + ": keys must be plain text");
          const std::string key = kv.first.Scalar();
          if (o.contains(key))
            return Status::InvalidArgument(origin_ + ": " + Join(where, key) + ": duplicate key '" + key + "'");
          CAIRN_ASSIGN_OR_RETURN(Json v, Convert(kv.second, depth + 1, Join(where, key)));
          o[key] = std::move(v);
        }
        return o;
      }
      default: break;
    }
    const std::string text = node.Scalar();
    if (node.Tag() == "!") return Json(text);  // quoted
    if (text == "true" || text == "yes" || text == "on") return Json(true);
    if (text == "false" || text == "no" || text == "off") return Json(false);
    if (text == "null" || text == "~") return Json(nullptr);
    if (!text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-')) {
      size_t used = 0;
      try {
        long long v = std::stoll(text, &used);
        if (used == text.size()) return Json(v);
      } catch (...) {
      }
    }
    return Json(text);
  }

 private:
  static std::string Join(const std::string& where, const std::string& key) {
    return where.empty() ? key : where + "." + key;
  }
  std::string origin_;
  size_t nodes_ = 0;
};

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

// YAML's plain "0.5" arrives as text: YamlToJson makes numbers of whole ones only.
std::optional<double> Number(const Json& v) {
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  const std::string t = v.get<std::string>();
  char* end = nullptr;
  const double d = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != 0 || !std::isfinite(d)) return std::nullopt;
  return d;
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kString: return "text";
    case Kind::kInt: return "a whole number";
    case Kind::kNumber: return "a number";
    case Kind::kBool: return "true or false";
    case Kind::kStringList: return "a list of strings";
    case Kind::kMapping: return "a mapping";
    case Kind::kSize: return "a size such as 20M";
    case Kind::kRetention: return "a mapping of keep_* rules";
    case Kind::kAny: return "a value";
  }
  return "?";
}

bool HasKind(const Json& v, Kind k) {
  switch (k) {
    case Kind::kString: return v.is_string();
    case Kind::kInt: return v.is_number_integer();
    case Kind::kNumber: return Number(v).has_value();
    case Kind::kBool: return v.is_boolean();
    case Kind::kStringList:
      if (v.is_string()) return true;
      if (!v.is_array()) return false;
      return std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_string(); });
    case Kind::kMapping:
    case Kind::kRetention: return v.is_object();
    case Kind::kSize: return v.is_string() || v.is_number_unsigned() || v.is_number_integer();
    case Kind::kAny: return true;
  }
  return false;
}

// Every key of `object` must be one of `specs`, with a value of its kind.
Status CheckKeys(const Json& object, const std::vector<KeySpec>& specs, const std::string& where) {
  std::vector<std::string> known;
  for (const auto& s : specs) known.push_back(s.key);
  for (const auto& item : object.items()) {
    const std::string& key = item.key();
    const Json& value = item.value();
    auto it = std::find_if(specs.begin(), specs.end(), [&](const KeySpec& s) { return s.key == key; });
    if (it == specs.end()) {
      std::string hint = DidYouMean(key, known);
      return Status::InvalidArgument(where + ": unknown key '" + key + "'" +
                                     (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
    if (value.is_null()) continue;  // "key:" with nothing after it means "not set"
    if (!HasKind(value, it->kind))
      return Status::InvalidArgument(where + ": " + key + " must be " + KindName(it->kind) + ", not " +
                                     (value.is_string() ? "'" + value.get<std::string>() + "'" : value.dump(-1, ' ', false, Json::error_handler_t::replace)));
  }
  return Status::Ok();
}

Result<RetentionPolicy> ParseRetention(const Json& r, const std::string& where) {
  RetentionPolicy p;
  if (r.is_null()) return p;
  if (!r.is_object()) return Status::InvalidArgument(where + ": retention must be a mapping");
  static const std::vector<std::string> kRules = {"keep_last",    "keep_hourly", "keep_daily",  "keep_weekly",
                                                  "keep_monthly", "keep_yearly", "keep_within", "keep_tags"};
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
      std::string hint = DidYouMean(key, kRules);
      return Status::InvalidArgument(where + ": unknown retention rule '" + key + "'" +
                                     (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
  }
  if (!p.Empty()) CAIRN_RETURN_IF_ERROR(p.Validate().WithContext(where));
  return p;
}

Result<std::string> Password(const Json& o, const std::string& where) {
  if (o.contains("password") && o.contains("password_file"))
    return Status::InvalidArgument(where + ": give password or password_file, not both");
  if (o.contains("password") && !o["password"].is_null()) return o["password"].get<std::string>();
  if (o.contains("password_file") && !o["password_file"].is_null())
    return ReadFirstLine(o["password_file"].get<std::string>(), where);
  return std::string();
}

std::vector<KeySpec> SourceKeys(const std::string& type) {
  std::vector<KeySpec> out = kServiceCommon;
  for (const SettingSpec& s : SourceSettingSpecs(type)) {
    Kind k = s.kind == SettingSpec::Kind::kInt    ? Kind::kInt
             : s.kind == SettingSpec::Kind::kBool ? Kind::kBool
             : s.kind == SettingSpec::Kind::kStringList ? Kind::kStringList
                                                        : Kind::kString;
    out.push_back({s.key, k});
  }
  return out;
}

Status ParseTargets(const Json& targets, const std::vector<std::string>& order, const std::string& origin,
                    const std::string& base_dir, Config* config) {
  for (const std::string& name : order) {
    const Json& raw = targets[name];
    const std::string where = origin + ": target " + name;
    if (!ValidName(name)) return Status::InvalidArgument(where + ": names use letters, digits, '.', '_' and '-'");
    if (!raw.is_object()) return Status::InvalidArgument(where + ": expected a mapping");
    Json t = raw;
    TargetConfig tc;
    tc.name = name;
    tc.type = t.contains("type") && t["type"].is_string() ? t["type"].get<std::string>() : "repository";
    if (!kTargetTypes.count(tc.type))
      return Status::InvalidArgument(where + ": unknown type '" + tc.type + "' (repository or borg)");
    std::vector<KeySpec> specs = kTargetCommon;
    const auto& extra = tc.type == "borg" ? kTargetBorg : kTargetRepository;
    specs.insert(specs.end(), extra.begin(), extra.end());
    CAIRN_RETURN_IF_ERROR(CheckKeys(t, specs, where));
    ResolvePaths(base_dir, t);
    if (!t.contains("location") || !t["location"].is_string() || t["location"].get<std::string>().empty())
      return Status::InvalidArgument(where + ": location is required");
    tc.location = t["location"].get<std::string>();
    CAIRN_ASSIGN_OR_RETURN(tc.password, Password(t, where));
    if ((t.contains("password") && !t["password"].is_null()) || t.contains("s3_secret_access_key"))
      config->holds_inline_secrets = true;
    if (tc.password.empty() && tc.type == "repository")
      if (const char* env = std::getenv("CAIRN_PASSWORD")) tc.password = env;
    if (tc.password.empty()) return Status::InvalidArgument(where + ": password or password_file is required");
    CAIRN_ASSIGN_OR_RETURN(tc.retention, ParseRetention(t.value("retention", Json()), where));
    if (t.contains("s3_access_key_id") != t.contains("s3_secret_access_key"))
      return Status::InvalidArgument(where + ": s3_access_key_id and s3_secret_access_key go together");
    if (t.contains("prune") && !t["prune"].is_null()) {
      CAIRN_RETURN_IF_ERROR(ParseSchedule(t["prune"], where + ": prune").status());
      tc.prune = t["prune"];
    }
    if (t.contains("check") && !t["check"].is_null()) {
      CAIRN_RETURN_IF_ERROR(ParseSchedule(t["check"], where + ": check", {"read_data"}).status());
      CAIRN_RETURN_IF_ERROR(ParseReadData(t["check"].value("read_data", Json()), where + ": check").status());
      tc.check = t["check"];
    }
    for (const char* key : {"type", "location", "password", "password_file", "retention", "prune", "check"}) t.erase(key);
    tc.settings = std::move(t);
    config->targets.push_back(std::move(tc));
  }
  return Status::Ok();
}

Status ParseServices(const Json& services, const std::vector<std::string>& order, const std::string& origin,
                     const std::string& base_dir, Config* config) {
  for (const std::string& name : order) {
    const Json& raw = services[name];
    const std::string where = origin + ": service " + name;
    if (!ValidName(name)) return Status::InvalidArgument(where + ": names use letters, digits, '.', '_' and '-'");
    if (!raw.is_object()) return Status::InvalidArgument(where + ": expected a mapping");
    Json s = raw;
    ServiceConfig sc;
    sc.name = name;
    if (!s.contains("type") || !s["type"].is_string()) return Status::InvalidArgument(where + ": type is required");
    sc.type = s["type"].get<std::string>();
    if (!kServiceTypes.count(sc.type)) {
      std::string hint = DidYouMean(sc.type, std::vector<std::string>(kServiceTypes.begin(), kServiceTypes.end()));
      return Status::InvalidArgument(where + ": unknown type '" + sc.type +
                                     "' (postgres, mysql, redis, sqlite or volume)" +
                                     (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
    }
    CAIRN_RETURN_IF_ERROR(CheckKeys(s, SourceKeys(sc.type), where));
    if (s.contains("password") && !s["password"].is_null()) config->holds_inline_secrets = true;
    for (const SettingSpec& spec : SourceSettingSpecs(sc.type))
      if (spec.required && (!s.contains(spec.key) || s[spec.key].is_null()))
        return Status::InvalidArgument(where + ": " + spec.key + " is required for a " + sc.type + " service");
    if (sc.type == "volume" && !s.contains("path") && !s.contains("paths"))
      return Status::InvalidArgument(where + ": a volume service needs paths");
    if ((sc.type == "postgres" || sc.type == "mysql") && s.contains("archive")) {  // docs/pitr.md
      const std::string archive = s["archive"].is_string() ? s["archive"].get<std::string>() : "";
      if (archive != "off" && archive != "stream" && archive != "command")
        return Status::InvalidArgument(where + ": archive must be off, stream or command");
      if (archive == "command" && sc.type != "postgres")
        return Status::InvalidArgument(where + ": archive: command is PostgreSQL's archive_command; a " + sc.type +
                                       " service streams its log (archive: stream)");
      if (archive != "off" && s.value("method", std::string("logical")) != "physical")
        return Status::InvalidArgument(where + ": archive: " + archive + " needs method: physical");
    }
    ResolvePaths(base_dir, s);
    CAIRN_ASSIGN_OR_RETURN(sc.volumes, StringList(s.value("volumes", Json()), where + ": volumes"));
    for (const auto& v : sc.volumes)
      if (v.empty() || v[0] != '/') return Status::InvalidArgument(where + ": volume path '" + v + "' must be absolute");
    CAIRN_ASSIGN_OR_RETURN(sc.targets, StringList(s.value("targets", Json()), where + ": targets"));
    if (sc.targets.empty()) {
      if (config->targets.size() != 1)
        return Status::InvalidArgument(where + ": targets is required when the file declares " +
                                       std::to_string(config->targets.size()) + " targets");
      sc.targets.push_back(config->targets[0].name);
    }
    std::set<std::string> seen;
    for (const auto& t : sc.targets) {
      if (!config->FindTarget(t)) {
        std::vector<std::string> names;
        for (const auto& tc : config->targets) names.push_back(tc.name);
        std::string hint = DidYouMean(t, names);
        return Status::InvalidArgument(where + ": unknown target '" + t + "'" +
                                       (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
      }
      if (!seen.insert(t).second) return Status::InvalidArgument(where + ": target '" + t + "' is listed twice");
    }
    sc.pre_hook = s.value("pre_hook", Json("")).is_string() ? s.value("pre_hook", "") : "";
    sc.post_hook = s.value("post_hook", Json("")).is_string() ? s.value("post_hook", "") : "";
    sc.temp_dir = s.value("temp_dir", Json("")).is_string() ? s.value("temp_dir", "") : "";
    if (s.contains("bandwidth_limit") && !s["bandwidth_limit"].is_null()) {
      const Json& b = s["bandwidth_limit"];
      if (b.is_number_integer()) {
        if (b.get<int64_t>() < 0) return Status::InvalidArgument(where + ": bandwidth_limit must not be negative");
        sc.bandwidth_limit = b.get<uint64_t>();
      } else {
        CAIRN_ASSIGN_OR_RETURN(sc.bandwidth_limit, ParseByteSize(b.get<std::string>()));
      }
    }
    if (s.contains("schedule") && !s["schedule"].is_null()) {
      CAIRN_RETURN_IF_ERROR(ParseSchedule(s["schedule"], where + ": schedule").status());
      sc.schedule = s["schedule"];
    }
    if (s.contains("freshness") && !s["freshness"].is_null()) {
      auto f = ParseDurationNs(s["freshness"].get<std::string>());
      if (!f.ok()) return Status::InvalidArgument(where + ": freshness: " + f.status().message());
      sc.freshness_ns = *f;
    }
    if (s.contains("verify") && !s["verify"].is_null()) {
      const Json& v = s["verify"];
      if (v.is_boolean() && !v.get<bool>()) {
        sc.verify = false;
      } else if (v.is_object()) {
        CAIRN_RETURN_IF_ERROR(ParseSchedule(v, where + ": verify").status());
        sc.verify = v;
      } else {
        return Status::InvalidArgument(where + ": verify must be a schedule such as {every: 1d}, or false");
      }
    }
    for (const char* key : {"type", "volumes", "targets", "pre_hook", "post_hook", "temp_dir", "bandwidth_limit",
                            "schedule", "freshness", "verify"})
      s.erase(key);
    sc.settings = std::move(s);
    config->services.push_back(std::move(sc));
  }
  return Status::Ok();
}

Status ParseServer(const Json& raw, const std::string& origin, const std::string& base_dir, ServerConfig* out) {
  const std::string where = origin + ": server";
  if (raw.is_null()) return Status::Ok();
  if (!raw.is_object()) return Status::InvalidArgument(where + ": expected a mapping");
  static const std::vector<KeySpec> kServerKeys = {
      {"listen", Kind::kString},         {"data_dir", Kind::kString},          {"tls_cert", Kind::kString},
      {"tls_key", Kind::kString},        {"allow_insecure_http", Kind::kBool}, {"admin_password_file", Kind::kString},
      {"metrics_public", Kind::kBool},   {"max_concurrent_jobs", Kind::kInt},
  };
  CAIRN_RETURN_IF_ERROR(CheckKeys(raw, kServerKeys, where));
  auto text = [&](const char* key, std::string* slot, bool path) {
    if (raw.contains(key) && raw[key].is_string()) *slot = path ? Resolve(base_dir, raw[key].get<std::string>()) : raw[key].get<std::string>();
  };
  text("listen", &out->listen, false);
  text("data_dir", &out->data_dir, true);
  text("tls_cert", &out->tls_cert, true);
  text("tls_key", &out->tls_key, true);
  text("admin_password_file", &out->admin_password_file, true);
  out->allow_insecure_http = raw.value("allow_insecure_http", false);
  out->metrics_public = raw.value("metrics_public", false);
  if (raw.contains("max_concurrent_jobs") && raw["max_concurrent_jobs"].is_number_integer()) {
    out->max_concurrent_jobs = raw["max_concurrent_jobs"].get<int>();
    if (out->max_concurrent_jobs < 1 || out->max_concurrent_jobs > 64)
      return Status::InvalidArgument(where + ": max_concurrent_jobs must be between 1 and 64");
  }
  if (out->tls_cert.empty() != out->tls_key.empty())
    return Status::InvalidArgument(where + ": tls_cert and tls_key go together");
  const size_t colon = out->listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == out->listen.size())
    return Status::InvalidArgument(where + ": listen must be host:port, e.g. 127.0.0.1:8420");
  return Status::Ok();
}

const std::vector<KeySpec> kNotifyCommon = {
    {"type", Kind::kString}, {"name", Kind::kString}, {"min_severity", Kind::kString}, {"services", Kind::kStringList}};
const std::vector<KeySpec> kNotifyWebhook = {{"url", Kind::kString}, {"secret_file", Kind::kString}};
const std::vector<KeySpec> kNotifyEmail = {{"smtp_url", Kind::kString},      {"from", Kind::kString},
                                           {"to", Kind::kStringList},        {"username", Kind::kString},
                                           {"password_file", Kind::kString}};
const std::vector<KeySpec> kNotifyCommand = {{"command", Kind::kStringList}};

// Addresses go into SMTP commands and mail headers as they are: anything
// that could end a line or start another address is refused.
bool IsMailAddress(const std::string& a) {
  const size_t at = a.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == a.size()) return false;
  for (unsigned char c : a)
    if (c <= 0x20 || c == 0x7f || std::strchr("<>,;\"()[]\\", c)) return false;
  return true;
}

// "scheme://host..." with one of `schemes` and a host.
bool UrlWithHost(const std::string& url, const std::vector<std::string>& schemes) {
  for (const std::string& scheme : schemes) {
    const std::string prefix = scheme + "://";
    if (url.compare(0, prefix.size(), prefix) != 0) continue;
    const size_t end = url.find_first_of("/?#", prefix.size());
    const std::string authority = url.substr(prefix.size(), end - prefix.size());
    // Credentials in an SMTP URL would bypass password_file (and show in `config check`).
    if (scheme.rfind("smtp", 0) == 0 && authority.find('@') != std::string::npos) return false;
    return !authority.empty() && authority[0] != ':' &&
           std::none_of(url.begin(), url.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
  }
  return false;
}

// Secret files are read when a notification is sent (a rotated secret needs
// no reload); here only whether they are there and kept private.
void CheckSecretFile(const std::string& path, const std::string& where, const char* key, Config* config) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    config->warnings.push_back(where + ": " + key + " " + path + " cannot be read; sending fails until it can");
    return;
  }
  if (st.st_mode & 077)
    config->warnings.push_back(where + ": " + key + " " + path + " is readable by " +
                               ((st.st_mode & 007) ? "others" : "its group") + " (chmod 600 " + path + ")");
}

Status ParseNotification(const Json& n, size_t index, const std::string& origin, const std::string& base_dir,
                         Config* config) {
  std::string where = origin + ": notification " + std::to_string(index);
  if (!n.is_object()) return Status::InvalidArgument(where + ": expected a mapping (type: webhook, email or command)");
  static const std::vector<std::string> kTypes = {"webhook", "email", "command"};
  if (!n.contains("type") || !n["type"].is_string())
    return Status::InvalidArgument(where + ": type is required (webhook, email or command)");
  NotificationConfig nc;
  const std::string type = n["type"].get<std::string>();
  const std::vector<KeySpec>* own = nullptr;
  if (type == "webhook") nc.type = NotificationType::kWebhook, own = &kNotifyWebhook;
  if (type == "email") nc.type = NotificationType::kEmail, own = &kNotifyEmail;
  if (type == "command") nc.type = NotificationType::kCommand, own = &kNotifyCommand;
  if (!own) {
    const std::string hint = DidYouMean(type, kTypes);
    return Status::InvalidArgument(where + ": unknown type '" + type + "' (webhook, email or command)" +
                                   (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
  }
  nc.name = n.contains("name") && n["name"].is_string() ? n["name"].get<std::string>() : type + "-" + std::to_string(index);
  if (!ValidName(nc.name)) return Status::InvalidArgument(where + ": names use letters, digits, '.', '_' and '-'");
  where = origin + ": notification " + nc.name;
  if (config->FindNotification(nc.name)) return Status::InvalidArgument(where + ": the name is used twice");
  std::vector<KeySpec> specs = kNotifyCommon;
  specs.insert(specs.end(), own->begin(), own->end());
  CAIRN_RETURN_IF_ERROR(CheckKeys(n, specs, where));
  auto text = [&](const char* key) { return n.contains(key) && n[key].is_string() ? n[key].get<std::string>() : ""; };

  if (!text("min_severity").empty()) {
    nc.min_severity = text("min_severity");
    if (nc.min_severity != "warning" && nc.min_severity != "critical")
      return Status::InvalidArgument(where + ": min_severity must be warning or critical, not '" + nc.min_severity + "'");
  }
  CAIRN_ASSIGN_OR_RETURN(nc.services, StringList(n.value("services", Json()), where + ": services"));
  for (const std::string& s : nc.services) {
    if (config->FindService(s)) continue;
    std::vector<std::string> names;
    for (const auto& sc : config->services) names.push_back(sc.name);
    const std::string hint = DidYouMean(s, names);
    return Status::InvalidArgument(where + ": unknown service '" + s + "'" +
                                   (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  switch (nc.type) {
    case NotificationType::kWebhook:
      nc.url = text("url");
      if (!UrlWithHost(nc.url, {"http", "https"}))
        return Status::InvalidArgument(where + ": url is required, an http:// or https:// URL");
      nc.secret_file = Resolve(base_dir, text("secret_file"));
      if (!nc.secret_file.empty()) CheckSecretFile(nc.secret_file, where, "secret_file", config);
      break;
    case NotificationType::kEmail: {
      nc.smtp_url = text("smtp_url");
      if (!UrlWithHost(nc.smtp_url, {"smtp", "smtps"}))
        return Status::InvalidArgument(where + ": smtp_url is required, smtp://host:587 (STARTTLS) or smtps://host:465");
      nc.from = text("from");
      if (!IsMailAddress(nc.from)) return Status::InvalidArgument(where + ": from must be a mail address");
      CAIRN_ASSIGN_OR_RETURN(nc.to, StringList(n.value("to", Json()), where + ": to"));
      if (nc.to.empty()) return Status::InvalidArgument(where + ": to is required (a list of mail addresses)");
      for (const std::string& a : nc.to)
        if (!IsMailAddress(a)) return Status::InvalidArgument(where + ": to: '" + a + "' is not a mail address");
      nc.username = text("username").empty() ? nc.from : text("username");
      nc.password_file = Resolve(base_dir, text("password_file"));
      if (!nc.password_file.empty()) CheckSecretFile(nc.password_file, where, "password_file", config);
      break;
    }
    case NotificationType::kCommand: {
      const Json& c = n.value("command", Json());
      if (c.is_string()) {
        std::istringstream words(c.get<std::string>());
        for (std::string w; words >> w;) nc.command.push_back(w);
      } else {
        CAIRN_ASSIGN_OR_RETURN(nc.command, StringList(c, where + ": command"));
      }
      if (nc.command.empty() || nc.command[0].empty())
        return Status::InvalidArgument(where + ": command is required (a program, run with the alert as JSON on stdin)");
      if (nc.command[0].find('/') != std::string::npos) nc.command[0] = Resolve(base_dir, nc.command[0]);
      break;
    }
  }
  config->notifications.push_back(std::move(nc));
  return Status::Ok();
}

Status ParseNotifications(const Json& raw, const std::string& origin, const std::string& base_dir, Config* config) {
  if (raw.is_null()) return Status::Ok();
  if (!raw.is_array())
    return Status::InvalidArgument(origin + ": notifications must be a list of channels (- type: webhook ...)");
  for (size_t i = 0; i < raw.size(); ++i)
    CAIRN_RETURN_IF_ERROR(ParseNotification(raw[i], i, origin, base_dir, config));
  return Status::Ok();
}

Status ParseAlerts(const Json& raw, const std::string& origin, AlertsConfig* out) {
  const std::string where = origin + ": alerts";
  if (raw.is_null()) return Status::Ok();
  if (!raw.is_object()) return Status::InvalidArgument(where + ": expected a mapping");
  static const std::vector<KeySpec> kKeys = {
      {"small_backup_ratio", Kind::kNumber}, {"disk_full_percent", Kind::kNumber}, {"stuck_factor", Kind::kNumber},
      {"archive_lag_seconds", Kind::kNumber}};
  CAIRN_RETURN_IF_ERROR(CheckKeys(raw, kKeys, where));
  auto number = [&](const char* key) { return raw.contains(key) ? Number(raw[key]) : std::nullopt; };
  if (auto r = number("small_backup_ratio")) {
    if (*r <= 0 || *r >= 1)
      return Status::InvalidArgument(where + ": small_backup_ratio must be between 0 and 1 (0.5: half the previous point)");
    out->small_backup_ratio = *r;
  }
  if (auto p = number("disk_full_percent")) {
    if (*p < 1 || *p > 100) return Status::InvalidArgument(where + ": disk_full_percent must be between 1 and 100");
    out->disk_full_percent = *p;
  }
  if (auto f = number("stuck_factor")) {
    if (*f < 1 || *f > 1000) return Status::InvalidArgument(where + ": stuck_factor must be between 1 and 1000");
    out->stuck_factor = *f;
  }
  if (auto l = number("archive_lag_seconds")) {
    if (*l < 10 || *l > 7 * 86400)
      return Status::InvalidArgument(where + ": archive_lag_seconds must be between 10 and 604800 (a week)");
    out->archive_lag_seconds = *l;
  }
  return Status::Ok();
}

// Mapping keys in file order (JSON objects are sorted).
std::vector<std::string> KeysInOrder(const YAML::Node& doc, const char* section) {
  std::vector<std::string> out;
  if (doc.IsMap() && doc[section] && doc[section].IsMap())
    for (const auto& kv : doc[section])
      if (kv.first.IsScalar()) out.push_back(kv.first.Scalar());
  return out;
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

const NotificationConfig* Config::FindNotification(const std::string& name) const {
  for (const auto& n : notifications)
    if (n.name == name) return &n;
  return nullptr;
}

std::string_view ToString(NotificationType type) {
  switch (type) {
    case NotificationType::kWebhook: return "webhook";
    case NotificationType::kEmail: return "email";
    case NotificationType::kCommand: return "command";
  }
  return "?";
}

std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates) {
  // Edit distance counting a swap of two neighbours as one edit ("prot" for
  // "port"); a candidate within a third of the word's length (at least 1, at
  // most 3 edits) is offered.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i)
      for (size_t j = 1; j <= b.size(); ++j) {
        d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    return d[a.size()][b.size()];
  };
  const size_t limit = std::clamp<size_t>(word.size() / 3, 1, 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const auto& c : candidates) {
    const size_t d = distance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
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

namespace {

// Keys and values from the file end up in error messages; control bytes in
// them (a newline, a NUL) must not break the one-line rule.
Status OneLine(Status st) {
  if (st.ok()) return st;
  std::string clean;
  for (unsigned char c : st.message()) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      clean += buf;
    } else {
      clean += static_cast<char>(c);
    }
  }
  return Status(st.code(), clean);
}

Result<Config> ParseConfigUnchecked(const std::string& yaml, const std::string& origin, const std::string& base_dir);

}  // namespace

Result<Config> ParseConfig(const std::string& yaml, const std::string& origin, const std::string& base_dir) {
  try {
    auto config = ParseConfigUnchecked(yaml, origin, base_dir);
    if (!config.ok()) return OneLine(config.status());
    return config;
  } catch (const std::exception& e) {  // a decoder boundary: input must never end the process
    return OneLine(Status::InvalidArgument(origin + ": cannot be read: " + e.what()));
  }
}

namespace {

Result<Config> ParseConfigUnchecked(const std::string& yaml, const std::string& origin, const std::string& base_dir) {
  Json root;
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(origin + ": not valid YAML: " + e.what());
  }
  try {
    YamlToJson converter(origin);
    CAIRN_ASSIGN_OR_RETURN(root, converter.Convert(doc, 0, ""));
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(origin + ": not valid YAML: " + e.what());
  }
  if (root.is_null()) root = Json::object();
  if (!root.is_object()) return Status::InvalidArgument(origin + ": expected a mapping with targets and services");
  static const std::vector<std::string> kTop = {"targets", "services", "server", "notifications", "alerts"};
  for (const auto& [key, unused] : root.items()) {
    if (std::find(kTop.begin(), kTop.end(), key) != kTop.end()) continue;
    std::string hint = DidYouMean(key, kTop);
    return Status::InvalidArgument(origin + ": unknown top-level key '" + key + "'" +
                                   (hint.empty() ? " (expected targets, services, server, notifications, alerts)" : " (did you mean '" + hint + "'?)"));
  }

  Config config;
  config.path = origin;
  const Json targets = root.value("targets", Json::object());
  if (!targets.is_object() && !targets.is_null())
    return Status::InvalidArgument(origin + ": targets must be a mapping of name to target");
  if (targets.is_object())
    CAIRN_RETURN_IF_ERROR(ParseTargets(targets, KeysInOrder(doc, "targets"), origin, base_dir, &config));
  const Json services = root.value("services", Json::object());
  if (!services.is_object() && !services.is_null())
    return Status::InvalidArgument(origin + ": services must be a mapping of name to service");
  if (services.is_object())
    CAIRN_RETURN_IF_ERROR(ParseServices(services, KeysInOrder(doc, "services"), origin, base_dir, &config));
  CAIRN_RETURN_IF_ERROR(ParseServer(root.value("server", Json()), origin, base_dir, &config.server));
  CAIRN_RETURN_IF_ERROR(ParseNotifications(root.value("notifications", Json()), origin, base_dir, &config));
  CAIRN_RETURN_IF_ERROR(ParseAlerts(root.value("alerts", Json()), origin, &config.alerts));
  if (config.server.data_dir.empty() && !base_dir.empty()) config.server.data_dir = Resolve(base_dir, "cairn-data");
  return config;
}

}  // namespace

Result<Config> LoadConfig(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::NotFound("cannot read configuration file " + path);
  if (S_ISDIR(st.st_mode)) return Status::InvalidArgument("configuration file " + path + " is a directory");
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read configuration file " + path);
  std::stringstream text;
  text << in.rdbuf();
  std::string dir = std::filesystem::absolute(path).parent_path().string();
  CAIRN_ASSIGN_OR_RETURN(Config config, ParseConfig(text.str(), path, dir));
  // A password in the file is only as secret as the file.
  if (config.holds_inline_secrets && (st.st_mode & 077))
    config.warnings.push_back(path + " holds a password and is readable by " +
                              ((st.st_mode & 007) ? "others" : "its group") + " (chmod 600 " + path + ")");
  return config;
}

Json DescribeConfig(const Config& config) {
  auto redact = [](Json settings) {
    for (auto& [key, value] : settings.items())
      if (kSecretKeys.count(key) && !value.is_null()) value = "(set)";
    return settings;
  };
  Json targets = Json::array();
  for (const auto& t : config.targets) {
    Json retention = Json::object();
    const RetentionPolicy& r = t.retention;
    for (const auto& [k, v] : std::vector<std::pair<const char*, int>>{{"keep_last", r.keep_last},
                                                                       {"keep_hourly", r.keep_hourly},
                                                                       {"keep_daily", r.keep_daily},
                                                                       {"keep_weekly", r.keep_weekly},
                                                                       {"keep_monthly", r.keep_monthly},
                                                                       {"keep_yearly", r.keep_yearly}})
      if (v != 0) retention[k] = v;
    if (r.keep_within.count()) retention["keep_within_seconds"] = r.keep_within.count();
    if (!r.keep_tags.empty()) retention["keep_tags"] = r.keep_tags;
    targets.push_back({{"name", t.name}, {"type", t.type}, {"location", t.location}, {"password", "(set)"},
                       {"retention", retention}, {"settings", redact(t.settings)}});
  }
  Json services = Json::array();
  for (const auto& s : config.services)
    services.push_back({{"name", s.name}, {"type", s.type}, {"targets", s.targets}, {"volumes", s.volumes},
                        {"pre_hook", s.pre_hook}, {"post_hook", s.post_hook}, {"temp_dir", s.temp_dir},
                        {"bandwidth_limit", s.bandwidth_limit}, {"settings", redact(s.settings)}});
  Json notifications = Json::array();
  for (const auto& n : config.notifications) {
    Json o = {{"name", n.name}, {"type", ToString(n.type)}, {"min_severity", n.min_severity}, {"services", n.services}};
    switch (n.type) {
      case NotificationType::kWebhook: {
        // Slack's and Discord's webhook URLs carry their secret in the path.
        const size_t host = n.url.find("://") + 3, end = n.url.find_first_of("/?#", host);
        std::string authority = n.url.substr(host, end - host);
        authority = authority.substr(authority.find('@') + 1);
        o.update({{"url", n.url.substr(0, host) + authority + (end == std::string::npos ? "" : "/(set)")},
                  {"secret_file", n.secret_file}});
        break;
      }
      case NotificationType::kEmail:
        o.update({{"smtp_url", n.smtp_url}, {"from", n.from}, {"to", n.to}, {"username", n.username},
                  {"password_file", n.password_file}});
        break;
      case NotificationType::kCommand: o["command"] = n.command; break;
    }
    notifications.push_back(std::move(o));
  }
  const Json alerts = {{"small_backup_ratio", config.alerts.small_backup_ratio},
                       {"disk_full_percent", config.alerts.disk_full_percent},
                       {"stuck_factor", config.alerts.stuck_factor},
                       {"archive_lag_seconds", config.alerts.archive_lag_seconds}};
  return {{"file", config.path},   {"targets", targets}, {"services", services}, {"notifications", notifications},
          {"alerts", alerts},      {"warnings", config.warnings}};
}

}  // namespace cairn
