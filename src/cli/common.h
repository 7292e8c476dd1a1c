// Pieces every CLI command file shares: the error channel to main's one
// printer, JSON output and human sizes.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>

#include "cairn/repository.h"
#include "cairn/status.h"

namespace cairn {

using json = nlohmann::json;

constexpr int kExitFailure = 1;
constexpr int kExitPartial = 3;

// Carries a Status out of a command to main's single error printer.
struct CommandError {
  Status status;
};

inline void ThrowIfError(const Status& st) {
  if (!st.ok()) throw CommandError{st};
}
template <typename T>
T ValueOrThrow(Result<T> r) {
  if (!r.ok()) throw CommandError{r.status()};
  return std::move(r).value();
}

// Prints JSON; any text that is still not UTF-8 is replaced, never fatal.
inline std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

inline std::string OneLine(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

inline std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

// Registers backup, backups, restore, service, forget, check and copy (the
// configuration-file commands).
void AddServiceCommands(CLI::App& app, int& exit_code);
// Registers `token create|list|delete` (API tokens of cairn serve).
void AddTokenCommands(CLI::App& app);
// Registers `serve` (the daemon) and the hidden `__job` its jobs run as.
void AddServeCommand(CLI::App& app, int& exit_code);
void AddJobCommand(CLI::App& app, int& exit_code);

// The configuration file: -c, else CAIRN_CONFIG, else /etc/cairn/cairn.yaml.
inline std::string ConfigPathOf(const CLI::App& app) {
  std::string path;
  if (const CLI::Option* opt = app.get_option_no_throw("--config"); opt && opt->count() > 0)
    path = opt->as<std::string>();
  if (path.empty())
    if (const char* env = std::getenv("CAIRN_CONFIG")) path = env;
  if (path.empty()) path = "/etc/cairn/cairn.yaml";
  return path;
}

// --- `cairn repo ...`: a repository used directly ---------------------------

struct Globals {
  std::string repo;
  std::string password_file;
  bool json = false;
  bool quiet = false;
};

std::string ReadSecretFile(const std::string& path, const char* what);
std::string PromptSecret(const std::string& prompt);
// --password-file, else CAIRN_PASSWORD, else a prompt on a terminal.
std::string Password(const Globals& g, bool stdin_is_data = false);
// Step messages of check, prune and repair. They go to stdout so that a
// failing command leaves exactly one line, the error, on stderr.
std::function<void(const std::string&)> StepLog(const Globals& g);
std::string NewPassword(const std::string& new_password_file);
std::string RepoLocation(const Globals& g);
std::unique_ptr<Repository> OpenRepo(const Globals& g, bool stdin_is_data = false);

// `cairn repo repair index|packs|snapshots`.
void AddRepairCommands(CLI::App* repo, Globals& g, const std::function<void(CLI::App*)>& add_common);

}  // namespace cairn
