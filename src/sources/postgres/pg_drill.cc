// Restore drills of PostgreSQL points (docs/verification.md): a logical
// point is restored onto a throwaway cluster that initdb makes in the scratch
// directory, reached only through a socket there; a physical point becomes a
// new instance in the scratch directory on a free loopback port. Either way
// pg_amcheck then checks every table and B-tree index of every database.
#include <pwd.h>

#include "sources/postgres/pg_source.h"
#include "util/process.h"

namespace cairn::pgsrc {
namespace {

// pg_amcheck exists from PostgreSQL 14 on; a newer one checks older servers.
Result<std::string> AmcheckOf(const std::function<Result<std::string>(const std::string&, int)>& tool, int major) {
  auto exact = tool("pg_amcheck", major);
  if (exact.ok() && exact->find("/" + pg::MajorName(major) + "/") != std::string::npos) return exact;
  auto any = tool("pg_amcheck", 0);
  if (!any.ok()) return Status::NotFound("pg_amcheck is not installed (PostgreSQL 14 or newer): install postgresql-client");
  return any;
}

Result<std::string> RunAmcheck(const std::string& amcheck, const Endpoint& ep) {
  ProcessOptions o;
  o.argv = {amcheck, "--all", "--install-missing", "--no-strict-names"};
  o.env = ep.Env(false);
  o.stdout_mode = ProcessOptions::Output::kCapture;
  CAIRN_ASSIGN_OR_RETURN(auto p, Process::Start(std::move(o)));
  Status st = p->Wait();
  if (!st.ok()) {
    // pg_amcheck names each corruption on stdout; the first line says where.
    std::string out = p->captured_stdout();
    const std::string first = out.substr(0, out.find('\n'));
    return Status::Corruption("pg_amcheck found problems" +
                              (first.empty() ? ": " + p->LastErrorLine() : ": " + first));
  }
  return std::string("pg_amcheck: every table and B-tree index of every database checked, no corruption");
}

}  // namespace

Result<DrillSandbox> PostgresSource::PrepareDrill(const Json& manifest, const std::string& scratch,
                                                  const std::function<void(const std::string&)>& log) {
  const Json src = manifest.value("source", Json::object());
  const int major = pg::MajorOf(src.value("server_version_num", 0));
  if (major <= 0) return Status::InvalidArgument("the restore point does not name its PostgreSQL version");
  auto tool = [this](const std::string& name, int m) { return Tool(name, m); };
  CAIRN_ASSIGN_OR_RETURN(std::string amcheck, AmcheckOf(tool, major));
  DrillSandbox sb;
  sb.volumes_new_name = scratch + "/volumes";

  if (src.value("method", "") == "physical") {
    sb.mode = RestoreMode::kNewInstance;
    sb.new_name = scratch + "/pgdata";
    sb.check = [amcheck, ep = ep_](const RestoreOutcome& out) -> Result<std::string> {
      const Json loc = out.locator.value("postgres", Json::object());
      Endpoint copy = ep;
      copy.host = loc.value("host", std::string("127.0.0.1"));
      copy.port = loc.value("port", 0);
      return RunAmcheck(amcheck, copy);
    };
    return sb;
  }

  // Logical: a cluster of the backup's major version, no TCP at all.
  CAIRN_ASSIGN_OR_RETURN(std::string initdb, ServerTool("initdb", major));
  CAIRN_ASSIGN_OR_RETURN(std::string pg_ctl, ServerTool("pg_ctl", major));
  const passwd* pw = ::getpwnam(run_as_.c_str());
  if (!pw) return Status::NotFound("user " + run_as_ + " (setting run_as) does not exist");
  const std::string data = scratch + "/pgdata", sock = scratch + "/sock";
  CAIRN_RETURN_IF_ERROR(MakeDataDir(data, pw));
  CAIRN_RETURN_IF_ERROR(MakeDataDir(sock, pw));
  const int port = FreePort();
  if (port <= 0) return Status::IOError("cannot pick a port number for the scratch cluster's socket");
  if (log) log("creating a scratch PostgreSQL " + pg::MajorName(major) + " cluster in " + data);
  std::string err;
  Status st = RunAsUser({initdb, "-D", data, "-U", "postgres", "-E", "UTF8", "--auth=trust", "--no-sync"}, data, &err);
  if (!st.ok()) return Status::IOError("initdb of the scratch cluster failed: " + pg::ErrorText(err));
  CAIRN_RETURN_IF_ERROR(StartServer(pg_ctl, data,
                                    {"-c", "listen_addresses=", "-c", "unix_socket_directories=" + sock, "-c",
                                     "port=" + std::to_string(port), "-c", "fsync=off", "-c",
                                     "synchronous_commit=off", "-c", "full_page_writes=off", "-c",
                                     "autovacuum=off"}));
  sb.mode = RestoreMode::kOverwrite;
  sb.service = config_;
  Json& s = sb.service.settings;
  for (const char* key : {"socket", "password", "password_file", "data_dir"}) s.erase(key);
  s["host"] = sock;
  s["port"] = port;
  s["user"] = "postgres";
  s["method"] = "logical";
  Endpoint scratch_ep;
  scratch_ep.host = sock;
  scratch_ep.port = port;
  scratch_ep.user = "postgres";
  sb.check = [amcheck, scratch_ep](const RestoreOutcome&) { return RunAmcheck(amcheck, scratch_ep); };
  return sb;
}

}  // namespace cairn::pgsrc
