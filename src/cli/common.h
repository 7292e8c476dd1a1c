// Pieces every CLI command file shares: the error channel to main's one
// printer, JSON output and human sizes.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <atomic>
#include <thread>

#include "cairn/context.h"
#include "cairn/repository.h"
#include "cairn/status.h"
#include "util/human.h"

namespace cairn {

using json = nlohmann::json;

constexpr int kExitFailure = 1;
constexpr int kExitPartial = 3;
// wal get: a target could not be read; PostgreSQL stops recovery on an exit status above 125.
constexpr int kExitWalUnreadable = 126;

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

// SIGINT and SIGTERM cancel `context` while this object lives: both are
// blocked in the calling thread (and the threads it starts later) and taken by
// one thread that calls Cancel, so nothing async-signal-unsafe runs in a
// handler. Only the CLI uses it: it changes the process's signal mask.
class CancelOnSignals {
 public:
  explicit CancelOnSignals(OpContext* context) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
    thread_ = std::thread([this, context] {
      int sig = 0;
      if (sigwait(&set_, &sig) == 0 && !stopping_.load()) context->Cancel("cancelled");
    });
  }
  ~CancelOnSignals() {
    // Wake the waiting thread with a signal to ourselves; it sees stopping_.
    stopping_.store(true);
    ::kill(::getpid(), SIGTERM);
    thread_.join();
    // Whichever signal the thread did not take (ours, when a real one came
    // first) is still pending: drain it before the old mask lets it through.
    timespec zero{};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  CancelOnSignals(const CancelOnSignals&) = delete;
  CancelOnSignals& operator=(const CancelOnSignals&) = delete;

 private:
  sigset_t set_{}, old_{};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

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
