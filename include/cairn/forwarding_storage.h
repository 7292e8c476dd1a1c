// Base for storage wrappers (retry, limits, fault injection): forwards every
// call to an inner storage, so a wrapper overrides only what it changes.
// PutUnsynced and Flush are deliberately not forwarded: the Storage defaults
// route PutUnsynced through this object's Put, so a wrapper's Put logic
// (retries, limits, injected faults) also applies to it.
#pragma once

#include "cairn/storage.h"

namespace cairn {

class ForwardingStorage : public Storage {
 public:
  // `inner` is not owned; subclasses that own it keep it alive.
  explicit ForwardingStorage(Storage* inner) : inner_(inner) {}

  Status Put(std::string_view key, ByteView data) override { return inner_->Put(key, data); }
  Result<Bytes> Get(std::string_view key) override { return inner_->Get(key); }
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    return inner_->GetRange(key, offset, length);
  }
  Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) override {
    return inner_->List(prefix, fn);
  }
  Status Delete(std::string_view key) override { return inner_->Delete(key); }
  Result<ObjectInfo> Stat(std::string_view key) override { return inner_->Stat(key); }
  Result<uint64_t> RemoveIncompleteWrites() override { return inner_->RemoveIncompleteWrites(); }
  StorageCapabilities capabilities() const override { return inner_->capabilities(); }
  std::string location() const override { return inner_->location(); }

 protected:
  Storage* forward_target() const { return inner_; }

 private:
  Storage* inner_;
};

}  // namespace cairn
