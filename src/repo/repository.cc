#include "cairn/repository.h"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <set>

#include "repo/snapshot_json.h"

namespace cairn {

using json = nlohmann::json;

namespace {

constexpr char kFormatName[] = "cairn-repository";

Result<std::string> RandomHexId() {
  Id id;
  CAIRN_RETURN_IF_ERROR(crypto::RandomBytes(id.bytes.data(), id.bytes.size()));
  return id.Hex();
}

Result<std::string> ConfigMac(const crypto::MasterKey& key, json config) {
  config["mac"] = "";
  CAIRN_ASSIGN_OR_RETURN(Id mac, crypto::BlobId(key, AsBytes(config.dump())));
  return mac.Hex();
}

// Checksum over the key file with the checksum field blanked: it lets open
// tell a damaged key file (named) from a wrong password.
std::string KeyFileChecksum(json key_file) {
  key_file["checksum"] = "";
  return crypto::Sha256(AsBytes(key_file.dump())).Hex();
}

Result<json> ParseJson(ByteView data, const std::string& what) {
  json j = json::parse(data.begin(), data.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(what + " is corrupt: not valid JSON");
  return j;
}

Result<json> MakeKeyFile(const crypto::MasterKey& master, const std::string& password,
                         const crypto::KdfParams& kdf) {
  Bytes salt(crypto_pwhash_SALTBYTES);
  CAIRN_RETURN_IF_ERROR(crypto::RandomBytes(salt.data(), salt.size()));
  std::array<uint8_t, crypto::kKeySize> kek;
  CAIRN_RETURN_IF_ERROR(crypto::DeriveKey(password, salt, kdf, &kek));
  auto sealed = crypto::SealWithKey(kek.data(), master.Serialize());
  sodium_memzero(kek.data(), kek.size());
  if (!sealed.ok()) return sealed.status();
  json j = {{"version", 1},
            {"created", FormatTime(NowNs())},
            {"hostname", Hostname()},
            {"username", Username()},
            {"kdf",
             {{"algorithm", "argon2id"},
              {"ops_limit", kdf.ops_limit},
              {"mem_limit", kdf.mem_limit},
              {"salt", Base64Encode(salt)}}},
            {"data", Base64Encode(*sealed)}};
  j["checksum"] = KeyFileChecksum(j);
  return j;
}

// Verifies a key file's checksum; returns the master key if the password opens it.
Result<crypto::MasterKey> OpenKeyFile(const json& j, const std::string& password, const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(KeyFileFields fields, DecodeKeyFile(j, name));
  std::array<uint8_t, crypto::kKeySize> kek;
  CAIRN_RETURN_IF_ERROR(crypto::DeriveKey(password, fields.salt, fields.kdf, &kek));
  Bytes plain;
  Status st = crypto::OpenWithKey(kek.data(), fields.sealed_master_key, &plain);
  sodium_memzero(kek.data(), kek.size());
  if (!st.ok()) return Status::WrongPassword("wrong password");
  return crypto::MasterKey::Parse(plain);
}

}  // namespace

Result<KeyFileFields> DecodeKeyFile(const json& j, const std::string& name) {
  const Status corrupt = Status::Corruption("key file " + name + " is corrupt");
  if (!j.is_object() || !j.contains("checksum") || !j["checksum"].is_string() || j["checksum"] != KeyFileChecksum(j))
    return corrupt.WithContext("checksum mismatch");
  try {
    KeyFileFields f;
    const json& kdf = j.at("kdf");
    if (kdf.at("algorithm") != "argon2id") return Status::Unsupported("key file " + name + " uses an unknown KDF");
    f.kdf = {kdf.at("ops_limit").get<uint64_t>(), kdf.at("mem_limit").get<uint64_t>()};
    // A key file is data anyone with write access to the repository can
    // plant: its KDF cost must not be able to exhaust memory or time.
    if (f.kdf.ops_limit < 1 || f.kdf.ops_limit > 64 || f.kdf.mem_limit < 8192 || f.kdf.mem_limit > (4ull << 30))
      return corrupt.WithContext("Argon2id parameters out of range");
    if (!Base64Decode(kdf.at("salt").get<std::string>(), &f.salt) ||
        !Base64Decode(j.at("data").get<std::string>(), &f.sealed_master_key))
      return corrupt.WithContext("bad base64");
    if (f.salt.size() != crypto_pwhash_SALTBYTES) return corrupt.WithContext("salt has the wrong length");
    return f;
  } catch (const json::exception&) {
    return corrupt;
  }
}

Status Repository::Init(Storage& storage, const std::string& password, const InitOptions& options) {
  CAIRN_RETURN_IF_ERROR(options.chunker.Validate());
  if (password.empty()) return Status::InvalidArgument("an empty password is not allowed");
  auto existing = storage.Stat("config");
  if (existing.ok()) return Status::AlreadyExists("a repository already exists at " + storage.location());
  if (!existing.status().IsNotFound()) return existing.status();
  bool has_objects = false;
  Status listed = storage.List("", [&](const ObjectInfo&) {
    has_objects = true;
    return Status::Aborted("stop at the first object");
  });
  if (!listed.ok() && !has_objects) return listed;
  if (has_objects) return Status::AlreadyExists(storage.location() + " is not empty; refusing to create a repository there");

  CAIRN_ASSIGN_OR_RETURN(crypto::MasterKey master, crypto::MasterKey::Generate());
  CAIRN_ASSIGN_OR_RETURN(json key_file, MakeKeyFile(master, password, options.kdf));
  CAIRN_ASSIGN_OR_RETURN(std::string key_id, RandomHexId());
  CAIRN_ASSIGN_OR_RETURN(std::string repo_id, RandomHexId());
  CAIRN_RETURN_IF_ERROR(storage.Put("keys/" + key_id, AsBytes(key_file.dump(1))));

  json config = {{"format", kFormatName},
                 {"version", kFormatVersion},
                 {"id", repo_id},
                 {"created", FormatTime(NowNs())},
                 {"chunker",
                  {{"algorithm", "fastcdc"},
                   {"min_size", options.chunker.min_size},
                   {"avg_size", options.chunker.avg_size},
                   {"max_size", options.chunker.max_size}}},
                 {"pack_size", options.pack_size}};
  CAIRN_ASSIGN_OR_RETURN(config["mac"], ConfigMac(master, config));
  // The config goes last: a repository without it is not yet a repository.
  return storage.Put("config", AsBytes(config.dump(1)));
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<Storage> storage,
                                                     const std::string& password) {
  const std::string where = storage->location();
  auto raw_config = storage->Get("config");
  if (!raw_config.ok()) {
    if (raw_config.status().IsNotFound())
      return Status::NotFound(where + " is not a cairn repository (no config object)");
    return raw_config.status();
  }
  auto config_or = ParseJson(*raw_config, "repository config");
  if (!config_or.ok()) return config_or.status();
  json config = std::move(config_or).value();
  if (config.value("format", "") != kFormatName)
    return Status::NotFound(where + " is not a cairn repository (config has no cairn format marker)");
  if (!config.contains("version") || !config["version"].is_number_integer() || config["version"] != kFormatVersion)
    return Status::Unsupported("repository format version " + config.value("version", json()).dump() +
                               " is not supported by this cairn (it reads version " +
                               std::to_string(kFormatVersion) + ")");

  std::unique_ptr<Repository> repo(new Repository());
  repo->storage_ = std::move(storage);

  std::vector<std::string> key_names;
  CAIRN_RETURN_IF_ERROR(repo->storage_->List("keys/", [&](const ObjectInfo& o) {
    key_names.push_back(o.key);
    return Status::Ok();
  }));
  std::sort(key_names.begin(), key_names.end());
  if (key_names.empty()) return Status::Corruption(where + " has no key files; the repository cannot be opened");
  std::vector<std::string> corrupt_keys;
  bool opened = false;
  for (const std::string& name : key_names) {
    auto raw = repo->storage_->Get(name);
    if (!raw.ok()) return raw.status();
    auto j = ParseJson(*raw, "key file " + name);
    Result<crypto::MasterKey> master = j.ok() ? OpenKeyFile(*j, password, name) : Result<crypto::MasterKey>(j.status());
    if (master.ok()) {
      repo->key_ = *master;
      repo->current_key_id_ = name.substr(5);
      opened = true;
      break;
    }
    if (master.status().code() == StatusCode::kCorruption) corrupt_keys.push_back(master.status().message());
  }
  if (!opened) {
    if (!corrupt_keys.empty() && corrupt_keys.size() == key_names.size()) return Status::Corruption(corrupt_keys[0]);
    std::string msg = "wrong password: no key in " + where + " opens with it";
    if (!corrupt_keys.empty()) msg += " (" + corrupt_keys[0] + ")";
    return Status::WrongPassword(msg);
  }
  CAIRN_ASSIGN_OR_RETURN(std::string mac, ConfigMac(repo->key_, config));
  if (config.value("mac", "") != mac)
    return Status::Corruption("repository config is corrupt: authentication failed");
  try {
    auto& c = repo->config_;
    c.id = config.at("id");
    c.created = config.value("created", "");
    c.chunker.min_size = config.at("chunker").at("min_size");
    c.chunker.avg_size = config.at("chunker").at("avg_size");
    c.chunker.max_size = config.at("chunker").at("max_size");
    c.pack_size = config.at("pack_size");
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("repository config is corrupt: ") + e.what());
  }
  CAIRN_RETURN_IF_ERROR(repo->config_.chunker.Validate().WithContext("repository config"));
  repo->chunker_ = std::make_unique<Chunker>(repo->config_.chunker, repo->key_.chunker_seed);
  return repo;
}

Repository::~Repository() { sodium_memzero(&key_, sizeof(key_)); }

// --- content-addressed objects ------------------------------------------------

Result<Id> Repository::PutContentAddressed(const std::string& dir, ByteView plaintext) {
  CAIRN_ASSIGN_OR_RETURN(Bytes sealed, crypto::Seal(key_, plaintext));
  Id id = crypto::Sha256(sealed);
  CAIRN_RETURN_IF_ERROR(storage_->Put(dir + "/" + id.Hex(), sealed));
  return id;
}

Status Repository::GetContentAddressed(const std::string& dir, const Id& id, Bytes* plaintext) {
  const std::string name = dir + "/" + id.Hex();
  auto raw = storage_->Get(name);
  if (!raw.ok()) return raw.status();
  if (crypto::Sha256(*raw) != id) return Status::Corruption(name + " is corrupt: content hash mismatch");
  return crypto::Open(key_, *raw, plaintext).WithContext(name + " is corrupt");
}

// --- index -----------------------------------------------------------------------

void Repository::IndexState::Add(const Id& pack, const std::vector<PackedBlob>& blobs) {
  auto [it, inserted] = pack_numbers.try_emplace(pack, static_cast<uint32_t>(packs.size()));
  if (inserted) packs.push_back(pack);
  for (const PackedBlob& b : blobs)
    index.try_emplace(b.id, IndexEntry{it->second, b.type, b.offset, b.stored_length, b.raw_length});
}

void Repository::AddToIndex(const Id& pack, const std::vector<PackedBlob>& blobs) {
  std::unique_lock lock(index_mu_);
  state_.Add(pack, blobs);
}

Status Repository::LoadIndex(bool verify_packs) {
  std::optional<std::unordered_map<Id, uint64_t, IdHash>> pack_sizes;
  if (verify_packs) {
    pack_sizes.emplace();
    CAIRN_RETURN_IF_ERROR(storage_->List("data/", [&](const ObjectInfo& o) {
      Id id;
      const size_t slash = o.key.find_last_of('/');
      if (slash != std::string::npos && Id::FromHex(o.key.substr(slash + 1), &id)) (*pack_sizes)[id] = o.size;
      return Status::Ok();
    }).WithContext("listing packs"));
  }
  std::vector<Id> ids;
  CAIRN_RETURN_IF_ERROR(storage_->List("index/", [&](const ObjectInfo& o) {
    Id id;
    if (Id::FromHex(o.key.substr(6), &id)) ids.push_back(id);
    return Status::Ok();
  }).WithContext("listing index files"));
  std::sort(ids.begin(), ids.end());
  IndexState fresh;
  std::set<Id> missing, short_packs;
  for (const Id& id : ids) {
    Bytes plain;
    Status st = GetContentAddressed("index", id, &plain);
    Result<std::vector<PackContents>> packs = st.ok() ? DecodeIndex(plain) : Result<std::vector<PackContents>>(st);
    if (!packs.ok()) {
      // A storage error that is not about this object (network, permissions)
      // must not pass for damage: the caller cannot go on without the index.
      if (st.code() == StatusCode::kIOError) return st.WithContext("reading index/" + id.Hex());
      Status named = packs.status().code() == StatusCode::kCorruption && st.ok()
                         ? packs.status().WithContext("index/" + id.Hex() + " is corrupt")
                         : packs.status();
      fresh.damaged_index_files.push_back(named.message());
      continue;
    }
    for (const PackContents& p : *packs) {
      if (pack_sizes) {
        auto it = pack_sizes->find(p.pack_id);
        if (it == pack_sizes->end()) {
          missing.insert(p.pack_id);
          for (const PackedBlob& b : p.blobs) fresh.lost_blobs.emplace(b.id, p.pack_id);
          continue;
        }
        uint64_t need = 4;  // the header length at the end
        for (const PackedBlob& b : p.blobs) need = std::max<uint64_t>(need, uint64_t{b.offset} + b.stored_length + 4);
        if (it->second < need) {
          short_packs.insert(p.pack_id);
          for (const PackedBlob& b : p.blobs) fresh.lost_blobs.emplace(b.id, p.pack_id);
          continue;
        }
      }
      fresh.Add(p.pack_id, p.blobs);
    }
    fresh.index_files.push_back(id);
  }
  for (auto it = fresh.lost_blobs.begin(); it != fresh.lost_blobs.end();)  // another copy is fine
    it = fresh.index.count(it->first) ? fresh.lost_blobs.erase(it) : std::next(it);
  fresh.missing_packs.assign(missing.begin(), missing.end());
  fresh.short_packs.assign(short_packs.begin(), short_packs.end());
  std::unique_lock lock(index_mu_);
  state_ = std::move(fresh);
  return Status::Ok();
}

std::vector<std::string> Repository::damaged_index_files() const {
  std::shared_lock lock(index_mu_);
  return state_.damaged_index_files;
}
std::vector<Id> Repository::missing_packs() const {
  std::shared_lock lock(index_mu_);
  return state_.missing_packs;
}
std::vector<Id> Repository::short_packs() const {
  std::shared_lock lock(index_mu_);
  return state_.short_packs;
}
std::optional<Id> Repository::LostPackOf(const Id& blob) const {
  std::shared_lock lock(index_mu_);
  auto it = state_.lost_blobs.find(blob);
  if (it == state_.lost_blobs.end()) return std::nullopt;
  return it->second;
}

std::vector<Id> Repository::index_files() const {
  std::shared_lock lock(index_mu_);
  return state_.index_files;
}

std::optional<BlobLocation> Repository::Lookup(const Id& blob) const {
  std::shared_lock lock(index_mu_);
  auto it = state_.index.find(blob);
  if (it == state_.index.end()) return std::nullopt;
  const IndexEntry& e = it->second;
  return BlobLocation{state_.packs[e.pack], e.type, e.offset, e.stored_length, e.raw_length};
}

size_t Repository::IndexedBlobCount() const {
  std::shared_lock lock(index_mu_);
  return state_.index.size();
}

void Repository::ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) const {
  std::shared_lock lock(index_mu_);
  for (const auto& [id, e] : state_.index)
    fn(id, BlobLocation{state_.packs[e.pack], e.type, e.offset, e.stored_length, e.raw_length});
}

