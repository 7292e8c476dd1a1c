// Copies snapshots between two repositories. Blob ids are keyed by each
// repository's secret, so every blob is re-identified under the destination's
// key; only blobs the destination does not hold yet are encoded and
// uploaded, and trees are rewritten to the new ids.
#include <unordered_map>

#include "cairn/crypto.h"
#include "cairn/engine.h"

namespace cairn {
namespace {

class SnapshotCopier {
 public:
  SnapshotCopier(Repository& from, Repository& to, RepositoryWriter& writer, CopyStats* stats)
      : from_(from), to_(to), writer_(writer), stats_(stats) {}

  Result<Id> CopyBlob(BlobType type, const Id& id, ByteView known_plaintext = {}) {
    if (auto it = mapped_.find(id); it != mapped_.end()) return it->second;
    Bytes plaintext;
    ByteView data = known_plaintext;
    if (data.empty()) {
      CAIRN_RETURN_IF_ERROR(from_.ReadBlob(id, &plaintext));
      data = plaintext;
    }
    CAIRN_ASSIGN_OR_RETURN(const Id new_id, crypto::BlobId(to_.key(), data));
    if (!writer_.Known(new_id)) {
      CAIRN_RETURN_IF_ERROR(writer_.Add(type, data).status());
      ++stats_->blobs_copied;
      stats_->bytes_copied += data.size();
    } else {
      ++stats_->blobs_skipped;
    }
    mapped_[id] = new_id;
    return new_id;
  }

  Result<Id> CopyTree(const Id& tree_id) {
    if (auto it = mapped_.find(tree_id); it != mapped_.end()) return it->second;
    CAIRN_ASSIGN_OR_RETURN(Tree tree, from_.LoadTree(tree_id));
    for (Node& node : tree.nodes) {
      for (Id& chunk : node.content) {
        CAIRN_ASSIGN_OR_RETURN(chunk, CopyBlob(BlobType::kData, chunk));
      }
      if (node.subtree) {
        CAIRN_ASSIGN_OR_RETURN(*node.subtree, CopyTree(*node.subtree));
      }
    }
    Bytes encoded = EncodeTree(tree);
    CAIRN_ASSIGN_OR_RETURN(Id new_id, CopyBlob(BlobType::kTree, tree_id, encoded));
    return new_id;
  }

 private:
  Repository& from_;
  Repository& to_;
  RepositoryWriter& writer_;
  CopyStats* stats_;
  std::unordered_map<Id, Id, IdHash> mapped_;  // source id -> destination id
};

}  // namespace

Result<std::vector<Snapshot>> CopySnapshots(Repository& from, Repository& to, const std::vector<Snapshot>& snapshots,
                                            CopyStats* stats) {
  CAIRN_ASSIGN_OR_RETURN(auto from_lock, from.Lock(/*exclusive=*/false));
  CAIRN_ASSIGN_OR_RETURN(auto to_lock, to.Lock(/*exclusive=*/false));
  CAIRN_RETURN_IF_ERROR(from.LoadIndex());
  CAIRN_RETURN_IF_ERROR(to.LoadIndex());
  auto writer = to.NewWriter(CompressionOptions{});
  SnapshotCopier copier(from, to, *writer, stats);
  std::vector<Snapshot> copies;
  for (const Snapshot& s : snapshots) {
    Snapshot copy = s;
    auto tree = copier.CopyTree(s.tree);
    if (!tree.ok()) {
      Status ignored = writer->Finish();
      (void)ignored;
      return tree.status().WithContext("copying snapshot " + s.id.ShortHex());
    }
    copy.tree = *tree;
    copy.parent.reset();  // parents are per repository
    copies.push_back(std::move(copy));
  }
  // Packs and index first, then the snapshots that refer to them.
  CAIRN_RETURN_IF_ERROR(writer->Finish().WithContext("copy failed"));
  stats->bytes_stored += writer->bytes_stored();
  for (Snapshot& copy : copies) {
    CAIRN_ASSIGN_OR_RETURN(copy.id, to.SaveSnapshot(copy));
  }
  return copies;
}

}  // namespace cairn
