// repair index and repair snapshots, in restic's spirit: never delete data,
// only write what makes a damaged repository usable again, and keep the
// originals until the operator says otherwise.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "cairn/maintenance.h"
#include "repo/maintenance_internal.h"

namespace cairn {
namespace {

using maintenance_internal::ListPacks;
using maintenance_internal::ReadPackHeader;

// An index file listing this many packs is about 1.5 MiB per 1000 packs of
// 4 MiB; splitting keeps every index file small enough to read in one go.
constexpr size_t kPacksPerIndexFile = 20000;
constexpr char kDamagedSuffix[] = ".damaged";
constexpr size_t kExamples = 5;

// Rewrites trees bottom-up, replacing what cannot be read.
class TreeRepairer {
 public:
  TreeRepairer(Repository& repo, RepositoryWriter* writer) : repo_(repo), writer_(writer) {}

  struct Outcome {
    Id tree;              // the repaired tree (the original when nothing changed)
    uint64_t damaged = 0;
    std::vector<std::string> examples;
  };

  // With a null writer (dry run) nothing is stored and `tree` is the original.
  Result<Outcome> Repair(const Id& tree_id) {
    if (auto it = memo_.find(tree_id); it != memo_.end()) return it->second;
    Outcome out{tree_id};
    auto tree = repo_.LoadTree(tree_id);
    if (!tree.ok()) return tree.status();  // the caller marks the directory itself
    std::vector<Node> nodes;
    std::set<std::string> names;
    for (const Node& n : tree->nodes) names.insert(n.name);
    bool changed = false;
    for (const Node& n : tree->nodes) {
      Node copy = n;
      if (n.type == NodeType::kDir && n.subtree) {
        auto sub = Repair(*n.subtree);
        if (!sub.ok()) {
          Note(&out, n.name + "/", "directory listing lost: " + sub.status().message());
          CAIRN_ASSIGN_OR_RETURN(copy.subtree, StoreEmptyTree());
          copy.name = FreeName(n.name, &names);
          changed = true;
        } else {
          for (const auto& e : sub->examples)
            if (out.examples.size() < kExamples) out.examples.push_back(n.name + "/" + e);
          out.damaged += sub->damaged;
          if (sub->tree != *n.subtree) {
            copy.subtree = sub->tree;
            changed = true;
          }
        }
      } else if (n.type == NodeType::kFile) {
        for (const Id& blob : n.content) {
          if (repo_.Lookup(blob)) continue;
          Note(&out, n.name, "data blob " + blob.ShortHex() + " is missing");
          copy.content.clear();
          copy.size = 0;
          copy.nlink = 1;  // the empty stand-in is no longer a hard link of anything
          copy.name = FreeName(n.name, &names);
          changed = true;
          break;
        }
      }
      nodes.push_back(std::move(copy));
    }
    if (changed && writer_) {
      std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) { return a.name < b.name; });
      CAIRN_ASSIGN_OR_RETURN(out.tree, writer_->Add(BlobType::kTree, EncodeTree(Tree{std::move(nodes)})));
    }
    memo_.emplace(tree_id, out);
    return out;
  }

  Result<Id> StoreEmptyTree() {
    if (!writer_) return Id{};
    return writer_->Add(BlobType::kTree, EncodeTree(Tree{}));
  }

 private:
  static void Note(Outcome* out, const std::string& path, const std::string& why) {
    ++out->damaged;
    if (out->examples.size() < kExamples) out->examples.push_back(path + ": " + why);
  }

  // "<name>.damaged", made unique among the directory's names.
  static std::string FreeName(const std::string& name, std::set<std::string>* taken) {
    std::string candidate = name + kDamagedSuffix;
    for (int i = 2; taken->count(candidate); ++i) candidate = name + kDamagedSuffix + "-" + std::to_string(i);
    taken->insert(candidate);
    return candidate;
  }

  Repository& repo_;
  RepositoryWriter* writer_;
  std::unordered_map<Id, Outcome, IdHash> memo_;
};

std::string NewPointId() {
  Id id;
  if (!crypto::RandomBytes(id.bytes.data(), id.bytes.size()).ok()) id = crypto::Sha256(AsBytes(FormatTime(NowNs())));
  return id.Hex().substr(0, 16);
}

}  // namespace

