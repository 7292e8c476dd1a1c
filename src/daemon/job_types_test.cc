#include "daemon/job_types.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace cairn {
namespace {

// Every value has its own text form, and parsing that text gives it back.
template <typename E, typename ParseFn>
void ExpectRoundTrip(std::initializer_list<E> values, ParseFn parse) {
  std::set<std::string> names;
  for (E v : values) {
    std::string name(ToString(v));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name << " is used twice";
    auto back = parse(name);
    ASSERT_TRUE(back.has_value()) << name;
    EXPECT_EQ(*back, v) << name;
  }
  EXPECT_FALSE(parse("no-such-value").has_value());
  EXPECT_FALSE(parse("").has_value());
}

TEST(JobTypesTest, EveryEnumRoundTripsThroughItsTextForm) {
  ExpectRoundTrip({JobKind::kBackup, JobKind::kRestore, JobKind::kForget, JobKind::kPrune, JobKind::kCheck,
                   JobKind::kCopy, JobKind::kDrill},
                  ParseJobKind);
  ExpectRoundTrip({JobStatus::kQueued, JobStatus::kRunning, JobStatus::kSucceeded, JobStatus::kPartial,
                   JobStatus::kFailed, JobStatus::kCancelled, JobStatus::kInterrupted},
                  ParseJobStatus);
  ExpectRoundTrip({Trigger::kSchedule, Trigger::kCatchUp, Trigger::kManual, Trigger::kApi}, ParseTrigger);
  ExpectRoundTrip({PointKind::kScheduled, PointKind::kManual, PointKind::kSafety, PointKind::kDrill}, ParsePointKind);
  ExpectRoundTrip({PointStatus::kComplete, PointStatus::kIncomplete}, ParsePointStatus);
  ExpectRoundTrip({AlertRule::kJobFailed, AlertRule::kOverdue, AlertRule::kStuck, AlertRule::kSmallBackup,
                   AlertRule::kTargetUnreachable, AlertRule::kTargetFull, AlertRule::kCheckFailed,
                   AlertRule::kDrillFailed, AlertRule::kNotificationFailing, AlertRule::kArchiveBehind},
                  ParseAlertRule);
  ExpectRoundTrip({Severity::kWarning, Severity::kCritical}, ParseSeverity);
  ExpectRoundTrip({Role::kRead, Role::kOperate, Role::kAdmin}, ParseRole);
  ExpectRoundTrip({LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}, ParseLogLevel);
  ExpectRoundTrip({DrillOutcome::kPassed, DrillOutcome::kFailed}, ParseDrillOutcome);
  ExpectRoundTrip({AlertEvent::kOpened, AlertEvent::kResolved, AlertEvent::kTest}, ParseAlertEvent);
  EXPECT_EQ(ToString(AlertRule::kNotificationFailing), "notification_failing");
  EXPECT_EQ(ToString(Trigger::kCatchUp), "catch_up");
}

TEST(JobTypesTest, OnlyQueuedAndRunningAreNotFinal) {
  EXPECT_FALSE(IsFinal(JobStatus::kQueued));
  EXPECT_FALSE(IsFinal(JobStatus::kRunning));
  for (JobStatus s : {JobStatus::kSucceeded, JobStatus::kPartial, JobStatus::kFailed, JobStatus::kCancelled,
                      JobStatus::kInterrupted})
    EXPECT_TRUE(IsFinal(s)) << ToString(s);
}

}  // namespace
}  // namespace cairn
