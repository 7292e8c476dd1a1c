// A fast 64-bit hash for fingerprints: FNV-1a over length-prefixed fields,
// finished with murmur3's fmix64. Sources sum per-row (per-key) digests into
// order-independent checksums. Not cryptographic: it detects restore
// mistakes, not tampering (the repository's MACs do that).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace cairn {

class FieldHasher {
 public:
  void Bytes(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ULL;
  }
  void Field(char tag, const void* data, size_t n) {
    Bytes(&tag, 1);
    uint64_t len = n;
    Bytes(&len, sizeof len);
    Bytes(data, n);
  }
  void Field(char tag, const std::string& s) { Field(tag, s.data(), s.size()); }
  uint64_t Digest() const {
    uint64_t k = h_;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

inline std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace cairn