// --- blobs -------------------------------------------------------------------------

Status Repository::DecodeAndVerify(const Id& blob, ByteView stored, uint32_t raw_length, Bytes* plaintext,
                                   bool rehash) const {
  Status st = DecodeBlob(key_, blob, stored, raw_length, plaintext);
  if (st.ok() && rehash) {
    auto id = crypto::BlobId(key_, *plaintext);
    if (!id.ok()) st = id.status();
    else if (*id != blob) st = Status::Corruption("content does not match its id");
  }
  return st.WithContext("blob " + blob.Hex() + " is corrupt");
}

Status Repository::ReadBlob(const Id& blob, Bytes* plaintext) {
  auto loc = Lookup(blob);
  if (!loc) return Status::NotFound("blob " + blob.Hex() + " is not in the index (repository damaged; run check)");
  const std::string pack = PackKey(loc->pack);
  auto stored = storage_->GetRange(pack, loc->offset, loc->stored_length);
  if (!stored.ok()) return stored.status().WithContext("reading blob " + blob.ShortHex());
  return DecodeAndVerify(blob, *stored, loc->raw_length, plaintext).WithContext("pack " + pack);
}

namespace {
constexpr uint64_t kTreePackCacheBytes = 256ull << 20;
}  // namespace

Result<std::shared_ptr<const Bytes>> Repository::TreePack(const Id& pack) {
  {
    std::lock_guard lock(tree_packs_mu_);
    if (auto it = tree_packs_.find(pack); it != tree_packs_.end()) return it->second;
    if (tree_pack_bytes_ >= kTreePackCacheBytes) return std::shared_ptr<const Bytes>();
  }
  const std::string key = PackKey(pack);
  auto data = storage_->Get(key);
  if (!data.ok()) return data.status().WithContext("reading tree pack " + key);
  auto shared = std::make_shared<const Bytes>(std::move(data).value());
  std::lock_guard lock(tree_packs_mu_);
  tree_pack_bytes_ += shared->size();
  tree_packs_.emplace(pack, shared);
  return shared;
}

