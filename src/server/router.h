// The request router: (method, decoded path) -> a route of docs/api.md with
// its parameters checked, or why not (404, 405, 400). A pure function over
// strings, so that it can be fuzzed (router_fuzz.cc) and reasoned about
// apart from the transport.
//
// Route parameters are validated here, by shape, before anything looks them
// up: a service name is [A-Za-z0-9_.-]+ (not "." or ".."), a point is
// "latest" or 4-64 hex digits, a job or alert id a positive decimal, a
// schedule key [A-Za-z0-9_.:-]+. A parameter of the wrong shape cannot name
// anything, so it is a 404. Paths arrive percent-decoded, which is why "..",
// "%2e%2e", encoded slashes and NUL bytes need no special case: they either
// fail a parameter's shape or change the number of segments.
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn {

enum class HttpMethod { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };
HttpMethod ParseHttpMethod(std::string_view method);

enum class RouteId {
  kHealth,
  kSessionCreate,
  kSessionGet,
  kSessionDelete,
  kServiceList,
  kServiceGet,
  kPointList,
  kPointGet,
  kServiceHistory,
  kCalendar,
  kFileList,
  kFileContent,
  kBackupStart,
  kRestoreStart,
  kVerifyStart,
  kJobList,
  kJobGet,
  kJobLog,
  kJobCancel,
  kAlertList,
  kAlertAck,
  kScheduleList,
  kSchedulePause,
  kScheduleResume,
  kConfigGet,
  kNotificationTest,
  kEvents,
  kMetrics,
  kStatic,  // the dashboard: any path outside /api/ and /metrics
};

// Who may call a route. kPublic: anyone; kSession: the session routes decide
// themselves; kMetrics: kRead unless server.metrics_public.
enum class Access { kPublic, kSession, kRead, kOperate, kAdmin, kMetrics };

struct RouteInfo {
  RouteId id;
  Access access;
  bool needs_config;  // 503 while no configuration is loaded
  bool takes_body;    // a JSON object body (optional for some)
  const char* name;   // for messages and tests: "GET /api/v1/jobs/{id}"
};
const RouteInfo& GetRouteInfo(RouteId id);

struct RouteParams {
  std::string service;  // {name}
  std::string point;    // {point}: "latest" or lowercase hex
  int64_t id = 0;       // {id} of a job or an alert
  std::string key;      // {key} of a schedule
};

struct RouteMatch {
  enum class Outcome { kFound, kNotFound, kMethodNotAllowed, kBadRequest };
  Outcome outcome = Outcome::kNotFound;
  RouteId route = RouteId::kStatic;
  RouteParams params;
  std::string allow;  // kMethodNotAllowed: the Allow header ("GET, HEAD")
  std::string error;  // kNotFound / kBadRequest: one line saying why
};

// HEAD is answered like GET except on the event stream and file downloads.
RouteMatch MatchRoute(std::string_view method, std::string_view path);

// Parameter shapes (also used for query parameters that name the same things).
bool IsServiceName(std::string_view s);
bool IsScheduleKey(std::string_view s);
// "latest" or 4-64 hex digits; `out` gets the lowercase form.
bool ParsePointRef(std::string_view s, std::string* out);
// A positive decimal without sign or leading zeros that fits int64.
bool ParsePositiveId(std::string_view s, int64_t* out);

}  // namespace cairn
