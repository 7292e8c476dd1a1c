// Continuous archiving and point-in-time recovery for MariaDB (docs/pitr.md):
// the binary log streamer's command, the position a physical backup
// continues from, and the replay of archived binary logs into a restored
// server up to a moment.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "sources/mysql/mysql_common.h"
#include "util/binlog_names.h"

namespace cairn::mysql {
namespace {

namespace fs = std::filesystem;

// The server id the streamer registers with, as a replica must: stable per
// service (a restarted streamer replaces its own old connection) and far
// from the small ids operators give real servers.
uint32_t StreamerServerId(const std::string& service) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : service) h = (h ^ c) * 16777619u;
  return 0x40000000u + h % 0x3fffffffu;
}

// mariadb-binlog --stop-datetime stops before the first event at or after
// it, and events carry whole seconds: the second after T's keeps every
// transaction committed up to T (inclusive, like recovery_target_time).
// TZ=UTC is set for the tool, which reads the time as local time.
std::string StopDatetime(int64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000) + 1;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace

bool ParseSnapshotBinlogPosition(const std::vector<std::string>& rows, std::string* file, uint64_t* pos) {
  std::string name, position;
  for (const std::string& row : rows) {
    const size_t tab = row.find('\t');
    if (tab == std::string::npos) continue;
    std::string key = row.substr(0, tab);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key == "binlog_snapshot_file") name = row.substr(tab + 1);
    if (key == "binlog_snapshot_position") position = row.substr(tab + 1);
  }
  if (name.empty() || position.empty() || !binlog::ParseFile(name, nullptr)) return false;
  uint64_t v = 0;
  for (char c : position) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *file = name;
  *pos = v;
  return true;
}

bool ParseBackupBinlogPosition(const std::string& text, std::string* file, uint64_t* pos) {
  const std::string key = "MySQL binlog position: filename '";
  const size_t at = text.rfind(key);
  if (at == std::string::npos) return false;
  const size_t name_end = text.find('\'', at + key.size());
  if (name_end == std::string::npos) return false;
  const std::string name = text.substr(at + key.size(), name_end - at - key.size());
  const std::string pkey = "position '";
  const size_t p = text.find(pkey, name_end);
  if (p == std::string::npos || p > name_end + 8) return false;
  uint64_t v = 0;
  size_t i = p + pkey.size();
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) v = v * 10 + static_cast<uint64_t>(text[i] - '0');
  if (i == p + pkey.size() || i >= text.size() || text[i] != '\'' || !binlog::ParseFile(name, nullptr)) return false;
  *file = name;
  *pos = v;
  return true;
}

Result<std::vector<ToolCommand>> BinlogStreamCommands(const Client& c, const std::string& service,
                                                      const std::string& dir, const std::string& resume) {
  CAIRN_ASSIGN_OR_RETURN(std::string on, c.RunSql("SELECT @@log_bin;\n", "", "cannot ask whether binary logging is on"));
  if (Trimmed(on) != "1")
    return Status::InvalidArgument("binary logging is off on " + c.Where() +
                                   ": start the server with log_bin (and binlog_format=ROW) to archive its binary "
                                   "logs (docs/pitr.md)");
  CAIRN_ASSIGN_OR_RETURN(std::string listing,
                         c.RunSql("SHOW BINARY LOGS;\n", "",
                                  "cannot list the binary logs (the account needs the BINLOG MONITOR or "
                                  "REPLICATION CLIENT privilege, and REPLICATION SLAVE to stream them)"));
  std::vector<std::string> names;
  for (const auto& row : ParseBatch(listing))
    if (!row.empty() && binlog::ParseFile(row[0], nullptr)) names.push_back(row[0]);
  if (names.empty()) return Status::IOError("the server at " + c.Where() + " lists no binary log");
  // Resume in the file the archive ends in (its bytes are downloaded again
  // and only what the archive lacks is uploaded); without one, or when the
  // server purged it, from the oldest file the server still has: the
  // archive then shows the gap.
  std::string start = names.front();
  for (const std::string& n : names)
    if (n == resume) start = n;
  CAIRN_ASSIGN_OR_RETURN(std::string tool, c.Tool({"mariadb-binlog", "mysqlbinlog"}, "mariadb-client"));
  return std::vector<ToolCommand>{
      {c.Argv(tool, {"--read-from-remote-server", "--raw", "--stop-never",
                     "--stop-never-slave-server-id=" + std::to_string(StreamerServerId(service)),
                     "--result-file=" + dir + "/", start}),
       {}}};
}