Result<Tree> Repository::LoadTree(const Id& tree) {
  Bytes plain;
  auto loc = Lookup(tree);
  std::shared_ptr<const Bytes> pack;
  if (loc && !storage_->capabilities().cheap_range_reads) {
    CAIRN_ASSIGN_OR_RETURN(pack, TreePack(loc->pack));
  }
  if (pack && static_cast<uint64_t>(loc->offset) + loc->stored_length <= pack->size()) {
    ByteView stored(pack->data() + loc->offset, loc->stored_length);
    CAIRN_RETURN_IF_ERROR(DecodeAndVerify(tree, stored, loc->raw_length, &plain).WithContext("pack " + PackKey(loc->pack)));
  } else {
    CAIRN_RETURN_IF_ERROR(ReadBlob(tree, &plain));
  }
  auto decoded = DecodeTree(plain);
  if (!decoded.ok()) return decoded.status().WithContext("tree " + tree.Hex());
  return decoded;
}

std::unique_ptr<RepositoryWriter> Repository::NewWriter(const CompressionOptions& compression,
                                                        bool dedup_against_index) {
  return std::make_unique<RepositoryWriter>(*this, compression, dedup_against_index);
}

// --- snapshots --------------------------------------------------------------------------

Result<Id> Repository::SaveSnapshot(const Snapshot& snapshot) {
  return PutContentAddressed("snapshots", AsBytes(SnapshotToJson(snapshot).dump()));
}

