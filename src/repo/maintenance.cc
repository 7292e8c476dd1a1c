#include "cairn/maintenance.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

namespace cairn {

namespace {

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

// Reads all index files with their per-pack blob lists (including blobs the
// in-memory index does not point at, such as duplicates).
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

Status VerifyPack(Repository& repo, const Id& pack_id, const std::vector<const PackedBlob*>& indexed,
                  CheckReport* report) {
  const std::string key = PackKey(pack_id);
  auto data = repo.storage().Get(key);
  if (!data.ok()) {
    report->errors.push_back("pack " + key + " cannot be read: " + data.status().message());
    return Status::Ok();
  }
  if (crypto::Sha256(*data) != pack_id) {
    report->errors.push_back("pack " + key + " is corrupt: content hash mismatch");
    return Status::Ok();
  }
  ByteReader tail(ByteView(*data).subspan(data->size() >= 4 ? data->size() - 4 : 0));
  uint32_t header_len = 0;
  Bytes header_plain;
  if (data->size() < 4 || !tail.U32(&header_len) || header_len > data->size() - 4 ||
      !crypto::Open(repo.key(), ByteView(*data).subspan(data->size() - 4 - header_len, header_len), &header_plain).ok()) {
    report->errors.push_back("pack " + key + " is corrupt: header does not authenticate");
    return Status::Ok();
  }
  auto header = DecodePackHeader(header_plain);
  if (!header.ok()) {
    report->errors.push_back("pack " + key + " is corrupt: " + header.status().message());
    return Status::Ok();
  }
  std::set<std::pair<Id, uint32_t>> in_header;
  Bytes plain;
  for (const PackedBlob& b : *header) {
    in_header.emplace(b.id, b.offset);
    if (uint64_t{b.offset} + b.stored_length > data->size() - 4 - header_len) {
      report->errors.push_back("pack " + key + " is corrupt: blob " + b.id.Hex() + " lies outside the pack");
      continue;
    }
    Status st = repo.DecodeAndVerify(b.id, ByteView(*data).subspan(b.offset, b.stored_length), b.raw_length, &plain,
                                     /*rehash=*/true);
    if (!st.ok()) report->errors.push_back("pack " + key + ": " + st.message());
    else ++report->blobs_verified;
  }
  for (const PackedBlob* b : indexed)
    if (!in_header.count({b->id, b->offset}))
      report->errors.push_back("pack " + key + " does not hold blob " + b->id.Hex() + " that the index places there");
  ++report->packs_read;
  return Status::Ok();
}

}  // namespace

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

Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options,
                                    const std::function<void(const std::string&)>& log) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/false));
  CheckReport report;

  log("checking key files");
  auto keys = repo.ListKeys();
  if (!keys.ok()) return keys.status();
  for (const KeyInfo& k : *keys) {
    // Only the key that opened the repository was authenticated; the others
    // are checked against their checksums.
    auto raw = repo.storage().Get("keys/" + k.id);
    Status st = raw.ok() ? Repository::VerifyKeyFile(*raw, "keys/" + k.id) : raw.status();
    if (!st.ok()) report.errors.push_back(st.message());
  }

  log("loading index files");
  std::vector<std::string> damaged;
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex(&damaged));
  for (auto& d : damaged) report.errors.push_back(d);
  auto entries = ReadIndexEntries(repo);
  if (!entries.ok()) return entries.status();

  log("checking packs");
  CAIRN_ASSIGN_OR_RETURN(auto packs_on_storage, ListPacks(repo.storage()));
  std::map<Id, std::vector<const PackedBlob*>> indexed_packs;
  for (const PackContents& p : *entries)
    for (const PackedBlob& b : p.blobs) indexed_packs[p.pack_id].push_back(&b);
  for (const auto& [pack, blobs] : indexed_packs) {
    uint64_t min_size = 4;
    for (const PackedBlob* b : blobs) min_size = std::max<uint64_t>(min_size, uint64_t{b->offset} + b->stored_length + 4);
    auto it = packs_on_storage.find(pack);
    if (it == packs_on_storage.end())
      report.errors.push_back("pack " + PackKey(pack) + " is missing (the index references it)");
    else if (it->second < min_size)
      report.errors.push_back("pack " + PackKey(pack) + " is corrupt: shorter than its index entries need");
  }
  for (const auto& [pack, size] : packs_on_storage)
    if (!indexed_packs.count(pack))
      report.warnings.push_back("pack " + PackKey(pack) +
                                " is not in any index (left by an interrupted backup; prune removes it)");
  report.packs = packs_on_storage.size();

  log("checking snapshots and trees");
  // Each snapshot on its own: a damaged one is reported and the others are still walked.
  std::vector<Snapshot> snapshots;
  CAIRN_ASSIGN_OR_RETURN(std::vector<Id> snapshot_ids, repo.ListSnapshotIds());
  for (const Id& id : snapshot_ids) {
    auto snap = repo.LoadSnapshot(id);
    if (snap.ok()) snapshots.push_back(std::move(snap).value());
    else report.errors.push_back(snap.status().message());
  }
  report.snapshots = snapshots.size();
  for (const Snapshot& snap : snapshots) {
    Status st = WalkTrees(repo, {snap}, [&](const Snapshot& s, const Id& tree_id, const Tree& tree) {
      ++report.trees;
      for (const Node& n : tree.nodes)
        for (const Id& blob : n.content)
          if (!repo.Lookup(blob))
            report.errors.push_back("snapshot " + s.id.ShortHex() + ": file " + n.name + " (tree " +
                                    tree_id.ShortHex() + ") references blob " + blob.Hex() + " that no index lists");
      return Status::Ok();
    });
    if (!st.ok()) report.errors.push_back(st.message());
  }

  if (options.read_data) {
    std::vector<Id> to_read;
    for (const auto& [pack, blobs] : indexed_packs)
      if (packs_on_storage.count(pack)) to_read.push_back(pack);
    if (options.read_data_fraction < 1.0) {
      std::mt19937_64 rng(std::random_device{}());
      std::shuffle(to_read.begin(), to_read.end(), rng);
      size_t n = static_cast<size_t>(std::ceil(options.read_data_fraction * to_read.size()));
      to_read.resize(std::min(to_read.size(), std::max<size_t>(n, to_read.empty() ? 0 : 1)));
    }
    log("reading " + std::to_string(to_read.size()) + " packs");
    for (const Id& pack : to_read) CAIRN_RETURN_IF_ERROR(VerifyPack(repo, pack, indexed_packs[pack], &report));
  }
  return report;
}

