#include "cairn/status.h"

#include <cerrno>
#include <cstring>

namespace cairn {

Status Status::FromErrno(int err, const std::string& what) {
  std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT: return NotFound(message);
    case EEXIST: return AlreadyExists(message);
    case ENOSPC:
    case EDQUOT: return NoSpace("disk full: " + message);
    case EINTR: return Aborted(message);
    default: return IOError(message);
  }
}

}  // namespace cairn
