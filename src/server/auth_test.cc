// Sign-in, sessions (cookie, expiry, sign-out), CSRF, the failed sign-in
// limit, token bookkeeping and the admin password bootstrap.
#include <gtest/gtest.h>

#include <fstream>

#include "cairn/system.h"
#include "server/auth.h"
#include "server/testing/server_fixture.h"
#include "server/tokens.h"

namespace cairn::server_testing {
namespace {

using catalog_testing::kSecond;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;

using AuthSessionTest = ServerFixture;

TEST_F(AuthSessionTest, PasswordSignInSetsAStrictCookieAndReturnsTheSession) {
  HttpResult r = Post("/api/v1/session", Json{{"password", kPassword}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = r.json();
  EXPECT_EQ(j["role"], "admin");
  EXPECT_EQ(j["user"], "admin");
  EXPECT_EQ(j["expires_at"], FormatTime(catalog_testing::kT0 + kSessionIdleNs));
  EXPECT_EQ(j["csrf_token"].get<std::string>().size(), 43u);
  const std::string cookie = r.header("Set-Cookie");
  EXPECT_EQ(cookie.rfind("cairn_session=", 0), 0u);
  EXPECT_NE(cookie.find("; Path=/"), std::string::npos);
  EXPECT_NE(cookie.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("; SameSite=Strict"), std::string::npos);
  EXPECT_NE(cookie.find("; Max-Age=604800"), std::string::npos);
  EXPECT_EQ(cookie.find("Secure"), std::string::npos);  // plain HTTP on loopback
  // The body holds a secret: never compressed (BREACH), never cached.
  EXPECT_EQ(r.header("Content-Encoding"), "");
  EXPECT_EQ(r.header("Cache-Control"), "no-store");

  TestSession s;
  s.cookie = cookie.substr(0, cookie.find(';'));
  s.csrf = j["csrf_token"];
  r = Get("/api/v1/session", WithSession(s, false));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["csrf_token"], s.csrf);
  EXPECT_EQ(Get("/api/v1/services", WithSession(s, false)).status, 200);
}

TEST_F(AuthSessionTest, WrongPasswordOrTokenIs401AndAudited) {
  HttpResult r = Post("/api/v1/session", Json{{"password", "hunter2"}}.dump());
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json()["error"], "wrong password");
  EXPECT_EQ(r.header("Set-Cookie"), "");
  r = Post("/api/v1/session", Json{{"token", "cairn_notatokennotatokennotatokennotatokenxxxx"}}.dump());
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Post("/api/v1/session", "{}").status, 400);
  EXPECT_EQ(Post("/api/v1/session", Json{{"password", "a"}, {"token", "b"}}.dump()).status, 400);
  EXPECT_EQ(Post("/api/v1/session", Json{{"password", 5}}.dump()).status, 400);
  SignIn();

  auto page = catalog_->ListAudit(PageRequest{100, ""});
  ASSERT_TRUE(page.ok());
  std::vector<std::string> got;
  for (const AuditRecord& a : page->items) {
    if (!a.action.starts_with("session.")) continue;
    got.push_back(a.actor + " " + a.action + " " + a.details["method"].get<std::string>());
    // Secrets are never written down.
    EXPECT_EQ(a.details.dump().find("hunter2"), std::string::npos);
    EXPECT_EQ(a.details.dump().find(kPassword), std::string::npos);
  }
  const std::vector<std::string> want = {"admin session.signin password", "anonymous session.signin_failed token",
                                         "anonymous session.signin_failed password"};
  EXPECT_EQ(got, want);
}

TEST_F(AuthSessionTest, SessionsExpireAfter12IdleHoursAndAfter7DaysInAll) {
  TestSession s = SignIn();
  const auto h = WithSession(s, false);
  clock_.Advance(11 * kHour);
  EXPECT_EQ(Get("/api/v1/services", h).status, 200);  // slides the expiry
  clock_.Advance(11 * kHour);
  EXPECT_EQ(Get("/api/v1/services", h).status, 200);
  clock_.Advance(12 * kHour + kMinute);
  HttpResult r = Get("/api/v1/services", h);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.json()["error"].get<std::string>().find("sign in again"), std::string::npos);

