// check: proves what can be proven about a repository without trusting it.
// Order: keys, index (with every pack's presence and length), packs no index
// lists, pack contents (--read-data), then every snapshot's trees and files.
// Damage is reported per object and then per snapshot: which snapshots can no
// longer be restored whole, which files they lose, and what repairs it.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "cairn/maintenance.h"
#include "repo/maintenance_internal.h"

namespace cairn {
namespace {

using maintenance_internal::ListPacks;
using maintenance_internal::ReadIndexEntries;
using maintenance_internal::ReadPackHeader;

constexpr size_t kExamples = 5;

// Damage below one tree, with paths relative to it.
struct TreeDamage {
  uint64_t files = 0;
  std::vector<std::string> examples;
  void Add(const std::string& path, const std::string& why) {
    ++files;
    if (examples.size() < kExamples) examples.push_back(path + ": " + why);
  }
  void Merge(const std::string& prefix, const TreeDamage& child) {
    files += child.files;
    for (const auto& e : child.examples)
      if (examples.size() < kExamples) examples.push_back(prefix + "/" + e);
  }
};

class Checker {
 public:
  Checker(Repository& repo, const CheckOptions& options, CheckReport* report,
          const std::function<void(const std::string&)>& log)
      : repo_(repo), options_(options), report_(*report), log_(log) {}

  Status Run() {
    CheckKeys();
    log_("loading index files");
    CAIRN_RETURN_IF_ERROR(repo_.LoadIndex());
    for (const auto& d : repo_.damaged_index_files()) report_.errors.push_back(d);
    damaged_index_ = !repo_.damaged_index_files().empty();
    CAIRN_ASSIGN_OR_RETURN(auto entries, ReadIndexEntries(repo_));

    log_("checking packs");
    CAIRN_ASSIGN_OR_RETURN(packs_on_storage_, ListPacks(repo_.storage()));
    report_.packs = packs_on_storage_.size();
    for (const Id& p : repo_.missing_packs()) {
      report_.errors.push_back("pack " + PackKey(p) + " is missing (the index references it)");
      lost_packs_.insert(p);
    }
    for (const Id& p : repo_.short_packs()) {
      report_.errors.push_back("pack " + PackKey(p) + " is truncated: shorter than its index entries need");
      lost_packs_.insert(p);
    }
    for (const PackContents& p : entries)
      for (const PackedBlob& b : p.blobs) {
        indexed_packs_[p.pack_id].push_back(b);
        if (lost_packs_.count(p.pack_id)) lost_blob_pack_.emplace(b.id, p.pack_id);
      }
    CheckUnindexedPacks();
    if (options_.read_data) CAIRN_RETURN_IF_ERROR(ReadPacks());

    log_("checking snapshots and trees");
    CAIRN_ASSIGN_OR_RETURN(std::vector<Id> snapshot_ids, repo_.ListSnapshotIds());
    std::sort(snapshot_ids.begin(), snapshot_ids.end());
    for (const Id& id : snapshot_ids) CheckSnapshot(id);
    SuggestRepairs();
    return Status::Ok();
  }

 private:
  void CheckKeys() {
    log_("checking key files");
    auto keys = repo_.ListKeys();
    if (!keys.ok()) {
      report_.errors.push_back(keys.status().message());
      return;
    }
    for (const KeyInfo& k : *keys) {
      // Only the key that opened the repository was authenticated; the
      // others are checked against their checksums.
      auto raw = repo_.storage().Get("keys/" + k.id);
      Status st = raw.ok() ? Repository::VerifyKeyFile(*raw, "keys/" + k.id) : raw.status();
      if (!st.ok()) report_.errors.push_back(st.message());
    }
  }

  // A pack no index lists is usually what an interrupted backup left, but
  // after an index file was lost it may hold the only copy of data that
  // snapshots need; its own header tells which blobs it holds.
  void CheckUnindexedPacks() {
    for (const auto& [pack, size] : packs_on_storage_) {
      if (indexed_packs_.count(pack)) continue;
      auto header = ReadPackHeader(repo_, pack, size);
      if (!header.ok()) {
        report_.warnings.push_back("pack " + PackKey(pack) + " is not in any index and cannot be read (" +
                                   header.status().message() + ")");
        continue;
      }
      unindexed_packs_.insert(pack);
      for (const PackedBlob& b : *header) unindexed_blob_pack_.emplace(b.id, pack);
    }
  }

  Status ReadPacks() {
    std::vector<Id> present;
    for (const auto& [pack, blobs] : indexed_packs_)
      if (packs_on_storage_.count(pack) && !lost_packs_.count(pack)) present.push_back(pack);
    std::vector<Id> to_read;
    if (options_.choose_packs) {
      to_read = options_.choose_packs(present);
    } else {
      to_read = present;
      if (options_.read_data_fraction < 1.0) {
        std::mt19937_64 rng(std::random_device{}());
        std::shuffle(to_read.begin(), to_read.end(), rng);
        size_t n = static_cast<size_t>(std::ceil(options_.read_data_fraction * to_read.size()));
        to_read.resize(std::min(to_read.size(), std::max<size_t>(n, to_read.empty() ? 0 : 1)));
      }
    }
    log_("reading " + std::to_string(to_read.size()) + " packs");
    for (const Id& pack : to_read) {
      if (!indexed_packs_.count(pack)) continue;
      CAIRN_RETURN_IF_ERROR(VerifyPack(pack));
      report_.packs_read_ids.push_back(pack);
    }
    return Status::Ok();
  }

