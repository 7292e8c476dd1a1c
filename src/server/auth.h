// Authentication for the HTTP API (docs/server.md, "Authentication"):
// Bearer tokens and dashboard sessions, on top of the catalog.
//
//  - A token is looked up by its SHA-256 on every request (revocation by
//    `cairn token delete`, another process, takes effect at once); its
//    last-used time is written at most once a minute.
//  - A session is made by signing in with the admin password (Argon2id hash
//    in the catalog's settings) or a token. Its id travels in the
//    cairn_session cookie and is stored hashed; it ends after 12 h without
//    use or 7 d in all. A session signed in with a token has that token's
//    role for as long as the token exists.
//  - Failed sign-ins are counted per client address (IPv6 per /64): after 5
//    within 5 minutes, sign-in is refused until the oldest leaves the window.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/clock.h"
#include "cairn/config.h"
#include "cairn/status.h"
#include "daemon/catalog.h"
#include "daemon/daemon_api.h"

namespace cairn {

inline constexpr std::string_view kSessionCookie = "cairn_session";
inline constexpr int64_t kSessionIdleNs = 12LL * 3600 * 1000000000;
inline constexpr int64_t kSessionMaxNs = 7LL * 24 * 3600 * 1000000000;

enum class CredentialKind { kToken, kSession };

// Who sent a request, once authenticated.
struct Principal {
  Actor actor;              // for the daemon: "admin" or the token's name, and the role
  std::string audit_actor;  // for the audit log: "admin" or "token:<name>"
  CredentialKind kind = CredentialKind::kToken;
  std::string session_id;   // kSession: the cookie's value (a secret)
  SessionRecord session;    // kSession
};

struct SignIn {
  Principal principal;
  std::string session_id;  // the cookie value
  std::string csrf_token;
  int64_t expires_ns = 0;
};

// Failed sign-ins per client address, in a sliding window.
class SignInLimiter {
 public:
  SignInLimiter(Clock* clock, int max_failures = 5, int64_t window_ns = 300LL * 1000000000);
  // Seconds until `address` may try again; 0 when it may now.
  int RetryAfterSeconds(const std::string& address);
  void RecordFailure(const std::string& address);
  void RecordSuccess(const std::string& address);

  // IPv4 as it is, IPv6 by its /64 (one subscriber's prefix), else the text.
  static std::string KeyOf(const std::string& address);

 private:
  void Prune(int64_t now);  // with mu_ held

  Clock* clock_;
  const int max_failures_;
  const int64_t window_ns_;
  std::mutex mu_;
  std::map<std::string, std::deque<int64_t>> failures_;
};

class Authenticator {
 public:
  Authenticator(Catalog& catalog, Clock* clock);

  // The principal behind a request's Authorization and Cookie headers: a
  // Bearer token when there is an Authorization header, else the session
  // cookie. kWrongPassword (-> 401) when there are none or they are not
  // valid; other codes when the catalog failed.
  Result<Principal> Authenticate(std::string_view authorization, std::string_view cookie);
  // The session of the cookie alone (GET/DELETE /api/v1/session).
  Result<Principal> SessionOf(std::string_view cookie);

  // kWrongPassword for a wrong password or token. The caller applies the
  // limiter and writes the audit record.
  Result<SignIn> SignInWithPassword(const std::string& password);
  Result<SignIn> SignInWithToken(const std::string& token);
  Status SignOut(const Principal& principal);

  // Whether `header` (X-CSRF-Token) is the session's CSRF token.
  static bool CsrfMatches(const Principal& principal, std::string_view header);

  SignInLimiter& limiter() { return limiter_; }

 private:
  Result<Principal> FromToken(std::string_view token);
  Result<Principal> FromSessionId(const std::string& session_id);
  Result<SignIn> StartSession(Principal principal);
  void MaybeTouchToken(const TokenRecord& token);

  Catalog& catalog_;
  Clock* clock_;
  SignInLimiter limiter_;
  std::mutex touch_mu_;
  std::map<int64_t, int64_t> token_touched_ns_;  // token id -> when this process last touched it
  // Argon2id takes 19 MiB per verification; one at a time bounds memory.
  std::mutex verify_mu_;
};

// Makes sure the catalog holds the admin password's hash. With
// server.admin_password_file, the hash is of that file's first line
// (re-hashed when the file changed). Without one, a hash already stored is
// kept; if there is none, a random password is generated, its hash stored,
// and the password returned so that the daemon can print it once (it is not
// kept anywhere else). Call before ApiServer::Start.
Result<std::optional<std::string>> EnsureAdminPassword(Catalog& catalog, const ServerConfig& config);

// An Argon2id hash (libsodium's string form) of `password`, and its check.
Result<std::string> HashPassword(const std::string& password);
bool VerifyPassword(const std::string& hash, const std::string& password);

}  // namespace cairn