  // Used every 10 hours, it still ends 7 days after it began.
  s = SignIn();
  const auto h2 = WithSession(s, false);
  const int64_t start = clock_.NowNs();
  while (clock_.NowNs() - start < 7 * 24 * kHour - 10 * kHour) {
    clock_.Advance(10 * kHour);
    ASSERT_EQ(Get("/api/v1/services", h2).status, 200) << (clock_.NowNs() - start) / kHour << " h";
  }
  r = Get("/api/v1/session", h2);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["expires_at"], FormatTime(start + kSessionMaxNs));
  clock_.Set(start + kSessionMaxNs);
  EXPECT_EQ(Get("/api/v1/services", h2).status, 401);
}

TEST_F(AuthSessionTest, SignOutEndsTheSessionAndClearsTheCookie) {
  TestSession s = SignIn();
  // Sign-out is a cookie-authenticated DELETE: it needs the CSRF token.
  EXPECT_EQ(Delete("/api/v1/session", WithSession(s, false)).status, 403);
  HttpResult r = Delete("/api/v1/session", WithSession(s));
  EXPECT_EQ(r.status, 204);
  EXPECT_NE(r.header("Set-Cookie").find("cairn_session=; "), std::string::npos);
  EXPECT_NE(r.header("Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(Get("/api/v1/services", WithSession(s)).status, 401);
  EXPECT_EQ(Get("/api/v1/session", WithSession(s)).status, 401);
  // Signing out of a session that is gone is not an error; without any is.
  EXPECT_EQ(Delete("/api/v1/session", WithSession(s)).status, 204);
  EXPECT_EQ(Delete("/api/v1/session").status, 401);
  EXPECT_EQ(Get("/api/v1/session", As(Role::kAdmin)).status, 401);  // a token is not a session
}

TEST_F(AuthSessionTest, ATokenSessionEndsWithItsToken) {
  HttpResult in = Post("/api/v1/session", Json{{"token", tokens_[Role::kOperate]}}.dump());
  ASSERT_EQ(in.status, 200);
  TestSession s{in.header("Set-Cookie").substr(0, in.header("Set-Cookie").find(';')), in.json()["csrf_token"]};
  EXPECT_EQ(Post("/api/v1/services/app-db/backups", "", WithSession(s)).status, 202);
  EXPECT_EQ(daemon_.last_call().actor, "operate-token");
  ASSERT_TRUE(DeleteApiToken(*catalog_, "operate-token", "test").ok());
  EXPECT_EQ(Get("/api/v1/services", WithSession(s)).status, 401);
  // A new token of the same name does not revive the old session.
  ASSERT_TRUE(CreateApiToken(*catalog_, "operate-token", Role::kAdmin, "test").ok());
  EXPECT_EQ(Get("/api/v1/services", WithSession(s)).status, 401);
}

using AuthCsrfTest = ServerFixture;

TEST_F(AuthCsrfTest, CookiePostsNeedTheSessionsCsrfToken) {
  const TestSession s = SignIn();
  const std::vector<std::pair<std::string, std::string>> posts = {
      {"/api/v1/services/app-db/backups", ""}, {"/api/v1/jobs/4/cancel", ""},
      {"/api/v1/alerts/7/ack", ""},            {"/api/v1/notifications/test", ""},
      {"/api/v1/schedules/backup:app-db/pause", ""}};
  for (const auto& [path, body] : posts) {
    daemon_.ClearCalls();
    HttpResult r = Post(path, body, WithSession(s, /*csrf=*/false));
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_NE(r.json()["error"].get<std::string>().find("X-CSRF-Token"), std::string::npos);
    httplib::Headers wrong{{"Cookie", s.cookie}, {"X-CSRF-Token", std::string(43, 'A')}};
    EXPECT_EQ(Post(path, body, wrong).status, 403) << path;
    httplib::Headers other_session{{"Cookie", s.cookie}, {"X-CSRF-Token", SignIn().csrf}};
    EXPECT_EQ(Post(path, body, other_session).status, 403) << path;
    EXPECT_TRUE(daemon_.calls().empty()) << path;
    EXPECT_LT(Post(path, body, WithSession(s)).status, 300) << path;
  }
  // GETs with the cookie need none.
  EXPECT_EQ(Get("/api/v1/jobs", WithSession(s, false)).status, 200);
}

TEST_F(AuthCsrfTest, BearerRequestsNeedNoCsrfToken) {
  EXPECT_EQ(Post("/api/v1/services/app-db/backups", "", As(Role::kOperate)).status, 202);
  EXPECT_EQ(Post("/api/v1/jobs/4/cancel", "", As(Role::kOperate)).status, 202);
}

using AuthRateLimitTest = ServerFixture;

TEST_F(AuthRateLimitTest, FiveFailuresInFiveMinutesBlockTheAddress) {
  const std::string wrong = Json{{"password", "nope"}}.dump();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Post("/api/v1/session", wrong).status, 401) << i;
    clock_.Advance(10 * kSecond);
  }
  // Even the right password is refused now, without being checked.
  HttpResult r = Post("/api/v1/session", Json{{"password", kPassword}}.dump());
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.header("Retry-After"), std::to_string(300 - 50));
  EXPECT_EQ(Post("/api/v1/session", wrong).status, 429);
  // Tokens still work: only sign-in is limited.
  EXPECT_EQ(Get("/api/v1/services", As(Role::kRead)).status, 200);
  // When the first failure leaves the window, one more attempt is allowed.
  clock_.Advance(250 * kSecond);
  r = Post("/api/v1/session", Json{{"password", kPassword}}.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  // A success clears the count.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Post("/api/v1/session", wrong).status, 401);
  EXPECT_EQ(Post("/api/v1/session", Json{{"password", kPassword}}.dump()).status, 200);
}