  // Reads a whole pack; every blob that does not decode to its id is damaged.
  Status VerifyPack(const Id& pack_id) {
    const std::string key = PackKey(pack_id);
    const std::vector<PackedBlob>& indexed = indexed_packs_[pack_id];
    auto data = repo_.storage().Get(key);
    if (!data.ok()) {
      if (data.status().code() == StatusCode::kIOError) return data.status().WithContext("reading " + key);
      report_.errors.push_back("pack " + key + " cannot be read: " + data.status().message());
      for (const PackedBlob& b : indexed) damaged_blob_pack_.emplace(b.id, pack_id);
      return Status::Ok();
    }
    ++report_.packs_read;
    if (crypto::Sha256(*data) != pack_id) {
      report_.errors.push_back("pack " + key + " is corrupt: content hash mismatch");
      damaged_packs_.insert(pack_id);  // even when every blob decodes, its header or name is wrong
    }
    // The header names the blobs; when it is damaged, the index still says where they are.
    std::vector<PackedBlob> header;
    ByteReader tail(ByteView(*data).subspan(data->size() >= 4 ? data->size() - 4 : 0));
    uint32_t header_len = 0;
    Bytes header_plain;
    bool header_ok = data->size() >= 4 && tail.U32(&header_len) && header_len <= data->size() - 4 &&
                     crypto::Open(repo_.key(), ByteView(*data).subspan(data->size() - 4 - header_len, header_len),
                                  &header_plain)
                         .ok();
    if (header_ok) {
      auto decoded = DecodePackHeader(header_plain);
      if (decoded.ok()) header = std::move(decoded).value();
      else header_ok = false;
    }
    if (!header_ok) report_.errors.push_back("pack " + key + " is corrupt: its header does not authenticate");
    std::set<std::pair<Id, uint32_t>> in_header;
    for (const PackedBlob& b : header) in_header.emplace(b.id, b.offset);
    Bytes plain;
    auto verify = [&](const PackedBlob& b) {
      if (uint64_t{b.offset} + b.stored_length > data->size()) {
        report_.errors.push_back("pack " + key + " is corrupt: blob " + b.id.Hex() + " lies outside the pack");
        damaged_blob_pack_.emplace(b.id, pack_id);
        damaged_packs_.insert(pack_id);
        return;
      }
      Status st = repo_.DecodeAndVerify(b.id, ByteView(*data).subspan(b.offset, b.stored_length), b.raw_length,
                                        &plain, /*rehash=*/true);
      if (!st.ok()) {
        report_.errors.push_back("pack " + key + ": " + st.message());
        damaged_blob_pack_.emplace(b.id, pack_id);
        damaged_packs_.insert(pack_id);
      } else {
        ++report_.blobs_verified;
      }
    };
    std::set<std::pair<Id, uint32_t>> verified;
    for (const PackedBlob& b : header)
      if (verified.emplace(b.id, b.offset).second) verify(b);
    for (const PackedBlob& b : indexed) {
      if (header_ok && !in_header.count({b.id, b.offset}))
        report_.errors.push_back("pack " + key + " does not hold blob " + b.id.Hex() + " that the index places there");
      if (verified.emplace(b.id, b.offset).second) verify(b);
    }
    return Status::Ok();
  }

  // Why a data or tree blob cannot be read, or "" when it can.
  std::string BlobProblem(const Id& id) const {
    if (auto it = damaged_blob_pack_.find(id); it != damaged_blob_pack_.end())
      return "blob " + id.ShortHex() + " is damaged in pack " + PackKey(it->second);
    if (repo_.Lookup(id)) return "";
    if (auto it = lost_blob_pack_.find(id); it != lost_blob_pack_.end())
      return "blob " + id.ShortHex() + " is in pack " + PackKey(it->second) + ", which is missing or truncated";
    if (auto it = unindexed_blob_pack_.find(id); it != unindexed_blob_pack_.end()) {
      needs_index_repair_ = true;
      return "blob " + id.ShortHex() + " is only in pack " + PackKey(it->second) + ", which no index lists";
    }
    if (damaged_index_) needs_index_repair_ = true;
    return "blob " + id.ShortHex() + " is in no index";
  }

