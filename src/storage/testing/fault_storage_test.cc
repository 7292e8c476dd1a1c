#include "storage/testing/fault_storage.h"

#include <atomic>
#include <thread>
#include <vector>

#include "storage/testing/storage_test_util.h"

namespace cairn::storage_testing {
namespace {

using Op = FaultInjectingStorage::Op;

class FaultInjectingStorageTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(target_, nullptr); }

  std::unique_ptr<Storage> target_ = MakeScratchLocalStorage();
  FaultInjectingStorage storage_{target_.get()};
};

TEST_F(FaultInjectingStorageTest, PassesEverythingThroughWithoutFaults) {
  ASSERT_TRUE(IsOk(storage_.Put("data/x", AsBytes("hello"))));
  EXPECT_TRUE(HoldsBytes(storage_.Get("data/x"), AsBytes("hello")));
  EXPECT_TRUE(HoldsBytes(storage_.GetRange("data/x", 1, 3), AsBytes("ell")));
  EXPECT_EQ(storage_.location(), target_->location());
}

TEST_F(FaultInjectingStorageTest, PutsFailWithNoSpaceOnceTheAllowanceIsUsed) {
  storage_.FailPutsAfter(2);
  ASSERT_TRUE(IsOk(storage_.Put("a", AsBytes("1"))));
  ASSERT_TRUE(IsOk(storage_.Put("b", AsBytes("2"))));
  Status full = storage_.Put("c", AsBytes("3"));
  EXPECT_TRUE(HasCode(full, StatusCode::kNoSpace));
  EXPECT_TRUE(full.message().starts_with("disk full: ")) << full.message();
  EXPECT_TRUE(HasCode(storage_.Put("a", AsBytes("new")), StatusCode::kNoSpace));

  // What was stored before the disk filled stays readable, and nothing else landed.
  EXPECT_TRUE(HoldsBytes(storage_.Get("a"), AsBytes("1")));
  EXPECT_TRUE(target_->Stat("c").status().IsNotFound());

  storage_.ClearFaults();
  EXPECT_TRUE(IsOk(storage_.Put("c", AsBytes("3"))));
}

TEST_F(FaultInjectingStorageTest, OnlySuccessfulPutsUseTheAllowance) {
  storage_.FailPutsAfter(1);
  EXPECT_TRUE(HasCode(storage_.Put("/invalid", AsBytes("x")), StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsOk(storage_.Put("valid", AsBytes("x"))));
  EXPECT_TRUE(HasCode(storage_.Put("valid", AsBytes("y")), StatusCode::kNoSpace));
}

TEST_F(FaultInjectingStorageTest, ConcurrentPutsGetExactlyTheAllowance) {
  constexpr int kThreads = 4, kPutsPerThread = 10, kAllowed = 15;
  storage_.FailPutsAfter(kAllowed);
  std::atomic<int> succeeded{0}, out_of_space{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPutsPerThread; ++i) {
        Status put = storage_.Put("index/" + std::to_string(t) + "-" + std::to_string(i), AsBytes("x"));
        (put.ok() ? succeeded : out_of_space)++;
        EXPECT_TRUE(put.ok() || put.code() == StatusCode::kNoSpace) << put.ToString();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(succeeded, kAllowed);
  EXPECT_EQ(out_of_space, kThreads * kPutsPerThread - kAllowed);
}

TEST_F(FaultInjectingStorageTest, OperationsUnderAFailingPrefixAreIOErrors) {
  ASSERT_TRUE(IsOk(storage_.Put("data/ab/1", AsBytes("pack"))));
  ASSERT_TRUE(IsOk(storage_.Put("index/1", AsBytes("index"))));
  storage_.FailKeysWithPrefix("data/");

  EXPECT_TRUE(HasCode(storage_.Put("data/ab/2", AsBytes("x")), StatusCode::kIOError));
  EXPECT_TRUE(HasCode(storage_.Get("data/ab/1").status(), StatusCode::kIOError));
  EXPECT_TRUE(HasCode(storage_.GetRange("data/ab/1", 0, 1).status(), StatusCode::kIOError));
  EXPECT_TRUE(HasCode(storage_.Stat("data/ab/1").status(), StatusCode::kIOError));
  EXPECT_TRUE(HasCode(storage_.Delete("data/ab/1"), StatusCode::kIOError));
  EXPECT_TRUE(HasCode(storage_.List("data/ab", [](const ObjectInfo&) { return Status::Ok(); }),
                      StatusCode::kIOError));
  EXPECT_TRUE(HasCode(ListAll(storage_, "").status(), StatusCode::kIOError));

  EXPECT_TRUE(HoldsBytes(storage_.Get("index/1"), AsBytes("index")));
  EXPECT_TRUE(IsOk(ListAll(storage_, "index/").status()));
  EXPECT_TRUE(IsOk(target_->Stat("data/ab/1").status())) << "the failed Delete must not reach the target";
}

TEST_F(FaultInjectingStorageTest, ReadsUnderACorruptingPrefixDifferInOneByte) {
  const Bytes pack = PatternBytes(1000, 1);
  ASSERT_TRUE(IsOk(storage_.Put("data/ab/1", pack)));
  ASSERT_TRUE(IsOk(storage_.Put("index/1", pack)));
  storage_.CorruptReadsOfKeysWithPrefix("data/");

  auto count_differences = [](ByteView a, ByteView b) {
    int differences = 0;
    for (size_t i = 0; i < a.size(); ++i) differences += a[i] != b[i];
    return differences;
  };
  auto whole = storage_.Get("data/ab/1");
  ASSERT_TRUE(IsOk(whole.status()));
  ASSERT_EQ(whole->size(), pack.size());
  EXPECT_EQ(count_differences(*whole, pack), 1);
  auto range = storage_.GetRange("data/ab/1", 100, 200);
  ASSERT_TRUE(IsOk(range.status()));
  ASSERT_EQ(range->size(), 200u);
  EXPECT_EQ(count_differences(*range, ByteView(pack).subspan(100, 200)), 1);

  EXPECT_TRUE(HoldsBytes(storage_.Get("index/1"), pack));
  EXPECT_TRUE(HoldsBytes(target_->Get("data/ab/1"), pack)) << "only reads are corrupted, not the object";
}

TEST_F(FaultInjectingStorageTest, CountsCallsPerOperationIncludingFailedOnes) {
  storage_.FailKeysWithPrefix("bad");
  (void)storage_.Put("good", AsBytes("x"));
  (void)storage_.Put("bad", AsBytes("x"));
  (void)storage_.Get("good");
  (void)storage_.Stat("good");
  (void)storage_.Stat("missing");
  (void)storage_.Stat("bad");
  EXPECT_EQ(storage_.calls(Op::kPut), 2);
  EXPECT_EQ(storage_.calls(Op::kGet), 1);
  EXPECT_EQ(storage_.calls(Op::kStat), 3);
  EXPECT_EQ(storage_.calls(Op::kGetRange), 0);
  EXPECT_EQ(storage_.calls(Op::kList), 0);
  EXPECT_EQ(storage_.calls(Op::kDelete), 0);
}

}  // namespace
}  // namespace cairn::storage_testing
