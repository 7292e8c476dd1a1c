// The PostgreSQL captures (pg_capture.h).
#include "sources/postgres/pg_capture.h"

#include <utility>

namespace cairn::pgsrc {
namespace {

// ----------------------------------------------------------------- logical capture

class LogicalCapture : public Capture {
 public:
  LogicalCapture(Ctx ctx, Json source) : ctx_(std::move(ctx)), source_(std::move(source)) {
    CapturePart globals;
    globals.name = kGlobalsPart;
    globals.file_name = kGlobalsFile;
    globals.open = [this] { return OpenGlobals(); };
    globals.finish = [this] { return FinishTool("pg_dumpall --globals-only failed"); };
    parts_.push_back(std::move(globals));
    for (const Json& db : source_["databases"]) {
      CapturePart part;
      part.name = db["part"].get<std::string>();
      part.file_name = db["file"].get<std::string>();
      const std::string name = db["name"].get<std::string>();
      part.open = [this, name] { return OpenDatabase(name); };
      part.finish = [this, name] { return FinishDatabase(name); };
      parts_.push_back(std::move(part));
    }
    expected_ = parts_.size();
  }
  ~LogicalCapture() override { Abort(); }

  std::vector<CapturePart>& parts() override { return parts_; }

  Result<Json> Finish() override {
    Abort();
    if (done_ != expected_) return Status::Aborted("the capture was finished before all of its parts were stored");
    return Json{{"server_version", ctx_.server_version},
                {"fingerprint", {{"exact", true}, {"items", items_}}},
                {"source", source_}};
  }

 private:
  Result<int> OpenGlobals() {
    Abort();
    ProcessOptions o;
    o.argv = {ctx_.dumpall_tool, "-w", "--globals-only", "-l", ctx_.admin_db};
    // Only superusers can read pg_authid (the password hashes).
    if (!ctx_.superuser) o.argv.push_back("--no-role-passwords");
    o.env = ctx_.ep.Env(false);
    o.cwd = "/";
    o.low_priority = true;
    o.stdout_mode = ProcessOptions::Output::kPipe;
    CAIRN_ASSIGN_OR_RETURN(tool_, Process::Start(std::move(o)));
    return tool_->ReleaseStdout();
  }

  Result<int> OpenDatabase(const std::string& db) {
    Abort();
    const std::string context = "database " + db;
    auto session = PsqlSession::Open(ctx_.psql, ctx_.ep, db);
    if (!session.ok()) return session.status().WithContext(context);
    session_ = std::move(*session);
    CAIRN_RETURN_IF_ERROR(session_->Send(BeginSnapshot() + "SELECT pg_export_snapshot();\n"));
    CAIRN_ASSIGN_OR_RETURN(std::string snapshot, session_->ReadLine());
    if (snapshot.empty() || snapshot.find_first_not_of("0123456789ABCDEFabcdef-") != std::string::npos)
      return Status::IOError(context + ": unexpected snapshot id from PostgreSQL: " + snapshot.substr(0, 80));
    ProcessOptions o;
    // -Z0: the repository deduplicates across dumps and compresses itself.
    o.argv = {ctx_.dump_tool, "-w", "-Fc", "-Z0", "--snapshot=" + snapshot, "-d", ConnString(db)};
    o.env = ctx_.ep.Env(false);
    o.cwd = "/";
    o.low_priority = true;
    o.stdout_mode = ProcessOptions::Output::kPipe;
    CAIRN_ASSIGN_OR_RETURN(tool_, Process::Start(std::move(o)));
    job_ = std::make_unique<FingerprintJob>();
    job_->Start({{session_.get(), db}}, ctx_.script);
    return tool_->ReleaseStdout();
  }

  Status FinishTool(const std::string& action) {
    Status st = tool_->Wait();
    if (!st.ok()) st = pg::ClassifyError(tool_->captured_stderr(), ctx_.ep.Where(), ctx_.ep.user, action);
    tool_.reset();
    if (st.ok()) ++done_;
    return st;
  }

  Status FinishDatabase(const std::string& db) {
    Status st = FinishTool("pg_dump of database " + db + " failed");
    if (!st.ok()) {
      Abort();
      return st;
    }
    Result<Json> items = job_->Join();
    if (!items.ok()) {
      --done_;
      Abort();
      return items.status();
    }
    MergeItems(*items, &items_);
    st = session_->Send("COMMIT;\n");
    if (st.ok()) st = session_->Close();
    job_.reset();
    session_.reset();
    if (!st.ok()) {
      --done_;
      return st.WithContext("database " + db);
    }
    return Status::Ok();
  }

  // Stops whatever runs (producer, session, fingerprint thread).
  void Abort() {
    if (session_) session_->Kill();
    if (job_) (void)job_->Join();
    job_.reset();
    tool_.reset();
    session_.reset();
  }

  Ctx ctx_;
  Json source_;
  std::vector<CapturePart> parts_;
  size_t expected_ = 0, done_ = 0;
  Json items_ = Json::object();
  std::unique_ptr<PsqlSession> session_;
  std::unique_ptr<Process> tool_;
  std::unique_ptr<FingerprintJob> job_;
};

// ----------------------------------------------------------------- physical capture

class PhysicalCapture : public Capture {
 public:
  PhysicalCapture(Ctx ctx, std::string basebackup, std::vector<std::string> databases, Json source)
      : ctx_(std::move(ctx)), basebackup_(std::move(basebackup)), databases_(std::move(databases)),
        source_(std::move(source)) {
    CapturePart base;
    base.name = kBasePart;
    base.file_name = kBaseFile;
    base.open = [this] { return Open(); };
    base.finish = [this] { return FinishBase(); };
    parts_.push_back(std::move(base));
  }
  ~PhysicalCapture() override { Abort(); }

