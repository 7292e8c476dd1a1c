#include "daemon/metrics.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

TEST(MetricsTest, ContractNamesLabelsAndEscaping) {
  MetricsSnapshot s;
  ServiceTargetStatus b;
  b.service = "app\"db";
  b.target = "local";
  b.last_status = JobStatus::kFailed;
  b.last_job = 2;
  b.success_job = 1;
  b.success_ended_ns = 1'800'000'000'000'000'000;
  b.success_size = 52428800;
  b.points = 7;
  s.backups.push_back(b);
  s.jobs_running = 1;
  s.job_totals.push_back(JobCount{JobKind::kBackup, JobStatus::kSucceeded, 41});
  s.alerts_open_critical = 2;
  const std::string text = RenderMetrics(s, {});
  EXPECT_NE(text.find("cairn_backup_last_status{service=\"app\\\"db\",target=\"local\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("cairn_backup_last_success_timestamp_seconds{service=\"app\\\"db\",target=\"local\"} 1800000000\n"),
            std::string::npos);
  EXPECT_NE(text.find("cairn_backup_size_bytes{service=\"app\\\"db\",target=\"local\"} 52428800\n"), std::string::npos);
  EXPECT_NE(text.find("cairn_restore_points{service=\"app\\\"db\",target=\"local\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("cairn_jobs_running 1\n"), std::string::npos);
  EXPECT_NE(text.find("cairn_jobs_total{kind=\"backup\",status=\"succeeded\"} 41\n"), std::string::npos);
  EXPECT_NE(text.find("cairn_alerts_open{severity=\"critical\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE cairn_jobs_total counter\n"), std::string::npos);
}

}  // namespace
}  // namespace cairn
