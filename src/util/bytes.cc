#include "cairn/bytes.h"

#include <openssl/evp.h>

#include <cstring>

namespace cairn {

namespace {
constexpr char kHexDigits[] = "0123456789abcdef";
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string HexEncode(ByteView data) {
  std::string out(data.size() * 2, '0');
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kHexDigits[data[i] >> 4];
    out[2 * i + 1] = kHexDigits[data[i] & 15];
  }
  return out;
}

bool HexDecode(std::string_view hex, Bytes* out) {
  if (hex.size() % 2) return false;
  out->resize(hex.size() / 2);
  for (size_t i = 0; i < out->size(); ++i) {
    int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::string Id::Hex() const { return HexEncode(bytes); }

bool Id::FromHex(std::string_view hex, Id* out) {
  Bytes raw;
  if (hex.size() != 64 || !HexDecode(hex, &raw)) return false;
  std::memcpy(out->bytes.data(), raw.data(), 32);
  return true;
}

std::string Base64Encode(ByteView data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                          static_cast<int>(data.size()));
  out.resize(n);
  return out;
}

bool Base64Decode(std::string_view text, Bytes* out) {
  if (text.size() % 4) return false;
  out->resize(3 * text.size() / 4 + 1);
  int n = EVP_DecodeBlock(out->data(), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out->resize(n - padding);
  return true;
}

void PutU32(Bytes* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64(Bytes* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutVarint(Bytes* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}
void PutLengthPrefixed(Bytes* out, std::string_view s) {
  PutVarint(out, s.size());
  out->insert(out->end(), s.begin(), s.end());
}

bool ByteReader::U8(uint8_t* v) {
  if (remaining() < 1) return false;
  *v = data_[pos_++];
  return true;
}
bool ByteReader::U32(uint32_t* v) {
  if (remaining() < 4) return false;
  *v = 0;
  for (int i = 0; i < 4; ++i) *v |= static_cast<uint32_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 4;
  return true;
}
bool ByteReader::U64(uint64_t* v) {
  if (remaining() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i) *v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 8;
  return true;
}
bool ByteReader::Varint(uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b;
    if (!U8(&b)) return false;
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}
bool ByteReader::Raw(size_t n, ByteView* v) {
  if (remaining() < n) return false;
  *v = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}
bool ByteReader::IdValue(Id* id) {
  ByteView raw;
  if (!Raw(32, &raw)) return false;
  std::memcpy(id->bytes.data(), raw.data(), 32);
  return true;
}
bool ByteReader::LengthPrefixed(std::string* s) {
  uint64_t n;
  ByteView raw;
  if (!Varint(&n) || !Raw(n, &raw)) return false;
  s->assign(reinterpret_cast<const char*>(raw.data()), raw.size());
  return true;
}

}  // namespace cairn
