// Alerts, deliveries, tokens, sessions, audit, settings, scheduler state,
// check rotation and history pruning in the SQLite catalog.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "daemon/catalog.h"
#include "daemon/testing/catalog_test_util.h"

namespace cairn {
namespace {

using catalog_testing::CatalogFixture;
using catalog_testing::IsOk;
using catalog_testing::kSecond;
using catalog_testing::kT0;
using catalog_testing::MakePoint;
using catalog_testing::RawQuery;

constexpr int64_t kDay = 86400 * kSecond;

using CatalogAdminTest = CatalogFixture;

TEST_F(CatalogAdminTest, RepeatsUpdateOneOpenAlertUntilItResolves) {
  auto first = cat().RaiseAlert(AlertRule::kOverdue, Severity::kWarning, "app-db", "s3", "no backup for 26 h");
  ASSERT_TRUE(IsOk(first));
  EXPECT_TRUE(first->opened);
  EXPECT_EQ(first->alert.occurrences, 1);
  clock_.Advance(60 * kSecond);
  auto repeat = cat().RaiseAlert(AlertRule::kOverdue, Severity::kCritical, "app-db", "s3", "no backup for 50 h");
  ASSERT_TRUE(IsOk(repeat));
  EXPECT_FALSE(repeat->opened);
  EXPECT_EQ(repeat->alert.id, first->alert.id);
  EXPECT_EQ(repeat->alert.occurrences, 2);
  EXPECT_EQ(repeat->alert.first_seen_ns, kT0);
  EXPECT_EQ(repeat->alert.last_seen_ns, kT0 + 60 * kSecond);
  EXPECT_EQ(repeat->alert.severity, Severity::kCritical);
  EXPECT_EQ(repeat->alert.message, "no backup for 50 h");
  // Another target is another condition.
  auto other = cat().RaiseAlert(AlertRule::kOverdue, Severity::kWarning, "app-db", "local", "x");
  ASSERT_TRUE(IsOk(other));
  EXPECT_TRUE(other->opened);

  ASSERT_TRUE(IsOk(cat().AckAlert(first->alert.id, "admin")));
  auto acked = cat().GetAlert(first->alert.id);
  ASSERT_TRUE(IsOk(acked));
  EXPECT_EQ(acked->acked_by, "admin");
  EXPECT_GT(acked->acked_ns, 0);
  EXPECT_TRUE(cat().AckAlert(999, "admin").IsNotFound());

  clock_.Advance(kSecond);
  auto resolved = cat().ResolveAlert(AlertRule::kOverdue, "app-db", "s3");
  ASSERT_TRUE(IsOk(resolved));
  ASSERT_TRUE(resolved->has_value());
  EXPECT_EQ((*resolved)->resolved_ns, kT0 + 61 * kSecond);
  auto nothing = cat().ResolveAlert(AlertRule::kOverdue, "app-db", "s3");
  ASSERT_TRUE(IsOk(nothing));
  EXPECT_FALSE(nothing->has_value());
  // The condition comes back: a new alert, not acknowledged.
  auto again = cat().RaiseAlert(AlertRule::kOverdue, Severity::kWarning, "app-db", "s3", "no backup for 26 h");
  ASSERT_TRUE(IsOk(again));
  EXPECT_TRUE(again->opened);
  EXPECT_NE(again->alert.id, first->alert.id);
  EXPECT_EQ(again->alert.acked_ns, 0);

  auto open = cat().ListAlerts(AlertState::kOpen, {});
  ASSERT_TRUE(IsOk(open));
  ASSERT_EQ(open->items.size(), 2u);
  EXPECT_EQ(open->items[0].id, again->alert.id);
  EXPECT_EQ(open->items[1].id, other->alert.id);
  auto closed = cat().ListAlerts(AlertState::kResolved, {});
  ASSERT_TRUE(IsOk(closed));
  ASSERT_EQ(closed->items.size(), 1u);
  EXPECT_EQ(closed->items[0].id, first->alert.id);
  auto all = cat().ListAlerts(AlertState::kAll, {2, ""});
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(all->items.size(), 2u);
  ASSERT_FALSE(all->next_cursor.empty());
  auto rest = cat().ListAlerts(AlertState::kAll, {2, all->next_cursor});
  ASSERT_TRUE(IsOk(rest));
  ASSERT_EQ(rest->items.size(), 1u);
  EXPECT_EQ(rest->items[0].id, first->alert.id);
  EXPECT_TRUE(rest->next_cursor.empty());
}

TEST_F(CatalogAdminTest, DeliveriesAreRetriedUntilDeliveredOrAbandoned) {
  auto alert = cat().RaiseAlert(AlertRule::kJobFailed, Severity::kCritical, "a", "local", "see the job log");
  ASSERT_TRUE(IsOk(alert));
  auto mail = cat().EnqueueDelivery("mail", alert->alert.id, AlertEvent::kOpened);
  auto hook = cat().EnqueueDelivery("webhook", alert->alert.id, AlertEvent::kOpened);
  auto test = cat().EnqueueDelivery("webhook", 0, AlertEvent::kTest);
  ASSERT_TRUE(IsOk(mail));
  ASSERT_TRUE(IsOk(hook));
  ASSERT_TRUE(IsOk(test));
  EXPECT_TRUE(cat().EnqueueDelivery("mail", 12345, AlertEvent::kOpened).status().IsNotFound());

  auto due = cat().DueDeliveries(10);
  ASSERT_TRUE(IsOk(due));
  EXPECT_EQ(due->size(), 3u);
  ASSERT_TRUE(IsOk(cat().RecordDeliveryAttempt(*mail, true, "", 0)));
  ASSERT_TRUE(IsOk(cat().RecordDeliveryAttempt(*hook, false, "HTTP 502", kT0 + 30 * kSecond)));
  ASSERT_TRUE(IsOk(cat().RecordDeliveryAttempt(*test, false, "DNS failure", 0)));  // give up
  due = cat().DueDeliveries(10);
  ASSERT_TRUE(IsOk(due));
  EXPECT_TRUE(due->empty());
  clock_.Advance(30 * kSecond);
  due = cat().DueDeliveries(10);
  ASSERT_TRUE(IsOk(due));
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, *hook);
  EXPECT_EQ((*due)[0].attempts, 1);
  EXPECT_EQ((*due)[0].last_error, "HTTP 502");

