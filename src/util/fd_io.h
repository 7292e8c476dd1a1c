// Whole-buffer writes to file descriptors.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "cairn/bytes.h"
#include "cairn/status.h"

namespace cairn {

// Writes all of `data`, continuing after short writes and EINTR: at `offset`
// (pwrite) when it is >= 0, else at the current position. On failure the
// message is `what` followed by the system's reason.
Status WriteFully(int fd, ByteView data, int64_t offset, const std::string& what);

// Writes all of `data` to a non-blocking pipe a capture feeds, waiting
// while it is full and giving up when `abort` is set (Aborted) or the
// reader went away (EPIPE: Aborted naming `stream`). The caller blocks
// SIGPIPE or ignores it (util/process.h, SigpipeGuard).
Status WriteToPipe(int fd, const char* data, size_t n, const std::atomic<bool>& abort, const std::string& stream);

// A readable in-memory file (memfd, close-on-exec) holding `text`, positioned
// at its start: a child's stdin that no write can block on or be killed by
// (SIGPIPE), and that no other user can read. The caller owns the fd.
Result<int> MemoryFile(const std::string& name, const std::string& text);

}  // namespace cairn
