#include "cairn/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace cairn {
namespace {

Bytes RandomData(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::vector<size_t> Boundaries(const Chunker& c, const Bytes& data) {
  std::vector<size_t> cuts;
  size_t pos = 0;
  while (pos < data.size()) {
    pos += c.NextBoundary(ByteView(data).subspan(pos));
    cuts.push_back(pos);
  }
  return cuts;
}

ChunkerParams SmallParams() { return {16 * 1024, 64 * 1024, 256 * 1024}; }

TEST(ChunkerTest, ChunksRespectSizeLimitsAndCoverInput) {
  Chunker c(SmallParams(), 42);
  Bytes data = RandomData(8 << 20, 1);
  auto cuts = Boundaries(c, data);
  ASSERT_EQ(cuts.back(), data.size());
  size_t prev = 0, total = 0;
  for (size_t i = 0; i < cuts.size(); ++i) {
    size_t len = cuts[i] - prev;
    if (i + 1 < cuts.size()) EXPECT_GE(len, SmallParams().min_size);
    EXPECT_LE(len, SmallParams().max_size);
    total += len;
    prev = cuts[i];
  }
  EXPECT_EQ(total, data.size());
  double avg = static_cast<double>(data.size()) / cuts.size();
  EXPECT_GT(avg, 0.5 * SmallParams().avg_size);
  EXPECT_LT(avg, 2.0 * SmallParams().avg_size);
}

TEST(ChunkerTest, BoundariesSurviveAnInsertionEarlierInTheStream) {
  Chunker c(SmallParams(), 7);
  Bytes original = RandomData(4 << 20, 2);
  Bytes edited = original;
  Bytes inserted = RandomData(1000, 3);
  edited.insert(edited.begin() + 100000, inserted.begin(), inserted.end());
  auto a = Boundaries(c, original);
  auto b = Boundaries(c, edited);
  // Every boundary well after the insertion reappears shifted by its length.
  size_t shared = 0, later = 0;
  for (size_t cut : a) {
    if (cut < 100000 + SmallParams().max_size) continue;
    ++later;
    if (std::find(b.begin(), b.end(), cut + inserted.size()) != b.end()) ++shared;
  }
  ASSERT_GT(later, 10u);
  EXPECT_EQ(shared, later);
}

TEST(ChunkerTest, SeedChangesBoundaries) {
  Bytes data = RandomData(2 << 20, 4);
  EXPECT_NE(Boundaries(Chunker(SmallParams(), 1), data), Boundaries(Chunker(SmallParams(), 2), data));
  EXPECT_EQ(Boundaries(Chunker(SmallParams(), 1), data), Boundaries(Chunker(SmallParams(), 1), data));
}

TEST(ChunkerTest, ShortAndConstantInputs) {
  Chunker c(SmallParams(), 9);
  Bytes small(100, 7);
  EXPECT_EQ(c.NextBoundary(small), 100u);
  Bytes zeros(1 << 20, 0);
  size_t first = c.NextBoundary(zeros);
  EXPECT_GE(first, SmallParams().min_size);
  EXPECT_LE(first, SmallParams().max_size);
}

TEST(ChunkerTest, ParamsValidation) {
  EXPECT_TRUE(ChunkerParams{}.Validate().ok());
  EXPECT_FALSE((ChunkerParams{1024, 3000, 8192}).Validate().ok());
  EXPECT_FALSE((ChunkerParams{8192, 4096, 16384}).Validate().ok());
  EXPECT_FALSE((ChunkerParams{4096, 8192, 8192}).Validate().ok());
}

}  // namespace
}  // namespace cairn