Result<RepairIndexReport> RepairIndex(Repository& repo, const std::function<void(const std::string&)>& log) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/true));
  RepairIndexReport report;
  std::vector<Id> old_index;
  CAIRN_RETURN_IF_ERROR(repo.storage().List("index/", [&](const ObjectInfo& o) {
    Id id;
    if (Id::FromHex(o.key.substr(6), &id)) old_index.push_back(id);
    return Status::Ok();
  }));
  CAIRN_ASSIGN_OR_RETURN(auto packs, ListPacks(repo.storage()));
  log("reading the headers of " + std::to_string(packs.size()) + " packs");
  std::vector<PackContents> contents;
  for (const auto& [pack, size] : packs) {
    auto header = ReadPackHeader(repo, pack, size);
    if (!header.ok()) {
      if (header.status().code() == StatusCode::kIOError) return header.status();
      report.unreadable_packs.push_back(header.status().message());
      continue;
    }
    ++report.packs_read;
    report.blobs_indexed += header->size();
    contents.push_back(PackContents{pack, std::move(header).value()});
  }
  // New index files first: a crash from here on leaves a repository with
  // both, which is valid (a blob may be listed more than once).
  std::set<Id> written;
  for (size_t start = 0; start < contents.size(); start += kPacksPerIndexFile) {
    const size_t end = std::min(contents.size(), start + kPacksPerIndexFile);
    std::vector<PackContents> part(contents.begin() + start, contents.begin() + end);
    CAIRN_ASSIGN_OR_RETURN(Id id, repo.PutContentAddressed("index", EncodeIndex(part)));
    written.insert(id);
    ++report.index_files_written;
  }
  for (const Id& id : old_index) {
    if (written.count(id)) continue;
    CAIRN_RETURN_IF_ERROR(repo.storage().Delete("index/" + id.Hex()));
    ++report.index_files_removed;
  }
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  return report;
}

Result<RepairPacksReport> RepairPacks(Repository& repo, const std::vector<Id>& packs,
                                      const std::function<void(const std::string&)>& log) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/true));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  RepairPacksReport report;
  if (packs.empty()) return report;
  CAIRN_ASSIGN_OR_RETURN(auto all_packs, ListPacks(repo.storage()));
  std::set<Id> doomed(packs.begin(), packs.end());
  // Where the index says each blob of a doomed pack is: used when the pack's
  // own header is what was damaged.
  std::unordered_map<Id, std::vector<PackedBlob>, IdHash> indexed;
  repo.ForEachBlob([&](const Id& id, const BlobLocation& loc) {
    if (doomed.count(loc.pack)) indexed[loc.pack].push_back(PackedBlob{loc.type, id, loc.offset, loc.stored_length, loc.raw_length});
  });
  // 1. Everything that still decodes goes into new packs (and an index).
  auto writer = repo.NewWriter(CompressionOptions{}, /*dedup_against_index=*/false);
  for (const Id& pack : doomed) {
    if (!all_packs.count(pack)) continue;
    log("salvaging pack " + PackKey(pack));
    auto data = repo.storage().Get(PackKey(pack));
    if (!data.ok()) {
      if (data.status().code() == StatusCode::kIOError) return data.status();
      report.dropped.push_back("pack " + PackKey(pack) + ": " + data.status().message());
      continue;
    }
    std::vector<PackedBlob> blobs;
    auto header = ReadPackHeader(repo, pack, data->size());
    if (header.ok()) blobs = std::move(header).value();
    for (const PackedBlob& b : indexed[pack]) blobs.push_back(b);
    std::set<std::pair<Id, uint32_t>> seen;
    std::set<Id> salvaged;
    Bytes plain;
    for (const PackedBlob& b : blobs) {
      if (!seen.emplace(b.id, b.offset).second || salvaged.count(b.id)) continue;
      Status st = uint64_t{b.offset} + b.stored_length > data->size()
                      ? Status::Corruption("lies outside the pack")
                      : repo.DecodeAndVerify(b.id, ByteView(*data).subspan(b.offset, b.stored_length), b.raw_length,
                                             &plain, /*rehash=*/true);
      if (!st.ok()) {
        report.dropped.push_back("blob " + b.id.Hex() + " of pack " + PackKey(pack) + ": " + st.message());
        continue;
      }
      writer->AddEncoded(b.type, b.id, ByteView(*data).subspan(b.offset, b.stored_length), b.raw_length);
      salvaged.insert(b.id);
    }
    report.blobs_salvaged += salvaged.size();
    ++report.packs_rewritten;
  }
  CAIRN_RETURN_IF_ERROR(writer->Finish().WithContext("writing salvaged blobs"));
  for (const auto& d : report.dropped) report.blobs_dropped += d.starts_with("blob ") ? 1 : 0;
  // 2. An index without the doomed packs, written before 3. they are deleted.
  std::vector<Id> old_index;
  CAIRN_RETURN_IF_ERROR(repo.storage().List("index/", [&](const ObjectInfo& o) {
    Id id;
    if (Id::FromHex(o.key.substr(6), &id)) old_index.push_back(id);
    return Status::Ok();
  }));
  std::map<Id, std::vector<PackedBlob>> keep;
  for (const Id& id : old_index) {
    Bytes plain;
    if (!repo.GetContentAddressed("index", id, &plain).ok()) continue;  // damaged: repair index rebuilds it
    auto decoded = DecodeIndex(plain);
    if (!decoded.ok()) continue;
    for (auto& p : *decoded)
      if (!doomed.count(p.pack_id)) {
        auto& list = keep[p.pack_id];
        if (list.empty()) list = std::move(p.blobs);
      }
  }
  std::vector<PackContents> contents;
  for (auto& [pack, blobs] : keep) contents.push_back(PackContents{pack, std::move(blobs)});
  std::set<Id> written;
  for (size_t start = 0; start < contents.size(); start += kPacksPerIndexFile) {
    const size_t end = std::min(contents.size(), start + kPacksPerIndexFile);
    std::vector<PackContents> part(contents.begin() + start, contents.begin() + end);
    CAIRN_ASSIGN_OR_RETURN(Id id, repo.PutContentAddressed("index", EncodeIndex(part)));
    written.insert(id);
  }
  for (const Id& id : old_index)
    if (!written.count(id)) CAIRN_RETURN_IF_ERROR(repo.storage().Delete("index/" + id.Hex()));
  for (const Id& pack : doomed)
    if (all_packs.count(pack)) CAIRN_RETURN_IF_ERROR(repo.storage().Delete(PackKey(pack)));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  return report;
}

