// Storage wrappers that limit how hard Cairn drives a backend.
//
// ConcurrencyLimitedStorage: at most `max_in_flight` calls run in the inner
// driver at once; further callers block until a slot frees (a counting
// semaphore, FIFO-ish, no timeout). List holds one slot while it collects the
// whole listing from the inner driver and releases it before calling `fn`,
// so `fn` may call back into the storage without deadlocking (the price is
// that the listing is buffered in memory). capabilities().preferred_concurrency
// becomes min(inner, max_in_flight).
//
// BandwidthLimitedStorage: token buckets, one for uploads (bytes passed to
// Put) and one for downloads (bytes returned by Get and GetRange), shared by
// all threads. Each bucket holds at most one second's worth of bytes; a
// transfer takes its bytes from the bucket, running it into debt if needed,
// and the caller then sleeps until the debt is repaid, so over any long
// stretch the average rate stays at or below the limit (single transfers
// are not paced byte by byte). Put pays before the transfer, Get/GetRange
// after it (their size is not known earlier). A limit of 0 means unlimited.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "cairn/forwarding_storage.h"

namespace cairn {

class ConcurrencyLimitedStorage final : public ForwardingStorage {
 public:
  ConcurrencyLimitedStorage(std::unique_ptr<Storage> inner, int max_in_flight);

  Status Put(std::string_view key, ByteView data) override;
  Result<Bytes> Get(std::string_view key) override;
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Delete(std::string_view key) override;
  Result<ObjectInfo> Stat(std::string_view key) override;
  StorageCapabilities capabilities() const override;

 private:
  class Slot;
  void Acquire();
  void Release();

  std::unique_ptr<Storage> inner_;
  const int max_in_flight_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
};

struct BandwidthLimits {
  uint64_t upload_bytes_per_sec = 0;    // Put; 0 = unlimited
  uint64_t download_bytes_per_sec = 0;  // Get, GetRange; 0 = unlimited
};

class BandwidthLimitedStorage final : public ForwardingStorage {
 public:
  BandwidthLimitedStorage(std::unique_ptr<Storage> inner, BandwidthLimits limits);

  Status Put(std::string_view key, ByteView data) override;
  Result<Bytes> Get(std::string_view key) override;
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;

 private:
  class TokenBucket {
   public:
    explicit TokenBucket(uint64_t rate);
    // Takes `bytes` and sleeps as long as the bucket is in debt.
    void Take(uint64_t bytes);

   private:
    const double rate_;
    std::mutex mu_;
    double tokens_;
    std::chrono::steady_clock::time_point last_;
  };

  std::unique_ptr<Storage> inner_;
  std::unique_ptr<TokenBucket> up_, down_;
};

std::unique_ptr<Storage> WrapConcurrencyLimit(std::unique_ptr<Storage> inner, int max_in_flight);
std::unique_ptr<Storage> WrapBandwidthLimit(std::unique_ptr<Storage> inner, BandwidthLimits limits);

}  // namespace cairn
