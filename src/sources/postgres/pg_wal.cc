// Continuous archiving and point-in-time recovery for PostgreSQL
// (docs/pitr.md): the WAL streamer's commands, and the recovery set-up of a
// physical restore that replays archived WAL up to a moment.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <ctime>

#include "cairn/system.h"
#include "sources/postgres/pg_internal.h"
#include "sources/postgres/pg_source.h"
#include "sources/postgres/pg_wal_names.h"

namespace cairn::pgsrc {
namespace {

// "cairn_<service>" in the characters a slot name may have.
std::string SlotName(const std::string& service) {
  std::string slot = "cairn_";
  for (char c : service) slot += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  return slot.substr(0, 63);
}

using SegmentPos = pgwal::Segment;
using pgwal::ParseSegment;

// recovery_target_time wants a timestamp PostgreSQL parses: UTC, microseconds.
std::string PgTime(int64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>((ns % 1'000'000'000) / 1000));
  return buf;
}

}  // namespace

// The slot keeps what was not received: no resume point is needed.
Result<std::vector<ToolCommand>> PostgresSource::WalStreamCommands(const std::string& dir, const std::string&) {
  CAIRN_RETURN_IF_ERROR(Probe().status());
  CAIRN_ASSIGN_OR_RETURN(std::string receivewal, Tool("pg_receivewal"));
  if (!superuser_ && !replication_)
    return Status::InvalidArgument("PostgreSQL user " + ep_.user +
                                   " lacks the REPLICATION privilege that streaming WAL needs (ALTER ROLE ... REPLICATION)");
  const std::string slot = SlotName(config_.name);
  const std::vector<std::string> env = ep_.Env(false);
  // The slot makes the server keep WAL the streamer has not received, so a
  // stopped daemon or a restarted server leaves no gap; --synchronous
  // flushes (and confirms) every write, so the .partial file is current.
  return std::vector<ToolCommand>{
      {{receivewal, "--create-slot", "--if-not-exists", "-S", slot, "-w"}, env},
      {{receivewal, "-D", dir, "-S", slot, "--synchronous", "-n", "-w"}, env}};
}

Status PostgresSource::EnsureStreamingSlot() {
  const std::string slot = pg::QuoteLiteral(SlotName(config_.name));
  return Exec("SELECT pg_create_physical_replication_slot(" + slot + ", true) WHERE NOT EXISTS "
              "(SELECT 1 FROM pg_replication_slots WHERE slot_name = " + slot + ")");
}

// pg_stat_archiver, for `archive: command`: what the server's archive_command
// last did, and the file being written (none on a standby).
Result<Json> PostgresSource::ArchiverStatus() {
  CAIRN_ASSIGN_OR_RETURN(
      Json j, Sql("select json_build_object("
                  "'last_archived', coalesce(last_archived_wal, ''),"
                  "'last_archived_ns', coalesce((extract(epoch from last_archived_time) * 1000000000)::bigint, 0),"
                  "'last_failed', coalesce(last_failed_wal, ''),"
                  "'last_failed_ns', coalesce((extract(epoch from last_failed_time) * 1000000000)::bigint, 0),"
                  "'current', case when pg_is_in_recovery() then '' else pg_walfile_name(pg_current_wal_lsn()) end,"
                  "'archive_mode', current_setting('archive_mode'),"
                  "'archive_command', current_setting('archive_command')) from pg_stat_archiver"));
  if (!j.is_object()) return Status::Corruption("unexpected answer from PostgreSQL at " + ep_.Where());
  return j;
}

// The base backup is extracted in `dir`; puts the archived WAL it needs into
// its pg_wal and the recovery settings into postgresql.auto.conf.
Status PostgresSource::PrepareRecovery(const RestoreRequest& req, const std::string& dir, const passwd* pw) {
  const RestoreRequest::Recovery& r = req.recovery;
  // backup_label: "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)"
  const std::string label = ReadTextFile(dir + "/backup_label");
  const size_t at = label.find("(file ");
  SegmentPos start;
  if (at == std::string::npos || !ParseSegment(label.substr(at + 6, 24), &start))
    return Status::Corruption("the base backup in " + dir + " has no readable backup_label: cannot tell which WAL it needs");
  std::set<std::string> full;
  for (const std::string& n : r.wal_names)
    if (n.size() == 24) full.insert(n);
  int fetched = 0;
  for (const std::string& name : r.wal_names) {
    SegmentPos pos;
    std::string dest = name;
    if (name.ends_with(".history")) {
      // every timeline's history: recovery follows the latest timeline
    } else if (ParseSegment(name, &pos)) {
      if (pos.tli < start.tli || pos.segno < start.segno) continue;
      if (name.ends_with(".partial")) {
        dest = name.substr(0, 24);
        if (full.count(dest)) continue;  // the completed segment is archived
      }
    } else {
      continue;
    }
    const std::string path = dir + "/pg_wal/" + dest;
    if (::access(path.c_str(), F_OK) == 0) continue;  // the base backup brought it
    CAIRN_RETURN_IF_ERROR(r.fetch_wal(name, path).WithContext("fetching archived WAL " + name));
    // A .partial is stored without the zeros after its last written byte:
    // the server wants the whole segment (16 MiB, the rest zeros).
    if (name.ends_with(".partial") && ::truncate(path.c_str(), static_cast<off_t>(pgwal::kSegmentBytes)) != 0)
      return Status::FromErrno(errno, "cannot pad " + path + " to a whole WAL segment");
    if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0 || ::chmod(path.c_str(), 0600) != 0)
      return Status::FromErrno(errno, "cannot give " + path + " to user " + run_as_);
    ++fetched;
  }
  Log(req, "fetched " + std::to_string(fetched) + " archived WAL file(s) for point-in-time recovery");
  std::string settings = std::string("\n") + kRecoveryBegin + "\nrestore_command = 'false'\n";
  if (r.target_time_ns > 0)
    settings += "recovery_target_time = '" + PgTime(r.target_time_ns) + "'\nrecovery_target_inclusive = on\n";
  settings += "recovery_target_action = 'promote'\nrecovery_target_timeline = 'latest'\n" + std::string(kRecoveryEnd) +
              "\n";
  CAIRN_RETURN_IF_ERROR(WriteOwnedFile(dir + "/recovery.signal", "", pw, false));
  return WriteOwnedFile(dir + "/postgresql.auto.conf", settings, pw, true);
}

Status PostgresSource::RunTargetedRecovery(const RestoreRequest& req, const std::string& pg_ctl,
                                           const std::string& dir, const std::string& log_file, const passwd* pw,
                                           const std::function<Status()>& start) {
  const size_t log_before = ReadTextFile(log_file).size();  // pg_ctl -l appends
  Status st = start();
  if (st.ok()) st = WaitForPromotion(dir, log_file);
  if (st.ok() || req.recovery.target_time_ns == 0) return st;
  const std::string log = ReadTextFile(log_file);
  if (log.size() < log_before ||
      log.find("recovery ended before configured recovery target was reached", log_before) == std::string::npos)
    return st;
  (void)StopServer(pg_ctl, dir);
  Log(req, "no archived transaction is later than " + PgTime(req.recovery.target_time_ns) +
               ", and the archive was current then: recovering to the end of the archive");
  // The same block without the target: replay to the end, then promote.
  const std::string path = dir + "/postgresql.auto.conf";
  CAIRN_RETURN_IF_ERROR(RemoveRecoverySettings(path, pw));
  const std::string settings = std::string("\n") + kRecoveryBegin +
                               "\nrestore_command = 'false'\nrecovery_target_action = 'promote'\n"
                               "recovery_target_timeline = 'latest'\n" + kRecoveryEnd + "\n";
  CAIRN_RETURN_IF_ERROR(WriteOwnedFile(path, settings, pw, true));
  st = start();
  if (st.ok()) st = WaitForPromotion(dir, log_file);
  return st;
}

}  // namespace cairn::pgsrc