  std::vector<CapturePart>& parts() override { return parts_; }

  Result<Json> Finish() override {
    Abort();
    if (!stored_) return Status::Aborted("the capture was finished before the base backup was stored");
    // Exact only if nothing could have changed since the first snapshot: no
    // transaction in progress then, and none started until now.
    CAIRN_ASSIGN_OR_RETURN(std::string after,
                           RunSql(ctx_.psql, ctx_.ep, ctx_.admin_db, "SELECT txid_current_snapshot()::text"));
    uint64_t xmax_after = 0;
    bool idle_after = false;
    bool exact = pg::ParseTxidSnapshot(after, &xmax_after, &idle_after);
    for (const Snap& s : snaps_) exact = exact && s.idle && s.xmax == xmax_after;
    Json fingerprint = {{"exact", exact}, {"items", items_}};
    if (!exact)
      fingerprint["inexact_reasons"] = Json::array(
          {{{"reason", "the cluster was written to while pg_basebackup copied it (a transaction ran or started; "
                       "an autovacuum ANALYZE counts too), so the fingerprint's snapshots are not the copy"}}});
    return Json{{"server_version", ctx_.server_version}, {"fingerprint", fingerprint}, {"source", source_}};
  }

 private:
  struct Snap {
    uint64_t xmax = 0;
    bool idle = false;
  };

  Result<int> Open() {
    Abort();
    std::vector<std::pair<PsqlSession*, std::string>> work;
    for (const std::string& db : databases_) {
      auto session = PsqlSession::Open(ctx_.psql, ctx_.ep, db);
      if (!session.ok()) return session.status().WithContext("database " + db);
      sessions_.push_back(std::move(*session));
      PsqlSession* s = sessions_.back().get();
      CAIRN_RETURN_IF_ERROR(s->Send(BeginSnapshot() + "SELECT txid_current_snapshot()::text;\n"));
      CAIRN_ASSIGN_OR_RETURN(std::string line, s->ReadLine());
      Snap snap;
      if (!pg::ParseTxidSnapshot(line, &snap.xmax, &snap.idle))
        return Status::IOError("unexpected snapshot from PostgreSQL: " + line.substr(0, 80));
      snaps_.push_back(snap);
      work.emplace_back(s, db);
    }
    ProcessOptions o;
    // One tar on stdout with the WAL needed to make it consistent (fetch:
    // streaming WAL would need a second output).
    // -v: its start and end WAL positions, which say what WAL the tar holds.
    o.argv = {basebackup_, "-w", "-v", "-D", "-", "-Ft", "-X", "fetch", "-c", "fast"};
    o.env = ctx_.ep.Env(false);
    o.cwd = "/";
    o.low_priority = true;
    o.stdout_mode = ProcessOptions::Output::kPipe;
    CAIRN_ASSIGN_OR_RETURN(tool_, Process::Start(std::move(o)));
    job_ = std::make_unique<FingerprintJob>();
    job_->Start(std::move(work), ctx_.script);
    return tool_->ReleaseStdout();
  }

  Status FinishBase() {
    Status st = tool_->Wait();
    if (!st.ok()) {
      const std::string err = tool_->captured_stderr();
      if (err.find("single tablespace") != std::string::npos)
        st = Status::Unsupported("pg_basebackup cannot stream a cluster with extra tablespaces to Cairn: "
                                 "use method: logical");
      else
        st = pg::ClassifyError(err, ctx_.ep.Where(), ctx_.ep.user, "pg_basebackup failed");
      Abort();
      return st;
    }
    // "write-ahead log start point: 0/2000028 on timeline 1" ... "end point:
    // 0/2000138": the tar holds the WAL segments of that range, which the
    // archive then need not (docs/pitr.md: a base taken before the streamer
    // ran is no gap).
    if (std::string end = pg::BaseBackupWalEnd(tool_->captured_stderr()); !end.empty()) source_["wal_end"] = end;
    tool_.reset();
    Result<Json> items = job_->Join();
    if (!items.ok()) {
      Abort();
      return items.status();
    }
    items_ = std::move(*items);
    for (auto& s : sessions_) {
      st = s->Send("COMMIT;\n");
      if (st.ok()) st = s->Close();
      if (!st.ok()) {
        Abort();
        return st;
      }
    }
    sessions_.clear();
    job_.reset();
    stored_ = true;
    return Status::Ok();
  }

  void Abort() {
    for (auto& s : sessions_) s->Kill();
    if (job_) (void)job_->Join();
    job_.reset();
    tool_.reset();
    sessions_.clear();
  }

  Ctx ctx_;
  std::string basebackup_;
  std::vector<std::string> databases_;
  Json source_;
  std::vector<CapturePart> parts_;
  std::vector<std::unique_ptr<PsqlSession>> sessions_;
  std::vector<Snap> snaps_;
  std::unique_ptr<Process> tool_;
  std::unique_ptr<FingerprintJob> job_;
  Json items_ = Json::object();
  bool stored_ = false;
};

}  // namespace

std::unique_ptr<Capture> MakeLogicalCapture(Ctx ctx, Json source) {
  return std::make_unique<LogicalCapture>(std::move(ctx), std::move(source));
}

std::unique_ptr<Capture> MakePhysicalCapture(Ctx ctx, std::string basebackup, std::vector<std::string> databases,
                                             Json source) {
  return std::make_unique<PhysicalCapture>(std::move(ctx), std::move(basebackup), std::move(databases),
                                           std::move(source));
}

}  // namespace cairn::pgsrc
