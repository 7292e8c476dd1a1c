// The restore-point cache, drills, the services overview and metrics.
#include <gtest/gtest.h>

#include <set>

#include "cairn/target.h"
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

class CatalogPointsTest : public CatalogFixture {
 protected:
  std::vector<std::string> AllIds(const std::string& service, int limit) {
    std::vector<std::string> ids;
    PageRequest page{limit, ""};
    for (int guard = 0; guard < 10000; ++guard) {
      auto p = cat().ListPoints(service, page);
      EXPECT_TRUE(IsOk(p));
      if (!p.ok()) break;
      for (const auto& pt : p->items) ids.push_back(pt.id);
      if (p->next_cursor.empty()) break;
      page.cursor = p->next_cursor;
    }
    return ids;
  }
  int64_t Count(const std::string& service, const std::string& target) {
    auto n = cat().CountPoints(service, target);
    EXPECT_TRUE(IsOk(n));
    return n.ok() ? *n : -1;
  }
};

TEST_F(CatalogPointsTest, PointStampsSinceListsTheRangeNewestFirstAndTellsOfOlderOnes) {
  for (int i = 0; i < 5; ++i) {
    PointWrite p = MakePoint("app-db", "00000000000000a" + std::to_string(i), "local", kT0 + i * kSecond, 10);
    if (i == 3) p.kind = PointKind::kSafety;
    if (i == 4) p.status = PointStatus::kIncomplete;
    ASSERT_TRUE(IsOk(cat().PutPoint(p)));
  }
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("other", "00000000000000b0", "local", kT0 + 9 * kSecond, 10))));
  auto got = cat().PointStampsSince("app-db", kT0 + 2 * kSecond);
  ASSERT_TRUE(IsOk(got));
  ASSERT_EQ(got->points.size(), 3u);
  EXPECT_EQ(got->points[0].time_ns, kT0 + 4 * kSecond);
  EXPECT_EQ(got->points[0].status, PointStatus::kIncomplete);
  EXPECT_EQ(got->points[1].kind, PointKind::kSafety);
  EXPECT_EQ(got->points[2].time_ns, kT0 + 2 * kSecond);
  EXPECT_TRUE(got->older);
  auto all = cat().PointStampsSince("app-db", kT0);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(all->points.size(), 5u);
  EXPECT_FALSE(all->older);
  auto none = cat().PointStampsSince("nobody", kT0);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->points.empty());
  EXPECT_FALSE(none->older);
}

TEST_F(CatalogPointsTest, OnePointOnTwoTargetsIsListedOnceWithBoth) {
  PointWrite p = MakePoint("app-db", "6fc69ea733a0125e", "local", kT0, 52428800);
  p.parts = {{"globals", "stream", 1311, std::nullopt}, {"db.app", "stream", 52427489, std::nullopt},
             {"volumes", "files", 12, 3}};
  p.inexact_reasons = {"app.logs: MyISAM table, not a consistent snapshot"};
  ASSERT_TRUE(IsOk(cat().PutPoint(p)));
  p.target = "offsite";
  p.native_id = "archive-7";
  p.added = 77;
  ASSERT_TRUE(IsOk(cat().PutPoint(p)));
  auto page = cat().ListPoints("app-db", {});
  ASSERT_TRUE(IsOk(page));
  ASSERT_EQ(page->items.size(), 1u);
  const PointRecord& got = page->items[0];
  EXPECT_EQ(got.id, "6fc69ea733a0125e");
  EXPECT_EQ(got.size, 52428800u);
  ASSERT_EQ(got.parts.size(), 3u);
  EXPECT_EQ(got.parts[0], (PointPart{"globals", "stream", 1311, std::nullopt}));
  EXPECT_EQ(got.parts[2], (PointPart{"volumes", "files", 12, 3}));
  EXPECT_EQ(got.inexact_reasons, p.inexact_reasons);
  ASSERT_EQ(got.targets.size(), 2u);
  EXPECT_EQ(got.targets[0].target, "local");
  EXPECT_EQ(got.targets[1].target, "offsite");
  EXPECT_EQ(got.targets[1].native_id, "archive-7");
  EXPECT_EQ(got.targets[1].added, 77u);
  EXPECT_EQ(got.targets[0].cached_ns, kT0);
  EXPECT_EQ(Count("app-db", "local"), 1);
  EXPECT_EQ(Count("app-db", "offsite"), 1);
  EXPECT_EQ(Count("app-db", "nowhere"), 0);
  EXPECT_TRUE(page->next_cursor.empty());
}

