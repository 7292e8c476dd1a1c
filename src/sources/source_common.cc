// Pieces every source shares: typed settings, the fingerprint comparison and
// the factory that maps a service type to its source.
#include <fstream>

#include "cairn/service.h"

#include "sources/postgres/postgres_source.h"
#include "sources/mysql/mysql_source.h"
#include "sources/redis/redis_source.h"
#include "sources/sqlite/sqlite_source.h"
#include "sources/volume/volume_source.h"

namespace cairn {
namespace {

Status WrongType(const ServiceConfig& c, const std::string& key, const char* expected) {
  return Status::InvalidArgument("service " + c.name + ": setting " + key + " must be " + expected);
}

}  // namespace

Result<std::string> SettingString(const ServiceConfig& c, const std::string& key, const std::string& fallback) {
  if (!c.settings.contains(key) || c.settings[key].is_null()) return fallback;
  const Json& v = c.settings[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return WrongType(c, key, "a string");
}

Result<int64_t> SettingInt(const ServiceConfig& c, const std::string& key, int64_t fallback) {
  if (!c.settings.contains(key) || c.settings[key].is_null()) return fallback;
  const Json& v = c.settings[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    try {
      size_t used = 0;
      int64_t n = std::stoll(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return n;
    } catch (...) {
    }
  }
  return WrongType(c, key, "a number");
}

Result<std::string> SettingPassword(const ServiceConfig& c) {
  if (c.settings.contains("password")) return SettingString(c, "password", "");
  if (!c.settings.contains("password_file")) return std::string();
  CAIRN_ASSIGN_OR_RETURN(std::string path, SettingString(c, "password_file", ""));
  std::ifstream in(path);
  if (!in) return Status::NotFound("service " + c.name + ": cannot read password file " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<std::vector<std::string>> SettingDatabases(const ServiceConfig& c) {
  std::vector<std::string> out;
  if (!c.settings.contains("databases")) return out;
  const Json& v = c.settings["databases"];
  if (v.is_string()) {
    if (v.get<std::string>() == "all") return out;
    out.push_back(v.get<std::string>());
    return out;
  }
  if (!v.is_array()) return WrongType(c, "databases", "\"all\" or a list of names");
  for (const Json& item : v) {
    if (!item.is_string() || item.get<std::string>().empty()) return WrongType(c, "databases", "a list of names");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<std::string> InexactReasons(const Json& fingerprint) {
  std::vector<std::string> out;
  if (!fingerprint.is_object() || !fingerprint.contains("inexact_reasons")) return out;
  for (const Json& r : fingerprint["inexact_reasons"]) {
    if (!r.is_object()) continue;
    const std::string scope = r.value("scope", ""), reason = r.value("reason", "");
    out.push_back(scope.empty() ? reason : scope + ": " + reason);
  }
  return out;
}

FingerprintDiff CompareFingerprints(const Json& expected, const Json& actual) {
  FingerprintDiff diff;
  const Json empty = Json::object();
  const Json& want = expected.is_object() && expected.contains("items") ? expected["items"] : empty;
  const Json& got = actual.is_object() && actual.contains("items") ? actual["items"] : empty;
  diff.exact = expected.is_object() && expected.value("exact", false);
  if (!expected.is_object() || !expected.contains("items")) {
    diff.differences.push_back("the backup has no fingerprint to validate against");
    return diff;
  }
  if (diff.exact && expected.contains("inexact_reasons"))
    for (const Json& r : expected["inexact_reasons"])
      if (r.is_object() && !r.value("scope", "").empty()) diff.structure_only.push_back(r["scope"]);
  const auto in_scope = [&](const std::string& name) {
    for (const std::string& scope : diff.structure_only)
      if (name == scope || (name.size() > scope.size() && name.compare(0, scope.size(), scope) == 0 &&
                            name[scope.size()] == '.'))
        return true;
    return false;
  };
  const auto by_value = [&](const std::string& name) { return diff.exact && !in_scope(name); };
  for (const auto& [name, value] : want.items()) {
    if (!got.contains(name)) {
      diff.differences.push_back(name + ": missing after restore");
      continue;
    }
    if (by_value(name) && got[name] != value)
      diff.differences.push_back(name + ": expected " + value.dump() + ", found " + got[name].dump());
  }
  // A scope written to during the capture may hold items the fingerprint
  // did not see (a database created meanwhile).
  for (const auto& [name, value] : got.items())
    if (!want.contains(name) && !in_scope(name)) diff.differences.push_back(name + ": not in the backup");
  return diff;
}

Result<std::unique_ptr<Source>> MakeSource(const ServiceConfig& config) {
  const std::string& type = config.type;
  if (type == "postgres") return MakePostgresSource(config);
  if (type == "mysql") return MakeMysqlSource(config);
  if (type == "redis") return MakeRedisSource(config);
  if (type == "sqlite") return MakeSqliteSource(config);
  if (type == "volume") return MakeVolumeSource(config);
  return Status::Unsupported("service " + config.name + ": type " + type + " is not supported by this build");
}

}  // namespace cairn

namespace cairn {

std::vector<SettingSpec> SourceSettingSpecs(const std::string& type) {
  using K = SettingSpec::Kind;
  // The same connection keys for every server type (docs/configuration.md).
  const std::vector<SettingSpec> connection = {
      {"host", K::kString},     {"port", K::kInt},           {"socket", K::kString},
      {"user", K::kString},     {"password", K::kString},    {"password_file", K::kString},
  };
  std::vector<SettingSpec> out;
  auto add = [&](std::vector<SettingSpec> specs) { out.insert(out.end(), specs.begin(), specs.end()); };
  if (type == "postgres") {
    add(connection);
    add({{"databases", K::kStringList}, {"method", K::kString}, {"bin_dir", K::kString}, {"data_dir", K::kString},
         {"run_as", K::kString}, {"checksum_max_table_bytes", K::kInt}, {"archive", K::kString}});
  } else if (type == "mysql") {
    add(connection);
    add({{"databases", K::kStringList}, {"method", K::kString}, {"bin_dir", K::kString},
         {"data_dir", K::kString}, {"run_as", K::kString}, {"users", K::kBool}, {"restore_users", K::kBool},
         {"lock_timeout", K::kInt}, {"archive", K::kString}});
  } else if (type == "redis") {
    add(connection);
    add({{"data_dir", K::kString}, {"dbfilename", K::kString},
         {"redis_server", K::kString}, {"run_as", K::kString}});
  } else if (type == "sqlite") {
    add({{"path", K::kString, /*required=*/true}});
  } else if (type == "volume") {
    add({{"path", K::kString}, {"paths", K::kStringList}});
  }
  return out;
}

}  // namespace cairn
