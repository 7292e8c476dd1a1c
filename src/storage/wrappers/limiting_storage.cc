#include "storage/wrappers/limiting_storage.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace cairn {

// ---- ConcurrencyLimitedStorage ----

class ConcurrencyLimitedStorage::Slot {
 public:
  explicit Slot(ConcurrencyLimitedStorage* s) : s_(s) { s_->Acquire(); }
  ~Slot() { s_->Release(); }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  ConcurrencyLimitedStorage* s_;
};

ConcurrencyLimitedStorage::ConcurrencyLimitedStorage(std::unique_ptr<Storage> inner, int max_in_flight)
    : ForwardingStorage(inner.get()), inner_(std::move(inner)), max_in_flight_(std::max(1, max_in_flight)) {}

void ConcurrencyLimitedStorage::Acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return in_flight_ < max_in_flight_; });
  ++in_flight_;
}

void ConcurrencyLimitedStorage::Release() {
  {
    std::lock_guard lock(mu_);
    --in_flight_;
  }
  cv_.notify_one();
}

Status ConcurrencyLimitedStorage::Put(std::string_view key, ByteView data) {
  Slot slot(this);
  return inner_->Put(key, data);
}

Result<Bytes> ConcurrencyLimitedStorage::Get(std::string_view key) {
  Slot slot(this);
  return inner_->Get(key);
}

Result<Bytes> ConcurrencyLimitedStorage::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  Slot slot(this);
  return inner_->GetRange(key, offset, length);
}

Status ConcurrencyLimitedStorage::List(std::string_view prefix,
                                       const std::function<Status(const ObjectInfo&)>& fn) {
  std::vector<ObjectInfo> all;
  {
    Slot slot(this);
    CAIRN_RETURN_IF_ERROR(inner_->List(prefix, [&](const ObjectInfo& info) {
      all.push_back(info);
      return Status::Ok();
    }));
  }
  for (const ObjectInfo& info : all) CAIRN_RETURN_IF_ERROR(fn(info));
  return Status::Ok();
}

Status ConcurrencyLimitedStorage::Delete(std::string_view key) {
  Slot slot(this);
  return inner_->Delete(key);
}

Result<ObjectInfo> ConcurrencyLimitedStorage::Stat(std::string_view key) {
  Slot slot(this);
  return inner_->Stat(key);
}

StorageCapabilities ConcurrencyLimitedStorage::capabilities() const {
  StorageCapabilities caps = inner_->capabilities();
  caps.preferred_concurrency = std::min(caps.preferred_concurrency, max_in_flight_);
  return caps;
}

// ---- BandwidthLimitedStorage ----

BandwidthLimitedStorage::TokenBucket::TokenBucket(uint64_t rate)
    : rate_(static_cast<double>(rate)), tokens_(static_cast<double>(rate)), last_(std::chrono::steady_clock::now()) {}

void BandwidthLimitedStorage::TokenBucket::Take(uint64_t bytes) {
  double wait_seconds = 0;
  {
    std::lock_guard lock(mu_);
    auto now = std::chrono::steady_clock::now();
    tokens_ = std::min(rate_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ < 0) wait_seconds = -tokens_ / rate_;
  }
  if (wait_seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(wait_seconds));
}

BandwidthLimitedStorage::BandwidthLimitedStorage(std::unique_ptr<Storage> inner, BandwidthLimits limits)
    : ForwardingStorage(inner.get()), inner_(std::move(inner)) {
  if (limits.upload_bytes_per_sec) up_ = std::make_unique<TokenBucket>(limits.upload_bytes_per_sec);
  if (limits.download_bytes_per_sec) down_ = std::make_unique<TokenBucket>(limits.download_bytes_per_sec);
}

Status BandwidthLimitedStorage::Put(std::string_view key, ByteView data) {
  if (up_) up_->Take(data.size());
  return inner_->Put(key, data);
}

Result<Bytes> BandwidthLimitedStorage::Get(std::string_view key) {
  Result<Bytes> r = inner_->Get(key);
  if (down_ && r.ok()) down_->Take(r->size());
  return r;
}

Result<Bytes> BandwidthLimitedStorage::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  Result<Bytes> r = inner_->GetRange(key, offset, length);
  if (down_ && r.ok()) down_->Take(r->size());
  return r;
}

std::unique_ptr<Storage> WrapConcurrencyLimit(std::unique_ptr<Storage> inner, int max_in_flight) {
  return std::make_unique<ConcurrencyLimitedStorage>(std::move(inner), max_in_flight);
}

std::unique_ptr<Storage> WrapBandwidthLimit(std::unique_ptr<Storage> inner, BandwidthLimits limits) {
  return std::make_unique<BandwidthLimitedStorage>(std::move(inner), limits);
}

}  // namespace cairn
