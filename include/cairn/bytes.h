// Byte buffers and the few helpers every layer uses on them.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsString(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// A 256-bit identifier: blob ids (keyed MAC of plaintext) and object ids
// (SHA-256 of stored bytes) share this type.
struct Id {
  std::array<uint8_t, 32> bytes{};
  auto operator<=>(const Id&) const = default;
  bool IsZero() const {
    for (uint8_t b : bytes) if (b) return false;
    return true;
  }
  std::string Hex() const;
  std::string ShortHex() const { return Hex().substr(0, 8); }
  // Parses exactly 64 hex characters.
  static bool FromHex(std::string_view hex, Id* out);
};

struct IdHash {
  size_t operator()(const Id& id) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= sizeof(id.bytes));
    __builtin_memcpy(&h, id.bytes.data(), sizeof(h));
    return h;  // ids are uniformly distributed already
  }
};

std::string HexEncode(ByteView data);
bool HexDecode(std::string_view hex, Bytes* out);
std::string Base64Encode(ByteView data);
bool Base64Decode(std::string_view text, Bytes* out);

// Little-endian fixed-width and LEB128 varint codecs used by the binary formats.
void PutU32(Bytes* out, uint32_t v);
void PutU64(Bytes* out, uint64_t v);
void PutVarint(Bytes* out, uint64_t v);
void PutLengthPrefixed(Bytes* out, std::string_view s);

// Sequential decoder over a byte view. Every getter returns false (and leaves
// the reader failed) on truncated input instead of reading past the end.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}
  bool U8(uint8_t* v);
  bool U32(uint32_t* v);
  bool U64(uint64_t* v);
  bool Varint(uint64_t* v);
  bool Raw(size_t n, ByteView* v);
  bool IdValue(Id* id);
  bool LengthPrefixed(std::string* s);
  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

}  // namespace cairn
