// A DaemonApi for the server's tests and measurements: fixed JSON answers,
// every call recorded (method, arguments, actor), failures on request, and
// events pushed by hand to whoever subscribed.
// Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/daemon_api.h"

namespace cairn::server_testing {

class FakeDaemonApi : public DaemonApi {
 public:
  struct Call {
    std::string method;
    Json args;
    std::string actor;  // "" for calls without an actor
    Role role = Role::kRead;
  };

  // --- set-up ---------------------------------------------------------------
  std::atomic<bool> config_loaded{true};
  // Every later call of `method` fails with `status` (until cleared).
  void FailMethod(const std::string& method, Status status);
  void ClearFailures();
  // What DownloadFile streams, in pieces of `piece` bytes; `fail_after`
  // bytes, when set, end it with an IOError. `stall_after` bytes, when set,
  // it waits (as for a slow target) and only asks the sink whether to go on.
  void SetFile(std::string name, std::string content, size_t piece = 16 * 1024, long fail_after = -1,
               long stall_after = -1);

  // --- inspection -----------------------------------------------------------
  std::vector<Call> calls() const;
  Call last_call() const;
  size_t call_count(const std::string& method) const;
  void ClearCalls();
  size_t active_subscriptions() const;
  // Calls every subscriber's callback, as the daemon would from its thread.
  void Emit(const ApiEvent& event);

  // --- DaemonApi ------------------------------------------------------------
  Json Health() override;
  bool ConfigLoaded() override { return config_loaded; }
  Json ConfigStatus() override;
  Result<Json> ListServices() override;
  Result<Json> GetService(const std::string& name) override;
  Result<Json> ListPoints(const std::string& service, int limit, const std::string& cursor) override;
  Result<Json> GetPoint(const std::string& service, const std::string& point) override;
  Result<Json> ServiceHistory(const std::string& service, int days) override;
  Result<Json> Calendar(int days, const std::string& time_zone) override;
  Result<Json> ListFiles(const std::string& service, const std::string& point, const std::string& path) override;
  Status DownloadFile(const std::string& service, const std::string& point, const std::string& path,
                      const std::function<void(const FileDownload&)>& start,
                      const std::function<bool(ByteView)>& sink) override;
  Result<JobId> StartBackup(const std::string& service, const std::optional<std::string>& target,
                            const Actor& actor) override;
  Result<JobId> StartRestore(const std::string& service, const Json& request, const Actor& actor) override;
  Result<JobId> StartVerify(const std::string& service, const std::string& point, const Actor& actor) override;
  Result<Json> ListJobs(const JobListFilter& filter, int limit, const std::string& cursor) override;
  Result<Json> GetJob(JobId id) override;
  Result<Json> JobLog(JobId id, int64_t after) override;
  Status CancelJob(JobId id, const Actor& actor) override;
  Result<Json> ListAlerts(bool open, int limit, const std::string& cursor) override;
  Result<Json> AckAlert(int64_t id, const Actor& actor) override;
  Result<Json> ListSchedules() override;
  Result<Json> SetSchedulePaused(const std::string& key, bool paused, const Actor& actor) override;
  Status TestNotification(std::optional<int> channel, const Actor& actor) override;
  Result<std::string> Metrics() override;
  int64_t Subscribe(std::function<void(const ApiEvent&)> callback) override;
  void Unsubscribe(int64_t id) override;

 private:
  Json ConfigStatusJson() const;
  // Records the call; returns the failure set for `method`, if any.
  Status Record(const std::string& method, Json args, const Actor* actor = nullptr);

  mutable std::mutex mu_;
  std::vector<Call> calls_;
  std::map<std::string, Status> failures_;
  std::string file_name_ = "a.txt", file_content_ = "hello\n";
  size_t file_piece_ = 16 * 1024;
  long file_fail_after_ = -1;
  long file_stall_after_ = -1;
  JobId next_job_ = 41;

  mutable std::mutex sub_mu_;
  std::map<int64_t, std::function<void(const ApiEvent&)>> subscribers_;
  int64_t next_subscription_ = 1;
};

}  // namespace cairn::server_testing
