// `cairn serve`: the daemon (schedules, jobs, catalog, alerts) and its HTTP
// side (REST API, events, metrics, dashboard) in one process, until SIGTERM
// or SIGINT; SIGHUP reloads the configuration (docs/daemon.md).
//
// Everything process-wide is decided here, not in the library: the signal
// mask (SIGTERM, SIGINT and SIGHUP are blocked in every thread and taken by
// sigwait on the main thread) and where the generated admin password goes.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cairn/config.h"
#include "cairn/system.h"
#include "cli/common.h"
#include "daemon/catalog_sqlite.h"
#include "daemon/daemon.h"
#include "server/api_server.h"
#include "server/auth.h"

namespace cairn {
namespace {

std::string SelfPath() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw CommandError{Status::FromErrno(errno, "cannot find the cairn binary (/proc/self/exe)")};
  return std::string(buf, static_cast<size_t>(n));
}

// A generated admin password goes to the terminal when there is one;
// otherwise (systemd, a log collector) into an owner-only file whose path is
// printed, so that the secret never lands in a log.
void HandOver(const std::string& password, const std::string& data_dir) {
  if (::isatty(STDOUT_FILENO)) {
    std::printf("admin password (shown once; sign in to the dashboard with it): %s\n", password.c_str());
    std::fflush(stdout);
    return;
  }
  const std::string file = data_dir + "/initial-admin-password";
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw CommandError{Status::FromErrno(errno, "cannot write " + file)};
  const std::string line = password + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw CommandError{Status::IOError("cannot write " + file)};
  std::printf("admin password generated: read it from %s (owner only), then delete the file\n", file.c_str());
  std::fflush(stdout);
}

}  // namespace

void AddServeCommand(CLI::App& app, int& exit_code) {
  static std::string listen, data_dir;
  auto* serve = app.add_subcommand("serve", "Run the daemon: scheduled backups, the REST API and the dashboard");
  serve->add_option("--listen", listen, "Address to listen on (default server.listen, 127.0.0.1:8420)");
  serve->add_option("--data-dir", data_dir, "Catalog directory (default server.data_dir, beside the config)");
  serve->callback([&app, &exit_code] {
    // Absolute: job processes and reloads must find the same file.
    const std::string path = std::filesystem::absolute(ConfigPathOf(app)).lexically_normal().string();
    Config config = ValueOrThrow(LoadConfig(path));
    for (const auto& w : config.warnings) std::fprintf(stderr, "warning: %s\n", OneLine(w).c_str());
    ServerConfig server = config.server;
    if (!listen.empty()) server.listen = listen;
    if (!data_dir.empty()) server.data_dir = data_dir;
    if (server.data_dir.empty()) throw CommandError{Status::InvalidArgument(path + ": server.data_dir is not set")};
    if (::mkdir(server.data_dir.c_str(), 0700) != 0 && errno != EEXIST)
      throw CommandError{Status::FromErrno(errno, "cannot create the data directory " + server.data_dir)};

    // Blocked before any thread exists, so that every thread inherits it.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    std::unique_ptr<Catalog> catalog = ValueOrThrow(OpenSqliteCatalog(server.data_dir + "/catalog.db"));
    if (auto generated = ValueOrThrow(EnsureAdminPassword(*catalog, server))) HandOver(*generated, server.data_dir);

    DaemonOptions options;
    options.config_path = path;
    options.cairn_binary = SelfPath();
    std::unique_ptr<Daemon> daemon = ValueOrThrow(Daemon::Start(options, *catalog));
    ApiServer api(server, *daemon, *catalog);
    Status started = api.Start();
    if (!started.ok()) {
      daemon->Stop();
      throw CommandError{started};
    }
    std::printf("cairn serve: %s (config %s, data %s)\n", api.url().c_str(), path.c_str(), server.data_dir.c_str());
    std::fflush(stdout);

    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        Status st = daemon->Reload();
        if (st.ok()) std::printf("cairn serve: configuration reloaded\n");
        else std::fprintf(stderr, "cairn serve: configuration not reloaded: %s\n", OneLine(st.message()).c_str());
        std::fflush(stdout);
        continue;
      }
      break;
    }
    std::printf("cairn serve: stopping (running jobs are cancelled)\n");
    std::fflush(stdout);
    api.Stop();
    daemon->Stop();
    exit_code = 0;
  });
}

}  // namespace cairn