TEST(AuthLimiterTest, AddressesAndIpv6Prefixes) {
  FakeClock clock(catalog_testing::kT0);
  SignInLimiter limiter(&clock, 2, 60 * kSecond);
  limiter.RecordFailure("192.0.2.1");
  limiter.RecordFailure("192.0.2.1");
  EXPECT_EQ(limiter.RetryAfterSeconds("192.0.2.1"), 60);
  EXPECT_EQ(limiter.RetryAfterSeconds("192.0.2.2"), 0);
  // An IPv6 client counts by its /64: changing the low bits does not help.
  limiter.RecordFailure("2001:db8:1:2::1");
  limiter.RecordFailure("2001:db8:1:2:ffff::9");
  EXPECT_GT(limiter.RetryAfterSeconds("2001:db8:1:2:abcd::5"), 0);
  EXPECT_EQ(limiter.RetryAfterSeconds("2001:db8:1:3::1"), 0);
  clock.Advance(60 * kSecond);
  EXPECT_EQ(limiter.RetryAfterSeconds("192.0.2.1"), 0);
  EXPECT_EQ(SignInLimiter::KeyOf("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  // Many addresses do not grow the table without bound.
  for (int i = 0; i < 10000; ++i) limiter.RecordFailure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
}

using AuthTokenTest = ServerFixture;

TEST_F(AuthTokenTest, LastUsedIsWrittenAtMostOnceAMinute) {
  auto last_used = [&] {
    auto list = catalog_->ListTokens();
    for (const auto& t : *list)
      if (t.name == "read-token") return t.last_used_ns;
    return int64_t{-1};
  };
  EXPECT_EQ(last_used(), 0);
  ASSERT_EQ(Get("/api/v1/jobs", As(Role::kRead)).status, 200);
  EXPECT_EQ(last_used(), clock_.NowNs());
  const int64_t first = clock_.NowNs();
  clock_.Advance(30 * kSecond);
  ASSERT_EQ(Get("/api/v1/jobs", As(Role::kRead)).status, 200);
  EXPECT_EQ(last_used(), first);
  clock_.Advance(31 * kSecond);
  ASSERT_EQ(Get("/api/v1/jobs", As(Role::kRead)).status, 200);
  EXPECT_EQ(last_used(), clock_.NowNs());
}

TEST_F(AuthTokenTest, ADeletedTokenIsRefusedAtOnce) {
  ASSERT_EQ(Get("/api/v1/jobs", As(Role::kRead)).status, 200);
  ASSERT_TRUE(DeleteApiToken(*catalog_, "read-token", "test").ok());
  EXPECT_EQ(Get("/api/v1/jobs", As(Role::kRead)).status, 401);
}

TEST(TokensTest, CreateListDeleteAndAudit) {
  catalog_testing::ScratchDir dir;
  FakeClock clock(catalog_testing::kT0);
  SqliteCatalogOptions o;
  o.clock = &clock;
  auto catalog = OpenSqliteCatalog(dir.File("catalog.db"), o);
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  auto made = CreateApiToken(c, "grafana", Role::kRead, "cli:root");
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_TRUE(LooksLikeToken(made->token));
  EXPECT_EQ(made->token.size(), 49u);
  auto found = c.FindToken(made->token);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->name, "grafana");
  EXPECT_EQ(found->role, Role::kRead);
  // Two tokens never share a value; names are unique.
  auto other = CreateApiToken(c, "ci", Role::kOperate, "cli:root");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->token, made->token);
  EXPECT_EQ(CreateApiToken(c, "ci", Role::kRead, "cli:root").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(CreateApiToken(c, "bad name", Role::kRead, "cli:root").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CreateApiToken(c, "", Role::kRead, "cli:root").status().code(), StatusCode::kInvalidArgument);
  auto list = ListApiTokens(c);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_TRUE(DeleteApiToken(c, "ci", "cli:root").ok());
  EXPECT_EQ(DeleteApiToken(c, "ci", "cli:root").code(), StatusCode::kNotFound);
  EXPECT_FALSE(c.FindToken(other->token).ok());
  auto audit = c.ListAudit(PageRequest{10, ""});
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->items.size(), 3u);
  EXPECT_EQ(audit->items[0].action, "token.delete");
  EXPECT_EQ(audit->items[2].action, "token.create");
  EXPECT_EQ(audit->items[2].actor, "cli:root");
  EXPECT_EQ(audit->items[2].details, Json::parse(R"({"name":"grafana","role":"read"})"));
  // The token itself is stored nowhere in the catalog's files.
  for (const char* file : {"catalog.db", "catalog.db-wal"}) {
    std::ifstream in(dir.File(file), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(made->token), std::string::npos) << file;
  }
}

