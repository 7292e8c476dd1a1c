#include "cairn/format.h"

#include <gtest/gtest.h>

#include <random>

namespace cairn {
namespace {

Bytes Random(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

Id MakeId(uint8_t fill) {
  Id id;
  id.bytes.fill(fill);
  return id;
}

TEST(BlobCodecTest, CompressibleBlobsAreCompressedAndRoundTrip) {
  auto key = crypto::MasterKey::Generate().value();
  Bytes text;
  for (int i = 0; i < 20000; ++i) {
    std::string line = "line " + std::to_string(i % 100) + " of some repetitive text\n";
    text.insert(text.end(), line.begin(), line.end());
  }
  Bytes stored;
  uint32_t raw = EncodeBlob(key, MakeId(5), text, CompressionOptions{3}, &stored).value();
  EXPECT_EQ(raw, text.size());
  EXPECT_LT(stored.size(), text.size() / 4);
  Bytes back;
  ASSERT_TRUE(DecodeBlob(key, MakeId(5), stored, raw, &back).ok());
  EXPECT_EQ(back, text);
}

TEST(BlobCodecTest, IncompressibleAndDisabledCompressionStoreRaw) {
  auto key = crypto::MasterKey::Generate().value();
  Bytes noise = Random(1 << 20, 1);
  Bytes stored;
  EXPECT_EQ(EncodeBlob(key, MakeId(6), noise, CompressionOptions{3}, &stored).value(), 0u);
  EXPECT_EQ(stored.size(), noise.size() + crypto::kSealOverhead);
  Bytes back;
  ASSERT_TRUE(DecodeBlob(key, MakeId(6), stored, 0, &back).ok());
  EXPECT_EQ(back, noise);
  Bytes zeros(100000, 0), stored2;
  EXPECT_EQ(EncodeBlob(key, MakeId(7), zeros, CompressionOptions{0}, &stored2).value(), 0u);
}

TEST(BlobCodecTest, TamperedOrMislabelledBlobsFail) {
  auto key = crypto::MasterKey::Generate().value();
  Bytes zeros(100000, 0), stored, back;
  uint32_t raw = EncodeBlob(key, MakeId(8), zeros, CompressionOptions{3}, &stored).value();
  ASSERT_GT(raw, 0u);
  EXPECT_FALSE(DecodeBlob(key, MakeId(8), stored, raw + 1, &back).ok());
  EXPECT_EQ(DecodeBlob(key, MakeId(9), stored, raw, &back).code(), StatusCode::kCorruption);  // wrong id
  stored[stored.size() / 2] ^= 0x80;
  EXPECT_EQ(DecodeBlob(key, MakeId(8), stored, raw, &back).code(), StatusCode::kCorruption);
}

TEST(PackHeaderTest, RoundTripReconstructsOffsets) {
  std::vector<PackedBlob> blobs = {{BlobType::kData, MakeId(1), 0, 100, 0},
                                   {BlobType::kTree, MakeId(2), 100, 50, 400},
                                   {BlobType::kData, MakeId(3), 150, 7, 0}};
  auto decoded = DecodePackHeader(EncodePackHeader(blobs));
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*decoded)[i].id, blobs[i].id);
    EXPECT_EQ((*decoded)[i].type, blobs[i].type);
    EXPECT_EQ((*decoded)[i].offset, blobs[i].offset);
    EXPECT_EQ((*decoded)[i].stored_length, blobs[i].stored_length);
    EXPECT_EQ((*decoded)[i].raw_length, blobs[i].raw_length);
  }
}

TEST(PackHeaderTest, EveryTruncationIsRejected) {
  Bytes header = EncodePackHeader({{BlobType::kData, MakeId(1), 0, 100, 0}, {BlobType::kData, MakeId(2), 100, 5, 9}});
  for (size_t n = 0; n < header.size(); ++n)
    EXPECT_FALSE(DecodePackHeader(ByteView(header).first(n)).ok()) << n;
  header[0] = 'X';
  EXPECT_FALSE(DecodePackHeader(header).ok());
}

TEST(IndexCodecTest, RoundTripAndTruncation) {
  std::vector<PackContents> packs(2);
  packs[0].pack_id = MakeId(9);
  packs[0].blobs = {{BlobType::kData, MakeId(1), 0, 10, 20}, {BlobType::kTree, MakeId(2), 10, 30, 0}};
  packs[1].pack_id = MakeId(8);
  Bytes encoded = EncodeIndex(packs);
  auto decoded = DecodeIndex(encoded);
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->size(), 2u);
  EXPECT_EQ((*decoded)[0].pack_id, MakeId(9));
  EXPECT_EQ((*decoded)[0].blobs[1].id, MakeId(2));
  EXPECT_EQ((*decoded)[0].blobs[1].offset, 10u);
  EXPECT_EQ((*decoded)[0].blobs[0].raw_length, 20u);
  EXPECT_TRUE((*decoded)[1].blobs.empty());
  for (size_t n = 0; n < encoded.size(); ++n) EXPECT_FALSE(DecodeIndex(ByteView(encoded).first(n)).ok()) << n;
  encoded.push_back(0);
  EXPECT_FALSE(DecodeIndex(encoded).ok());
}

