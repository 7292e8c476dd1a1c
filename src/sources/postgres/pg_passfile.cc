#include "sources/postgres/pg_passfile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "util/fd_io.h"

namespace cairn::pgsrc {

std::string PassFile::Line(const std::string& password) {
  std::string line = "*:*:*:*:";
  for (char c : password) {
    if (c == ':' || c == '\\') line += '\\';
    line += c;
  }
  return line + "\n";
}

Result<std::shared_ptr<const PassFile>> PassFile::Create(const std::string& password, const std::string& parent) {
  if (password.find('\n') != std::string::npos || password.find('\r') != std::string::npos)
    return Status::InvalidArgument("a PostgreSQL password cannot hold a line break");
  std::shared_ptr<PassFile> f(new PassFile());
  CAIRN_ASSIGN_OR_RETURN(f->dir_, PrivateDir::Create(parent, "cairn-pg"));
  f->path_ = f->dir_->path() + "/pgpass";
  const int fd = ::open(f->path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno(errno, "cannot create " + f->path_);
  const std::string line = Line(password);
  Status st = WriteFully(fd, ByteView(reinterpret_cast<const uint8_t*>(line.data()), line.size()), -1, f->path_);
  // The umask could only have narrowed 0600; make it exact for libpq's check.
  if (st.ok() && ::fchmod(fd, 0600) != 0) st = Status::FromErrno(errno, "cannot set the mode of " + f->path_);
  if (::close(fd) != 0 && st.ok()) st = Status::FromErrno(errno, "cannot write " + f->path_);
  if (!st.ok()) return st;
  return std::shared_ptr<const PassFile>(std::move(f));
}

PassFile::~PassFile() = default;  // the directory goes with its content

}  // namespace cairn::pgsrc
