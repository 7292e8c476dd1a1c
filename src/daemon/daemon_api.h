// What the HTTP layer (src/server) asks of the daemon. The server owns
// transport, authentication, roles, CSRF, rate limits, SSE plumbing and
// static files; the daemon owns state and decisions. Every JSON value
// returned here is exactly the body (or the object) docs/api.md defines, so
// the server only routes, checks roles and serialises.
//
// Errors come back as Status; the server maps codes to HTTP:
//   kInvalidArgument -> 400, kNotFound -> 404, kAlreadyExists / kLocked /
//   kAborted -> 409, kUnsupported -> 400, kWrongPassword -> 401,
//   everything else -> 500; a daemon without a loaded configuration answers
//   kUnavailable-like kIOError with "configuration not loaded" -> 503 (see
//   ConfigLoaded()).
//
// Thread-safety: every method may be called from any thread at any time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "cairn/bytes.h"
#include "cairn/service.h"
#include "cairn/status.h"
#include "daemon/job_types.h"

namespace cairn {

// Who asks: recorded in the audit log and on jobs.
struct Actor {
  std::string name;  // "admin" for the password session, else the token's name
  Role role = Role::kRead;
};

struct JobListFilter {
  std::optional<std::string> service;
  std::optional<JobStatus> status;
  std::optional<JobKind> kind;
};

// One live event for GET /api/v1/events: `event` is job | alert | service |
// config, `data` the JSON docs/api.md gives for it.
struct ApiEvent {
  std::string event;
  Json data;
};

// A file of a restore point being downloaded.
struct FileDownload {
  std::string name;  // base name, for Content-Disposition
  uint64_t size = 0;
};

class DaemonApi {
 public:
  virtual ~DaemonApi() = default;

  virtual Json Health() = 0;
  // Whether a configuration is loaded (the service routes answer 503 otherwise).
  virtual bool ConfigLoaded() = 0;
  virtual Json ConfigStatus() = 0;

  virtual Result<Json> ListServices() = 0;
  virtual Result<Json> GetService(const std::string& name) = 0;
  virtual Result<Json> ListPoints(const std::string& service, int limit, const std::string& cursor) = 0;
  virtual Result<Json> GetPoint(const std::string& service, const std::string& point) = 0;
  virtual Result<Json> ServiceHistory(const std::string& service, int days) = 0;
  virtual Result<Json> Calendar(int days, const std::string& time_zone) = 0;
  virtual Result<Json> ListFiles(const std::string& service, const std::string& point, const std::string& path) = 0;
  // Streams one regular file of a point: `start` is called once with its name
  // and size before the first byte, `sink` with every piece; a sink returning
  // false (the client went away) stops the download.
  virtual Status DownloadFile(const std::string& service, const std::string& point, const std::string& path,
                              const std::function<void(const FileDownload&)>& start,
                              const std::function<bool(ByteView)>& sink) = 0;

  // Requests queue a job and return its id at once (HTTP 202).
  virtual Result<JobId> StartBackup(const std::string& service, const std::optional<std::string>& target,
                                    const Actor& actor) = 0;
  // `request` is the POST body of /restores, already known to be an object.
  virtual Result<JobId> StartRestore(const std::string& service, const Json& request, const Actor& actor) = 0;
  virtual Result<JobId> StartVerify(const std::string& service, const std::string& point, const Actor& actor) = 0;

  virtual Result<Json> ListJobs(const JobListFilter& filter, int limit, const std::string& cursor) = 0;
  virtual Result<Json> GetJob(JobId id) = 0;
  virtual Result<Json> JobLog(JobId id, int64_t after) = 0;
  virtual Status CancelJob(JobId id, const Actor& actor) = 0;

  virtual Result<Json> ListAlerts(bool open, int limit, const std::string& cursor) = 0;
  virtual Result<Json> AckAlert(int64_t id, const Actor& actor) = 0;

  virtual Result<Json> ListSchedules() = 0;
  virtual Result<Json> SetSchedulePaused(const std::string& key, bool paused, const Actor& actor) = 0;
  virtual Status TestNotification(std::optional<int> channel, const Actor& actor) = 0;

  // Prometheus text exposition (docs/api.md, "Metrics").
  virtual Result<std::string> Metrics() = 0;

  // Live events. The callback runs on a daemon thread and must not block
  // (queue and return); Subscribe returns an id for Unsubscribe.
  virtual int64_t Subscribe(std::function<void(const ApiEvent&)> callback) = 0;
  virtual void Unsubscribe(int64_t id) = 0;
};

}  // namespace cairn
