// The storage wrappers: the conformance suite through each of them (over a
// local directory), then retry, concurrency and bandwidth behaviour against
// scripted in-memory storages.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "storage/testing/storage_conformance.h"
#include "storage/testing/storage_test_util.h"
#include "storage/wrappers/limiting_storage.h"
#include "storage/wrappers/retrying_storage.h"

namespace cairn {
namespace {

using namespace std::chrono_literals;
using storage_testing::HasCode;
using storage_testing::HoldsBytes;
using storage_testing::IsOk;
using storage_testing::MakeScratchLocalStorage;
using storage_testing::PatternBytes;

std::unique_ptr<Storage> RetryingLocal() { return WrapRetrying(MakeScratchLocalStorage()); }
std::unique_ptr<Storage> ConcurrencyLimitedLocal() { return WrapConcurrencyLimit(MakeScratchLocalStorage(), 2); }
std::unique_ptr<Storage> BandwidthLimitedLocal() {
  return WrapBandwidthLimit(MakeScratchLocalStorage(), {1ull << 30, 1ull << 30});
}

}  // namespace

namespace storage_testing {
INSTANTIATE_TEST_SUITE_P(Wrappers, StorageConformanceTest,
                         ::testing::Values(StorageDriver{"retrying_local", &RetryingLocal},
                                           StorageDriver{"concurrency_limited_local", &ConcurrencyLimitedLocal},
                                           StorageDriver{"bandwidth_limited_local", &BandwidthLimitedLocal}));
}  // namespace storage_testing

namespace {

// A map in memory, with optional scripted failures and a per-call delay.
class ScriptedStorage : public Storage {
 public:
  // The next `n` calls (of any method) fail with `status` before doing anything.
  void FailNext(int n, Status status) {
    std::lock_guard lock(mu_);
    fail_count_ = n;
    fail_status_ = std::move(status);
  }
  void set_delay(std::chrono::milliseconds d) { delay_ = d; }
  int calls() const { return calls_; }
  int max_in_flight() const { return max_in_flight_; }

  Status Put(std::string_view key, ByteView data) override {
    Enter e(this);
    CAIRN_RETURN_IF_ERROR(MaybeFail());
    std::lock_guard lock(mu_);
    objects_[std::string(key)] = Bytes(data.begin(), data.end());
    return Status::Ok();
  }
  Result<Bytes> Get(std::string_view key) override {
    Enter e(this);
    CAIRN_RETURN_IF_ERROR(MaybeFail());
    std::lock_guard lock(mu_);
    auto it = objects_.find(std::string(key));
    if (it == objects_.end()) return Status::NotFound(std::string(key));
    return it->second;
  }
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    CAIRN_ASSIGN_OR_RETURN(Bytes all, Get(key));
    if (offset > all.size() || length > all.size() - offset) return Status::Corruption("past the end");
    return Bytes(all.begin() + offset, all.begin() + offset + length);
  }
  // Lists in key order; fails with the scripted status after delivering
  // `list_fail_after_` objects, when set.
  Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) override {
    Enter e(this);
    CAIRN_RETURN_IF_ERROR(MaybeFail());
    std::vector<ObjectInfo> all;
    {
      std::lock_guard lock(mu_);
      for (const auto& [key, data] : objects_)
        if (key.starts_with(prefix)) all.push_back({key, data.size()});
    }
    int delivered = 0;
    for (const ObjectInfo& info : all) {
      if (list_fail_after_ >= 0 && delivered == list_fail_after_) {
        list_fail_after_ = -1;
        return TransientError("connection reset while listing");
      }
      CAIRN_RETURN_IF_ERROR(fn(info));
      ++delivered;
    }
    return Status::Ok();
  }
  Status Delete(std::string_view key) override {
    Enter e(this);
    std::lock_guard lock(mu_);
    bool existed = objects_.erase(std::string(key)) > 0;
    if (delete_then_fail_) {  // the request "reached the server", the answer was lost
      delete_then_fail_ = false;
      return TransientError("connection reset after DELETE was sent");
    }
    return existed ? Status::Ok() : Status::NotFound(std::string(key));
  }
  Result<ObjectInfo> Stat(std::string_view key) override {
    CAIRN_ASSIGN_OR_RETURN(Bytes all, Get(key));
    return ObjectInfo{std::string(key), all.size()};
  }
  StorageCapabilities capabilities() const override { return {16, false}; }
  std::string location() const override { return "memory"; }

  int list_fail_after_ = -1;
  bool delete_then_fail_ = false;

