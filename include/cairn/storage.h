// The storage-driver contract. Every backend (local directory, S3, ...) fills
// in this one interface, and every driver must pass the conformance suite in
// src/storage/testing/storage_conformance.h.
//
// The contract is shaped for object stores: whole-object puts that are atomic
// (a reader sees the old object, no object, or the whole new one, never a
// prefix), no rename, no append. Keys are relative, '/'-separated paths such as
// "data/3f/3fa2...". Drivers are thread-safe: any method may be called from
// several threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/bytes.h"
#include "cairn/status.h"

namespace cairn {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

struct StorageCapabilities {
  // How many requests are worth running at once (a disk: few; S3: many).
  int preferred_concurrency = 2;
  // Whether a range read costs about as much as reading the bytes (local
  // files) rather than a round trip (object stores). Readers batch when false.
  bool cheap_range_reads = true;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Stores `data` under `key`, replacing any object there, atomically and
  // durably: when Put returns OK the object survives a crash.
  virtual Status Put(std::string_view key, ByteView data) = 0;
  // Like Put, but the object need only be durable after the next Flush. A
  // pack is referenced by nothing until an index written after Flush, so its
  // durability can wait, and a disk can write packs back while later ones are
  // being built instead of stalling on each.
  virtual Status PutUnsynced(std::string_view key, ByteView data) { return Put(key, data); }
  // Makes every earlier PutUnsynced of this instance durable.
  virtual Status Flush() { return Status::Ok(); }
  // Returns the whole object. NotFound when there is none.
  virtual Result<Bytes> Get(std::string_view key) = 0;
  // Returns bytes [offset, offset+length) of the object. Reading past the end
  // is Corruption (a caller asks only for ranges an index promised).
  virtual Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) = 0;
  // Calls `fn` for every object whose key starts with `prefix`, in no
  // particular order. Stops and returns fn's error if fn fails.
  virtual Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) = 0;
  // Removes the object. NotFound when there is none.
  virtual Status Delete(std::string_view key) = 0;
  // Size of the object. NotFound when there is none.
  virtual Result<ObjectInfo> Stat(std::string_view key) = 0;

  // Removes what writes interrupted by a crash left behind (a local driver's
  // temp files; an object store's unfinished uploads). Safe only while no
  // other process writes, i.e. under an exclusive repository lock.
  // Returns how many leftovers were removed.
  virtual Result<uint64_t> RemoveIncompleteWrites() { return uint64_t{0}; }

  virtual StorageCapabilities capabilities() const = 0;
  // Human-readable location for messages ("/srv/backups/repo", "s3://bucket/prefix").
  virtual std::string location() const = 0;
};

// Opens a local directory as storage; the directory must exist unless
// `create` is true.
Result<std::unique_ptr<Storage>> OpenLocalStorage(const std::string& root, bool create);

// Opens storage from a location string: a path (local) or, where a driver for
// it is compiled in, a URL such as "s3:...".
Result<std::unique_ptr<Storage>> OpenStorage(const std::string& location, bool create);

}  // namespace cairn