TEST_F(CatalogPointsTest, PagesVisitEveryPointOnceNewestFirstEvenWithEqualTimes) {
  std::vector<PointWrite> points;
  // Three points share each time stamp: the id breaks the tie.
  for (int i = 0; i < 301; ++i) {
    char id[17];
    std::snprintf(id, sizeof id, "%016x", i * 2654435761u);
    points.push_back(MakePoint("svc", id, "local", kT0 + (i / 3) * kSecond));
  }
  auto stats = cat().ReplaceTargetPoints("local", "svc", points);
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->added, 301);
  std::vector<std::pair<int64_t, std::string>> keys;
  for (const auto& p : points) keys.push_back({p.time_ns, p.id});
  std::sort(keys.rbegin(), keys.rend());
  std::vector<std::string> expected;
  for (const auto& k : keys) expected.push_back(k.second);
  EXPECT_EQ(AllIds("svc", 50), expected);
  EXPECT_EQ(AllIds("svc", 3), expected);
  EXPECT_EQ(AllIds("svc", 1), expected);

  // New points arriving between pages do not disturb the walk.
  auto first = cat().ListPoints("svc", {100, ""});
  ASSERT_TRUE(IsOk(first));
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("svc", "ffffffffffffffff", "local", kT0 + 1000 * kSecond))));
  std::vector<std::string> seen;
  for (const auto& p : first->items) seen.push_back(p.id);
  std::string cursor = first->next_cursor;
  while (!cursor.empty()) {
    auto page = cat().ListPoints("svc", {100, cursor});
    ASSERT_TRUE(IsOk(page));
    for (const auto& p : page->items) seen.push_back(p.id);
    cursor = page->next_cursor;
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(cat().ListPoints("svc", {10, "6a7c31"}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(CatalogPointsTest, SyncUpsertsAndRemovesOnlyWithinItsScope) {
  ASSERT_TRUE(IsOk(cat().ReplaceTargetPoints(
      "local", std::nullopt,
      {MakePoint("a", "a1", "local", kT0), MakePoint("a", "a2", "local", kT0 + kSecond),
       MakePoint("b", "b1", "local", kT0)})));
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("a", "a1", "s3", kT0))));
  EXPECT_EQ(Count("a", "local"), 2);

  // Service a on local now holds a2 (its size changed) and a3; a1 is gone.
  PointWrite a2 = MakePoint("a", "a2", "local", kT0 + kSecond, 9999);
  PointWrite a3 = MakePoint("a", "a3", "local", kT0 + 2 * kSecond);
  auto stats = cat().ReplaceTargetPoints("local", "a", {a2, a3});
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->added, 1);
  EXPECT_EQ(stats->updated, 1);
  EXPECT_EQ(stats->unchanged, 0);
  EXPECT_EQ(stats->removed, 1);
  // a1 is still on s3, so it stays, with only that target.
  auto a1 = cat().GetPoint("a", "a1");
  ASSERT_TRUE(IsOk(a1));
  ASSERT_EQ(a1->targets.size(), 1u);
  EXPECT_EQ(a1->targets[0].target, "s3");
  // b was outside the scope of the sync.
  EXPECT_TRUE(IsOk(cat().GetPoint("b", "b1")));
  EXPECT_EQ(Count("a", "local"), 2);
  EXPECT_EQ(Count("a", "s3"), 1);
  EXPECT_EQ(Count("b", "local"), 1);
  auto a2_now = cat().GetPoint("a", "a2");
  ASSERT_TRUE(IsOk(a2_now));
  EXPECT_EQ(a2_now->size, 9999u);

  // The same sync again changes nothing.
  stats = cat().ReplaceTargetPoints("local", "a", {a2, a3});
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->unchanged, 2);
  EXPECT_EQ(stats->added + stats->updated + stats->removed, 0);

  // A whole-target sync with nothing: every point leaves local; points held
  // nowhere else are gone, with their manifests.
  stats = cat().ReplaceTargetPoints("local", std::nullopt, {});
  ASSERT_TRUE(IsOk(stats));
  EXPECT_EQ(stats->removed, 3);
  EXPECT_TRUE(cat().GetPoint("b", "b1").status().IsNotFound());
  EXPECT_TRUE(cat().GetManifest("a", "a3").status().IsNotFound());
  EXPECT_TRUE(IsOk(cat().GetPoint("a", "a1")));
  EXPECT_EQ(Count("a", "local"), 0);
  EXPECT_EQ(Count("b", "local"), 0);
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM point_manifests"), "1");

  // Points of another target or service are refused before anything changes.
  EXPECT_EQ(cat().ReplaceTargetPoints("local", "a", {MakePoint("a", "x", "s3", kT0)}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(cat().ReplaceTargetPoints("local", "a", {MakePoint("b", "x", "local", kT0)}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(CatalogPointsTest, RemovePointFromOneTargetOrAll) {
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("a", "a1", "local", kT0))));
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("a", "a1", "s3", kT0))));
  ASSERT_TRUE(IsOk(cat().RemovePoint("a", "a1", "local")));
  auto p = cat().GetPoint("a", "a1");
  ASSERT_TRUE(IsOk(p));
  EXPECT_EQ(p->targets.size(), 1u);
  ASSERT_TRUE(IsOk(cat().RemovePoint("a", "a1", "")));
  EXPECT_TRUE(cat().GetPoint("a", "a1").status().IsNotFound());
  EXPECT_TRUE(IsOk(cat().RemovePoint("a", "a1", "")));  // already gone: nothing to do
  EXPECT_EQ(Count("a", "s3"), 0);
}