 private:
  struct Enter {
    explicit Enter(ScriptedStorage* s) : s(s) {
      ++s->calls_;
      int now = ++s->in_flight_;
      int seen = s->max_in_flight_;
      while (now > seen && !s->max_in_flight_.compare_exchange_weak(seen, now)) {
      }
      if (s->delay_.count()) std::this_thread::sleep_for(s->delay_);
    }
    ~Enter() { --s->in_flight_; }
    ScriptedStorage* s;
  };
  Status MaybeFail() {
    std::lock_guard lock(mu_);
    if (fail_count_ <= 0) return Status::Ok();
    --fail_count_;
    return fail_status_;
  }

  std::mutex mu_;
  std::map<std::string, Bytes> objects_;
  int fail_count_ = 0;
  Status fail_status_;
  std::chrono::milliseconds delay_{0};
  std::atomic<int> calls_{0}, in_flight_{0}, max_in_flight_{0};
};

struct Retrying {
  ScriptedStorage* inner;
  std::vector<std::chrono::milliseconds> sleeps;
  std::unique_ptr<Storage> storage;
};

Retrying MakeRetrying(int max_attempts, std::chrono::milliseconds base = 100ms,
                      std::chrono::milliseconds cap = 10'000ms) {
  auto inner = std::make_unique<ScriptedStorage>();
  Retrying r;
  r.inner = inner.get();
  RetryOptions options;
  options.max_attempts = max_attempts;
  options.base_delay = base;
  options.max_delay = cap;
  auto* sleeps = &r.sleeps;
  options.sleep = [sleeps](std::chrono::milliseconds d) { sleeps->push_back(d); };
  r.storage = WrapRetrying(std::move(inner), options);
  return r;
}

TEST(TransientMarkerTest, SurvivesContextAndCanBeStripped) {
  Status t = TransientError("HTTP 503 SlowDown");
  EXPECT_EQ(t.code(), StatusCode::kIOError);
  EXPECT_TRUE(IsTransient(t));
  EXPECT_TRUE(IsTransient(t.WithContext("pack data/ab")));
  EXPECT_EQ(StripTransient(t.message()), "HTTP 503 SlowDown");
  EXPECT_EQ(StripTransient(t.WithContext("pack").message()), "pack: HTTP 503 SlowDown");
  EXPECT_TRUE(IsTransient(MarkTransient(Status::Corruption("x"))));
  EXPECT_TRUE(MarkTransient(Status::Ok()).ok());
  EXPECT_FALSE(IsTransient(Status::IOError("HTTP 403 AccessDenied")));
  EXPECT_FALSE(IsTransient(Status::NotFound("transient: but the wrong code")));
}

TEST(RetryingStorageTest, RetriesTransientFailuresWithCappedFullJitter) {
  // Backoff ceilings with base 100 ms and cap 250 ms: 100, 200, 250, 250.
  Retrying r = MakeRetrying(6, 100ms, 250ms);
  r.inner->FailNext(4, TransientError("HTTP 500 InternalError"));
  ASSERT_TRUE(IsOk(r.storage->Put("k", AsBytes("v"))));
  EXPECT_EQ(r.inner->calls(), 5);
  ASSERT_EQ(r.sleeps.size(), 4u);
  const std::chrono::milliseconds ceilings[] = {100ms, 200ms, 250ms, 250ms};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_GE(r.sleeps[i].count(), 0);
    EXPECT_LE(r.sleeps[i], ceilings[i]) << "retry " << i + 1;
  }
  EXPECT_TRUE(HoldsBytes(r.storage->Get("k"), AsBytes("v")));
}

