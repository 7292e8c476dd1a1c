#include "server/auth.h"

#include <arpa/inet.h>
#include <sodium.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "server/request_parsing.h"
#include "server/tokens.h"

namespace cairn {
namespace {

constexpr int64_t kSecondNs = 1000000000;
// A catalog write each; once a minute is plenty for "last used".
constexpr int64_t kTouchEveryNs = 60 * kSecondNs;
constexpr size_t kSecretBytes = 32;
// OWASP's Argon2id recommendation (m = 19 MiB, t = 2, p = 1): about 50 ms
// here, and small next to the daemon's memory.
constexpr unsigned long long kPwhashOps = 2;
constexpr size_t kPwhashMem = 19 * 1024 * 1024;
constexpr size_t kMaxPasswordBytes = 1024;
constexpr size_t kMaxTrackedAddresses = 4096;

Status WrongCredentials(std::string message) { return Status::WrongPassword(std::move(message)); }

bool IsSessionId(std::string_view s) {
  if (s.size() != 43) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace

// ------------------------------------------------------------------ limiter

SignInLimiter::SignInLimiter(Clock* clock, int max_failures, int64_t window_ns)
    : clock_(clock), max_failures_(max_failures), window_ns_(window_ns) {}

std::string SignInLimiter::KeyOf(const std::string& address) {
  in6_addr v6{};
  if (address.find(':') != std::string::npos && ::inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    char text[INET6_ADDRSTRLEN] = "";
    std::memset(v6.s6_addr + 8, 0, 8);
    ::inet_ntop(AF_INET6, &v6, text, sizeof(text));
    return std::string(text) + "/64";
  }
  return address;
}

void SignInLimiter::Prune(int64_t now) {
  for (auto it = failures_.begin(); it != failures_.end();) {
    while (!it->second.empty() && it->second.front() + window_ns_ <= now) it->second.pop_front();
    it = it->second.empty() ? failures_.erase(it) : std::next(it);
  }
}

int SignInLimiter::RetryAfterSeconds(const std::string& address) {
  const int64_t now = clock_->NowNs();
  std::lock_guard lock(mu_);
  auto it = failures_.find(KeyOf(address));
  if (it == failures_.end()) return 0;
  auto& times = it->second;
  while (!times.empty() && times.front() + window_ns_ <= now) times.pop_front();
  if (static_cast<int>(times.size()) < max_failures_) return 0;
  const int64_t wait = times.front() + window_ns_ - now;
  return static_cast<int>(std::max<int64_t>(1, (wait + kSecondNs - 1) / kSecondNs));
}

void SignInLimiter::RecordFailure(const std::string& address) {
  const int64_t now = clock_->NowNs();
  std::lock_guard lock(mu_);
  const std::string key = KeyOf(address);
  if (!failures_.contains(key) && failures_.size() >= kMaxTrackedAddresses) {
    Prune(now);
    // Still full (many addresses at once): forget the quarter whose newest
    // failure is oldest, so that this stays cheap per failure.
    if (failures_.size() >= kMaxTrackedAddresses) {
      std::vector<std::pair<int64_t, std::string>> by_age;
      by_age.reserve(failures_.size());
      for (const auto& [k, times] : failures_) by_age.emplace_back(times.back(), k);
      const size_t drop = by_age.size() / 4;
      std::nth_element(by_age.begin(), by_age.begin() + drop, by_age.end());
      for (size_t i = 0; i < drop; ++i) failures_.erase(by_age[i].second);
    }
  }
  auto& times = failures_[key];
  times.push_back(now);
  while (static_cast<int>(times.size()) > max_failures_) times.pop_front();
}

void SignInLimiter::RecordSuccess(const std::string& address) {
  std::lock_guard lock(mu_);
  failures_.erase(KeyOf(address));
}

// ------------------------------------------------------------------ passwords

Result<std::string> HashPassword(const std::string& password) {
  if (!SodiumReady()) return Status::IOError("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kPwhashOps, kPwhashMem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status::IOError("cannot hash the admin password: out of memory");
  return std::string(out);
}

bool VerifyPassword(const std::string& hash, const std::string& password) {
  if (!SodiumReady() || hash.empty() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

Result<std::optional<std::string>> EnsureAdminPassword(Catalog& catalog, const ServerConfig& config) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> stored, catalog.GetSetting(std::string(kAdminPasswordHashKey)));
  if (!config.admin_password_file.empty()) {
    const std::string& path = config.admin_password_file;
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::FromErrno(errno, "server.admin_password_file " + path);
    std::string line;
    std::getline(in, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return Status::InvalidArgument("server.admin_password_file " + path + ": the first line is empty");
    if (line.size() > kMaxPasswordBytes)
      return Status::InvalidArgument("server.admin_password_file " + path + ": the password is longer than 1024 bytes");
    if (stored && VerifyPassword(*stored, line)) return std::optional<std::string>();
    CAIRN_ASSIGN_OR_RETURN(std::string hash, HashPassword(line));
    CAIRN_RETURN_IF_ERROR(catalog.PutSetting(std::string(kAdminPasswordHashKey), hash));
    return std::optional<std::string>();
  }
  if (stored && !stored->empty()) return std::optional<std::string>();
  CAIRN_ASSIGN_OR_RETURN(std::string password, GenerateSecret(18));
  CAIRN_ASSIGN_OR_RETURN(std::string hash, HashPassword(password));
  CAIRN_RETURN_IF_ERROR(catalog.PutSetting(std::string(kAdminPasswordHashKey), hash));
  return std::optional<std::string>(password);
}

// ------------------------------------------------------------------ Authenticator

Authenticator::Authenticator(Catalog& catalog, Clock* clock) : catalog_(catalog), clock_(clock), limiter_(clock) {}

void Authenticator::MaybeTouchToken(const TokenRecord& token) {
  const int64_t now = clock_->NowNs();
  {
    std::lock_guard lock(touch_mu_);
    int64_t& touched = token_touched_ns_[token.id];
    if (std::max(touched, token.last_used_ns) + kTouchEveryNs > now) return;
    touched = now;
    if (token_touched_ns_.size() > 1024) token_touched_ns_.clear();
  }
  // Best effort: a busy catalog must not fail the request.
  (void)catalog_.TouchToken(token.id);
}

Result<Principal> Authenticator::FromToken(std::string_view token) {
  if (!LooksLikeToken(token)) return WrongCredentials("unknown API token");
  auto found = catalog_.FindToken(token);
  if (!found.ok()) {
    if (found.status().IsNotFound()) return WrongCredentials("unknown API token");
    return found.status();
  }
  MaybeTouchToken(*found);
  Principal p;
  p.actor = Actor{found->name, found->role};
  p.audit_actor = "token:" + found->name;
  p.kind = CredentialKind::kToken;
  return p;
}

Result<Principal> Authenticator::FromSessionId(const std::string& session_id) {
  const Status expired = WrongCredentials("the session has expired or was signed out; sign in again");
  auto found = catalog_.FindSession(session_id);
  if (!found.ok()) {
    if (found.status().IsNotFound()) return expired;
    return found.status();
  }
  SessionRecord s = std::move(found).value();
  const int64_t now = clock_->NowNs();
  if (now >= s.created_ns + kSessionMaxNs || now >= s.last_seen_ns + kSessionIdleNs || now >= s.expires_ns) {
    (void)catalog_.DeleteSession(session_id);
    return expired;
  }
  Principal p;
  if (s.actor == "admin") {
    p.actor = Actor{"admin", Role::kAdmin};
  } else if (s.actor.starts_with("token:")) {
    // The session lives as long as the token it was opened with: the same
    // name, created before the session (not a later token of that name).
    const std::string name = s.actor.substr(6);
    CAIRN_ASSIGN_OR_RETURN(std::vector<TokenRecord> tokens, catalog_.ListTokens());
    auto it = std::find_if(tokens.begin(), tokens.end(), [&](const TokenRecord& t) {
      return t.name == name && t.created_ns <= s.created_ns;
    });
    if (it == tokens.end()) {
      (void)catalog_.DeleteSession(session_id);
      return WrongCredentials("the token this session was opened with was deleted; sign in again");
    }
    p.actor = Actor{name, it->role};
  } else {
    return WrongCredentials("the session is not valid; sign in again");
  }
  p.audit_actor = s.actor;
  p.kind = CredentialKind::kSession;
  p.session_id = session_id;
  if (now - s.last_seen_ns >= kTouchEveryNs) {
    const int64_t expires = std::min(now + kSessionIdleNs, s.created_ns + kSessionMaxNs);
    if (catalog_.TouchSession(session_id, expires).ok()) {
      s.last_seen_ns = now;
      s.expires_ns = expires;
    }
  }
  p.session = std::move(s);
  return p;
}

Result<Principal> Authenticator::SessionOf(std::string_view cookie) {
  const std::vector<std::string> ids = CookieValues(cookie, kSessionCookie);
  if (ids.empty()) return WrongCredentials("not signed in");
  Status last = WrongCredentials("the session has expired or was signed out; sign in again");
  for (const std::string& id : ids) {
    if (!IsSessionId(id)) continue;
    auto p = FromSessionId(id);
    if (p.ok() || p.status().code() != StatusCode::kWrongPassword) return p;
    last = p.status();
  }
  return last;
}

Result<Principal> Authenticator::Authenticate(std::string_view authorization, std::string_view cookie) {
  if (!authorization.empty()) {
    const std::optional<std::string> token = ParseBearer(authorization);
    if (!token) return WrongCredentials("the Authorization header must be 'Bearer <token>'");
    return FromToken(*token);
  }
  if (!cookie.empty() && !CookieValues(cookie, kSessionCookie).empty()) return SessionOf(cookie);
  return WrongCredentials("authentication required: an API token (Authorization: Bearer) or a session");
}

Result<SignIn> Authenticator::StartSession(Principal principal) {
  CAIRN_ASSIGN_OR_RETURN(std::string session_id, GenerateSecret(kSecretBytes));
  CAIRN_ASSIGN_OR_RETURN(std::string csrf, GenerateSecret(kSecretBytes));
  const int64_t now = clock_->NowNs();
  const int64_t expires = now + kSessionIdleNs;
  CAIRN_RETURN_IF_ERROR(catalog_.CreateSession(session_id, principal.audit_actor, csrf, expires));
  // Expired sessions would otherwise stay in the catalog forever.
  (void)catalog_.PurgeExpiredSessions();
  SignIn out;
  principal.kind = CredentialKind::kSession;
  principal.session_id = session_id;
  principal.session = SessionRecord{HashSecret(session_id), principal.audit_actor, csrf, now, expires, now};
  out.principal = std::move(principal);
  out.session_id = std::move(session_id);
  out.csrf_token = std::move(csrf);
  out.expires_ns = expires;
  return out;
}

Result<SignIn> Authenticator::SignInWithPassword(const std::string& password) {
  if (password.empty() || password.size() > kMaxPasswordBytes) return WrongCredentials("wrong password");
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> hash, catalog_.GetSetting(std::string(kAdminPasswordHashKey)));
  bool ok = false;
  if (hash) {
    std::lock_guard lock(verify_mu_);
    ok = VerifyPassword(*hash, password);
  }
  if (!ok) return WrongCredentials("wrong password");
  Principal p;
  p.actor = Actor{"admin", Role::kAdmin};
  p.audit_actor = "admin";
  return StartSession(std::move(p));
}

Result<SignIn> Authenticator::SignInWithToken(const std::string& token) {
  CAIRN_ASSIGN_OR_RETURN(Principal p, FromToken(token));
  return StartSession(std::move(p));
}

Status Authenticator::SignOut(const Principal& principal) {
  if (principal.kind != CredentialKind::kSession) return Status::Ok();
  return catalog_.DeleteSession(principal.session_id);
}

bool Authenticator::CsrfMatches(const Principal& principal, std::string_view header) {
  const std::string& expected = principal.session.csrf_token;
  if (expected.empty() || header.size() != expected.size()) return false;
  return sodium_memcmp(expected.data(), header.data(), expected.size()) == 0;
}

}  // namespace cairn
