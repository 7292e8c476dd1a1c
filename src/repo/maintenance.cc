#include "cairn/maintenance.h"

#include "repo/maintenance_internal.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

namespace cairn {

namespace maintenance_internal {

Result<std::map<Id, uint64_t>> ListPacks(Storage& storage) {
  std::map<Id, uint64_t> packs;
  Status st = storage.List("data/", [&](const ObjectInfo& o) {
    Id id;
    size_t slash = o.key.find_last_of('/');
    if (slash != std::string::npos && Id::FromHex(o.key.substr(slash + 1), &id)) packs[id] = o.size;
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return packs;
}

Result<std::vector<PackContents>> ReadIndexEntries(Repository& repo) {
  std::vector<PackContents> all;
  for (const Id& id : repo.index_files()) {
    Bytes plain;
    CAIRN_RETURN_IF_ERROR(repo.GetContentAddressed("index", id, &plain));
    auto packs = DecodeIndex(plain);
    if (!packs.ok()) return packs.status().WithContext("index/" + id.Hex() + " is corrupt");
    for (auto& p : *packs) all.push_back(std::move(p));
  }
  return all;
}

Result<std::vector<PackedBlob>> ReadPackHeader(Repository& repo, const Id& pack, uint64_t size) {
  const std::string key = PackKey(pack);
  const Status corrupt = Status::Corruption("pack " + key + " is corrupt: its header does not authenticate");
  if (size < 4 + crypto::kSealOverhead) return corrupt;
  constexpr uint64_t kTail = 64 << 10;
  const uint64_t first = std::min(size, kTail);
  CAIRN_ASSIGN_OR_RETURN(Bytes tail, repo.storage().GetRange(key, size - first, first));
  ByteReader r(ByteView(tail).subspan(tail.size() - 4));
  uint32_t header_len = 0;
  if (!r.U32(&header_len) || header_len > size - 4) return corrupt;
  Bytes sealed;
  if (header_len + 4 <= tail.size()) {
    sealed.assign(tail.end() - 4 - header_len, tail.end() - 4);
  } else {
    CAIRN_ASSIGN_OR_RETURN(sealed, repo.storage().GetRange(key, size - 4 - header_len, header_len));
  }
  Bytes plain;
  if (!crypto::Open(repo.key(), sealed, &plain).ok()) return corrupt;
  auto blobs = DecodePackHeader(plain);
  if (!blobs.ok()) return blobs.status().WithContext("pack " + key);
  for (const PackedBlob& b : *blobs)
    if (uint64_t{b.offset} + b.stored_length > size - 4 - header_len)
      return Status::Corruption("pack " + key + " is corrupt: blob " + b.id.Hex() + " lies outside the pack");
  return blobs;
}

}  // namespace maintenance_internal

using maintenance_internal::ListPacks;
using maintenance_internal::ReadIndexEntries;

Status WalkTrees(Repository& repo, const std::vector<Snapshot>& snapshots,
                 const std::function<Status(const Snapshot&, const Id&, const Tree&)>& fn) {
  std::unordered_set<Id, IdHash> seen;
  for (const Snapshot& snap : snapshots) {
    std::vector<Id> pending{snap.tree};
    while (!pending.empty()) {
      Id id = pending.back();
      pending.pop_back();
      if (!seen.insert(id).second) continue;
      auto tree = repo.LoadTree(id);
      if (!tree.ok())
        return tree.status().WithContext("snapshot " + snap.id.ShortHex() + ": tree " + id.ShortHex());
      CAIRN_RETURN_IF_ERROR(fn(snap, id, *tree));
      for (const Node& n : tree->nodes)
        if (n.subtree) pending.push_back(*n.subtree);
    }
  }
  return Status::Ok();
}

Result<ForgetResult> Forget(Repository& repo, const ForgetOptions& options) {
  if (options.ids.empty()) CAIRN_RETURN_IF_ERROR(options.policy.Validate());
  if (!options.ids.empty() && !options.policy.Empty())
    return Status::InvalidArgument("give snapshot ids or a retention policy, not both");
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/!options.dry_run));
  ForgetResult result;
  if (!options.ids.empty()) {
    CAIRN_ASSIGN_OR_RETURN(std::vector<Id> all, repo.ListSnapshotIds());
    for (const std::string& wanted : options.ids) {
      if (wanted.size() < 4) return Status::InvalidArgument("snapshot id '" + wanted + "' is too short");
      std::vector<Id> matches;
      for (const Id& id : all)
        if (id.Hex().starts_with(wanted)) matches.push_back(id);
      if (matches.empty()) return Status::NotFound("no snapshot with id " + wanted);
      if (matches.size() > 1) return Status::InvalidArgument("snapshot id prefix '" + wanted + "' is ambiguous");
      result.removed_by_id.push_back(matches[0]);
    }
    if (!options.dry_run)
      for (const Id& id : result.removed_by_id) CAIRN_RETURN_IF_ERROR(repo.DeleteSnapshot(id));
    return result;
  }
  CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> snapshots, repo.ListSnapshots(&result.damaged));
  std::map<std::pair<std::string, std::vector<std::string>>, std::vector<const Snapshot*>> groups;
  for (const Snapshot& s : snapshots)
    if (options.hostname.empty() || s.hostname == options.hostname) groups[{s.hostname, s.paths}].push_back(&s);
  for (const auto& [key, members] : groups) {
    std::vector<RetentionCandidate> candidates;
    std::unordered_map<std::string, const Snapshot*> by_id;
    for (const Snapshot* s : members) {
      candidates.push_back({s->id.Hex(), s->time_ns, s->tags});
      by_id[s->id.Hex()] = s;
    }
    ForgetGroup group{key.first, key.second, {}};
    for (RetentionDecision& d : ApplyRetention(options.policy, candidates)) {
      const Snapshot* s = by_id.at(d.id);
      if (!d.keep && !options.dry_run) CAIRN_RETURN_IF_ERROR(repo.DeleteSnapshot(s->id));
      group.decisions.emplace_back(*s, std::move(d));
    }
    result.groups.push_back(std::move(group));
  }
  return result;
}