TEST_F(CatalogPointsTest, ManifestsRoundTripLargeAndSmall) {
  PointWrite small = MakePoint("a", "a1", "local", kT0);
  PointWrite large = MakePoint("a", "a2", "local", kT0 + kSecond);
  Json items = Json::object();
  for (int i = 0; i < 300; ++i)
    items["app.public.table_" + std::to_string(i)] = {{"rows", i * 1000}, {"checksum", std::string(64, 'a' + i % 6)}};
  large.manifest = Json{{"point_id", "a2"}, {"fingerprint", {{"exact", true}, {"items", items}}}}.dump();
  ASSERT_GT(large.manifest.size(), 20000u);
  ASSERT_TRUE(IsOk(cat().PutPoint(small)));
  ASSERT_TRUE(IsOk(cat().PutPoint(large)));
  auto got_small = cat().GetManifest("a", "a1");
  auto got_large = cat().GetManifest("a", "a2");
  ASSERT_TRUE(IsOk(got_small));
  ASSERT_TRUE(IsOk(got_large));
  EXPECT_EQ(*got_small, small.manifest);
  EXPECT_EQ(*got_large, large.manifest);
  // The large one is stored compressed, the small one as readable text.
  EXPECT_EQ(RawQuery(path_, "SELECT typeof(manifest) FROM point_manifests ORDER BY point_pk LIMIT 1"), "text");
  EXPECT_LT(std::stoll(RawQuery(path_, "SELECT max(length(manifest)) FROM point_manifests")),
            static_cast<long long>(large.manifest.size() / 3));
  EXPECT_TRUE(cat().GetManifest("a", "zz").status().IsNotFound());
}

TEST_F(CatalogPointsTest, NewestAndResolvedPoints) {
  auto none = cat().NewestPoint("a");
  ASSERT_TRUE(IsOk(none));
  EXPECT_FALSE(none->has_value());
  PointWrite old = MakePoint("a", "1111aaaa00000000", "local", kT0);
  PointWrite newest_complete = MakePoint("a", "2222bbbb00000000", "local", kT0 + kSecond);
  PointWrite safety = MakePoint("a", "3333cccc00000000", "local", kT0 + 2 * kSecond);
  safety.kind = PointKind::kSafety;
  PointWrite incomplete = MakePoint("a", "1111dddd00000000", "local", kT0 + 3 * kSecond);
  incomplete.status = PointStatus::kIncomplete;
  for (const auto& p : {old, newest_complete, safety, incomplete}) ASSERT_TRUE(IsOk(cat().PutPoint(p)));

  auto newest = cat().NewestPoint("a");
  ASSERT_TRUE(IsOk(newest));
  ASSERT_TRUE(newest->has_value());
  EXPECT_EQ((*newest)->id, safety.id);  // newest complete point of any kind
  auto latest = cat().ResolvePointId("a", "latest");
  ASSERT_TRUE(IsOk(latest));
  EXPECT_EQ(*latest, newest_complete.id);  // "latest" skips safety backups
  auto by_prefix = cat().ResolvePointId("a", "2222");
  ASSERT_TRUE(IsOk(by_prefix));
  EXPECT_EQ(*by_prefix, newest_complete.id);
  EXPECT_EQ(cat().ResolvePointId("a", "1111").status().code(), StatusCode::kInvalidArgument);  // ambiguous
  EXPECT_EQ(cat().ResolvePointId("a", "111").status().code(), StatusCode::kInvalidArgument);   // too short
  EXPECT_TRUE(cat().ResolvePointId("a", "9999").status().IsNotFound());
  EXPECT_TRUE(cat().ResolvePointId("b", "latest").status().IsNotFound());
}