TEST(TreeCodecTest, EveryFieldRoundTrips) {
  Tree tree;
  Node file;
  file.name = "r\xC3\xA9sum\xC3\xA9 \n-odd";
  file.type = NodeType::kFile;
  file.mode = 0100755;
  file.uid = 12345;
  file.gid = 54321;
  file.user = "alice";
  file.group = "staff";
  file.size = 5ull << 30;  // wider than 32 bits, within what two blobs can hold
  file.mtime_ns = -1234567890123;  // before the epoch
  file.ctime_ns = 1700000000123456789;
  file.atime_ns = 42;
  file.inode = 99;
  file.device = 2049;
  file.nlink = 3;
  file.xattrs = {{"user.a", std::string("\0bin", 4)}, {"user.b", ""}};
  file.content = {MakeId(1), MakeId(2)};
  Node dir;
  dir.name = "sub";
  dir.type = NodeType::kDir;
  dir.subtree = MakeId(7);
  Node dev;
  dev.name = "tty";
  dev.type = NodeType::kCharDevice;
  dev.rdev = 0x0501;
  Node link;
  link.name = "z-link";
  link.type = NodeType::kSymlink;
  link.link_target = "../target";
  tree.nodes = {file, dir, dev, link};
  std::sort(tree.nodes.begin(), tree.nodes.end(), [](const Node& a, const Node& b) { return a.name < b.name; });

  Bytes encoded = EncodeTree(tree);
  auto decoded = DecodeTree(encoded);
  ASSERT_TRUE(decoded.ok());
  ASSERT_EQ(decoded->nodes.size(), 4u);
  const Node* f = decoded->Find(file.name);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->mode, file.mode);
  EXPECT_EQ(f->uid, file.uid);
  EXPECT_EQ(f->gid, file.gid);
  EXPECT_EQ(f->user, "alice");
  EXPECT_EQ(f->group, "staff");
  EXPECT_EQ(f->size, file.size);
  EXPECT_EQ(f->mtime_ns, file.mtime_ns);
  EXPECT_EQ(f->ctime_ns, file.ctime_ns);
  EXPECT_EQ(f->atime_ns, 42);
  EXPECT_EQ(f->inode, 99u);
  EXPECT_EQ(f->device, 2049u);
  EXPECT_EQ(f->nlink, 3u);
  EXPECT_EQ(f->xattrs, file.xattrs);
  EXPECT_EQ(f->content, file.content);
  EXPECT_FALSE(f->subtree.has_value());
  EXPECT_EQ(decoded->Find("sub")->subtree, MakeId(7));
  EXPECT_EQ(decoded->Find("tty")->rdev, 0x0501u);
  EXPECT_EQ(decoded->Find("z-link")->link_target, "../target");
  EXPECT_EQ(decoded->Find("missing"), nullptr);
  EXPECT_EQ(EncodeTree(*decoded), encoded);  // canonical: same tree, same bytes, same id
  for (size_t n = 0; n < encoded.size(); ++n) EXPECT_FALSE(DecodeTree(ByteView(encoded).first(n)).ok()) << n;
}

Node Named(std::string name, NodeType type) {
  Node n;
  n.name = std::move(name);
  n.type = type;
  if (type == NodeType::kDir) n.subtree = MakeId(9);
  if (type == NodeType::kSymlink) n.link_target = "/etc";
  return n;
}

// Encodes without the sorting a well-behaved writer does, as an attacker would.
Result<Tree> RoundTrip(std::vector<Node> nodes) { return DecodeTree(EncodeTree(Tree{std::move(nodes)})); }

TEST(TreeCodecTest, TreesThatCouldEscapeARestoreAreRejectedWhenDecoded) {
  // A directory and a symlink of one name made restore write through the link.
  auto dup = RoundTrip({Named("a", NodeType::kDir), Named("a", NodeType::kSymlink)});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kCorruption);
  EXPECT_NE(dup.status().message().find("two entries are named 'a'"), std::string::npos) << dup.status().message();
  for (const std::string& name : {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
                                  std::string("../../etc"), std::string("x\0y", 3)}) {
    auto r = RoundTrip({Named(name, NodeType::kFile)});
    EXPECT_FALSE(r.ok()) << "name '" << name << "'";
  }
  EXPECT_FALSE(RoundTrip({Named("b", NodeType::kFile), Named("a", NodeType::kFile)}).ok()) << "unsorted";
}

TEST(TreeCodecTest, NodesWhoseFieldsDisagreeWithTheirTypeAreRejected) {
  Node dir_with_content = Named("d", NodeType::kDir);
  dir_with_content.content = {MakeId(1)};
  Node file_with_subtree = Named("f", NodeType::kFile);
  file_with_subtree.subtree = MakeId(2);
  Node link_without_target = Named("l", NodeType::kSymlink);
  link_without_target.link_target.clear();
  Node file_claiming_dir_mode = Named("m", NodeType::kFile);
  file_claiming_dir_mode.mode = 040755;
  Node empty_file_with_content = Named("e", NodeType::kFile);
  empty_file_with_content.content = {MakeId(3)};
  Node oversized = Named("o", NodeType::kFile);
  oversized.size = 1ull << 40;
  oversized.content = {MakeId(4)};
  Node bad_xattr = Named("x", NodeType::kFile);
  bad_xattr.xattrs = {{"", "v"}};
  for (const Node& n : {dir_with_content, file_with_subtree, link_without_target, file_claiming_dir_mode,
                        empty_file_with_content, oversized, bad_xattr}) {
    auto r = RoundTrip({n});
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << n.name;
  }
  Node fine = Named("ok", NodeType::kFile);
  fine.mode = 0100644;
  fine.size = 10;
  fine.content = {MakeId(5)};
  EXPECT_TRUE(RoundTrip({fine, Named("p", NodeType::kDir), Named("q", NodeType::kSymlink)}).ok());
}

}  // namespace
}  // namespace cairn