  const TreeDamage& CheckTree(const Id& tree_id) {
    if (auto it = trees_.find(tree_id); it != trees_.end()) return *it->second;
    auto damage = std::make_shared<TreeDamage>();
    trees_[tree_id] = damage;  // a cycle (impossible with content addressing) would end here
    std::string problem = BlobProblem(tree_id);
    auto tree = problem.empty() ? repo_.LoadTree(tree_id) : Result<Tree>(Status::NotFound(problem));
    if (!tree.ok()) {
      report_.errors.push_back("tree " + tree_id.Hex() + " cannot be read: " + tree.status().message());
      damage->Add(".", "directory lost (" + tree.status().message() + ")");
      return *damage;
    }
    ++report_.trees;
    for (const Node& n : tree->nodes) {
      if (n.type == NodeType::kDir && n.subtree) {
        damage->Merge(n.name, CheckTree(*n.subtree));
        continue;
      }
      for (const Id& blob : n.content) {
        std::string why = BlobProblem(blob);
        if (!why.empty()) {
          damage->Add(n.name, why);
          break;
        }
      }
    }
    return *damage;
  }

  void CheckSnapshot(const Id& id) {
    auto snap = repo_.LoadSnapshot(id);
    if (!snap.ok()) {
      report_.errors.push_back(snap.status().message());
      DamagedSnapshot d;
      d.id = id;
      d.unreadable = true;
      d.examples.push_back(snap.status().message());
      report_.damaged_snapshots.push_back(std::move(d));
      return;
    }
    ++report_.snapshots;
    const TreeDamage& damage = CheckTree(snap->tree);
    if (damage.files == 0) return;
    DamagedSnapshot d;
    d.id = id;
    d.time_ns = snap->time_ns;
    d.paths = snap->paths;
    d.tags = snap->tags;
    d.damaged_files = damage.files;
    for (const auto& e : damage.examples) d.examples.push_back(e.starts_with("./") ? e.substr(1) : "/" + e);
    std::string paths;
    for (const auto& p : snap->paths) paths += (paths.empty() ? "" : " ") + p;
    report_.errors.push_back("snapshot " + id.ShortHex() + " (" + FormatTime(snap->time_ns).substr(0, 19) + ", " +
                             paths + "): " + std::to_string(damage.files) +
                             " file(s) cannot be restored, e.g. " + d.examples.front());
    report_.damaged_snapshots.push_back(std::move(d));
  }

  void SuggestRepairs() {
    report_.damaged_packs.assign(damaged_packs_.begin(), damaged_packs_.end());
    if (!damaged_packs_.empty())
      report_.repairs.push_back("cairn repo repair packs: copy what still decodes out of the " +
                                std::to_string(damaged_packs_.size()) +
                                " damaged pack(s) and drop the rest, so that a backup stores it again");
    bool lost_data = false, unreadable = false;
    for (const auto& d : report_.damaged_snapshots) (d.unreadable ? unreadable : lost_data) = true;
    if (needs_index_repair_ || damaged_index_)
      report_.repairs.push_back(
          "cairn repo repair index: rebuild the index from the packs' own headers (nothing is deleted)");
    if (lost_data) {
      report_.repairs.push_back(
          "cairn repo backup of the same paths, if the files still exist: it stores the missing data again, "
          "which makes older snapshots of unchanged files whole again");
      report_.repairs.push_back(
          "cairn repo repair snapshots: save repaired copies of the damaged snapshots, each lost file replaced "
          "by an empty '<name>.damaged' file (the originals are kept; add --forget to remove them)");
    }
    if (unreadable)
      report_.repairs.push_back("cairn repo forget ID for each unreadable snapshot object: nothing of it can be restored");
    if (!lost_packs_.empty() && !lost_data && !needs_index_repair_)
      report_.repairs.push_back("cairn repo prune: no snapshot needs the missing or truncated pack(s) any more "
                                "(their data was stored again); prune drops them from the index");
    for (const auto& [pack, size] : packs_on_storage_)
      if (unindexed_packs_.count(pack) && !needs_index_repair_)
        report_.warnings.push_back("pack " + PackKey(pack) +
                                   " is not in any index and no snapshot needs it (left by an interrupted backup; "
                                   "prune removes it)");
  }

  Repository& repo_;
  const CheckOptions& options_;
  CheckReport& report_;
  const std::function<void(const std::string&)>& log_;
  bool damaged_index_ = false;
  mutable bool needs_index_repair_ = false;
  std::map<Id, uint64_t> packs_on_storage_;
  std::map<Id, std::vector<PackedBlob>> indexed_packs_;
  std::set<Id> lost_packs_, unindexed_packs_, damaged_packs_;
  std::unordered_map<Id, Id, IdHash> lost_blob_pack_, unindexed_blob_pack_, damaged_blob_pack_;
  std::unordered_map<Id, std::shared_ptr<TreeDamage>, IdHash> trees_;
};

}  // namespace

Result<CheckReport> CheckRepository(Repository& repo, const CheckOptions& options,
                                    const std::function<void(const std::string&)>& log) {
  CheckReport report;
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.LockForReading(options.lock, [&](const std::string& w) {
    report.warnings.push_back(w);
  }));
  Checker checker(repo, options, &report, log);
  CAIRN_RETURN_IF_ERROR(checker.Run());
  return report;
}

}  // namespace cairn
