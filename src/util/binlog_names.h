// Names of MariaDB binary log files and of the pieces Cairn archives them in
// (docs/pitr.md, docs/format.md). One place, used by the WAL store (which
// names it accepts), the streamer, the status and retention, and the replay.
//
// A binary log file is "<base>.<sequence>", e.g. "mysql-bin.000042": the
// server's log_bin_basename and a decimal counter of at least six digits.
// It grows to max_binlog_size (1 GiB by default), far too big to upload
// again every few seconds while it grows, so it is archived as immutable
// pieces, each holding bytes [start, end) of the file:
//
//   "<file>.<start, 16 hex>-<end, 16 hex>"   e.g. mysql-bin.000042.0000000000000000-00000000000004f3
//
// Pieces of one file are contiguous from 0; every piece ends on an event
// boundary, so any prefix of pieces is a readable binary log.
#pragma once

#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <string>
#include <vector>

namespace cairn::binlog {

struct FileName {
  std::string base;   // "mysql-bin"
  uint64_t seq = 0;   // 42
  std::string digits; // "000042" as written
  std::string Name() const { return base + "." + digits; }
};

inline bool IsBaseChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

// "mysql-bin.000042": a base of [A-Za-z0-9_.-] (not starting with '.') and
// a sequence of 6 to 10 digits.
inline bool ParseFile(const std::string& name, FileName* out) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0 || name.size() - dot - 1 < 6 || name.size() - dot - 1 > 10 ||
      name[0] == '.' || name.size() > 128)
    return false;
  for (size_t i = 0; i < dot; ++i)
    if (!IsBaseChar(name[i])) return false;
  uint64_t seq = 0;
  for (size_t i = dot + 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    seq = seq * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  if (out) *out = FileName{name.substr(0, dot), seq, name.substr(dot + 1)};
  return true;
}

struct Piece {
  FileName file;
  uint64_t start = 0, end = 0;
};

inline std::string PieceName(const std::string& file, uint64_t start, uint64_t end) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), ".%016llx-%016llx", static_cast<unsigned long long>(start),
                static_cast<unsigned long long>(end));
  return file + buf;
}

inline bool ParseHex16(const std::string& s, size_t at, uint64_t* out) {
  uint64_t v = 0;
  for (size_t i = at; i < at + 16; ++i) {
    const char c = s[i];
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

// A piece's name; false for anything else (a WAL segment name included).
inline bool ParsePiece(const std::string& name, Piece* out) {
  constexpr size_t kTail = 1 + 16 + 1 + 16;  // ".<start>-<end>"
  if (name.size() <= kTail) return false;
  const size_t at = name.size() - kTail;
  if (name[at] != '.' || name[at + 17] != '-') return false;
  Piece p;
  if (!ParseHex16(name, at + 1, &p.start) || !ParseHex16(name, at + 18, &p.end) || p.end <= p.start) return false;
  if (!ParseFile(name.substr(0, at), &p.file)) return false;
  if (out) *out = p;
  return true;
}

// Of `size` bytes of a binary log file read from file offset `offset` (0,
// or where an earlier piece ended: an event boundary), how many form whole
// events: the 4-byte magic at offset 0, then events whose v4 header keeps
// the event's full length at byte 9. A growing file read mid-write ends in
// a partial event, which the next piece carries whole.
inline size_t WholeEvents(const uint8_t* data, size_t size, uint64_t offset) {
  size_t at = 0;
  if (offset == 0) {
    if (size < 4) return 0;
    at = 4;
  }
  while (size - at >= 19) {
    const uint32_t len = static_cast<uint32_t>(data[at + 9]) | static_cast<uint32_t>(data[at + 10]) << 8 |
                         static_cast<uint32_t>(data[at + 11]) << 16 | static_cast<uint32_t>(data[at + 12]) << 24;
    if (len < 19 || len > size - at) break;
    at += len;
  }
  return at;
}

// Binary log order: by base, then sequence.
inline bool Before(const FileName& a, const FileName& b) {
  return a.base != b.base ? a.base < b.base : a.seq < b.seq;
}

// Of the pieces of one file, a chain that covers [0, covered) without a
// hole, in order; each link contributes its bytes from the previous link's
// end (pieces may overlap after a streamer resumed: the bytes are the same).
// Pieces that begin past a hole are left out of the chain (what follows a
// hole cannot be replayed); `hole` says whether there are any.
struct Chained {
  std::vector<Piece> links;
  uint64_t covered = 0;
  bool hole = false;
};

inline Chained Chain(std::vector<Piece> pieces) {
  std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) { return a.start < b.start; });
  Chained out;
  size_t i = 0;
  for (;;) {
    const Piece* best = nullptr;
    for (; i < pieces.size() && pieces[i].start <= out.covered; ++i)
      if (pieces[i].end > out.covered && (!best || pieces[i].end > best->end)) best = &pieces[i];
    if (!best) break;
    out.links.push_back(*best);
    out.covered = best->end;
  }
  for (const Piece& p : pieces) out.hole = out.hole || p.end > out.covered;
  return out;
}

}  // namespace cairn::binlog
