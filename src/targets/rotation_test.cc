// Rotating read-data checks: every pack is read exactly once per rotation.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "cairn/target.h"

namespace cairn {
namespace {

std::string RandomHex(std::mt19937_64& rng) {
  static const char* kDigits = "0123456789abcdef";
  std::string s(64, '0');
  for (char& c : s) c = kDigits[rng() % 16];
  return s;
}

TEST(RotationTest, EveryPackIsReadOncePerRotationAndTheShareIsEven) {
  std::mt19937_64 rng(7);
  std::vector<std::string> packs;
  for (int i = 0; i < 5000; ++i) packs.push_back(RandomHex(rng));
  for (double share : {0.1, 0.25, 0.3, 0.5}) {
    const int64_t n = RotationLength(share);
    std::map<std::string, int> reads;
    for (int64_t run = 0; run < n; ++run) {
      int read = 0;
      for (const auto& p : packs)
        if (PackInRotation(p, share, run)) ++reads[p], ++read;
      // Each run reads about `share` of the packs (within 20% of it).
      EXPECT_NEAR(read, 5000.0 / static_cast<double>(n), 0.2 * 5000.0 / static_cast<double>(n)) << share;
    }
    EXPECT_EQ(reads.size(), packs.size()) << share;
    for (const auto& [p, count] : reads) ASSERT_EQ(count, 1) << p << " share " << share;
    // The rotation goes round: run n reads what run 0 read.
    for (const auto& p : packs) ASSERT_EQ(PackInRotation(p, share, 0), PackInRotation(p, share, n));
  }
}

TEST(RotationTest, LengthsAndTheEdges) {
  EXPECT_EQ(RotationLength(0), 0);
  EXPECT_EQ(RotationLength(1), 1);
  EXPECT_EQ(RotationLength(0.1), 10);
  EXPECT_EQ(RotationLength(0.3), 4);
  EXPECT_EQ(RotationLength(0.25), 4);
  EXPECT_FALSE(PackInRotation("ab", 0, 0));  // share 0 reads nothing
  EXPECT_TRUE(PackInRotation("ab", 1, 17));  // share 1 reads everything, every run
}

}  // namespace
}  // namespace cairn
