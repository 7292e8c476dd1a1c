// Whole-buffer writes to file descriptors.
#pragma once

#include <cstdint>
#include <string>

#include "cairn/bytes.h"
#include "cairn/status.h"

namespace cairn {

// Writes all of `data`, continuing after short writes and EINTR: at `offset`
// (pwrite) when it is >= 0, else at the current position. On failure the
// message is `what` followed by the system's reason.
Status WriteFully(int fd, ByteView data, int64_t offset, const std::string& what);

}  // namespace cairn