  auto of_alert = cat().ListDeliveries(alert->alert.id, {});
  ASSERT_TRUE(IsOk(of_alert));
  ASSERT_EQ(of_alert->items.size(), 2u);
  EXPECT_EQ(of_alert->items[1].id, *mail);
  EXPECT_GT(of_alert->items[1].delivered_ns, 0);
  EXPECT_EQ(of_alert->items[1].next_retry_ns, 0);
  auto everything = cat().ListDeliveries(0, {});
  ASSERT_TRUE(IsOk(everything));
  EXPECT_EQ(everything->items.size(), 3u);
  EXPECT_EQ(everything->items[0].alert_id, 0);
  EXPECT_EQ(everything->items[0].event, AlertEvent::kTest);
  EXPECT_TRUE(cat().RecordDeliveryAttempt(999, true, "", 0).IsNotFound());
}

TEST_F(CatalogAdminTest, TokensAreFoundByTheirSecretButOnlyItsHashIsStored) {
  const std::string secret = "cairn_3q2+7w8Zkq0cJrPa8Xs1hY5mV0nB4dE6fG7hJ9kL1mN";
  auto token = cat().CreateToken("grafana", Role::kRead, secret);
  ASSERT_TRUE(IsOk(token));
  EXPECT_EQ(token->role, Role::kRead);
  EXPECT_EQ(cat().CreateToken("grafana", Role::kAdmin, secret + "x").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(cat().CreateToken("short", Role::kAdmin, "abc").status().code(), StatusCode::kInvalidArgument);
  auto found = cat().FindToken(secret);
  ASSERT_TRUE(IsOk(found));
  EXPECT_EQ(found->id, token->id);
  EXPECT_EQ(found->name, "grafana");
  EXPECT_TRUE(cat().FindToken(secret + "x").status().IsNotFound());
  clock_.Advance(kSecond);
  ASSERT_TRUE(IsOk(cat().TouchToken(token->id)));
  auto listed = cat().ListTokens();
  ASSERT_TRUE(IsOk(listed));
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].last_used_ns, kT0 + kSecond);
  EXPECT_EQ(RawQuery(path_, "SELECT hash FROM api_tokens"), HashSecret(secret));
  EXPECT_EQ(HashSecret("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  // The secret is nowhere in the files, WAL included.
  catalog_.reset();
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream in(path_ + suffix, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(secret), std::string::npos) << suffix;
  }
  Reopen();
  ASSERT_TRUE(IsOk(cat().DeleteToken(token->id)));
  EXPECT_TRUE(cat().FindToken(secret).status().IsNotFound());
  EXPECT_TRUE(cat().DeleteToken(token->id).IsNotFound());
}

TEST_F(CatalogAdminTest, SessionsExpireSlideAndArePurged) {
  const std::string sid = "session-0123456789abcdef0123456789abcdef";
  ASSERT_TRUE(IsOk(cat().CreateSession(sid, "admin", "csrf-1", kT0 + 3600 * kSecond)));
  EXPECT_EQ(cat().CreateSession(sid, "admin", "csrf-2", kT0 + kSecond).code(), StatusCode::kAlreadyExists);
  auto s = cat().FindSession(sid);
  ASSERT_TRUE(IsOk(s));
  EXPECT_EQ(s->csrf_token, "csrf-1");
  EXPECT_EQ(s->actor, "admin");
  EXPECT_EQ(s->id_hash, HashSecret(sid));
  clock_.Advance(3000 * kSecond);
  ASSERT_TRUE(IsOk(cat().TouchSession(sid, clock_.NowNs() + 3600 * kSecond)));
  clock_.Advance(3000 * kSecond);  // past the first expiry, within the slid one
  s = cat().FindSession(sid);
  ASSERT_TRUE(IsOk(s));
  EXPECT_EQ(s->last_seen_ns, kT0 + 3000 * kSecond);
  clock_.Advance(3600 * kSecond);
  EXPECT_TRUE(cat().FindSession(sid).status().IsNotFound());
  EXPECT_TRUE(cat().TouchSession(sid, clock_.NowNs() + kSecond).IsNotFound());

  const std::string other = "session-fedcba9876543210fedcba9876543210";
  ASSERT_TRUE(IsOk(cat().CreateSession(other, "admin", "csrf-3", clock_.NowNs() + kSecond)));
  auto purged = cat().PurgeExpiredSessions();
  ASSERT_TRUE(IsOk(purged));
  EXPECT_EQ(*purged, 1);
  ASSERT_TRUE(IsOk(cat().DeleteSession(other)));
  EXPECT_TRUE(cat().FindSession(other).status().IsNotFound());
}

TEST_F(CatalogAdminTest, AuditSettingsSchedulerAndCheckRotation) {
  auto a1 = cat().AppendAudit("admin", "restore", {{"service", "app-db"}, {"point", "6fc69ea7"}});
  clock_.Advance(kSecond);
  auto a2 = cat().AppendAudit("token:ci", "token.create", {{"name", "grafana"}});
  ASSERT_TRUE(IsOk(a1));
  ASSERT_TRUE(IsOk(a2));
  auto audit = cat().ListAudit({1, ""});
  ASSERT_TRUE(IsOk(audit));
  ASSERT_EQ(audit->items.size(), 1u);
  EXPECT_EQ(audit->items[0].id, *a2);
  EXPECT_EQ(audit->items[0].actor, "token:ci");
  EXPECT_EQ(audit->items[0].time_ns, kT0 + kSecond);
  auto older = cat().ListAudit({1, audit->next_cursor});
  ASSERT_TRUE(IsOk(older));
  ASSERT_EQ(older->items.size(), 1u);
  EXPECT_EQ(older->items[0].details["service"], "app-db");

  auto missing = cat().GetSetting(std::string(kAdminPasswordHashKey));
  ASSERT_TRUE(IsOk(missing));
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(IsOk(cat().PutSetting(std::string(kAdminPasswordHashKey), "$argon2id$v=19$m=65536,t=2,p=1$abc")));
  ASSERT_TRUE(IsOk(cat().PutSetting(std::string(kAdminPasswordHashKey), "$argon2id$v=19$m=65536,t=2,p=1$def")));
  auto hash = cat().GetSetting(std::string(kAdminPasswordHashKey));
  ASSERT_TRUE(IsOk(hash));
  EXPECT_EQ(hash->value_or(""), "$argon2id$v=19$m=65536,t=2,p=1$def");
  ASSERT_TRUE(IsOk(cat().DeleteSetting(std::string(kAdminPasswordHashKey))));
  hash = cat().GetSetting(std::string(kAdminPasswordHashKey));
  ASSERT_TRUE(IsOk(hash));
  EXPECT_FALSE(hash->has_value());

  ASSERT_TRUE(IsOk(cat().PutSchedulerState({"backup:app-db", Json{{"cursor", kT0 + 3600 * kSecond}, {"paused", false}}})));
  ASSERT_TRUE(IsOk(cat().PutSchedulerState({"backup:app-db", Json{{"cursor", kT0 + 7200 * kSecond}, {"paused", true}}})));
  ASSERT_TRUE(IsOk(cat().PutSchedulerState({"check:local", Json{{"cursor", 0}}})));
  auto s = cat().GetSchedulerState("backup:app-db");
  ASSERT_TRUE(IsOk(s));
  ASSERT_TRUE(s->has_value());
  EXPECT_EQ((*s)->state["cursor"], kT0 + 7200 * kSecond);
  EXPECT_TRUE((*s)->state["paused"].get<bool>());
  auto states = cat().ListSchedulerStates();
  ASSERT_TRUE(IsOk(states));
  ASSERT_EQ(states->size(), 2u);
  EXPECT_EQ((*states)[1].key, "check:local");
  ASSERT_TRUE(IsOk(cat().DeleteSchedulerState("check:local")));
  states = cat().ListSchedulerStates();
  ASSERT_TRUE(IsOk(states));
  EXPECT_EQ(states->size(), 1u);

  ASSERT_TRUE(IsOk(cat().RecordPackReads("local", {"p2", "p1"}, kT0)));
  ASSERT_TRUE(IsOk(cat().RecordPackReads("local", {"p2", "p3"}, kT0 + kDay)));
  ASSERT_TRUE(IsOk(cat().RecordPackReads("s3", {"p1"}, kT0)));
  auto reads = cat().ListPackReads("local");
  ASSERT_TRUE(IsOk(reads));
  ASSERT_EQ(reads->size(), 3u);
  EXPECT_EQ((*reads)[0].pack, "p1");
  EXPECT_EQ((*reads)[0].last_read_ns, kT0);
  EXPECT_EQ((*reads)[1].last_read_ns, kT0 + kDay);
  ASSERT_TRUE(IsOk(cat().DeletePackReads("local", {"p1", "p3"})));
  reads = cat().ListPackReads("local");
  ASSERT_TRUE(IsOk(reads));
  ASSERT_EQ(reads->size(), 1u);
  EXPECT_EQ((*reads)[0].pack, "p2");
  auto s3 = cat().ListPackReads("s3");
  ASSERT_TRUE(IsOk(s3));
  EXPECT_EQ(s3->size(), 1u);
}

TEST_F(CatalogAdminTest, PruneHistoryKeepsLastSuccessAndFailureOfEachServiceAndKind) {
  auto run = [&](const std::string& service, JobKind kind, JobStatus status) {
    auto id = cat().InsertJob({kind, service, {"local"}, Trigger::kSchedule});
    EXPECT_TRUE(IsOk(id));
    EXPECT_TRUE(IsOk(cat().StartJob(*id)));
    EXPECT_TRUE(IsOk(cat().AppendLog(*id, {{0, 0, LogLevel::kInfo, "working"}})));
    JobOutcome out;
    out.status = status;
    EXPECT_TRUE(IsOk(cat().FinishJob(*id, out)));
    clock_.Advance(kDay);
    return *id;
  };
  // 100 days of history for two services, then 10 recent days.
  std::vector<JobId> old_ids;
  JobId a_last_ok = 0, a_last_fail = 0, b_last_check = 0;
  for (int day = 0; day < 100; ++day) {
    JobStatus st = day % 10 == 3 ? JobStatus::kFailed : JobStatus::kSucceeded;
    JobId id = run("a", JobKind::kBackup, st);
    (st == JobStatus::kSucceeded ? a_last_ok : a_last_fail) = id;
    if (day < 50) b_last_check = run("b", JobKind::kCheck, JobStatus::kSucceeded);
  }
  JobId interrupted = run("a", JobKind::kBackup, JobStatus::kInterrupted);
  auto resolved = cat().RaiseAlert(AlertRule::kStuck, Severity::kWarning, "a", "local", "x");
  ASSERT_TRUE(IsOk(resolved));
  ASSERT_TRUE(IsOk(cat().EnqueueDelivery("mail", resolved->alert.id, AlertEvent::kOpened)));
  ASSERT_TRUE(IsOk(cat().ResolveAlert(AlertRule::kStuck, "a", "local")));
  clock_.Advance(50 * kDay);
  std::vector<JobId> recent;  // within the last 30 days
  for (int day = 0; day < 10; ++day) recent.push_back(run("a", JobKind::kBackup, JobStatus::kFailed));
  ASSERT_TRUE(IsOk(cat().AppendAudit("admin", "forget", {})));
  ASSERT_TRUE(IsOk(cat().RaiseAlert(AlertRule::kOverdue, Severity::kWarning, "a", "local", "still open")));
  auto counts_before = cat().CountJobs();
  ASSERT_TRUE(IsOk(counts_before));

  HistoryRetention keep;
  keep.days = 30;
  keep.audit_days = 365;
  auto stats = cat().PruneHistory(keep);
  ASSERT_TRUE(IsOk(stats));
  // Everything older than 30 days goes except a's last success, b's last
  // check (a's newest failure is among the recent jobs, which all stay).
  std::vector<JobId> left;
  PageRequest page{1000, ""};
  auto all = cat().ListJobs({}, page);
  ASSERT_TRUE(IsOk(all));
  for (const auto& j : all->items) left.push_back(j.id);
  std::vector<JobId> expected(recent.rbegin(), recent.rend());
  expected.push_back(a_last_ok);
  expected.push_back(b_last_check);
  EXPECT_EQ(left, expected);
  EXPECT_EQ(stats->jobs, 161 - static_cast<int64_t>(expected.size()));
  EXPECT_NE(a_last_fail, 0);
  EXPECT_TRUE(cat().GetJob(interrupted).status().IsNotFound());
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM job_logs"), std::to_string(expected.size()));
  // Counters do not go down; the status row still names jobs that exist.
  auto counts_after = cat().CountJobs();
  ASSERT_TRUE(IsOk(counts_after));
  EXPECT_EQ(counts_after->size(), counts_before->size());
  for (size_t i = 0; i < counts_before->size(); ++i)
    EXPECT_EQ((*counts_after)[i].count, (*counts_before)[i].count);
  auto status = cat().ListServiceStatus();
  ASSERT_TRUE(IsOk(status));
  for (const auto& s : *status) {
    if (s.last_job) {
      EXPECT_TRUE(IsOk(cat().GetJob(s.last_job)));
    }
    if (s.success_job) {
      EXPECT_TRUE(IsOk(cat().GetJob(s.success_job)));
    }
  }
  // The resolved alert and its delivery went; the open alert and the audit entry stay.
  EXPECT_EQ(stats->alerts, 1);
  EXPECT_EQ(stats->deliveries, 1);
  EXPECT_EQ(stats->audit, 0);
  auto open = cat().ListAlerts(AlertState::kAll, {});
  ASSERT_TRUE(IsOk(open));
  ASSERT_EQ(open->items.size(), 1u);
  EXPECT_EQ(open->items[0].message, "still open");
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM deliveries"), "0");
  EXPECT_EQ(RawQuery(path_, "PRAGMA integrity_check"), "ok");
  // Ids are never handed out twice, even after the newest rows went.
  auto next = cat().InsertJob({JobKind::kBackup, "a", {"local"}, Trigger::kManual});
  ASSERT_TRUE(IsOk(next));
  EXPECT_GT(*next, recent.back());
  EXPECT_EQ(cat().PruneHistory({0, 0}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