Result<std::vector<ForgetGroup>> Forget(Repository& repo, const ForgetOptions& options) {
  CAIRN_RETURN_IF_ERROR(options.policy.Validate());
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/!options.dry_run));
  CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> snapshots, repo.ListSnapshots());
  std::map<std::pair<std::string, std::vector<std::string>>, std::vector<const Snapshot*>> groups;
  for (const Snapshot& s : snapshots)
    if (options.hostname.empty() || s.hostname == options.hostname) groups[{s.hostname, s.paths}].push_back(&s);
  std::vector<ForgetGroup> out;
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
    out.push_back(std::move(group));
  }
  return out;
}

Result<PruneReport> Prune(Repository& repo, const PruneOptions& options,
                          const std::function<void(const std::string&)>& log) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/true));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  PruneReport report;
  if (!options.dry_run) {
    // The exclusive lock means no writer is alive: any partial write is a crash's.
    CAIRN_ASSIGN_OR_RETURN(report.incomplete_writes_removed, repo.storage().RemoveIncompleteWrites());
  }

  log("finding data still in use");
  CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> snapshots, repo.ListSnapshots());
  std::unordered_set<Id, IdHash> used;
  CAIRN_RETURN_IF_ERROR(WalkTrees(repo, snapshots, [&](const Snapshot&, const Id& tree_id, const Tree& tree) {
    used.insert(tree_id);
    for (const Node& n : tree.nodes)
      for (const Id& blob : n.content) {
        if (!repo.Lookup(blob))
          return Status::Corruption("refusing to prune: blob " + blob.Hex() + " is missing; run check");
        used.insert(blob);
      }
    return Status::Ok();
  }).WithContext("refusing to prune, repository damaged (run check)"));

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
  std::vector<Id> unreferenced;
  for (const auto& [pack, size] : packs_on_storage)
    if (!pack_contents.count(pack)) unreferenced.push_back(pack);
  report.packs_total = packs_on_storage.size();
  report.packs_deleted = delete_packs.size();
  report.packs_repacked = repack_packs.size();
  report.packs_unreferenced = unreferenced.size();
  for (const Id& p : delete_packs) report.bytes_freed += packs_on_storage[p];
  for (const Id& p : unreferenced) report.bytes_freed += packs_on_storage[p];
  for (const Id& p : repack_packs) report.bytes_repacked += packs_on_storage[p];
  if (options.dry_run) return report;
  if (delete_packs.empty() && repack_packs.empty() && unreferenced.empty()) {
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
  CAIRN_ASSIGN_OR_RETURN(auto snapshots, repo.ListSnapshots());
  stats.snapshots = snapshots.size();
  for (const Snapshot& s : snapshots) stats.restore_bytes += s.summary.total_bytes;
  return stats;
}

}  // namespace cairn
