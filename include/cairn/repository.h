// A Cairn repository: opening and creating one, its keys, index, blobs,
// trees, snapshots and locks. Format: docs/format.md.
//
// Thread-safety: after Open, the read-side methods (Lookup, ReadBlob,
// LoadTree, snapshot listing) may be called from many threads. A
// RepositoryWriter is used from one thread at a time; its uploads run on its
// own background threads.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cairn/bytes.h"
#include "cairn/chunker.h"
#include "cairn/crypto.h"
#include "cairn/format.h"
#include "cairn/status.h"
#include "cairn/storage.h"
#include "cairn/system.h"

namespace cairn {

struct RepositoryConfig {
  std::string id;
  std::string created;
  ChunkerParams chunker;
  uint32_t pack_size = 4 * 1024 * 1024;  // packs are closed at about this size
};

struct InitOptions {
  ChunkerParams chunker;                   // defaults: 512 KiB / 1 MiB / 8 MiB
  // Packs being filled and written are a large share of a backup's memory;
  // 4 MiB (restic's long-time size) keeps the peak low at 256 objects per
  // GiB. Object stores may prefer larger packs (repo init --pack-size).
  uint32_t pack_size = 4 * 1024 * 1024;
  crypto::KdfParams kdf;                   // Argon2id cost of the first key
};

struct BlobLocation {
  Id pack;
  BlobType type = BlobType::kData;
  uint32_t offset = 0, stored_length = 0, raw_length = 0;
};

struct SnapshotSummary {
  uint64_t files_new = 0, files_changed = 0, files_unmodified = 0, dirs = 0;
  uint64_t bytes_read = 0;    // bytes of file content read from the source
  uint64_t bytes_added = 0;   // plaintext bytes of blobs new to the repository
  uint64_t bytes_stored = 0;  // what those blobs took after compression and encryption
  uint64_t total_bytes = 0;   // size of all files in the snapshot
  uint64_t errors = 0;        // source files that could not be read
  double duration_s = 0;
};

struct Snapshot {
  Id id;                // name of the snapshot object
  int64_t time_ns = 0;  // when the backup started, ns since the epoch (UTC)
  Id tree;
  std::vector<std::string> paths;
  std::string hostname, username;
  std::vector<std::string> tags;
  std::optional<Id> parent;
  std::vector<std::string> excludes;
  std::string program_version;
  SnapshotSummary summary;
  // A service restore point's manifest (docs/services.md), as JSON object
  // text; empty for plain path/stdin backups.
  std::string service;
};

struct KeyInfo {
  std::string id;
  std::string created, hostname, username;
  bool current = false;
};

class RepositoryLock;
class RepositoryWriter;

// A key file's fields once its structure and checksum are verified (no
// password needed); docs/format.md, "Keys and encryption".
struct KeyFileFields {
  crypto::KdfParams kdf;
  Bytes salt;
  Bytes sealed_master_key;
};
// Verifies structure, checksum and the KDF cost limits of a parsed key file.
Result<KeyFileFields> DecodeKeyFile(const nlohmann::json& key_file, const std::string& name);

// How an operation that only reads takes the repository lock.
enum class ReadLock {
  kBestEffort,  // take a shared lock if the storage lets us write one (default)
  kNone,        // --no-lock: neither write nor read locks
};

class Repository {
 public:
  // Creates a new repository in empty storage and its first key.
  static Status Init(Storage& storage, const std::string& password, const InitOptions& options);
  // Opens an existing repository with any key that accepts the password.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<Storage> storage, const std::string& password);

  ~Repository();

  Storage& storage() { return *storage_; }
  const crypto::MasterKey& key() const { return key_; }
  const RepositoryConfig& config() const { return config_; }
  const Chunker& chunker() const { return *chunker_; }

