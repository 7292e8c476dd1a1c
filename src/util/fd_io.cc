#include "util/fd_io.h"

#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace cairn {

Status WriteFully(int fd, ByteView data, int64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = offset >= 0 ? ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done))
                            : ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, what);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteToPipe(int fd, const char* data, size_t n, const std::atomic<bool>& abort, const std::string& stream) {
  while (n > 0) {
    if (abort) return Status::Aborted("capture aborted");
    ssize_t w = ::write(fd, data, n);
    if (w > 0) {
      data += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 200);
      continue;
    }
    if (w < 0 && errno == EPIPE) return Status::Aborted("the reader of the " + stream + " went away");
    return Status::FromErrno(errno, "cannot write the " + stream);
  }
  return Status::Ok();
}

Result<int> MemoryFile(const std::string& name, const std::string& text) {
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "cannot create a memory file");
  Status st = WriteFully(fd, ByteView(reinterpret_cast<const uint8_t*>(text.data()), text.size()), -1,
                         "cannot fill a memory file");
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

}  // namespace cairn