Result<std::vector<Id>> Repository::ListSnapshotIds() {
  std::vector<Id> ids;
  CAIRN_RETURN_IF_ERROR(storage_->List("snapshots/", [&](const ObjectInfo& o) {
    Id id;
    if (Id::FromHex(o.key.substr(10), &id)) ids.push_back(id);
    return Status::Ok();
  }));
  return ids;
}

Result<Snapshot> Repository::LoadSnapshot(const Id& id) {
  Bytes plain;
  CAIRN_RETURN_IF_ERROR(GetContentAddressed("snapshots", id, &plain));
  auto j = ParseJson(plain, "snapshots/" + id.Hex());
  if (!j.ok()) return j.status();
  auto snap = SnapshotFromJson(*j);
  if (!snap.ok()) return snap.status().WithContext("snapshots/" + id.Hex() + " is corrupt");
  snap->id = id;
  return snap;
}

Result<std::vector<Snapshot>> Repository::ListSnapshots(std::vector<std::string>* damaged) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<Id> ids, ListSnapshotIds());
  std::vector<Snapshot> out;
  for (const Id& id : ids) {
    auto snap = LoadSnapshot(id);
    if (!snap.ok()) {
      if (snap.status().IsNotFound()) continue;  // forgotten while we listed
      if (!damaged || snap.status().code() != StatusCode::kCorruption) return snap.status();
      damaged->push_back(snap.status().message());
      continue;
    }
    out.push_back(std::move(snap).value());
  }
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
  });
  return out;
}

