#include "daemon/job_queue.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

Job MakeJob(JobId id, JobKind kind, std::string service, std::vector<TargetUse> targets) {
  Job j;
  j.id = id;
  j.request.kind = kind;
  j.request.service = std::move(service);
  j.request.targets = std::move(targets);
  return j;
}

const TargetUse kLocalShared{"local", LockMode::kShared};
const TargetUse kLocalExclusive{"local", LockMode::kExclusive};
const TargetUse kOffsiteShared{"offsite", LockMode::kShared};

// Starts everything that may start, in order; returns the ids.
std::vector<JobId> StartAll(JobQueue& q) {
  std::vector<JobId> ids;
  while (auto id = q.FirstStartable()) {
    EXPECT_TRUE(q.Start(*id, 1));
    ids.push_back(*id);
  }
  return ids;
}

TEST(SchedulerQueueTest, DescribesJobs) {
  EXPECT_EQ(Describe(MakeJob(1, JobKind::kBackup, "app-db", {kLocalShared}).request), "backup of app-db");
  EXPECT_EQ(Describe(MakeJob(1, JobKind::kPrune, "", {kLocalExclusive}).request), "prune of target local");
  EXPECT_EQ(Describe(MakeJob(1, JobKind::kCopy, "", {kLocalShared, kOffsiteShared}).request),
            "copy of targets local, offsite");
  EXPECT_EQ(Describe(MakeJob(1, JobKind::kCheck, "", {}).request), "check");
}

TEST(SchedulerQueueTest, SharedUsesRunTogetherExclusiveUsesDoNot) {
  JobQueue q(8);
  q.Add(MakeJob(1, JobKind::kBackup, "a", {kLocalShared}));
  q.Add(MakeJob(2, JobKind::kCheck, "", {kLocalShared}));
  q.Add(MakeJob(3, JobKind::kPrune, "", {kLocalExclusive}));
  q.Add(MakeJob(4, JobKind::kForget, "", {kLocalExclusive}));
  q.Add(MakeJob(5, JobKind::kBackup, "b", {kOffsiteShared}));
  EXPECT_EQ(StartAll(q), (std::vector<JobId>{1, 2, 5}));
  EXPECT_EQ(q.WaitingOn(3), "waiting for backup of a (job 1) to release target local");
  EXPECT_EQ(q.WaitingOn(4), "waiting for backup of a (job 1) to release target local");
  ASSERT_TRUE(q.Finish(1));
  EXPECT_EQ(q.WaitingOn(3), "waiting for check of target local (job 2) to finish");
  ASSERT_TRUE(q.Finish(2));
  EXPECT_EQ(StartAll(q), std::vector<JobId>{3});  // exclusive: one at a time
  EXPECT_EQ(q.WaitingOn(4), "waiting for prune of target local (job 3) to finish");
  ASSERT_TRUE(q.Finish(3));
  EXPECT_EQ(StartAll(q), std::vector<JobId>{4});
  EXPECT_EQ(q.WaitingOn(4), "");  // not queued any more
}

TEST(SchedulerQueueTest, AJobOfTwoTargetsWaitsForEither) {
  JobQueue q(8);
  q.Add(MakeJob(1, JobKind::kPrune, "", {{"offsite", LockMode::kExclusive}}));
  q.Add(MakeJob(2, JobKind::kBackup, "a", {kLocalShared, kOffsiteShared}));
  q.Add(MakeJob(3, JobKind::kBackup, "b", {kLocalShared}));
  EXPECT_EQ(StartAll(q), (std::vector<JobId>{1, 3}));
  EXPECT_EQ(q.WaitingOn(2), "waiting for prune of target offsite (job 1) to finish");
  EXPECT_EQ(q.ActiveForService("a")->id, 2);
  EXPECT_EQ(q.ActiveForService("c"), nullptr);
  EXPECT_EQ(q.ActiveForService(""), nullptr);
  ASSERT_TRUE(q.Finish(1));
  EXPECT_EQ(StartAll(q), std::vector<JobId>{2});
}

TEST(SchedulerQueueTest, TheCapIsAtLeastOneAndOrderIsKeptAmongConflicts) {
  JobQueue q(0);
  EXPECT_EQ(q.max_running(), 1);
  q.Add(MakeJob(7, JobKind::kBackup, "a", {kLocalShared}));
  q.Add(MakeJob(3, JobKind::kRestore, "a", {kLocalShared}));  // ids need not be ordered
  EXPECT_EQ(q.FirstStartable(), 7);
  EXPECT_EQ(q.WaitingOn(3), "waiting for backup of a (job 7), queued before it");
  EXPECT_TRUE(q.Start(7, 1));
  EXPECT_FALSE(q.Start(7, 1));
  EXPECT_EQ(q.WaitingOn(3), "waiting for backup of a (job 7) to finish");
  EXPECT_TRUE(q.IsRunning(7));
  EXPECT_FALSE(q.Cancel(7).has_value());  // running: not cancellable here
  EXPECT_TRUE(q.Cancel(3).has_value());
  EXPECT_FALSE(q.Finish(3).has_value());
  EXPECT_EQ(q.Find(7)->started_ns, 1);
}

}  // namespace
}  // namespace cairn