TEST_F(CatalogPointsTest, DrillsAttachToPointsAndServiceStatus) {
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("a", "a1", "local", kT0))));
  DrillRecord d;
  d.service = "a";
  d.point_id = "a1";
  d.target = "local";
  d.job = 42;
  d.duration_s = 12.5;
  d.outcome = DrillOutcome::kPassed;
  d.details = {{"validation", "exact"}};
  clock_.Advance(60 * kSecond);
  auto id1 = cat().RecordDrill(d);
  ASSERT_TRUE(IsOk(id1));
  clock_.Advance(60 * kSecond);
  d.outcome = DrillOutcome::kFailed;
  d.duration_s = 3;
  d.details = {{"error", "table count differs"}};
  ASSERT_TRUE(IsOk(cat().RecordDrill(d)));

  auto p = cat().GetPoint("a", "a1");
  ASSERT_TRUE(IsOk(p));
  ASSERT_TRUE(p->last_drill.has_value());
  ASSERT_TRUE(p->last_passed.has_value());
  EXPECT_EQ(p->last_drill->outcome, DrillOutcome::kFailed);
  EXPECT_EQ(p->last_passed->id, *id1);
  EXPECT_EQ(p->last_passed->verified_ns, kT0 + 60 * kSecond);
  EXPECT_DOUBLE_EQ(p->last_passed->duration_s, 12.5);
  EXPECT_EQ(p->last_passed->details["validation"], "exact");
  auto drills = cat().ListDrills("a", "a1");
  ASSERT_TRUE(IsOk(drills));
  ASSERT_EQ(drills->size(), 2u);
  EXPECT_EQ((*drills)[0].outcome, DrillOutcome::kFailed);

  auto metrics = cat().Metrics();
  ASSERT_TRUE(IsOk(metrics));
  ASSERT_EQ(metrics->drills.size(), 1u);
  EXPECT_EQ(metrics->drills[0].last_outcome, DrillOutcome::kFailed);
  EXPECT_EQ(metrics->drills[0].success_ns, kT0 + 60 * kSecond);
  EXPECT_DOUBLE_EQ(metrics->drills[0].success_duration_s, 12.5);

  // In a page, each point carries its own newest drills.
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("a", "a2", "local", kT0 + kSecond))));
  ASSERT_TRUE(IsOk(cat().PutPoint(MakePoint("a", "a3", "local", kT0 + 2 * kSecond))));
  DrillRecord d2 = d;
  d2.point_id = "a2";
  d2.outcome = DrillOutcome::kPassed;
  d2.duration_s = 7;
  ASSERT_TRUE(IsOk(cat().RecordDrill(d2)));
  auto page = cat().ListPoints("a", {});
  ASSERT_TRUE(IsOk(page));
  ASSERT_EQ(page->items.size(), 3u);
  EXPECT_FALSE(page->items[0].last_drill.has_value());  // a3
  ASSERT_TRUE(page->items[1].last_passed.has_value());  // a2
  EXPECT_DOUBLE_EQ(page->items[1].last_passed->duration_s, 7);
  EXPECT_EQ(page->items[1].last_drill->id, page->items[1].last_passed->id);
  ASSERT_TRUE(page->items[2].last_drill.has_value());  // a1
  EXPECT_EQ(page->items[2].last_drill->outcome, DrillOutcome::kFailed);
  EXPECT_EQ(page->items[2].last_passed->id, *id1);
  auto overview = cat().ServicesOverview();
  ASSERT_TRUE(IsOk(overview));
  ASSERT_EQ(overview->size(), 1u);
  ASSERT_TRUE((*overview)[0].newest_point.has_value());
  EXPECT_EQ((*overview)[0].newest_point->id, "a3");
  ASSERT_TRUE((*overview)[0].drill.has_value());
  EXPECT_EQ((*overview)[0].drill->last_point, "a2");

  d.point_id = "unknown";
  EXPECT_TRUE(cat().RecordDrill(d).status().IsNotFound());
  // Drill results go with their point.
  ASSERT_TRUE(IsOk(cat().RemovePoint("a", "a1", "")));
  EXPECT_EQ(RawQuery(path_, "SELECT count(*) FROM point_drills WHERE point_pk = 1"), "0");
}

