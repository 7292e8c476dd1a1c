// PostgreSQL WAL file names (docs/pitr.md): 8 hex digits of timeline, then
// the segment as 8 + 8 hex digits (log, segment within it). Cairn assumes
// the default 16 MiB segments: 0x100 segments per log.
#pragma once

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <string>

namespace cairn::pgwal {

// The size of a WAL segment (PostgreSQL's default, the only one Cairn supports).
inline constexpr uint64_t kSegmentBytes = 16ull << 20;

struct Segment {
  uint32_t tli = 0;
  uint64_t segno = 0;  // log * 0x100 + segment
};

// The first 24 characters of `name` as a segment ("...partial" parses too).
inline bool ParseSegment(const std::string& name, Segment* s) {
  if (name.size() < 24) return false;
  for (size_t i = 0; i < 24; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(name[i]))) return false;
  s->tli = static_cast<uint32_t>(std::stoul(name.substr(0, 8), nullptr, 16));
  s->segno = std::stoull(name.substr(8, 8), nullptr, 16) * 0x100 + std::stoull(name.substr(16, 8), nullptr, 16);
  return true;
}

inline std::string SegmentName(uint32_t tli, uint64_t segno) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%08X%08X%08X", tli, static_cast<unsigned>(segno / 0x100),
                static_cast<unsigned>(segno % 0x100));
  return buf;
}

}  // namespace cairn::pgwal
