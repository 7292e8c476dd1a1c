#include "server/router.h"

#include <array>
#include <vector>

namespace cairn {
namespace {

enum class Seg { kLiteral, kService, kPoint, kId, kKey };

struct Part {
  Seg kind;
  std::string_view text;  // kLiteral only
};

struct Route {
  HttpMethod method;
  RouteId id;
  std::vector<Part> parts;  // after "/"
};

constexpr size_t kMaxParamLength = 128;

Part L(std::string_view s) { return {Seg::kLiteral, s}; }
const Part kName{Seg::kService, {}};
const Part kPoint{Seg::kPoint, {}};
const Part kIdParam{Seg::kId, {}};
const Part kKey{Seg::kKey, {}};

const std::vector<Route>& Routes() {
  using M = HttpMethod;
  using R = RouteId;
  static const std::vector<Route> routes = {
      {M::kGet, R::kHealth, {L("api"), L("v1"), L("health")}},
      {M::kPost, R::kSessionCreate, {L("api"), L("v1"), L("session")}},
      {M::kGet, R::kSessionGet, {L("api"), L("v1"), L("session")}},
      {M::kDelete, R::kSessionDelete, {L("api"), L("v1"), L("session")}},
      {M::kGet, R::kServiceList, {L("api"), L("v1"), L("services")}},
      {M::kGet, R::kServiceGet, {L("api"), L("v1"), L("services"), kName}},
      {M::kGet, R::kPointList, {L("api"), L("v1"), L("services"), kName, L("backups")}},
      {M::kPost, R::kBackupStart, {L("api"), L("v1"), L("services"), kName, L("backups")}},
      {M::kGet, R::kPointGet, {L("api"), L("v1"), L("services"), kName, L("backups"), kPoint}},
      {M::kGet, R::kFileList, {L("api"), L("v1"), L("services"), kName, L("backups"), kPoint, L("files")}},
      {M::kGet, R::kFileContent,
       {L("api"), L("v1"), L("services"), kName, L("backups"), kPoint, L("files"), L("content")}},
      {M::kGet, R::kServiceHistory, {L("api"), L("v1"), L("services"), kName, L("history")}},
      {M::kPost, R::kRestoreStart, {L("api"), L("v1"), L("services"), kName, L("restores")}},
      {M::kPost, R::kVerifyStart, {L("api"), L("v1"), L("services"), kName, L("verify")}},
      {M::kGet, R::kCalendar, {L("api"), L("v1"), L("calendar")}},
      {M::kGet, R::kJobList, {L("api"), L("v1"), L("jobs")}},
      {M::kGet, R::kJobGet, {L("api"), L("v1"), L("jobs"), kIdParam}},
      {M::kGet, R::kJobLog, {L("api"), L("v1"), L("jobs"), kIdParam, L("log")}},
      {M::kPost, R::kJobCancel, {L("api"), L("v1"), L("jobs"), kIdParam, L("cancel")}},
      {M::kGet, R::kAlertList, {L("api"), L("v1"), L("alerts")}},
      {M::kPost, R::kAlertAck, {L("api"), L("v1"), L("alerts"), kIdParam, L("ack")}},
      {M::kGet, R::kScheduleList, {L("api"), L("v1"), L("schedules")}},
      {M::kPost, R::kSchedulePause, {L("api"), L("v1"), L("schedules"), kKey, L("pause")}},
      {M::kPost, R::kScheduleResume, {L("api"), L("v1"), L("schedules"), kKey, L("resume")}},
      {M::kGet, R::kConfigGet, {L("api"), L("v1"), L("config")}},
      {M::kPost, R::kNotificationTest, {L("api"), L("v1"), L("notifications"), L("test")}},
      {M::kGet, R::kEvents, {L("api"), L("v1"), L("events")}},
      {M::kGet, R::kMetrics, {L("metrics")}},
  };
  return routes;
}

bool HeadAllowed(RouteId id) { return id != RouteId::kEvents && id != RouteId::kFileContent; }

const char* MethodName(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet: return "GET";
    case HttpMethod::kHead: return "HEAD";
    case HttpMethod::kPost: return "POST";
    case HttpMethod::kPut: return "PUT";
    case HttpMethod::kPatch: return "PATCH";
    case HttpMethod::kDelete: return "DELETE";
    case HttpMethod::kOptions: return "OPTIONS";
    case HttpMethod::kOther: break;
  }
  return "?";
}

// Splits "/a/b/c" into {"a","b","c"}; "" segments (from "//" or a trailing
// "/") are kept so that they fail to match.
bool Split(std::string_view path, std::vector<std::string_view>* out) {
  if (path.empty() || path[0] != '/') return false;
  path.remove_prefix(1);
  while (true) {
    const size_t slash = path.find('/');
    out->push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (out->size() > 16) return true;  // longer than any route; no need to split further
  }
  return true;
}

// Fills the parameter of `part` from `segment`; false when its shape is wrong.
bool Bind(const Part& part, std::string_view segment, RouteParams* params, std::string* why) {
  switch (part.kind) {
    case Seg::kLiteral:
      return segment == part.text;
    case Seg::kService:
      if (IsServiceName(segment)) {
        params->service = std::string(segment);
        return true;
      }
      *why = "no such service: a service name is letters, digits, '_', '.' and '-'";
      return false;
    case Seg::kPoint:
      if (ParsePointRef(segment, &params->point)) return true;
      *why = "no such restore point: a point is 'latest' or 4 to 64 hex digits of its id";
      return false;
    case Seg::kId:
      if (ParsePositiveId(segment, &params->id)) return true;
      *why = "no such id: ids are positive decimal numbers";
      return false;
    case Seg::kKey:
      if (IsScheduleKey(segment)) {
        params->key = std::string(segment);
        return true;
      }
      *why = "no such schedule: a schedule key is letters, digits and '_', '.', ':', '-'";
      return false;
  }
  return false;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

// The path as it may appear in a message: printable ASCII, the rest '?'.
std::string Printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c < 0x20 || c > 0x7e) c = '?';
  return out;
}

}  // namespace

