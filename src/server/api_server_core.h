// The request handling behind ApiServer, shared by the handler files
// (handlers_*.cc, one per area of docs/api.md). Internal to src/server.
//
// One request: route (404/405/400) -> static files, or authenticate (401)
// -> role (403) -> CSRF for cookie-authenticated POST/DELETE (403) -> read
// and parse the body (413/400) -> configuration loaded (503) -> handler ->
// daemon, its Status mapped to HTTP (http_util.h).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <httplib.h>

#include "server/api_server.h"
#include "server/auth.h"
#include "server/http_transport.h"
#include "server/request_parsing.h"
#include "server/router.h"
#include "server/sse.h"
#include "server/static_files.h"

namespace cairn {

struct ApiRequest {
  ApiRequest(const httplib::Request& h, httplib::Response& r, RouteMatch m) : http(h), res(r), match(std::move(m)) {}
  const httplib::Request& http;
  httplib::Response& res;
  RouteMatch match;
  Principal who;  // set unless the route is public
  Json body = Json::object();
  QueryList query;
};

// A long response that waits on something other than its socket (a file
// download waits on the daemon); Stop interrupts it.
class Interruptible {
 public:
  virtual ~Interruptible() = default;
  virtual void Interrupt() = 0;
};

class ApiServer::Core {
 public:
  Core(ServerConfig config, DaemonApi& daemon, Catalog& catalog, Clock* clock, ApiServerOptions options);
  ~Core();

  Status Start();
  void Stop();
  int port() const;
  bool tls() const;

  // --- used by the handlers -------------------------------------------------
  // Answers a failed daemon or catalog call: its HTTP status (503 when the
  // configuration went away meanwhile) and {"error": message}.
  void Fail(ApiRequest& r, const Status& status);
  // Records a state-changing request in the audit log (best effort: the
  // action has happened, a busy catalog must not turn it into an error).
  void Audit(const ApiRequest& r, const std::string& action, Json details);
  // Query parameters must all be read by now (400 otherwise); true when fine.
  bool FinishQuery(ApiRequest& r, QueryReader& query);
  bool FinishBody(ApiRequest& r, BodyFields& fields);
  // Long responses register here while they run, so that Stop can end them.
  void Track(const std::shared_ptr<Interruptible>& response);
  void Untrack(const std::shared_ptr<Interruptible>& response);

  ServerConfig config;
  DaemonApi& daemon;
  Catalog& catalog;
  Clock* clock;
  ApiServerOptions options;
  Authenticator auth;
  SseHub sse;
  StaticFiles statics;
  std::atomic<int> downloads{0};
  std::unique_ptr<HttpTransport> transport;

 private:
  void OnRequest(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader);
  bool Authorize(ApiRequest& r, Access access);
  bool ReadBody(ApiRequest& r, const httplib::ContentReader& reader);
  void Dispatch(ApiRequest& r);
  bool stopped_ = false;
  std::mutex tracked_mu_;
  std::set<std::shared_ptr<Interruptible>> tracked_;
  bool interrupting_ = false;
};

// Handlers, by area.
void HandleHealth(ApiServer::Core& core, ApiRequest& r);
void HandleConfig(ApiServer::Core& core, ApiRequest& r);
void HandleMetrics(ApiServer::Core& core, ApiRequest& r);
void HandleSessionCreate(ApiServer::Core& core, ApiRequest& r);
void HandleSessionGet(ApiServer::Core& core, ApiRequest& r);
void HandleSessionDelete(ApiServer::Core& core, ApiRequest& r);

void HandleServiceList(ApiServer::Core& core, ApiRequest& r);
void HandleServiceGet(ApiServer::Core& core, ApiRequest& r);
void HandlePointList(ApiServer::Core& core, ApiRequest& r);
void HandlePointGet(ApiServer::Core& core, ApiRequest& r);
void HandleServiceHistory(ApiServer::Core& core, ApiRequest& r);
void HandleCalendar(ApiServer::Core& core, ApiRequest& r);
void HandleFileList(ApiServer::Core& core, ApiRequest& r);
void HandleBackupStart(ApiServer::Core& core, ApiRequest& r);
void HandleRestoreStart(ApiServer::Core& core, ApiRequest& r);
void HandleVerifyStart(ApiServer::Core& core, ApiRequest& r);

void HandleJobList(ApiServer::Core& core, ApiRequest& r);
void HandleJobGet(ApiServer::Core& core, ApiRequest& r);
void HandleJobLog(ApiServer::Core& core, ApiRequest& r);
void HandleJobCancel(ApiServer::Core& core, ApiRequest& r);
void HandleAlertList(ApiServer::Core& core, ApiRequest& r);
void HandleAlertAck(ApiServer::Core& core, ApiRequest& r);
void HandleScheduleList(ApiServer::Core& core, ApiRequest& r);
void HandleSchedulePause(ApiServer::Core& core, ApiRequest& r, bool paused);
void HandleNotificationTest(ApiServer::Core& core, ApiRequest& r);

// The two long-lived responses (handlers_stream.cc).
void HandleEvents(ApiServer::Core& core, ApiRequest& r);
void HandleFileContent(ApiServer::Core& core, ApiRequest& r);

}  // namespace cairn
