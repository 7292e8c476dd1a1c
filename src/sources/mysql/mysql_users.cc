// Replaying the users part of a logical MariaDB point (mysql_common.h).
#include <sys/mman.h>
#include <unistd.h>

#include <set>

#include "sources/mysql/mysql_common.h"

namespace cairn::mysql {
namespace {

Result<std::string> ReadPart(PartReader* reader, const std::string& part, const std::string& file) {
  int fd = ::memfd_create("cairn-users", MFD_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot create a memory file");
  Status st = reader->ReadStream(part, file, fd);
  std::string text;
  if (st.ok()) {
    ::lseek(fd, 0, SEEK_SET);
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (!st.ok()) return st.WithContext("cannot read part " + part);
  return text;
}

}  // namespace

std::string UsersReport::Summary() const {
  std::string out = "users: " + std::to_string(created.size()) + " created";
  if (!created.empty()) out += " (" + Join(created, ", ") + ")";
  out += ", " + std::to_string(kept.size()) + " existing left as they are";
  if (!kept.empty()) out += " (" + Join(kept, ", ") + ")";
  out += failed.empty() ? ", every statement applied" : ", " + std::to_string(failed.size()) + " statement(s) NOT applied";
  return out;
}

Result<UsersReport> ReplayUsers(const Client& c, PartReader* reader, const std::string& part,
                                const std::string& file) {
  CAIRN_ASSIGN_OR_RETURN(std::string script, ReadPart(reader, part, file));
  CAIRN_ASSIGN_OR_RETURN(std::string listing,
                         c.RunSql("SELECT CONCAT(User, '@', Host) FROM mysql.user;\n", "",
                                  "cannot list the server's accounts (restore_users needs SELECT on mysql.user)"));
  std::set<std::string> existing;
  for (const std::string& a : SplitLines(listing))
    if (!a.empty()) existing.insert(a);
  UsersReport report;
  std::set<std::string> kept;
  for (const std::string& line : SplitLines(script)) {
    UsersStatement st = ParseUsersLine(line);
    if (st.kind != UsersStatement::Kind::kAccount) continue;
    if (existing.count(st.account)) {
      if (kept.insert(st.account).second) report.kept.push_back(st.account);
      continue;
    }
    // One statement at a time, so the report can say which ones failed.
    auto ran = c.RunSql("SET NAMES utf8mb4;\nSET SESSION sql_mode='';\n" + st.sql + "\n", "", "users");
    if (!ran.ok()) {
      report.failed.push_back(st.sql.substr(0, 200) + ": " + ran.status().message());
      continue;
    }
    ++report.applied;
    if (st.creates) report.created.push_back(st.account);
  }
  return report;
}

}  // namespace cairn::mysql
