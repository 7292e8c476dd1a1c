// Content-defined chunking (FastCDC with normalized chunking).
//
// A boundary depends only on the 64 bytes before it, so inserting bytes early
// in a file moves only the chunks around the insertion; every later boundary
// is found again. The gear table is derived from a per-repository seed so that
// chunk lengths do not fingerprint known content across repositories.
// Chunker is immutable after construction and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "cairn/bytes.h"
#include "cairn/status.h"

namespace cairn {

struct ChunkerParams {
  uint32_t min_size = 512 * 1024;       // no chunk is smaller, except a file's last
  uint32_t avg_size = 1024 * 1024;      // normalized target; a power of two
  uint32_t max_size = 8 * 1024 * 1024;  // a chunk is cut here at the latest

  Status Validate() const;
};

class Chunker {
 public:
  Chunker(const ChunkerParams& params, uint64_t seed);

  // Length of the chunk that starts at data[0]. `data` must hold at least
  // max_size bytes unless it is the rest of the stream. Never returns 0 for
  // non-empty data.
  size_t NextBoundary(ByteView data) const;
  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // stricter mask before avg_size: fewer tiny chunks
  uint64_t mask_large_;  // looser mask after avg_size: fewer huge chunks
  std::array<uint64_t, 256> gear_;
};

}  // namespace cairn