HttpMethod ParseHttpMethod(std::string_view m) {
  if (m == "GET") return HttpMethod::kGet;
  if (m == "HEAD") return HttpMethod::kHead;
  if (m == "POST") return HttpMethod::kPost;
  if (m == "PUT") return HttpMethod::kPut;
  if (m == "PATCH") return HttpMethod::kPatch;
  if (m == "DELETE") return HttpMethod::kDelete;
  if (m == "OPTIONS") return HttpMethod::kOptions;
  return HttpMethod::kOther;
}

const RouteInfo& GetRouteInfo(RouteId id) {
  using A = Access;
  using R = RouteId;
  static const std::array<RouteInfo, static_cast<size_t>(R::kStatic) + 1> table = {{
      {R::kHealth, A::kPublic, false, false, "GET /api/v1/health"},
      {R::kSessionCreate, A::kPublic, false, true, "POST /api/v1/session"},
      {R::kSessionGet, A::kSession, false, false, "GET /api/v1/session"},
      {R::kSessionDelete, A::kSession, false, false, "DELETE /api/v1/session"},
      {R::kServiceList, A::kRead, true, false, "GET /api/v1/services"},
      {R::kServiceGet, A::kRead, true, false, "GET /api/v1/services/{name}"},
      {R::kPointList, A::kRead, true, false, "GET /api/v1/services/{name}/backups"},
      {R::kPointGet, A::kRead, true, false, "GET /api/v1/services/{name}/backups/{point}"},
      {R::kServiceHistory, A::kRead, true, false, "GET /api/v1/services/{name}/history"},
      {R::kCalendar, A::kRead, true, false, "GET /api/v1/calendar"},
      {R::kFileList, A::kRead, true, false, "GET /api/v1/services/{name}/backups/{point}/files"},
      {R::kFileContent, A::kRead, true, false, "GET /api/v1/services/{name}/backups/{point}/files/content"},
      {R::kBackupStart, A::kOperate, true, true, "POST /api/v1/services/{name}/backups"},
      {R::kRestoreStart, A::kOperate, true, true, "POST /api/v1/services/{name}/restores"},
      {R::kVerifyStart, A::kOperate, true, true, "POST /api/v1/services/{name}/verify"},
      {R::kJobList, A::kRead, false, false, "GET /api/v1/jobs"},
      {R::kJobGet, A::kRead, false, false, "GET /api/v1/jobs/{id}"},
      {R::kJobLog, A::kRead, false, false, "GET /api/v1/jobs/{id}/log"},
      {R::kJobCancel, A::kOperate, false, true, "POST /api/v1/jobs/{id}/cancel"},
      {R::kAlertList, A::kRead, false, false, "GET /api/v1/alerts"},
      {R::kAlertAck, A::kOperate, false, true, "POST /api/v1/alerts/{id}/ack"},
      {R::kScheduleList, A::kRead, true, false, "GET /api/v1/schedules"},
      {R::kSchedulePause, A::kOperate, true, true, "POST /api/v1/schedules/{key}/pause"},
      {R::kScheduleResume, A::kOperate, true, true, "POST /api/v1/schedules/{key}/resume"},
      {R::kConfigGet, A::kRead, false, false, "GET /api/v1/config"},
      {R::kNotificationTest, A::kAdmin, true, true, "POST /api/v1/notifications/test"},
      {R::kEvents, A::kRead, false, false, "GET /api/v1/events"},
      {R::kMetrics, A::kMetrics, false, false, "GET /metrics"},
      {R::kStatic, A::kPublic, false, false, "GET /*"},
  }};
  return table[static_cast<size_t>(id)];
}