Result<PruneReport> Prune(Repository& repo, const PruneOptions& options,
                          const std::function<void(const std::string&)>& log) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/true));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  if (auto damaged = repo.damaged_index_files(); !damaged.empty())
    return Status::Corruption("refusing to prune: " + damaged.front() +
                              "; the packs it listed may hold data snapshots need (run `cairn repo repair index`)");
  PruneReport report;
  if (!options.dry_run) {
    // The exclusive lock means no writer is alive: any partial write is a crash's.
    CAIRN_ASSIGN_OR_RETURN(report.incomplete_writes_removed, repo.storage().RemoveIncompleteWrites());
  }

  log("finding data still in use");
  std::vector<std::string> damaged_snapshots;
  CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> snapshots, repo.ListSnapshots(&damaged_snapshots));
  if (!damaged_snapshots.empty())
    return Status::Corruption("refusing to prune: " + damaged_snapshots.front() +
                              "; what it references cannot be known (remove it with `cairn repo forget ID`, "
                              "see `cairn repo check`)");
  std::unordered_set<Id, IdHash> used;
  CAIRN_RETURN_IF_ERROR(WalkTrees(repo, snapshots, [&](const Snapshot& s, const Id& tree_id, const Tree& tree) {
    used.insert(tree_id);
    for (const Node& n : tree.nodes)
      for (const Id& blob : n.content) {
        if (!repo.Lookup(blob))
          return Status::Corruption("snapshot " + s.id.ShortHex() + " needs blob " + blob.Hex() +
                                    ", which the repository lacks");
        used.insert(blob);
      }
    return Status::Ok();
  }).WithContext("refusing to prune, the repository is damaged (`cairn repo check` names the repair)"));

  CAIRN_ASSIGN_OR_RETURN(auto entries, ReadIndexEntries(repo));
  CAIRN_ASSIGN_OR_RETURN(auto packs_on_storage, ListPacks(repo.storage()));

  // Decide per pack. A blob counts as used in exactly one place: the location
  // the in-memory index chose; other copies are duplicates and unused.
  std::set<Id> keep_packs, repack_packs, delete_packs;
  std::map<Id, const PackContents*> pack_contents;
  for (const PackContents& p : entries) {
    if (pack_contents.count(p.pack_id)) continue;  // listed by several index files
    pack_contents[p.pack_id] = &p;
    if (!packs_on_storage.count(p.pack_id)) continue;
    uint64_t used_bytes = 0, unused_bytes = 0;
    for (const PackedBlob& b : p.blobs) {
      auto loc = repo.Lookup(b.id);
      bool is_used = used.count(b.id) && loc && loc->pack == p.pack_id && loc->offset == b.offset;
      (is_used ? used_bytes : unused_bytes) += b.stored_length;
      ++(is_used ? report.blobs_used : report.blobs_unused);
    }
    if (used_bytes == 0) delete_packs.insert(p.pack_id);
    else if (unused_bytes >= options.repack_threshold * (used_bytes + unused_bytes)) repack_packs.insert(p.pack_id);
    else keep_packs.insert(p.pack_id);
  }
  // A pack no index lists is deleted only when its own header proves that
  // every snapshot-needed blob in it has another, indexed copy.
  std::vector<Id> unreferenced;
  for (const auto& [pack, size] : packs_on_storage) {
    if (pack_contents.count(pack)) continue;
    auto header = maintenance_internal::ReadPackHeader(repo, pack, size);
    if (!header.ok()) {
      log("leaving pack " + PackKey(pack) + " in place: no index lists it and " + header.status().message());
      continue;
    }
    bool needed = false;
    for (const PackedBlob& b : *header) {
      auto loc = repo.Lookup(b.id);
      needed = needed || (used.count(b.id) && (!loc || loc->pack == pack));
    }
    if (!needed) unreferenced.push_back(pack);
  }
  report.packs_total = packs_on_storage.size();
  report.packs_deleted = delete_packs.size();
  report.packs_repacked = repack_packs.size();
  report.packs_unreferenced = unreferenced.size();
  for (const Id& p : delete_packs) report.bytes_freed += packs_on_storage[p];
  for (const Id& p : unreferenced) report.bytes_freed += packs_on_storage[p];
  for (const Id& p : repack_packs) report.bytes_repacked += packs_on_storage[p];
  if (options.dry_run) return report;
  // Index entries of packs that are gone (their data stored again since, or
  // the snapshots that needed them removed) are dropped by the rewrite below.
  size_t gone = 0;
  for (const auto& [pack, contents] : pack_contents) gone += packs_on_storage.count(pack) ? 0 : 1;
  if (delete_packs.empty() && repack_packs.empty() && unreferenced.empty() && gone == 0) {
    log("nothing to prune");
    return report;
  }

  // 1. Copy used blobs out of packs being repacked (verified on the way).
  auto writer = repo.NewWriter(CompressionOptions{}, /*dedup_against_index=*/false);
  if (!repack_packs.empty()) log("repacking " + std::to_string(repack_packs.size()) + " packs");
  for (const Id& pack : repack_packs) {
    auto data = repo.storage().Get(PackKey(pack));
    if (!data.ok()) return data.status().WithContext("repacking");
    Bytes plain;
    for (const PackedBlob& b : pack_contents[pack]->blobs) {
      auto loc = repo.Lookup(b.id);
      if (!used.count(b.id) || !loc || loc->pack != pack || loc->offset != b.offset) continue;
      if (uint64_t{b.offset} + b.stored_length > data->size())
        return Status::Corruption("refusing to prune: pack " + PackKey(pack) + " is truncated; run check");
      ByteView stored = ByteView(*data).subspan(b.offset, b.stored_length);
      CAIRN_RETURN_IF_ERROR(repo.DecodeAndVerify(b.id, stored, b.raw_length, &plain)
                                .WithContext("refusing to prune: pack " + PackKey(pack)));
      writer->AddEncoded(b.type, b.id, stored, b.raw_length);
    }
  }
  CAIRN_RETURN_IF_ERROR(writer->Finish().WithContext("repacking"));

  // 2. One index for everything kept, written before anything is deleted.
  std::vector<PackContents> kept;
  for (const Id& p : keep_packs) kept.push_back(*pack_contents[p]);
  if (writer->index_written()) {
    Bytes plain;
    CAIRN_RETURN_IF_ERROR(repo.GetContentAddressed("index", *writer->index_written(), &plain));
    CAIRN_ASSIGN_OR_RETURN(auto repacked, DecodeIndex(plain));
    for (auto& p : repacked) kept.push_back(std::move(p));
  }
  std::optional<Id> new_index;
  if (!kept.empty()) {
    CAIRN_ASSIGN_OR_RETURN(new_index, repo.PutContentAddressed("index", EncodeIndex(kept)));
  }

  // 3. Old index files, then 4. packs nobody needs any more.
  std::vector<Id> old_index = repo.index_files();
  if (writer->index_written()) old_index.push_back(*writer->index_written());
  for (const Id& id : old_index) {
    if (new_index && id == *new_index) continue;
    CAIRN_RETURN_IF_ERROR(repo.storage().Delete("index/" + id.Hex()));
    ++report.index_files_replaced;
  }
  log("deleting " + std::to_string(delete_packs.size() + repack_packs.size() + unreferenced.size()) + " packs");
  for (const auto* set : {&delete_packs, &repack_packs})
    for (const Id& p : *set) CAIRN_RETURN_IF_ERROR(repo.storage().Delete(PackKey(p)));
  for (const Id& p : unreferenced) CAIRN_RETURN_IF_ERROR(repo.storage().Delete(PackKey(p)));
  return report;
}

Result<RepoStats> ComputeStats(Repository& repo) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/false));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  RepoStats stats;
  repo.ForEachBlob([&](const Id&, const BlobLocation& loc) {
    ++stats.blobs;
    ++(loc.type == BlobType::kData ? stats.data_blobs : stats.tree_blobs);
    stats.raw_bytes += loc.raw_length ? loc.raw_length : loc.stored_length - crypto::kSealOverhead;
    stats.stored_bytes += loc.stored_length;
  });
  CAIRN_ASSIGN_OR_RETURN(auto packs, ListPacks(repo.storage()));
  stats.packs = packs.size();
  for (const auto& [id, size] : packs) stats.pack_bytes += size;
  stats.index_files = repo.index_files().size();
  std::vector<std::string> damaged;
  CAIRN_ASSIGN_OR_RETURN(auto snapshots, repo.ListSnapshots(&damaged));
  stats.snapshots = snapshots.size();
  for (const Snapshot& s : snapshots) stats.restore_bytes += s.summary.total_bytes;
  return stats;
}

}  // namespace cairn
