#include "daemon/metrics.h"

#include <cstdio>

namespace cairn {
namespace {

// Label values escape backslash, double quote and newline (exposition format).
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Writer {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const char* name, const std::vector<std::pair<const char*, std::string>>& labels, double value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ += ',';
        out_ += std::string(labels[i].first) + "=\"" + Escape(labels[i].second) + "\"";
      }
      out_ += '}';
    }
    out_ += ' ' + Number(value) + '\n';
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

}  // namespace

std::string RenderMetrics(const MetricsSnapshot& s, const std::vector<PitrMetrics>& pitr) {
  Writer w;
  using L = std::vector<std::pair<const char*, std::string>>;
  w.Family("cairn_backup_last_success_timestamp_seconds", "gauge", "Time of the newest successful backup.");
  for (const auto& b : s.backups)
    if (b.success_ended_ns) w.Sample("cairn_backup_last_success_timestamp_seconds", L{{"service", b.service}, {"target", b.target}}, Seconds(b.success_ended_ns));
  w.Family("cairn_backup_last_status", "gauge", "1 when the last backup succeeded, 0 when it failed.");
  for (const auto& b : s.backups)
    if (b.last_status)
      w.Sample("cairn_backup_last_status", L{{"service", b.service}, {"target", b.target}},
               *b.last_status == JobStatus::kSucceeded ? 1 : 0);
  w.Family("cairn_backup_duration_seconds", "gauge", "Duration of the last successful backup.");
  for (const auto& b : s.backups)
    if (b.success_job) w.Sample("cairn_backup_duration_seconds", L{{"service", b.service}, {"target", b.target}}, b.success_duration_s);
  w.Family("cairn_backup_size_bytes", "gauge", "Size of the last restore point.");
  for (const auto& b : s.backups)
    if (b.success_job) w.Sample("cairn_backup_size_bytes", L{{"service", b.service}, {"target", b.target}}, static_cast<double>(b.success_size));
  w.Family("cairn_backup_added_bytes", "gauge", "Bytes the last backup added to the target.");
  for (const auto& b : s.backups)
    if (b.success_job) w.Sample("cairn_backup_added_bytes", L{{"service", b.service}, {"target", b.target}}, static_cast<double>(b.success_added));
  w.Family("cairn_restore_points", "gauge", "Restore points of the service on the target.");
  for (const auto& b : s.backups)
    w.Sample("cairn_restore_points", L{{"service", b.service}, {"target", b.target}}, static_cast<double>(b.points));
  w.Family("cairn_jobs_running", "gauge", "Jobs running now.");
  w.Sample("cairn_jobs_running", {}, static_cast<double>(s.jobs_running));
  w.Family("cairn_jobs_queued", "gauge", "Jobs waiting to start.");
  w.Sample("cairn_jobs_queued", {}, static_cast<double>(s.jobs_queued));
  w.Family("cairn_jobs_total", "counter", "Jobs that ended, by kind and final status.");
  for (const auto& j : s.job_totals)
    w.Sample("cairn_jobs_total", L{{"kind", std::string(ToString(j.kind))}, {"status", std::string(ToString(j.status))}},
             static_cast<double>(j.count));
  w.Family("cairn_alerts_open", "gauge", "Open alerts by severity.");
  w.Sample("cairn_alerts_open", L{{"severity", "warning"}}, static_cast<double>(s.alerts_open_warning));
  w.Sample("cairn_alerts_open", L{{"severity", "critical"}}, static_cast<double>(s.alerts_open_critical));
  w.Family("cairn_restore_drill_last_success_timestamp_seconds", "gauge", "Time of the newest passed restore drill.");
  for (const auto& d : s.drills)
    if (d.success_ns) w.Sample("cairn_restore_drill_last_success_timestamp_seconds", L{{"service", d.service}}, Seconds(d.success_ns));
  w.Family("cairn_restore_drill_duration_seconds", "gauge", "Duration of the newest passed restore drill (the measured RTO).");
  for (const auto& d : s.drills)
    if (d.success_ns) w.Sample("cairn_restore_drill_duration_seconds", L{{"service", d.service}}, d.success_duration_s);
  w.Family("cairn_pitr_window_start_timestamp_seconds", "gauge", "Oldest time point-in-time recovery can reach.");
  for (const auto& p : pitr) w.Sample("cairn_pitr_window_start_timestamp_seconds", L{{"service", p.service}}, Seconds(p.window_start_ns));
  w.Family("cairn_pitr_window_end_timestamp_seconds", "gauge", "Newest time point-in-time recovery can reach.");
  for (const auto& p : pitr) w.Sample("cairn_pitr_window_end_timestamp_seconds", L{{"service", p.service}}, Seconds(p.window_end_ns));
  w.Family("cairn_wal_archive_lag_seconds", "gauge", "How far the archived WAL or binlog is behind the server.");
  for (const auto& p : pitr) w.Sample("cairn_wal_archive_lag_seconds", L{{"service", p.service}}, p.lag_s);
  return w.Take();
}

}  // namespace cairn
