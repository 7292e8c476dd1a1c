#include "util/binlog_names.h"

#include <gtest/gtest.h>

#include <vector>

namespace cairn::binlog {
namespace {

TEST(BinlogNamesTest, FileNames) {
  FileName f;
  ASSERT_TRUE(ParseFile("mysql-bin.000042", &f));
  EXPECT_EQ(f.base, "mysql-bin");
  EXPECT_EQ(f.seq, 42u);
  EXPECT_EQ(f.Name(), "mysql-bin.000042");
  EXPECT_TRUE(ParseFile("host.name-bin.1234567", &f));
  EXPECT_EQ(f.base, "host.name-bin");
  EXPECT_FALSE(ParseFile("mysql-bin.00042", nullptr));   // too few digits
  EXPECT_FALSE(ParseFile("mysql-bin.index", nullptr));
  EXPECT_FALSE(ParseFile(".000001", nullptr));
  EXPECT_FALSE(ParseFile("../x.000001", nullptr));
  EXPECT_FALSE(ParseFile("a/b.000001", nullptr));
  EXPECT_FALSE(ParseFile("000000010000000000000002", nullptr));  // a WAL segment
}

TEST(BinlogNamesTest, PiecesRoundTripAndRejectOthers) {
  const std::string name = PieceName("mysql-bin.000042", 0x4f3, 0x1000);
  EXPECT_EQ(name, "mysql-bin.000042.00000000000004f3-0000000000001000");
  Piece p;
  ASSERT_TRUE(ParsePiece(name, &p));
  EXPECT_EQ(p.file.Name(), "mysql-bin.000042");
  EXPECT_EQ(p.start, 0x4f3u);
  EXPECT_EQ(p.end, 0x1000u);
  EXPECT_FALSE(ParsePiece("mysql-bin.000042", nullptr));
  EXPECT_FALSE(ParsePiece(PieceName("mysql-bin.000042", 16, 16), nullptr));  // empty
  EXPECT_FALSE(ParsePiece(PieceName("mysql-bin.000042", 16, 8), nullptr));   // backwards
  EXPECT_FALSE(ParsePiece("x/y.000001.0000000000000000-0000000000000010", nullptr));
  EXPECT_FALSE(ParsePiece("mysql-bin.000042.00000000000004F3-0000000000001000", nullptr));  // one spelling
  EXPECT_FALSE(ParsePiece("000000010000000000000002.partial", nullptr));
}

TEST(BinlogNamesTest, OrderIsNumericWithinABase) {
  FileName a, b;
  ASSERT_TRUE(ParseFile("b.999999", &a));
  ASSERT_TRUE(ParseFile("b.1000000", &b));
  EXPECT_TRUE(Before(a, b));
  EXPECT_FALSE(Before(b, a));
}

std::vector<uint8_t> Event(uint32_t len) {
  std::vector<uint8_t> e(len, 0xab);
  e[9] = len & 0xff, e[10] = (len >> 8) & 0xff, e[11] = (len >> 16) & 0xff, e[12] = len >> 24;
  return e;
}

TEST(BinlogNamesTest, WholeEventsStopsBeforeAPartialEvent) {
  std::vector<uint8_t> file = {0xfe, 'b', 'i', 'n'};
  for (uint32_t len : {100u, 19u, 300u}) {
    auto e = Event(len);
    file.insert(file.end(), e.begin(), e.end());
  }
  EXPECT_EQ(WholeEvents(file.data(), file.size(), 0), file.size());
  EXPECT_EQ(WholeEvents(file.data(), file.size() - 1, 0), 4u + 100 + 19);  // the last event cut
  EXPECT_EQ(WholeEvents(file.data(), 3, 0), 0u);                            // not even the magic
  EXPECT_EQ(WholeEvents(file.data(), 4 + 10, 0), 4u);                       // a cut header
  // From a boundary inside the file: no magic expected.
  EXPECT_EQ(WholeEvents(file.data() + 104, file.size() - 104, 104), file.size() - 104);
  // A length below the header size is not an event: nothing past it.
  auto bad = Event(19);
  bad[9] = 5;
  EXPECT_EQ(WholeEvents(bad.data(), bad.size(), 7), 0u);
}

}  // namespace
}  // namespace cairn::binlog

namespace cairn::binlog {
namespace {

Piece P(uint64_t start, uint64_t end) {
  Piece p;
  ParseFile("b.000001", &p.file);
  p.start = start, p.end = end;
  return p;
}

TEST(BinlogNamesTest, ChainCoversFromZeroAndStopsAtAHole) {
  Chained chain = Chain({P(100, 200), P(0, 100), P(300, 400)});
  EXPECT_EQ(chain.covered, 200u);
  EXPECT_TRUE(chain.hole);  // 300-400 lies past the hole at 200
  ASSERT_EQ(chain.links.size(), 2u);
  EXPECT_EQ(chain.links[0].start, 0u);
  EXPECT_EQ(chain.links[1].start, 100u);
  // Overlaps (a resumed streamer) are bridged by the longest reach.
  chain = Chain({P(0, 100), P(50, 150), P(0, 120), P(150, 160)});
  EXPECT_EQ(chain.covered, 160u);
  EXPECT_FALSE(chain.hole);
  ASSERT_EQ(chain.links.size(), 3u);
  EXPECT_EQ(chain.links[0].end, 120u);
  EXPECT_EQ(chain.links[1].end, 150u);
  // Nothing from zero: nothing covered, and what there is lies past a hole.
  chain = Chain({P(4, 10)});
  EXPECT_EQ(chain.covered, 0u);
  EXPECT_TRUE(chain.hole);
  EXPECT_TRUE(chain.links.empty());
}

}  // namespace
}  // namespace cairn::binlog
