#include "daemon/job_runner.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "daemon/testing/catalog_test_util.h"

namespace cairn {
namespace {

using catalog_testing::CatalogFixture;
using catalog_testing::IsOk;

class JobRunnerTest : public CatalogFixture {
 protected:
  JobId Queue() {
    auto id = cat().InsertJob(NewJob{JobKind::kBackup, "app", {"local"}, Trigger::kManual, Json::object()});
    EXPECT_TRUE(IsOk(id));
    EXPECT_TRUE(IsOk(cat().StartJob(*id)));
    return *id;
  }
  bool Ended(JobId id) {
    auto job = cat().GetJob(id);
    return job.ok() && IsFinal(job->status);
  }
};

// The daemon launches jobs while it holds the lock that a job's on_end
// takes. A launch must never wait for another job's on_end: that was a
// deadlock (the loop joined a finished job whose on_end waited for the loop).
TEST_F(JobRunnerTest, LaunchUnderTheLockOnEndTakesDoesNotDeadlock) {
  // /bin/true reads no spec and writes no result: the job fails at once.
  JobRunner runner(cat(), JobRunnerOptions{"/bin/true", 1'000'000'000, nullptr});
  std::mutex daemon_mu;
  std::atomic<int> ended{0};
  auto on_end = [&](JobId, const JobOutcome&) {
    std::lock_guard lock(daemon_mu);
    ++ended;
  };
  auto launched = std::async(std::launch::async, [&] {
    std::unique_lock lock(daemon_mu);
    JobSpec first;
    first.id = Queue();
    runner.Launch(first, on_end);
    // The first job ends; its on_end now waits for daemon_mu, held here.
    for (int i = 0; i < 500 && !Ended(first.id); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(Ended(first.id));
    JobSpec second;
    second.id = Queue();
    runner.Launch(second, on_end);  // must not join the first job's thread
  });
  ASSERT_EQ(launched.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "Launch deadlocked";
  for (int i = 0; i < 500 && ended < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ended.load(), 2);
  auto job = cat().GetJob(1);
  ASSERT_TRUE(IsOk(job));
  EXPECT_EQ(job->status, JobStatus::kFailed);
  EXPECT_NE(job->error.find("without a result"), std::string::npos) << job->error;
}

}  // namespace
}  // namespace cairn
