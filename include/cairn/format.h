// Codecs of the repository format (docs/format.md): blobs, pack headers,
// index files, trees. Pure functions over bytes; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cairn/bytes.h"
#include "cairn/crypto.h"
#include "cairn/status.h"

namespace cairn {

constexpr int kFormatVersion = 1;

enum class BlobType : uint8_t { kData = 0, kTree = 1 };

// A blob as it sits in a pack.
struct PackedBlob {
  BlobType type = BlobType::kData;
  Id id;
  uint32_t offset = 0;
  uint32_t stored_length = 0;  // sealed bytes in the pack
  uint32_t raw_length = 0;     // uncompressed length; 0 = stored uncompressed
};

struct PackContents {
  Id pack_id;
  std::vector<PackedBlob> blobs;
};

// zstd level used when compressing blobs; 0 disables compression.
struct CompressionOptions {
  int level = 3;
};

// Compresses (when worthwhile) and seals `plaintext`, appending the stored
// form to `out`. The blob id is authenticated with it (GCM associated data),
// so opening under the wrong id fails: a reader need not rehash to know it
// got the blob it asked for. Returns the raw length to record (0 = stored
// uncompressed).
Result<uint32_t> EncodeBlob(const crypto::MasterKey& key, const Id& id, ByteView plaintext,
                    const CompressionOptions& options, Bytes* out);
// Opens and decompresses a stored blob sealed under `id`.
Status DecodeBlob(const crypto::MasterKey& key, const Id& id, ByteView stored, uint32_t raw_length,
                  Bytes* plaintext);

Bytes EncodePackHeader(const std::vector<PackedBlob>& blobs);
// Offsets are reconstructed from the stored lengths.
Result<std::vector<PackedBlob>> DecodePackHeader(ByteView plaintext);

Bytes EncodeIndex(const std::vector<PackContents>& packs);
Result<std::vector<PackContents>> DecodeIndex(ByteView plaintext);

enum class NodeType : uint8_t { kFile = 0, kDir, kSymlink, kCharDevice, kBlockDevice, kFifo, kSocket };

struct Node {
  std::string name;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  std::string user, group;
  uint64_t size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0, atime_ns = 0;
  uint64_t inode = 0, device = 0, nlink = 0, rdev = 0;
  std::string link_target;
  std::vector<std::pair<std::string, std::string>> xattrs;
  std::vector<Id> content;       // files
  std::optional<Id> subtree;     // directories
};

struct Tree {
  std::vector<Node> nodes;  // sorted by name
  const Node* Find(std::string_view name) const;
};

Bytes EncodeTree(const Tree& tree);
Result<Tree> DecodeTree(ByteView plaintext);

}  // namespace cairn
