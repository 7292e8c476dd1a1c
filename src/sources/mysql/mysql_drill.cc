// Restore drills of MariaDB points (docs/verification.md): a logical point
// is restored onto a throwaway server that mariadb-install-db makes in the
// scratch directory (socket only, no networking); a physical point becomes a
// new server there on a free loopback port. mariadb-check then checks every
// table of every database.
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sources/mysql/mysql_common.h"
#include "util/process.h"

namespace cairn::mysql {
namespace {

// The error log's last [ERROR] line (else its last line): the scratch
// directory, log and all, is gone by the time anyone reads the failure.
std::string LastLine(const std::string& path) {
  std::ifstream in(path);
  std::string line, last, last_error;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.find("[ERROR]") != std::string::npos) last_error = line;
  }
  const std::string& pick = last_error.empty() ? last : last_error;
  return pick.empty() ? "its error log is empty" : pick;
}

namespace fs = std::filesystem;

// mariadb-check --check on every table: "db.table  OK" per line; anything
// else (error, warning, "Corrupt") is a finding.
Result<std::string> RunCheck(const Client& client, const std::string& tool) {
  ProcessOptions o;
  o.argv = client.Argv(tool, {"--all-databases", "--check"});
  o.stdout_mode = ProcessOptions::Output::kCapture;
  CAIRN_ASSIGN_OR_RETURN(auto p, Process::Start(std::move(o)));
  Status st = p->Wait();
  if (!st.ok()) return client.Classify(p->captured_stderr(), "mariadb-check");
  int tables = 0;
  std::string problem;
  std::string current;
  for (size_t at = 0; at < p->captured_stdout().size();) {
    size_t nl = p->captured_stdout().find('\n', at);
    if (nl == std::string::npos) nl = p->captured_stdout().size();
    const std::string line = p->captured_stdout().substr(at, nl - at);
    at = nl + 1;
    if (line.empty()) continue;
    if (line.size() > 2 && line.compare(line.size() - 2, 2, "OK") == 0) {
      ++tables;
    } else if (line.find("Error") != std::string::npos || line.find("error") != std::string::npos ||
               line.find("Corrupt") != std::string::npos || line.find("corrupt") != std::string::npos) {
      if (problem.empty()) problem = (current.empty() ? "" : current + ": ") + line;
    } else {
      current = line;  // a table name on a line of its own, its status below
    }
  }
  if (!problem.empty()) return Status::Corruption("mariadb-check: " + problem);
  return "mariadb-check: " + std::to_string(tables) + " tables checked, all OK";
}

}  // namespace

Result<DrillSandbox> PrepareDrill(const ServiceConfig& config, const Settings& s, const Json& manifest,
                                  const std::string& scratch, const std::function<void(const std::string&)>& log) {
  // A client only for finding tools (it connects to nothing).
  Client finder(s.endpoint, s.user, s.password, s.bin_dir, config.temp_dir);
  CAIRN_RETURN_IF_ERROR(finder.Init());
  CAIRN_ASSIGN_OR_RETURN(std::string check_tool, finder.Tool({"mariadb-check", "mysqlcheck"}, "mariadb-client"));
  DrillSandbox sb;
  sb.volumes_new_name = scratch + "/volumes";
  const Json src = manifest.value("source", Json::object());
  if (src.value("method", "") == "physical") {
    sb.mode = RestoreMode::kNewInstance;
    sb.new_name = scratch + "/server";
    sb.check = [s, check_tool, temp = config.temp_dir](const RestoreOutcome& out) -> Result<std::string> {
      Endpoint ep;
      ep.socket = out.connection.value("socket", std::string());
      ep.port = out.connection.value("port", 0);
      Client c(ep, s.user, s.password, s.bin_dir, temp);
      CAIRN_RETURN_IF_ERROR(c.Init());
      return RunCheck(c, check_tool);
    };
    return sb;
  }

  // Logical: a fresh server of the installed MariaDB, reached through a
  // socket in the scratch directory; root authenticates by unix_socket.
  CAIRN_ASSIGN_OR_RETURN(std::string install_db, finder.Tool({"mariadb-install-db", "mysql_install_db"}, "mariadb-server"));
  CAIRN_ASSIGN_OR_RETURN(std::string server, finder.Tool({"mariadbd", "mysqld"}, "mariadb-server"));
  CAIRN_ASSIGN_OR_RETURN(std::string admin, finder.Tool({"mariadb-admin", "mysqladmin"}, "mariadb-client"));
  // The server runs as run_as and writes its socket, pid file and error log
  // next to its data: all in one directory it owns (the scratch directory
  // itself stays root's).
  const std::string home = scratch + "/mysql", data = home + "/data", sock = home + "/mysqld.sock";
  if (sock.size() > 100) return Status::InvalidArgument("scratch path " + scratch + " is too long for a unix socket");
  std::error_code ec;
  fs::create_directories(data, ec);
  if (ec) return Status::IOError("cannot create " + data + ": " + ec.message());
  const bool root = ::geteuid() == 0;
  if (root) {
    const passwd* pw = ::getpwnam(s.run_as.c_str());
    if (!pw) return Status::NotFound("user " + s.run_as + " (setting run_as) does not exist");
    for (const std::string& d : {home, data})
      if (::chown(d.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        return Status::FromErrno(errno, "cannot give " + d + " to user " + s.run_as);
  }
  if (log) log("creating a scratch MariaDB server in " + data);
  {
    ProcessOptions o;
    o.argv = {install_db, "--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=socket",
              "--skip-test-db"};
    if (root) o.argv.push_back("--user=" + s.run_as);
    o.cwd = scratch;
    auto run = RunCapture(std::move(o));
    if (!run.ok()) return Status::IOError("mariadb-install-db for the scratch server failed: " + run.status().message());
  }
  std::vector<std::string> argv = {server, "--no-defaults", "--datadir=" + data, "--socket=" + sock,
                                   "--skip-networking", "--pid-file=" + home + "/mysqld.pid",
                                   "--log-error=" + home + "/mysqld.err", "--innodb-flush-log-at-trx-commit=0",
                                   "--skip-log-bin", "--event-scheduler=OFF"};
  if (root) argv.push_back("--user=" + s.run_as);
  CAIRN_ASSIGN_OR_RETURN(pid_t pid, StartDetached(argv));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kServerStartTimeout);
  for (;;) {
    ProcessOptions o;
    o.argv = {admin, "--no-defaults", "--socket=" + sock, "-uroot", "--connect-timeout=2", "ping"};
    if (RunQuiet(std::move(o)).ok()) break;
    if (::kill(pid, 0) != 0 || std::chrono::steady_clock::now() > deadline)
      return Status::IOError("the scratch MariaDB server did not start: " + LastLine(home + "/mysqld.err"));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  sb.mode = RestoreMode::kOverwrite;
  sb.service = config;
  Json& set = sb.service.settings;
  for (const char* key : {"host", "port", "password", "password_file", "data_dir"}) set.erase(key);
  set["socket"] = sock;
  set["user"] = "root";
  set["method"] = "logical";
  sb.check = [check_tool, sock, bin = s.bin_dir, temp = config.temp_dir](const RestoreOutcome&) -> Result<std::string> {
    Endpoint ep;
    ep.socket = sock;
    Client c(ep, "root", "", bin, temp);
    CAIRN_RETURN_IF_ERROR(c.Init());
    return RunCheck(c, check_tool);
  };
  return sb;
}

}  // namespace cairn::mysql