Result<RepairSnapshotsReport> RepairSnapshots(Repository& repo, const RepairSnapshotsOptions& options,
                                              const std::function<void(const std::string&)>& log) {
  CAIRN_ASSIGN_OR_RETURN(auto lock, repo.Lock(/*exclusive=*/!options.dry_run));
  CAIRN_RETURN_IF_ERROR(repo.LoadIndex());
  RepairSnapshotsReport report;
  CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> snapshots, repo.ListSnapshots(&report.unreadable));
  std::unique_ptr<RepositoryWriter> writer;
  if (!options.dry_run) writer = repo.NewWriter(CompressionOptions{});
  TreeRepairer repairer(repo, writer.get());
  std::vector<std::pair<Snapshot, RepairedSnapshot>> todo;
  for (const Snapshot& snap : snapshots) {
    auto outcome = repairer.Repair(snap.tree);
    TreeRepairer::Outcome repaired;
    if (!outcome.ok()) {  // even the root listing is gone: an empty root
      repaired.damaged = 1;
      repaired.examples.push_back("/: directory listing lost: " + outcome.status().message());
      CAIRN_ASSIGN_OR_RETURN(repaired.tree, repairer.StoreEmptyTree());
    } else {
      repaired = std::move(outcome).value();
    }
    if (repaired.damaged == 0) {
      ++report.intact;
      continue;
    }
    log("snapshot " + snap.id.ShortHex() + ": " + std::to_string(repaired.damaged) + " file(s) lost");
    Snapshot copy = snap;
    copy.tree = repaired.tree;
    copy.parent = snap.id;
    copy.tags.push_back("repaired");
    if (!copy.service.empty()) {
      // A damaged restore point must never pass for a good one: a new point
      // id, and the manifest says what happened.
      nlohmann::json m = nlohmann::json::parse(copy.service, nullptr, false);
      if (m.is_object()) {
        const std::string new_id = NewPointId();
        m["repaired"] = {{"from_point", m.value("point_id", "")},
                         {"from_snapshot", snap.id.Hex()},
                         {"damaged_files", repaired.damaged}};
        m["point_id"] = new_id;
        for (auto& t : copy.tags)
          if (t.starts_with("point=")) t = "point=" + new_id;
        copy.service = m.dump();
      }
    }
    RepairedSnapshot r{snap.id, Id{}, repaired.damaged, {}};
    for (const auto& e : repaired.examples) r.examples.push_back("/" + e);
    todo.emplace_back(std::move(copy), std::move(r));
  }
  if (options.dry_run) {
    for (auto& [copy, r] : todo) report.repaired.push_back(std::move(r));
    return report;
  }
  // Trees first (packs, index), then the repaired snapshots, then, if asked,
  // the originals: a crash leaves at worst both.
  CAIRN_RETURN_IF_ERROR(writer->Finish().WithContext("writing repaired trees"));
  for (auto& [copy, r] : todo) {
    CAIRN_ASSIGN_OR_RETURN(r.repaired, repo.SaveSnapshot(copy));
    if (options.forget) CAIRN_RETURN_IF_ERROR(repo.DeleteSnapshot(r.original));
    report.repaired.push_back(std::move(r));
  }
  return report;
}

}  // namespace cairn
