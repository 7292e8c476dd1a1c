// The configuration file: targets and services (docs/configuration.md,
// examples/cairn.yaml). Parsed once at start-up into plain structs.
#pragma once

#include <string>
#include <vector>

#include "cairn/service.h"
#include "cairn/status.h"
#include "cairn/target.h"

namespace cairn {

struct Config {
  std::string path;                     // the file it was read from
  std::vector<TargetConfig> targets;    // in file order
  std::vector<ServiceConfig> services;  // in file order

  const ServiceConfig* FindService(const std::string& name) const;
  const TargetConfig* FindTarget(const std::string& name) const;
};

// Reads and validates a YAML configuration file. Errors name the file, the
// entry and the key ("cairn.yaml: service app: unknown type 'pg'").
// Relative paths in it are relative to the file's directory.
Result<Config> LoadConfig(const std::string& path);
// Same, from text; `base_dir` resolves relative paths.
Result<Config> ParseConfig(const std::string& yaml, const std::string& origin, const std::string& base_dir);

// Parses "10M", "512k", "1G", "12345" (bytes, powers of 1024).
Result<uint64_t> ParseByteSize(const std::string& text);

}  // namespace cairn