Result<Snapshot> Repository::FindSnapshot(const std::string& id_or_latest) {
  if (id_or_latest == "latest") {
    std::vector<std::string> damaged;
    CAIRN_ASSIGN_OR_RETURN(std::vector<Snapshot> all, ListSnapshots(&damaged));
    if (all.empty())
      return Status::NotFound(damaged.empty() ? "the repository has no snapshots"
                                              : "the repository has no intact snapshot (" + damaged.front() + ")");
    return all.back();
  }
  if (id_or_latest.size() < 4) return Status::InvalidArgument("snapshot id '" + id_or_latest + "' is too short");
  CAIRN_ASSIGN_OR_RETURN(std::vector<Id> ids, ListSnapshotIds());
  const Id* found = nullptr;
  for (const Id& id : ids) {
    if (!id.Hex().starts_with(id_or_latest)) continue;
    if (found) return Status::InvalidArgument("snapshot id prefix '" + id_or_latest + "' is ambiguous");
    found = &id;
  }
  if (!found) return Status::NotFound("no snapshot with id " + id_or_latest);
  return LoadSnapshot(*found);
}

Status Repository::DeleteSnapshot(const Id& id) { return storage_->Delete("snapshots/" + id.Hex()); }

// --- keys -----------------------------------------------------------------------------------