TEST(RetryingStorageTest, JitterSpreadsDelaysAndNeverExceedsTheCap) {
  Retrying r = MakeRetrying(40, 100ms, 10'000ms);
  r.inner->FailNext(39, TransientError("timeout"));
  ASSERT_TRUE(IsOk(r.storage->Put("k", AsBytes("v"))));
  std::set<int64_t> distinct;
  for (auto d : r.sleeps) {
    EXPECT_LE(d, 10'000ms);
    distinct.insert(d.count());
  }
  EXPECT_GT(distinct.size(), 20u) << "full jitter draws different delays";
}

TEST(RetryingStorageTest, GivesUpAfterTheBudgetWithAClearNonTransientError) {
  Retrying r = MakeRetrying(3);
  r.inner->FailNext(100, TransientError("s3 PUT k: HTTP 503 SlowDown"));
  Status st = r.storage->Put("data/k", AsBytes("v"));
  EXPECT_EQ(st.code(), StatusCode::kIOError);
  EXPECT_EQ(st.message(), "put data/k failed after 3 attempts: s3 PUT k: HTTP 503 SlowDown");
  EXPECT_FALSE(IsTransient(st));
  EXPECT_EQ(r.inner->calls(), 3);
  EXPECT_EQ(r.sleeps.size(), 2u);
}

TEST(RetryingStorageTest, DoesNotRetryOtherErrors) {
  for (Status error : {Status::NotFound("k"), Status::Corruption("bad"), Status::IOError("HTTP 403 AccessDenied"),
                       Status::InvalidArgument("key")}) {
    Retrying r = MakeRetrying(5);
    r.inner->FailNext(1, error);
    auto got = r.storage->Get("k");
    EXPECT_EQ(got.status().code(), error.code());
    EXPECT_EQ(got.status().message(), error.message());
    EXPECT_EQ(r.inner->calls(), 1);
    EXPECT_TRUE(r.sleeps.empty());
  }
}

TEST(RetryingStorageTest, ListRetriesWithoutDeliveringAnObjectTwice) {
  Retrying r = MakeRetrying(4);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(IsOk(r.storage->Put("index/" + std::to_string(i), AsBytes("x"))));
  r.inner->list_fail_after_ = 3;
  std::multiset<std::string> seen;
  ASSERT_TRUE(IsOk(r.storage->List("index/", [&](const ObjectInfo& info) {
    seen.insert(info.key);
    return Status::Ok();
  })));
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), 6u);
}

TEST(RetryingStorageTest, ListReturnsTheCallbacksErrorUnretried) {
  Retrying r = MakeRetrying(4);
  ASSERT_TRUE(IsOk(r.storage->Put("a", AsBytes("x"))));
  const int before = r.inner->calls();
  Status st = r.storage->List("", [](const ObjectInfo&) { return TransientError("callback's own"); });
  EXPECT_EQ(st.message(), "transient: callback's own");
  EXPECT_EQ(r.inner->calls(), before + 1);
}

TEST(RetryingStorageTest, DeleteWhoseAnswerWasLostIsOk) {
  Retrying r = MakeRetrying(4);
  ASSERT_TRUE(IsOk(r.storage->Put("k", AsBytes("x"))));
  r.inner->delete_then_fail_ = true;
  EXPECT_TRUE(IsOk(r.storage->Delete("k")));
  EXPECT_TRUE(HasCode(r.storage->Delete("k"), StatusCode::kNotFound));
}

TEST(ConcurrencyLimitedStorageTest, RunsAtMostNCallsAtOnce) {
  auto inner = std::make_unique<ScriptedStorage>();
  ScriptedStorage* raw = inner.get();
  raw->set_delay(5ms);
  auto limited = WrapConcurrencyLimit(std::move(inner), 3);
  EXPECT_EQ(limited->capabilities().preferred_concurrency, 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) EXPECT_TRUE(IsOk(limited->Put(std::to_string(t) + "/" + std::to_string(i), {})));
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(raw->max_in_flight(), 3);
  EXPECT_EQ(raw->calls(), 80);
}

TEST(ConcurrencyLimitedStorageTest, ListCallbackMayUseTheStorage) {
  auto limited = WrapConcurrencyLimit(std::make_unique<ScriptedStorage>(), 1);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(IsOk(limited->Put("k" + std::to_string(i), AsBytes("x"))));
  int deleted = 0;
  ASSERT_TRUE(IsOk(limited->List("", [&](const ObjectInfo& info) {
    ++deleted;
    return limited->Delete(info.key);  // would deadlock if List held its slot here
  })));
  EXPECT_EQ(deleted, 5);
  auto listed = storage_testing::ListAll(*limited, "");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_TRUE(listed->empty());
}

TEST(BandwidthLimitedStorageTest, KeepsTheAverageRateUnderTheLimit) {
  constexpr uint64_t kMiB = 1 << 20;
  auto limited = WrapBandwidthLimit(std::make_unique<ScriptedStorage>(), {20 * kMiB, 40 * kMiB});
  const Bytes chunk = PatternBytes(kMiB, 1);
  // The bucket starts with one second's worth; 30 MiB at 20 MiB/s takes ~0.5 s more.
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(IsOk(limited->Put("k" + std::to_string(i), chunk)));
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 2000ms);
  // Downloads have their own bucket: 60 MiB at 40 MiB/s, ~0.5 s after the burst.
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(IsOk(limited->Get("k" + std::to_string(i % 30)).status()));
  took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 450ms);
  EXPECT_LT(took, 2000ms);
  // Metadata calls are not throttled.
  start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(IsOk(limited->Stat("k1").status()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
}

}  // namespace
}  // namespace cairn