Status ReplayBinlogs(const RestoreRequest& req, const Client& instance, const std::string& data_dir,
                     const std::string& work_dir) {
  const RestoreRequest::Recovery& r = req.recovery;
  // Where the copy continues: mariadb-backup's xtrabackup_binlog_info
  // ("<file>\t<position>\t<gtid>"), else what the capture recorded.
  std::string file;
  uint64_t pos = 0;
  {
    std::ifstream in(data_dir + "/xtrabackup_binlog_info");
    std::string f;
    if (in >> f >> pos) file = f;
  }
  if (file.empty()) {
    const Json src = req.manifest.value("source", Json::object());
    file = src.value("binlog_file", "");
    pos = src.value("binlog_pos", uint64_t{0});
  }
  binlog::FileName start;
  if (!binlog::ParseFile(file, &start))
    return Status::InvalidArgument("the base backup records no binary log position (was binary logging on when it "
                                   "was taken?): it cannot be the base of a point-in-time recovery");
  std::map<uint64_t, std::vector<binlog::Piece>> by_seq;
  for (const std::string& n : r.wal_names) {
    binlog::Piece p;
    if (binlog::ParsePiece(n, &p) && p.file.base == start.base && p.file.seq >= start.seq)
      by_seq[p.file.seq].push_back(p);
  }
  if (by_seq.empty() || by_seq.begin()->first != start.seq)
    return Status::NotFound("binary log " + file + ", where the base backup continues, is not in the archive");
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  if (ec) return Status::IOError("cannot create " + work_dir + ": " + ec.message());
  ::chmod(work_dir.c_str(), 0700);
  std::vector<std::string> files;
  uint64_t expect = start.seq;
  for (const auto& [seq, pieces] : by_seq) {
    const std::string name = pieces.front().file.Name();
    if (seq != expect)
      return Status::NotFound("the archive lacks binary log(s) between " + file + " and " + name +
                              ": cannot replay past the gap");
    ++expect;
    const binlog::Chained chain = binlog::Chain(pieces);
    if (seq == start.seq && chain.covered < pos)
      return Status::NotFound("the archive holds binary log " + name + " only up to byte " +
                              std::to_string(chain.covered) +
                              ", short of the base backup's position " + std::to_string(pos));
    const std::string path = work_dir + "/" + name, piece_path = path + ".piece";
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    uint64_t at = 0;
    for (const binlog::Piece& p : chain.links) {
      const std::string piece = binlog::PieceName(name, p.start, p.end);
      CAIRN_RETURN_IF_ERROR(r.fetch_wal(piece, piece_path).WithContext("fetching archived binary log " + piece));
      std::ifstream in(piece_path, std::ios::binary);
      in.seekg(static_cast<std::streamoff>(at - p.start));
      out << in.rdbuf();
      at = p.end;
    }
    ::unlink(piece_path.c_str());
    out.close();
    if (!out) return Status::IOError("cannot write " + path);
    files.push_back(path);
    if (chain.hole) break;  // a hole inside this file: replay what comes before it (the window said so)
  }
  if (req.log)
    req.log("fetched " + std::to_string(files.size()) + " archived binary log(s); replaying from " + file + ":" +
               std::to_string(pos) + (r.target_time_ns ? " up to " + StopDatetime(r.target_time_ns) + " UTC (exclusive)"
                                                       : std::string(" to the end")));
  CAIRN_ASSIGN_OR_RETURN(std::string binlog_tool, instance.Tool({"mariadb-binlog", "mysqlbinlog"}, "mariadb-client"));
  CAIRN_ASSIGN_OR_RETURN(std::string client_tool, instance.Tool({"mariadb", "mysql"}, "mariadb-client"));
  ProcessOptions reader;
  reader.argv = {binlog_tool, "--no-defaults", "--start-position=" + std::to_string(pos)};
  if (r.target_time_ns) reader.argv.push_back("--stop-datetime=" + StopDatetime(r.target_time_ns));
  reader.argv.insert(reader.argv.end(), files.begin(), files.end());
  reader.env = {"TZ=UTC"};
  reader.stdout_mode = ProcessOptions::Output::kPipe;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Process> decode, Process::Start(std::move(reader)));
  ProcessOptions writer;
  writer.argv = instance.Argv(client_tool, {"--binary-mode", "--max-allowed-packet=1G"});
  const int pipe_fd = decode->ReleaseStdout();
  writer.stdin_fd = pipe_fd;
  auto apply = Process::Start(std::move(writer));
  ::close(pipe_fd);
  if (!apply.ok()) return apply.status();
  Status applied = (*apply)->Wait();
  Status decoded = decode->Wait();
  if (!decoded.ok()) return Status::IOError("mariadb-binlog could not read the archived binary logs: " + decoded.message());
  if (!applied.ok())
    return instance.Classify((*apply)->captured_stderr(), "replaying the archived binary logs into the restored server failed");
  return Status::Ok();
}

}  // namespace cairn::mysql