  // --- index -------------------------------------------------------------
  // Reads every index file into memory, replacing what an earlier call
  // loaded. Needed before blob reads or writes. An index file that cannot be
  // read or decoded is skipped and named in damaged_index_files(): its blobs
  // look absent, which a backup answers by storing them again and a restore
  // by failing only the files that need them; prune refuses to run.
  //
  // With verify_packs (the default), the packs are listed first (one LIST:
  // cheap on a disk, one request per 1000 packs on S3) and every blob whose
  // pack is missing or shorter than its index entries need counts as absent
  // too: a backup must never save a snapshot that points at data the
  // repository does not have, and a reader must pick the good copy of a blob
  // stored twice.
  // Thread-safety: may run while other threads call Lookup; they see either
  // the old or the new index, never a mix.
  Status LoadIndex(bool verify_packs = true);
  // Index files LoadIndex could not use, each with the reason.
  std::vector<std::string> damaged_index_files() const;
  // Packs the index names that verify_packs found missing or truncated.
  std::vector<Id> missing_packs() const;
  std::vector<Id> short_packs() const;
  // For a blob that counts as absent because its pack is missing or short:
  // that pack (so that messages can name it).
  std::optional<Id> LostPackOf(const Id& blob) const;
  std::optional<BlobLocation> Lookup(const Id& blob) const;
  size_t IndexedBlobCount() const;
  // Calls fn for every indexed blob (one location per blob).
  void ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) const;
  // Ids of the index files read by LoadIndex.
  std::vector<Id> index_files() const;

  // --- blobs and trees -------------------------------------------------------
  // Reads, authenticates, decompresses and verifies the id of one blob.
  Status ReadBlob(const Id& blob, Bytes* plaintext);
  Result<Tree> LoadTree(const Id& tree);
  // Decodes a blob fetched by the caller (batched range reads). Its id is
  // authenticated by decryption; with `rehash` the plaintext's keyed hash is
  // recomputed too (check --read-data: proves the id was computed right).
  Status DecodeAndVerify(const Id& blob, ByteView stored, uint32_t raw_length, Bytes* plaintext,
                         bool rehash = false) const;
  // With dedup_against_index false, only blobs this writer already took are
  // skipped (prune uses this to copy blobs out of packs it will delete).
  std::unique_ptr<RepositoryWriter> NewWriter(const CompressionOptions& compression, bool dedup_against_index = true);

  // --- snapshots ---------------------------------------------------------------
  Result<Id> SaveSnapshot(const Snapshot& snapshot);
  // All snapshots, oldest first. A snapshot object that is damaged (fails
  // authentication or decoding) fails the call, naming the object, unless
  // `damaged` is given: then it is left out and its error added there, so
  // one bad object does not take every other snapshot with it. Storage
  // errors that are not about one object (network, permissions) always fail.
  Result<std::vector<Snapshot>> ListSnapshots(std::vector<std::string>* damaged = nullptr);
  // Ids of the stored snapshot objects, in no particular order.
  Result<std::vector<Id>> ListSnapshotIds();
  // Loads and authenticates one snapshot; corruption names the object.
  Result<Snapshot> LoadSnapshot(const Id& id);
  // "latest" (the newest intact snapshot), or a unique id prefix (resolved
  // on the object names, so a damaged snapshot elsewhere does not matter).
  Result<Snapshot> FindSnapshot(const std::string& id_or_latest);
  Status DeleteSnapshot(const Id& id);

  // --- encrypted objects (index, snapshot, lock) ---------------------------------
  // Seals and stores plaintext under "<dir>/<sha256 of stored bytes>"; returns the id.
  Result<Id> PutContentAddressed(const std::string& dir, ByteView plaintext);
  // Loads, checks the content hash against the name, and opens the object.
  Status GetContentAddressed(const std::string& dir, const Id& id, Bytes* plaintext);

  // --- locks ---------------------------------------------------------------------
  Result<std::unique_ptr<RepositoryLock>> Lock(bool exclusive);
  // For commands that only read (restore, dump, snapshots, check): restores
  // are needed exactly when the repository is a read-only mount, a WORM
  // copy, another user's files or on a full disk, so a lock that cannot be
  // written is a warning (passed to `warn`) and reading goes on, unless an
  // exclusive lock (a prune) is seen. kNone does not even read the locks.
  // Returns null when reading without a lock of its own.
  Result<std::unique_ptr<RepositoryLock>> LockForReading(ReadLock mode,
                                                         const std::function<void(const std::string&)>& warn);

  // --- keys ----------------------------------------------------------------------
  Result<std::string> AddKey(const std::string& new_password, const crypto::KdfParams& kdf = {});
  Result<std::vector<KeyInfo>> ListKeys();
  Status RemoveKey(const std::string& id_prefix);
  const std::string& current_key_id() const { return current_key_id_; }
  // Checks a key file's structure and checksum (no password needed).
  static Status VerifyKeyFile(ByteView raw, const std::string& name);

 private:
  Repository() = default;
  friend class RepositoryWriter;
  void AddToIndex(const Id& pack, const std::vector<PackedBlob>& blobs);

