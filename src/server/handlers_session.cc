// GET /api/v1/health, GET /api/v1/config, GET /metrics and the session
// routes (sign in, who am I, sign out).
#include "cairn/system.h"
#include "server/api_server_core.h"
#include "server/http_util.h"

namespace cairn {
namespace {

std::string SessionCookie(const std::string& value, int64_t max_age_s, bool tls) {
  return std::string(kSessionCookie) + "=" + value + "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" +
         std::to_string(max_age_s) + (tls ? "; Secure" : "");
}

Json SessionBody(const Principal& p) {
  return Json{{"role", std::string(ToString(p.actor.role))},
              {"user", p.actor.name},
              {"expires_at", FormatTime(p.session.expires_ns)},
              {"csrf_token", p.session.csrf_token}};
}

bool NoQuery(ApiServer::Core& core, ApiRequest& r) {
  QueryReader q(r.query);
  return core.FinishQuery(r, q);
}

}  // namespace

void HandleHealth(ApiServer::Core& core, ApiRequest& r) {
  if (!NoQuery(core, r)) return;
  SendJson(r.res, 200, core.daemon.Health());
}

void HandleConfig(ApiServer::Core& core, ApiRequest& r) {
  if (!NoQuery(core, r)) return;
  SendJson(r.res, 200, core.daemon.ConfigStatus());
}

void HandleMetrics(ApiServer::Core& core, ApiRequest& r) {
  if (!NoQuery(core, r)) return;
  auto text = core.daemon.Metrics();
  if (!text.ok()) return core.Fail(r, text.status());
  r.res.status = 200;
  r.res.set_content(std::move(text).value(), "text/plain; version=0.0.4; charset=utf-8");
}

void HandleSessionCreate(ApiServer::Core& core, ApiRequest& r) {
  if (!NoQuery(core, r)) return;
  const std::string& address = r.http.remote_addr;
  SignInLimiter& limiter = core.auth.limiter();
  if (const int retry = limiter.RetryAfterSeconds(address); retry > 0) {
    r.res.set_header("Retry-After", std::to_string(retry));
    SendError(r.res, 429, "too many failed sign-ins from this address; try again in " + std::to_string(retry) + " s");
    return;
  }
  BodyFields fields(r.body);
  const std::optional<std::string> password = fields.String("password");
  const std::optional<std::string> token = fields.String("token");
  if (!core.FinishBody(r, fields)) return;
  if (password.has_value() == token.has_value()) {
    SendError(r.res, 400, "give either \"password\" or \"token\"");
    return;
  }
  const char* method = password ? "password" : "token";
  auto signed_in = password ? core.auth.SignInWithPassword(*password) : core.auth.SignInWithToken(*token);
  if (!signed_in.ok()) {
    if (signed_in.status().code() == StatusCode::kWrongPassword) {
      limiter.RecordFailure(address);
      core.Audit(r, "session.signin_failed", Json{{"method", method}});
      SendError(r.res, 401, password ? "wrong password" : "unknown API token");
      return;
    }
    return core.Fail(r, signed_in.status());
  }
  limiter.RecordSuccess(address);
  r.who = signed_in->principal;
  core.Audit(r, "session.signin", Json{{"method", method}});
  r.res.set_header("Set-Cookie", SessionCookie(signed_in->session_id, kSessionMaxNs / 1000000000, core.tls()));
  SendJsonUncompressed(r.res, 200, SessionBody(signed_in->principal));
}

void HandleSessionGet(ApiServer::Core& core, ApiRequest& r) {
  if (!NoQuery(core, r)) return;
  auto who = core.auth.SessionOf(r.http.get_header_value("Cookie"));
  if (!who.ok()) return core.Fail(r, who.status());
  SendJsonUncompressed(r.res, 200, SessionBody(*who));
}

void HandleSessionDelete(ApiServer::Core& core, ApiRequest& r) {
  if (!NoQuery(core, r)) return;
  const std::string cookie = r.http.get_header_value("Cookie");
  if (CookieValues(cookie, kSessionCookie).empty()) {
    SendError(r.res, 401, "not signed in");
    return;
  }
  auto who = core.auth.SessionOf(cookie);
  if (who.ok()) {
    if (!Authenticator::CsrfMatches(*who, r.http.get_header_value("X-CSRF-Token"))) {
      SendError(r.res, 403, "missing or wrong X-CSRF-Token header (the session's csrf_token)");
      return;
    }
    if (Status st = core.auth.SignOut(*who); !st.ok()) return core.Fail(r, st);
    r.who = *who;
    core.Audit(r, "session.signout", Json::object());
  } else if (who.status().code() != StatusCode::kWrongPassword) {
    return core.Fail(r, who.status());
  }
  // An unknown or expired session is signed out already: clear the cookie all the same.
  r.res.set_header("Set-Cookie", SessionCookie("", 0, core.tls()));
  r.res.status = 204;
}

}  // namespace cairn