TEST_F(CatalogPointsTest, OverviewAndMetricsComeFromTheStatusRows) {
  // Two services, one with two targets, a drill and an open alert.
  for (int i = 0; i < 3; ++i) {
    auto id = cat().InsertJob({JobKind::kBackup, "app-db", {"local", "s3"}, Trigger::kSchedule});
    ASSERT_TRUE(IsOk(id));
    ASSERT_TRUE(IsOk(cat().StartJob(*id)));
    clock_.Advance(20 * kSecond);
    JobOutcome out;
    out.status = JobStatus::kSucceeded;
    std::string pid = "p" + std::to_string(i);
    out.points = {MakePoint("app-db", pid, "local", clock_.NowNs(), 100 + i),
                  MakePoint("app-db", pid, "s3", clock_.NowNs(), 100 + i)};
    ASSERT_TRUE(IsOk(cat().FinishJob(*id, out)));
  }
  auto failed = cat().InsertJob({JobKind::kBackup, "cache", {"local"}, Trigger::kSchedule});
  ASSERT_TRUE(IsOk(failed));
  ASSERT_TRUE(IsOk(cat().StartJob(*failed)));
  JobOutcome fail;
  fail.status = JobStatus::kFailed;
  fail.error = "cannot connect to Redis";
  ASSERT_TRUE(IsOk(cat().FinishJob(*failed, fail)));
  auto running = cat().InsertJob({JobKind::kCheck, "", {"local"}, Trigger::kSchedule});
  ASSERT_TRUE(IsOk(running));
  ASSERT_TRUE(IsOk(cat().StartJob(*running)));
  ASSERT_TRUE(IsOk(cat().RaiseAlert(AlertRule::kJobFailed, Severity::kCritical, "cache", "local", "fix it")));

  auto overview = cat().ServicesOverview();
  ASSERT_TRUE(IsOk(overview));
  ASSERT_EQ(overview->size(), 2u);
  const ServiceOverview& app = (*overview)[0];
  EXPECT_EQ(app.service, "app-db");
  ASSERT_EQ(app.targets.size(), 2u);
  EXPECT_EQ(app.targets[0].points, 3);
  EXPECT_EQ(app.targets[1].success_size, 102u);
  ASSERT_TRUE(app.newest_point.has_value());
  EXPECT_EQ(app.newest_point->id, "p2");
  EXPECT_EQ(app.newest_point->targets.size(), 2u);
  const ServiceOverview& cache = (*overview)[1];
  EXPECT_EQ(cache.targets[0].last_status, JobStatus::kFailed);
  EXPECT_FALSE(cache.newest_point.has_value());

  auto m = cat().Metrics();
  ASSERT_TRUE(IsOk(m));
  EXPECT_EQ(m->backups.size(), 3u);
  EXPECT_EQ(m->jobs_running, 1);
  EXPECT_EQ(m->jobs_queued, 0);
  EXPECT_EQ(m->alerts_open_critical, 1);
  EXPECT_EQ(m->alerts_open_warning, 0);
  int64_t succeeded = 0, failed_n = 0;
  for (const auto& c : m->job_totals) {
    if (c.kind == JobKind::kBackup && c.status == JobStatus::kSucceeded) succeeded = c.count;
    if (c.kind == JobKind::kBackup && c.status == JobStatus::kFailed) failed_n = c.count;
  }
  EXPECT_EQ(succeeded, 3);
  EXPECT_EQ(failed_n, 1);
}

TEST_F(CatalogPointsTest, RestorePointsConvertWithTheirParts) {
  RestorePoint rp;
  rp.id = "6fc69ea733a0125e";
  rp.service = "app-db";
  rp.target = "local";
  rp.time_ns = kT0;
  rp.kind = "safety";
  rp.status = "incomplete";
  rp.size = 10;
  rp.stored = 4;
  rp.native_id = "abcd";
  rp.manifest = {{"parts", {{{"name", "globals"}, {"kind", "stream"}, {"bytes", 7}},
                            {{"name", "files"}, {"kind", "files"}, {"bytes", 3}, {"files", 2}}}},
                 {"fingerprint", {{"exact", false}, {"items", Json::object()},
                                  {"inexact_reasons", {{{"scope", "app"}, {"reason", "MyISAM"}}}}}}};
  auto w = ToPointWrite(rp);
  ASSERT_TRUE(IsOk(w));
  EXPECT_EQ(w->kind, PointKind::kSafety);
  EXPECT_EQ(w->status, PointStatus::kIncomplete);
  ASSERT_EQ(w->parts.size(), 2u);
  EXPECT_EQ(w->parts[0], (PointPart{"globals", "stream", 7, std::nullopt}));
  EXPECT_EQ(w->parts[1], (PointPart{"files", "files", 3, 2}));
  EXPECT_EQ(w->inexact_reasons, (std::vector<std::string>{"app: MyISAM"}));
  EXPECT_EQ(w->added, 4u);
  EXPECT_EQ(Json::parse(w->manifest), rp.manifest);
  rp.kind = "weekly";
  EXPECT_EQ(ToPointWrite(rp).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn
