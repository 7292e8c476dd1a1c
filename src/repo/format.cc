#include "cairn/format.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace cairn {
namespace {

constexpr char kPackMagic[] = "CPK1";
constexpr char kIndexMagic[] = "CIX1";
constexpr char kTreeMagic[] = "CTR1";

void PutMagic(Bytes* out, const char* magic) { out->insert(out->end(), magic, magic + 4); }
bool ReadMagic(ByteReader* r, const char* magic) {
  ByteView m;
  return r->Raw(4, &m) && std::memcmp(m.data(), magic, 4) == 0;
}

struct ZstdDeleter {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// Buffers are reused per thread: first-touch of fresh memory is slow on VMs
// and this runs once per chunk.
struct ThreadScratch {
  std::unique_ptr<ZSTD_CCtx, ZstdDeleter> cctx{ZSTD_createCCtx()};
  std::unique_ptr<ZSTD_DCtx, ZstdDeleter> dctx{ZSTD_createDCtx()};
  Bytes sample;     // compressibility probe
  Bytes decrypted;  // compressed plaintext on the way out of a decode
};
ThreadScratch& Scratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

void PutBlobEntry(Bytes* out, const PackedBlob& b) {
  out->push_back(static_cast<uint8_t>(b.type));
  out->insert(out->end(), b.id.bytes.begin(), b.id.bytes.end());
}

bool ReadBlobType(ByteReader* r, BlobType* type) {
  uint8_t t;
  if (!r->U8(&t) || t > 1) return false;
  *type = static_cast<BlobType>(t);
  return true;
}

// Compresses three small slices at the fastest level: data that does not
// shrink there (media, archives, encrypted files) is not worth a full pass.
bool LooksCompressible(ThreadScratch& s, ByteView data) {
  constexpr size_t kSlice = 4096;
  if (data.size() < 16 * kSlice) return true;
  Bytes input;
  input.reserve(3 * kSlice);
  for (size_t at : {size_t{0}, data.size() / 2, data.size() - kSlice})
    input.insert(input.end(), data.begin() + at, data.begin() + at + kSlice);
  s.sample.resize(ZSTD_compressBound(input.size()));
  size_t n = ZSTD_compressCCtx(s.cctx.get(), s.sample.data(), s.sample.size(), input.data(), input.size(), 1);
  return !ZSTD_isError(n) && n < input.size() - input.size() / 16;
}

}  // namespace

Result<uint32_t> EncodeBlob(const crypto::MasterKey& key, const Id& id, ByteView plaintext,
                    const CompressionOptions& options, Bytes* out) {
  if (options.level != 0 && plaintext.size() >= 64 && LooksCompressible(Scratch(), plaintext)) {
    // Compress straight into the output frame, then encrypt it in place.
    const size_t start = out->size(), bound = ZSTD_compressBound(plaintext.size());
    out->resize(start + crypto::kNonceSize + bound + crypto::kTagSize);
    uint8_t* frame = out->data() + start;
    size_t n = ZSTD_compressCCtx(Scratch().cctx.get(), frame + crypto::kNonceSize, bound, plaintext.data(),
                                 plaintext.size(), options.level);
    // Keep compression only when it saves at least 1/32: decompressing costs
    // time on every restore.
    if (!ZSTD_isError(n) && n < plaintext.size() - plaintext.size() / 32) {
      out->resize(start + crypto::kNonceSize + n + crypto::kTagSize);
      Status st = crypto::SealInPlace(key, out->data() + start, n, id.bytes);
      if (!st.ok()) {
        out->resize(start);
        return st;
      }
      return static_cast<uint32_t>(plaintext.size());
    }
    out->resize(start);
  }
  CAIRN_RETURN_IF_ERROR(crypto::Seal(key, plaintext, out, id.bytes));
  return uint32_t{0};
}

Status DecodeBlob(const crypto::MasterKey& key, const Id& id, ByteView stored, uint32_t raw_length,
                  Bytes* plaintext) {
  if (raw_length == 0) return crypto::Open(key, stored, plaintext, id.bytes);
  ThreadScratch& s = Scratch();
  CAIRN_RETURN_IF_ERROR(crypto::Open(key, stored, &s.decrypted, id.bytes));
  plaintext->resize(raw_length);
  size_t n = ZSTD_decompressDCtx(s.dctx.get(), plaintext->data(), raw_length, s.decrypted.data(), s.decrypted.size());
  if (ZSTD_isError(n) || n != raw_length) return Status::Corruption("compressed blob does not decompress");
  return Status::Ok();
}

Bytes EncodePackHeader(const std::vector<PackedBlob>& blobs) {
  Bytes out;
  PutMagic(&out, kPackMagic);
  PutU32(&out, static_cast<uint32_t>(blobs.size()));
  for (const auto& b : blobs) {
    PutBlobEntry(&out, b);
    PutU32(&out, b.stored_length);
    PutU32(&out, b.raw_length);
  }
  return out;
}

Result<std::vector<PackedBlob>> DecodePackHeader(ByteView plaintext) {
  ByteReader r(plaintext);
  uint32_t count;
  if (!ReadMagic(&r, kPackMagic) || !r.U32(&count) || count > r.remaining() / 41)
    return Status::Corruption("pack header is malformed");
  std::vector<PackedBlob> blobs(count);
  uint64_t offset = 0;
  for (auto& b : blobs) {
    if (!ReadBlobType(&r, &b.type) || !r.IdValue(&b.id) || !r.U32(&b.stored_length) || !r.U32(&b.raw_length))
      return Status::Corruption("pack header is truncated");
    b.offset = static_cast<uint32_t>(offset);
    offset += b.stored_length;
  }
  if (!r.done() || offset > UINT32_MAX) return Status::Corruption("pack header is malformed");
  return blobs;
}

Bytes EncodeIndex(const std::vector<PackContents>& packs) {
  Bytes out;
  PutMagic(&out, kIndexMagic);
  PutU32(&out, static_cast<uint32_t>(packs.size()));
  for (const auto& p : packs) {
    out.insert(out.end(), p.pack_id.bytes.begin(), p.pack_id.bytes.end());
    PutU32(&out, static_cast<uint32_t>(p.blobs.size()));
    for (const auto& b : p.blobs) {
      PutBlobEntry(&out, b);
      PutU32(&out, b.offset);
      PutU32(&out, b.stored_length);
      PutU32(&out, b.raw_length);
    }
  }
  return out;
}

Result<std::vector<PackContents>> DecodeIndex(ByteView plaintext) {
  ByteReader r(plaintext);
  uint32_t count;
  if (!ReadMagic(&r, kIndexMagic) || !r.U32(&count) || count > r.remaining() / 36)
    return Status::Corruption("index is malformed");
  std::vector<PackContents> packs(count);
  for (auto& p : packs) {
    uint32_t blobs;
    if (!r.IdValue(&p.pack_id) || !r.U32(&blobs) || blobs > r.remaining() / 45)
      return Status::Corruption("index is truncated");
    p.blobs.resize(blobs);
    for (auto& b : p.blobs) {
      if (!ReadBlobType(&r, &b.type) || !r.IdValue(&b.id) || !r.U32(&b.offset) || !r.U32(&b.stored_length) ||
          !r.U32(&b.raw_length))
        return Status::Corruption("index is truncated");
    }
  }
  if (!r.done()) return Status::Corruption("index has trailing bytes");
  return packs;
}

const Node* Tree::Find(std::string_view name) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                             [](const Node& n, std::string_view v) { return n.name < v; });
  return it != nodes.end() && it->name == name ? &*it : nullptr;
}

Bytes EncodeTree(const Tree& tree) {
  Bytes out;
  PutMagic(&out, kTreeMagic);
  PutVarint(&out, tree.nodes.size());
  for (const Node& n : tree.nodes) {
    PutLengthPrefixed(&out, n.name);
    out.push_back(static_cast<uint8_t>(n.type));
    PutVarint(&out, n.mode);
    PutVarint(&out, n.uid);
    PutVarint(&out, n.gid);
    PutLengthPrefixed(&out, n.user);
    PutLengthPrefixed(&out, n.group);
    PutVarint(&out, n.size);
    PutU64(&out, static_cast<uint64_t>(n.mtime_ns));
    PutU64(&out, static_cast<uint64_t>(n.ctime_ns));
    PutU64(&out, static_cast<uint64_t>(n.atime_ns));
    PutVarint(&out, n.inode);
    PutVarint(&out, n.device);
    PutVarint(&out, n.nlink);
    PutVarint(&out, n.rdev);
    PutLengthPrefixed(&out, n.link_target);
    PutVarint(&out, n.xattrs.size());
    for (const auto& [k, v] : n.xattrs) {
      PutLengthPrefixed(&out, k);
      PutLengthPrefixed(&out, v);
    }
    PutVarint(&out, n.content.size());
    for (const Id& id : n.content) out.insert(out.end(), id.bytes.begin(), id.bytes.end());
    out.push_back(n.subtree ? 1 : 0);
    if (n.subtree) out.insert(out.end(), n.subtree->bytes.begin(), n.subtree->bytes.end());
  }
  return out;
}

namespace {

// The rules of docs/format.md, "Tree validity". Anyone holding the password
// can write a tree, so restore must never meet a name that climbs out of its
// directory, two entries of one name (a directory and a symlink "a" once made
// restore write through the link), or a node whose type and fields disagree.
Status ValidateTree(const Tree& tree) {
  auto bad = [](const std::string& why) { return Status::Corruption("tree is invalid: " + why); };
  const std::string* previous = nullptr;
  for (const Node& n : tree.nodes) {
    const std::string shown = n.name.substr(0, 64);
    if (n.name.empty()) return bad("an entry has an empty name");
    if (n.name == "." || n.name == "..") return bad("an entry is named '" + n.name + "'");
    if (n.name.find('/') != std::string::npos) return bad("name '" + shown + "' contains '/'");
    if (n.name.find('\0') != std::string::npos) return bad("a name contains a NUL byte");
    if (previous && !(*previous < n.name))
      return bad(*previous == n.name ? "two entries are named '" + shown + "'" : "entries are not sorted by name");
    previous = &n.name;
    const uint32_t type_bits = n.mode & 0170000;
    static constexpr uint32_t kTypeBits[] = {0100000, 0040000, 0120000, 0020000, 0060000, 0010000, 0140000};
    if (type_bits != 0 && type_bits != kTypeBits[static_cast<int>(n.type)])
      return bad("'" + shown + "' has a mode that disagrees with its type");
    if (n.type != NodeType::kFile && !n.content.empty()) return bad("'" + shown + "' is not a file but has content");
    if (n.type != NodeType::kDir && n.subtree) return bad("'" + shown + "' is not a directory but has a subtree");
    if (n.type == NodeType::kFile) {
      // Each blob is at most 4 GiB (u32 lengths): a size beyond that is a lie.
      if (n.size > uint64_t{n.content.size()} * UINT32_MAX) return bad("'" + shown + "' is larger than its content");
      if (n.size == 0 && !n.content.empty()) return bad("'" + shown + "' is empty but has content");
    }
    if (n.type == NodeType::kSymlink &&
        (n.link_target.empty() || n.link_target.find('\0') != std::string::npos))
      return bad("symlink '" + shown + "' has an invalid target");
    for (const auto& [key, value] : n.xattrs)
      if (key.empty() || key.find('\0') != std::string::npos)
        return bad("'" + shown + "' has an invalid extended attribute name");
  }
  return Status::Ok();
}

}  // namespace

Result<Tree> DecodeTree(ByteView plaintext) {
  ByteReader r(plaintext);
  uint64_t count;
  const Status bad = Status::Corruption("tree is malformed");
  if (!ReadMagic(&r, kTreeMagic) || !r.Varint(&count) || count > r.remaining()) return bad;
  Tree tree;
  tree.nodes.resize(count);
  for (Node& n : tree.nodes) {
    uint8_t type, has_subtree;
    uint64_t mode, uid, gid, mtime, ctime, atime, xattrs, content;
    if (!r.LengthPrefixed(&n.name) || !r.U8(&type) || type > 6 || !r.Varint(&mode) || !r.Varint(&uid) ||
        !r.Varint(&gid) || !r.LengthPrefixed(&n.user) || !r.LengthPrefixed(&n.group) || !r.Varint(&n.size) ||
        !r.U64(&mtime) || !r.U64(&ctime) || !r.U64(&atime) || !r.Varint(&n.inode) || !r.Varint(&n.device) ||
        !r.Varint(&n.nlink) || !r.Varint(&n.rdev) || !r.LengthPrefixed(&n.link_target) || !r.Varint(&xattrs) ||
        xattrs > r.remaining())
      return bad;
    n.type = static_cast<NodeType>(type);
    n.mode = static_cast<uint32_t>(mode);
    n.uid = static_cast<uint32_t>(uid);
    n.gid = static_cast<uint32_t>(gid);
    n.mtime_ns = static_cast<int64_t>(mtime);
    n.ctime_ns = static_cast<int64_t>(ctime);
    n.atime_ns = static_cast<int64_t>(atime);
    n.xattrs.resize(xattrs);
    for (auto& [k, v] : n.xattrs)
      if (!r.LengthPrefixed(&k) || !r.LengthPrefixed(&v)) return bad;
    if (!r.Varint(&content) || content > r.remaining() / 32) return bad;
    n.content.resize(content);
    for (Id& id : n.content)
      if (!r.IdValue(&id)) return bad;
    if (!r.U8(&has_subtree) || has_subtree > 1) return bad;
    if (has_subtree) {
      n.subtree.emplace();
      if (!r.IdValue(&*n.subtree)) return bad;
    }
  }
  if (!r.done()) return bad;
  CAIRN_RETURN_IF_ERROR(ValidateTree(tree));
  return tree;
}

}  // namespace cairn
