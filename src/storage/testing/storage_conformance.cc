#include "storage/testing/storage_conformance.h"

#include <atomic>
#include <chrono>
#include <limits>
#include <map>
#include <thread>
#include <vector>

#include "storage/testing/storage_test_util.h"

namespace cairn::storage_testing {

void StorageConformanceTest::SetUp() {
  storage_ = GetParam().make_empty_storage();
  ASSERT_NE(storage_, nullptr) << "the " << GetParam().name << " driver made no storage";
  // Leftovers from another test would make List expectations fail confusingly.
  auto listed = ListAll(*storage_, "");
  ASSERT_TRUE(IsOk(listed.status()));
  ASSERT_TRUE(listed->empty()) << "new storage already holds " << listed->begin()->first;
}

namespace {

using ObjectSizes = std::map<std::string, uint64_t>;

// Keys shaped like the repository's content-addressed ones: "data/ab/ab01000...".
std::string DataKey(std::string_view hex_start) {
  std::string hex(hex_start);
  hex.resize(64, '0');
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

void ExpectReadsAndDeleteFail(Storage& storage, const std::string& key, StatusCode code) {
  EXPECT_TRUE(HasCode(storage.Get(key).status(), code)) << "Get";
  EXPECT_TRUE(HasCode(storage.GetRange(key, 0, 1).status(), code)) << "GetRange";
  EXPECT_TRUE(HasCode(storage.Stat(key).status(), code)) << "Stat";
  EXPECT_TRUE(HasCode(storage.Delete(key), code)) << "Delete";
}

TEST_P(StorageConformanceTest, GetReturnsWhatPutStored) {
  const Bytes data = PatternBytes(1000, 1);
  ASSERT_TRUE(IsOk(storage().Put("config", data)));
  EXPECT_TRUE(HoldsBytes(storage().Get("config"), data));
  auto info = storage().Stat("config");
  ASSERT_TRUE(IsOk(info.status()));
  EXPECT_EQ(info->key, "config");
  EXPECT_EQ(info->size, data.size());
}

TEST_P(StorageConformanceTest, UnsyncedPutsAreVisibleAndFlushSucceeds) {
  const Bytes a = PatternBytes(3000, 3), b = PatternBytes(10, 4);
  ASSERT_TRUE(IsOk(storage().PutUnsynced("data/aa/aa01", a)));
  ASSERT_TRUE(IsOk(storage().PutUnsynced("data/bb/bb01", b)));
  EXPECT_TRUE(HoldsBytes(storage().Get("data/aa/aa01"), a));
  ASSERT_TRUE(IsOk(storage().Flush()));
  ASSERT_TRUE(IsOk(storage().Flush()));  // nothing pending: still fine
  EXPECT_TRUE(HoldsBytes(storage().Get("data/bb/bb01"), b));
  auto listed = ListAll(storage(), "data/");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_EQ(listed->size(), 2u);
}

TEST_P(StorageConformanceTest, EmptyObjectIsStoredAndListed) {
  ASSERT_TRUE(IsOk(storage().Put("locks/empty", {})));
  EXPECT_TRUE(HoldsBytes(storage().Get("locks/empty"), {}));
  auto info = storage().Stat("locks/empty");
  ASSERT_TRUE(IsOk(info.status()));
  EXPECT_EQ(info->size, 0u);
  auto listed = ListAll(storage(), "locks/");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_EQ(*listed, (ObjectSizes{{"locks/empty", 0}}));
  EXPECT_TRUE(HasCode(storage().GetRange("locks/empty", 0, 1).status(), StatusCode::kCorruption));
}

TEST_P(StorageConformanceTest, LargeObjectRoundTrips) {
  const Bytes data = PatternBytes(20 << 20, 2);
  const std::string key = DataKey("1a");
  ASSERT_TRUE(IsOk(storage().Put(key, data)));
  EXPECT_TRUE(HoldsBytes(storage().Get(key), data));
  EXPECT_TRUE(HoldsBytes(storage().GetRange(key, data.size() - 4096, 4096), ByteView(data).last(4096)));
}

TEST_P(StorageConformanceTest, PutReplacesTheExistingObject) {
  // The replacement is shorter so that overwriting in place without truncating shows.
  const Bytes first = PatternBytes(5000, 3);
  const Bytes replacement = PatternBytes(300, 4);
  ASSERT_TRUE(IsOk(storage().Put("index/0", first)));
  ASSERT_TRUE(IsOk(storage().Put("index/0", replacement)));
  EXPECT_TRUE(HoldsBytes(storage().Get("index/0"), replacement));
  auto info = storage().Stat("index/0");
  ASSERT_TRUE(IsOk(info.status()));
  EXPECT_EQ(info->size, replacement.size());
}

TEST_P(StorageConformanceTest, MissingObjectIsNotFound) {
  ASSERT_TRUE(IsOk(storage().Put("snapshots/present", AsBytes("x"))));
  for (const std::string key : {"snapshots/absent", "absent", "absent-dir/absent"}) {
    SCOPED_TRACE("key " + key);
    ExpectReadsAndDeleteFail(storage(), key, StatusCode::kNotFound);
  }
}

TEST_P(StorageConformanceTest, DeletedObjectIsNotFound) {
  ASSERT_TRUE(IsOk(storage().Put("snapshots/s1", AsBytes("snapshot"))));
  ASSERT_TRUE(IsOk(storage().Delete("snapshots/s1")));
  ExpectReadsAndDeleteFail(storage(), "snapshots/s1", StatusCode::kNotFound);
}

// Object stores have no directories; a driver that has them must not let them
// show through as objects.
TEST_P(StorageConformanceTest, KeyThatOnlyPrefixesOtherKeysIsNotFound) {
  ASSERT_TRUE(IsOk(storage().Put(DataKey("ab01"), AsBytes("pack"))));
  for (const std::string key : {"data", "data/ab"}) {
    SCOPED_TRACE("key " + key);
    ExpectReadsAndDeleteFail(storage(), key, StatusCode::kNotFound);
  }
  EXPECT_TRUE(HoldsBytes(storage().Get(DataKey("ab01")), AsBytes("pack")));
}

TEST_P(StorageConformanceTest, GetRangeReadsTheRequestedBytes) {
  const Bytes data = PatternBytes(1000, 5);
  ASSERT_TRUE(IsOk(storage().Put("pack", data)));
  for (auto [offset, length] : {std::pair<uint64_t, uint64_t>{0, 100}, {450, 100}, {900, 100}, {999, 1}, {0, 1000}}) {
    SCOPED_TRACE("range " + std::to_string(offset) + "+" + std::to_string(length));
    EXPECT_TRUE(HoldsBytes(storage().GetRange("pack", offset, length), ByteView(data).subspan(offset, length)));
  }
}

TEST_P(StorageConformanceTest, GetRangePastTheEndIsCorruption) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  ASSERT_TRUE(IsOk(storage().Put("pack", PatternBytes(1000, 6))));
  // The last two wrap around to a small end when offset and length are added naively.
  for (auto [offset, length] :
       {std::pair<uint64_t, uint64_t>{900, 101}, {1000, 1}, {5000, 10}, {0, kMax}, {kMax, 2}, {kMax - 10, 20}}) {
    SCOPED_TRACE("range " + std::to_string(offset) + "+" + std::to_string(length));
    EXPECT_TRUE(HasCode(storage().GetRange("pack", offset, length).status(), StatusCode::kCorruption));
  }
}

TEST_P(StorageConformanceTest, ListFindsExactlyTheKeysUnderAPrefix) {
  const ObjectSizes objects = {
      {DataKey("ab01"), 10},
      {DataKey("ab02"), 20},
      {DataKey("cd01"), 30},
      {"data/abc", 40},    // starts with "data/ab" without being below "data/ab/"
      {"data-old/x", 50},  // starts with "data" but not "data/"
      {"snapshots/s1", 60},
      {"snapshots/sub/s2", 70},
      {"config", 80},
  };
  for (const auto& [key, size] : objects) ASSERT_TRUE(IsOk(storage().Put(key, PatternBytes(size, size))));

  for (std::string_view prefix : {"data/", "data/ab", "data/ab/", "data", "snapshots/", "", "config", "nothing/"}) {
    SCOPED_TRACE("prefix '" + std::string(prefix) + "'");
    ObjectSizes expected;
    for (const auto& [key, size] : objects)
      if (key.starts_with(prefix)) expected.emplace(key, size);
    auto listed = ListAll(storage(), prefix);
    ASSERT_TRUE(IsOk(listed.status()));
    EXPECT_EQ(*listed, expected);
  }
}

TEST_P(StorageConformanceTest, ListShowsDeletionsAndCurrentSizes) {
  ASSERT_TRUE(IsOk(storage().Put("index/a", PatternBytes(10, 1))));
  ASSERT_TRUE(IsOk(storage().Put("index/b", PatternBytes(20, 2))));
  ASSERT_TRUE(IsOk(storage().Put("index/c", PatternBytes(30, 3))));
  ASSERT_TRUE(IsOk(storage().Delete("index/b")));
  ASSERT_TRUE(IsOk(storage().Put("index/c", PatternBytes(5, 4))));
  auto listed = ListAll(storage(), "index/");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_EQ(*listed, (ObjectSizes{{"index/a", 10}, {"index/c", 5}}));
}

TEST_P(StorageConformanceTest, ListBelowAnObjectsKeyFindsNothing) {
  ASSERT_TRUE(IsOk(storage().Put("config", AsBytes("{}"))));
  auto listed = ListAll(storage(), "config/");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_TRUE(listed->empty());
}

TEST_P(StorageConformanceTest, ListStopsAtTheCallbacksErrorAndReturnsIt) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(IsOk(storage().Put("index/" + std::to_string(i), AsBytes("i"))));
  int calls = 0;
  Status callback_error;
  Status listed = storage().List("index/", [&](const ObjectInfo& info) {
    ++calls;
    callback_error = Status::Aborted("stopped at " + info.key);
    return callback_error;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(HasCode(listed, StatusCode::kAborted));
  EXPECT_EQ(listed.message(), callback_error.message());
}

TEST_P(StorageConformanceTest, KeysMayContainDashUnderscoreAndDot) {
  const std::vector<std::string> keys = {"snapshots/2024-05-01_10.00.00-host_a", "locks/.hidden", "a-b_c.d/e.f-g_h",
                                         "x.y", "-_."};
  ObjectSizes expected;
  for (size_t i = 0; i < keys.size(); ++i) {
    const Bytes data = PatternBytes(100 + i, i);
    ASSERT_TRUE(IsOk(storage().Put(keys[i], data))) << keys[i];
    EXPECT_TRUE(HoldsBytes(storage().Get(keys[i]), data)) << keys[i];
    expected.emplace(keys[i], data.size());
  }
  auto listed = ListAll(storage(), "");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_EQ(*listed, expected);
  for (const std::string& key : keys) EXPECT_TRUE(IsOk(storage().Delete(key))) << key;
}

TEST_P(StorageConformanceTest, ConcurrentPutsAndGetsFromEightThreads) {
  constexpr int kThreads = 8;
  constexpr int kObjectsPerThread = 12;
  const Bytes shared = PatternBytes(64 << 10, 1000);
  ASSERT_TRUE(IsOk(storage().Put("shared", shared)));

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kObjectsPerThread; ++i) {
        const std::string key = "concurrent/" + std::to_string(t) + "/" + std::to_string(i);
        const Bytes data = PatternBytes(1000 + 997 * i, 100 * t + i);
        EXPECT_TRUE(IsOk(storage().Put(key, data))) << key;
        EXPECT_TRUE(HoldsBytes(storage().Get(key), data)) << key;
        EXPECT_TRUE(HoldsBytes(storage().Get("shared"), shared));
        EXPECT_TRUE(IsOk(storage().Put("contended", PatternBytes(4096, t))));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  auto listed = ListAll(storage(), "concurrent/");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_EQ(listed->size(), size_t{kThreads * kObjectsPerThread});
  auto contended = storage().Get("contended");
  ASSERT_TRUE(IsOk(contended.status()));
  bool is_one_threads_object = false;
  for (int t = 0; t < kThreads; ++t) is_one_threads_object |= bool(SameBytes(*contended, PatternBytes(4096, t)));
  EXPECT_TRUE(is_one_threads_object);
}

TEST_P(StorageConformanceTest, ReaderNeverSeesAPartlyWrittenObject) {
  // Overwrite until the reader has had a fair number of chances to catch a Put
  // midway; the deadline only guards against a hang, and a run that ends
  // without those chances proves nothing, so it fails.
  constexpr int kMinOverwrites = 8;
  constexpr int kMinReads = 8;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  const Bytes first = PatternBytes(4 << 20, 7);
  const Bytes second = PatternBytes(4 << 20, 8);
  const std::string key = DataKey("ee");
  ASSERT_TRUE(IsOk(storage().Put(key, first)));

  std::atomic<bool> writer_done{false}, reader_done{false};
  std::atomic<int> whole_reads{0};
  std::thread reader([&] {
    while (!writer_done) {
      auto read = storage().Get(key);
      if (!read.ok() || (!SameBytes(*read, first) && !SameBytes(*read, second))) {
        ADD_FAILURE() << "reader saw neither whole object: "
                      << (read.ok() ? std::to_string(read->size()) + " bytes" : read.status().ToString());
        break;
      }
      ++whole_reads;
    }
    reader_done = true;
  });
  for (int i = 0; (i < kMinOverwrites || whole_reads < kMinReads) && !reader_done &&
                  std::chrono::steady_clock::now() < deadline;
       ++i) {
    Status put = storage().Put(key, i % 2 ? first : second);
    EXPECT_TRUE(IsOk(put));
    if (!put.ok()) break;
  }
  writer_done = true;
  reader.join();
  EXPECT_GE(whole_reads.load(), kMinReads) << "the reader never got its chances to see a half-written object";
}

TEST_P(StorageConformanceTest, InvalidKeysAreRejected) {
  for (const std::string key : {"", "/etc/passwd", "..", "../outside", "data/../../outside", "data/.."}) {
    SCOPED_TRACE("key '" + key + "'");
    EXPECT_TRUE(HasCode(storage().Put(key, AsBytes("x")), StatusCode::kInvalidArgument)) << "Put";
    ExpectReadsAndDeleteFail(storage(), key, StatusCode::kInvalidArgument);
  }
  auto listed = ListAll(storage(), "");
  ASSERT_TRUE(IsOk(listed.status()));
  EXPECT_TRUE(listed->empty());
}

}  // namespace
}  // namespace cairn::storage_testing
