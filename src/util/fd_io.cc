#include "util/fd_io.h"

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

}  // namespace cairn
