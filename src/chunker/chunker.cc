#include "cairn/chunker.h"

#include <bit>
#include <string>

namespace cairn {

Status ChunkerParams::Validate() const {
  if (!std::has_single_bit(avg_size) || avg_size < 4096)
    return Status::InvalidArgument("chunker average size must be a power of two >= 4096");
  if (!(min_size > 0 && min_size < avg_size && avg_size < max_size))
    return Status::InvalidArgument("chunker sizes must satisfy 0 < min < avg < max");
  if (max_size > 64u * 1024 * 1024) return Status::InvalidArgument("chunker max size must be at most 64 MiB");
  return Status::Ok();
}

namespace {
uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// The gear hash shifts left once per byte, so its top bits depend on the last
// 64 bytes; masking top bits gives the full 64-byte window.
uint64_t TopBitsMask(int bits) { return bits <= 0 ? 0 : ~uint64_t{0} << (64 - bits); }
}  // namespace

Chunker::Chunker(const ChunkerParams& params, uint64_t seed) : params_(params) {
  const int avg_bits = std::countr_zero(params.avg_size);
  mask_small_ = TopBitsMask(avg_bits + 2);
  mask_large_ = TopBitsMask(avg_bits - 2);
  uint64_t state = seed;
  for (auto& g : gear_) g = SplitMix64(&state);
}

size_t Chunker::NextBoundary(ByteView data) const {
  size_t n = data.size();
  if (n <= params_.min_size) return n;
  if (n > params_.max_size) n = params_.max_size;
  const size_t normal = n < params_.avg_size ? n : params_.avg_size;
  const uint8_t* p = data.data();
  uint64_t hash = 0;
  size_t i = params_.min_size;
  for (; i < normal; ++i) {
    hash = (hash << 1) + gear_[p[i]];
    if (!(hash & mask_small_)) return i + 1;
  }
  for (; i < n; ++i) {
    hash = (hash << 1) + gear_[p[i]];
    if (!(hash & mask_large_)) return i + 1;
  }
  return n;
}

}  // namespace cairn