bool IsServiceName(std::string_view s) {
  if (s.empty() || s.size() > kMaxParamLength || s == "." || s == "..") return false;
  for (char c : s)
    if (!IsNameChar(c)) return false;
  return true;
}

bool IsScheduleKey(std::string_view s) {
  if (s.empty() || s.size() > 2 * kMaxParamLength + 16 || s == "." || s == "..") return false;
  for (char c : s)
    if (!IsNameChar(c) && c != ':') return false;
  return true;
}

bool ParsePointRef(std::string_view s, std::string* out) {
  if (s == "latest") {
    *out = "latest";
    return true;
  }
  if (s.size() < 4 || s.size() > 64) return false;
  std::string lower;
  lower.reserve(s.size());
  for (char c : s) {
    if (c >= '0' && c <= '9') lower += c;
    else if (c >= 'a' && c <= 'f') lower += c;
    else if (c >= 'A' && c <= 'F') lower += static_cast<char>(c - 'A' + 'a');
    else return false;
  }
  *out = std::move(lower);
  return true;
}

bool ParsePositiveId(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18 || s[0] == '0') return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

RouteMatch MatchRoute(std::string_view method_text, std::string_view path) {
  RouteMatch m;
  const HttpMethod method = ParseHttpMethod(method_text);
  std::vector<std::string_view> segs;
  if (!Split(path, &segs)) {
    m.outcome = RouteMatch::Outcome::kBadRequest;
    m.error = "the request target must be an absolute path";
    return m;
  }
  const bool api = !segs.empty() && segs[0] == "api";
  const bool metrics = segs.size() == 1 && segs[0] == "metrics";
  if (!api && !metrics) {
    // The dashboard: the static handler resolves the path against the
    // embedded files (never the file system).
    if (method == HttpMethod::kGet || method == HttpMethod::kHead) {
      m.outcome = RouteMatch::Outcome::kFound;
      m.route = RouteId::kStatic;
    } else {
      m.outcome = RouteMatch::Outcome::kMethodNotAllowed;
      m.allow = "GET, HEAD";
    }
    return m;
  }

  std::string allow;
  std::string why;
  bool structural = false;  // some route has this shape, whatever the method
  for (const Route& r : Routes()) {
    if (r.parts.size() != segs.size()) continue;
    RouteParams params;
    bool ok = true;
    bool literals = true;
    for (size_t i = 0; i < segs.size() && ok; ++i) {
      if (r.parts[i].kind == Seg::kLiteral) {
        literals = segs[i] == r.parts[i].text;
        ok = literals;
      }
    }
    if (!literals) continue;
    for (size_t i = 0; i < segs.size() && ok; ++i)
      if (r.parts[i].kind != Seg::kLiteral) ok = Bind(r.parts[i], segs[i], &params, &why);
    if (!ok) continue;
    structural = true;
    const bool head = method == HttpMethod::kHead && r.method == HttpMethod::kGet && HeadAllowed(r.id);
    if (r.method == method || head) {
      m.outcome = RouteMatch::Outcome::kFound;
      m.route = r.id;
      m.params = std::move(params);
      return m;
    }
    if (!allow.empty()) allow += ", ";
    allow += MethodName(r.method);
    if (r.method == HttpMethod::kGet && HeadAllowed(r.id)) allow += ", HEAD";
  }
  if (structural) {
    m.outcome = RouteMatch::Outcome::kMethodNotAllowed;
    m.allow = allow;
    return m;
  }
  m.outcome = RouteMatch::Outcome::kNotFound;
  m.error = why.empty() ? "no such route: " + Printable(path.substr(0, 200)) : why;
  return m;
}

}  // namespace cairn