Result<std::string> Repository::AddKey(const std::string& new_password, const crypto::KdfParams& kdf) {
  if (new_password.empty()) return Status::InvalidArgument("an empty password is not allowed");
  CAIRN_ASSIGN_OR_RETURN(json key_file, MakeKeyFile(key_, new_password, kdf));
  CAIRN_ASSIGN_OR_RETURN(std::string id, RandomHexId());
  CAIRN_RETURN_IF_ERROR(storage_->Put("keys/" + id, AsBytes(key_file.dump(1))));
  return id;
}

Result<std::vector<KeyInfo>> Repository::ListKeys() {
  std::vector<KeyInfo> out;
  CAIRN_RETURN_IF_ERROR(storage_->List("keys/", [&](const ObjectInfo& o) {
    KeyInfo info;
    info.id = o.key.substr(5);
    info.current = info.id == current_key_id_;
    auto raw = storage_->Get(o.key);
    if (!raw.ok()) return raw.status();
    auto j = ParseJson(*raw, "key file " + o.key);
    if (j.ok()) {
      info.created = j->value("created", "");
      info.hostname = j->value("hostname", "");
      info.username = j->value("username", "");
    }
    out.push_back(std::move(info));
    return Status::Ok();
  }));
  std::sort(out.begin(), out.end(), [](const KeyInfo& a, const KeyInfo& b) { return a.created < b.created; });
  return out;
}

Status Repository::VerifyKeyFile(ByteView raw, const std::string& name) {
  auto j = ParseJson(raw, "key file " + name);
  if (!j.ok()) return j.status();
  return DecodeKeyFile(*j, name).status();
}

Status Repository::RemoveKey(const std::string& id_prefix) {
  auto keys = ListKeys();
  if (!keys.ok()) return keys.status();
  const KeyInfo* match = nullptr;
  for (const KeyInfo& k : *keys) {
    if (!id_prefix.empty() && k.id.starts_with(id_prefix)) {
      if (match) return Status::InvalidArgument("key id prefix '" + id_prefix + "' is ambiguous");
      match = &k;
    }
  }
  if (!match) return Status::NotFound("no key with id " + id_prefix);
  if (match->current)
    return Status::InvalidArgument("refusing to remove key " + match->id.substr(0, 8) +
                                   ": it is the key this command opened the repository with");
  return storage_->Delete("keys/" + match->id);
}

}  // namespace cairn