  std::unique_ptr<Storage> storage_;
  crypto::MasterKey key_;
  RepositoryConfig config_;
  std::unique_ptr<Chunker> chunker_;
  std::string current_key_id_;

  struct IndexEntry {
    uint32_t pack;  // position in packs
    BlobType type;
    uint32_t offset, stored_length, raw_length;
  };
  // Everything LoadIndex builds, swapped in whole under index_mu_.
  struct IndexState {
    std::vector<Id> packs;
    std::unordered_map<Id, uint32_t, IdHash> pack_numbers;
    std::unordered_map<Id, IndexEntry, IdHash> index;
    std::vector<Id> index_files;
    std::vector<std::string> damaged_index_files;
    std::vector<Id> missing_packs, short_packs;
    std::unordered_map<Id, Id, IdHash> lost_blobs;  // blob -> its missing or short pack
    void Add(const Id& pack, const std::vector<PackedBlob>& blobs);
  };
  mutable std::shared_mutex index_mu_;
  IndexState state_;

  // Where range reads are round trips (object stores), LoadTree fetches a
  // tree's whole pack once and keeps it: walking a snapshot then costs one
  // request per tree pack instead of one per directory. Bounded; past the
  // bound trees are read one by one again.
  Result<std::shared_ptr<const Bytes>> TreePack(const Id& pack);
  std::mutex tree_packs_mu_;
  std::unordered_map<Id, std::shared_ptr<const Bytes>, IdHash> tree_packs_;
  uint64_t tree_pack_bytes_ = 0;
};

// Collects new blobs into packs, uploads full packs in the background, and
// on Finish writes one index file for everything it uploaded. Write order per
// docs/format.md: packs, then index; the caller writes the snapshot after.
class RepositoryWriter {
 public:
  RepositoryWriter(Repository& repo, const CompressionOptions& compression, bool dedup_against_index);
  ~RepositoryWriter();

  // True when the repository or this writer already holds the blob.
  bool Known(const Id& id) const;
  // Stores a blob already encoded with EncodeBlob. Returns false (and stores
  // nothing) if the blob is known. Thread-safe.
  bool AddEncoded(BlobType type, const Id& id, ByteView stored, uint32_t raw_length);
  // Encodes and stores plaintext unless known. Returns the id.
  Result<Id> Add(BlobType type, ByteView plaintext);
  // Flushes open packs, waits for uploads, writes the index, and only then
  // makes the repository's in-memory index name the new blobs. The first
  // upload error, if any, is returned here; a writer that fails leaves the
  // in-memory index as it was.
  Status Finish();

  // True once an upload has failed; Finish will report why.
  bool failed() const {
    std::lock_guard lock(mu_);
    return !upload_status_.ok();
  }
  uint64_t packs_written() const { return packs_written_; }
  // Index file written by Finish, if any.
  const std::optional<Id>& index_written() const { return index_written_; }
  uint64_t bytes_stored() const { return bytes_stored_; }
  const CompressionOptions& compression() const { return compression_; }

 private:
  struct OpenPack {
    Bytes data;
    std::vector<PackedBlob> blobs;
  };
  void ClosePack(OpenPack* pack);  // requires mu_
  void UploadLoop();

  Repository& repo_;
  CompressionOptions compression_;
  bool dedup_against_index_;
  mutable std::mutex mu_;
  std::condition_variable queue_cv_;
  std::unordered_map<Id, bool, IdHash> pending_;  // added by this writer, not yet indexed
  OpenPack open_[2];                              // by BlobType
  std::vector<std::pair<Bytes, std::vector<PackedBlob>>> queue_;
  std::vector<Bytes> spare_buffers_;  // uploaded packs' buffers, reused to avoid first-touch page faults
  size_t uploads_in_flight_ = 0;
  size_t max_queued_ = 1;
  bool stopping_ = false;
  Status upload_status_;
  std::vector<PackContents> written_;
  std::vector<std::thread> uploaders_;
  std::atomic<uint64_t> packs_written_{0}, bytes_stored_{0};
  std::optional<Id> index_written_;
};

// Held while an operation uses the repository; released on destruction.
class RepositoryLock {
 public:
  RepositoryLock(Repository& repo, std::string key, Bytes plaintext);
  ~RepositoryLock();

 private:
  void RefreshLoop();
  Repository& repo_;
  std::string key_;
  Bytes plaintext_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread refresher_;
};

// Storage key of a pack: "data/<first two hex digits>/<id hex>".
std::string PackKey(const Id& pack);


}  // namespace cairn