TEST(AuthPasswordTest, BootstrapGeneratesOnceOrFollowsTheFile) {
  catalog_testing::ScratchDir dir;
  auto catalog = OpenSqliteCatalog(dir.File("catalog.db"));
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  ServerConfig config;
  auto first = EnsureAdminPassword(c, config);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->has_value());
  EXPECT_GE((*first)->size(), 24u);
  auto stored = c.GetSetting(std::string(kAdminPasswordHashKey));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->rfind("$argon2id$", 0), 0u);
  EXPECT_TRUE(VerifyPassword(**stored, **first));
  EXPECT_EQ((*stored)->find(**first), std::string::npos);
  // Printed once: the next start keeps it and returns nothing.
  auto second = EnsureAdminPassword(c, config);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(*c.GetSetting(std::string(kAdminPasswordHashKey)), *stored);

  // With a password file, its first line is the password (re-hashed when it changes).
  config.admin_password_file = dir.File("admin.pw");
  std::ofstream(config.admin_password_file) << "s3cret from file\r\nsecond line\n";
  auto from_file = EnsureAdminPassword(c, config);
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_FALSE(from_file->has_value());
  auto hash = *c.GetSetting(std::string(kAdminPasswordHashKey));
  EXPECT_TRUE(VerifyPassword(*hash, "s3cret from file"));
  EXPECT_FALSE(VerifyPassword(*hash, **first));
  ASSERT_TRUE(EnsureAdminPassword(c, config).ok());
  EXPECT_EQ(*c.GetSetting(std::string(kAdminPasswordHashKey)), hash);  // unchanged file: not re-hashed

  std::ofstream(config.admin_password_file) << "\n";
  EXPECT_EQ(EnsureAdminPassword(c, config).status().code(), StatusCode::kInvalidArgument);
  config.admin_password_file = dir.File("missing.pw");
  auto missing = EnsureAdminPassword(c, config);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("missing.pw"), std::string::npos);
}

}  // namespace
}  // namespace cairn::server_testing
