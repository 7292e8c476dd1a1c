// Every role (read, operate, admin, none) against every route, with a token
// and with a dashboard session: who gets through, who gets 401 or 403, and
// that a refused request never reaches the daemon.
#include <gtest/gtest.h>

#include "server/testing/server_fixture.h"

namespace cairn::server_testing {
namespace {

using ApiServerRolesTest = ServerFixture;

struct RouteCase {
  std::string method, path, body;
  std::optional<Role> least;  // nullopt: public
  int ok_status;
};

const std::vector<RouteCase>& Routes() {
  static const std::vector<RouteCase> routes = {
      {"GET", "/api/v1/health", "", std::nullopt, 200},
      {"GET", "/api/v1/services", "", Role::kRead, 200},
      {"GET", "/api/v1/services/app-db", "", Role::kRead, 200},
      {"GET", "/api/v1/services/app-db/backups", "", Role::kRead, 200},
      {"GET", "/api/v1/services/app-db/backups/latest", "", Role::kRead, 200},
      {"GET", "/api/v1/services/app-db/history", "", Role::kRead, 200},
      {"GET", "/api/v1/calendar", "", Role::kRead, 200},
      {"GET", "/api/v1/services/app-db/backups/latest/files", "", Role::kRead, 200},
      {"GET", "/api/v1/services/app-db/backups/latest/files/content?path=/a.txt", "", Role::kRead, 200},
      {"GET", "/api/v1/jobs", "", Role::kRead, 200},
      {"GET", "/api/v1/jobs/42", "", Role::kRead, 200},
      {"GET", "/api/v1/jobs/42/log", "", Role::kRead, 200},
      {"GET", "/api/v1/alerts", "", Role::kRead, 200},
      {"GET", "/api/v1/schedules", "", Role::kRead, 200},
      {"GET", "/api/v1/config", "", Role::kRead, 200},
      {"GET", "/metrics", "", Role::kRead, 200},
      {"POST", "/api/v1/services/app-db/backups", "{}", Role::kOperate, 202},
      {"POST", "/api/v1/services/app-db/restores", R"({"mode":"new-instance"})", Role::kOperate, 202},
      {"POST", "/api/v1/services/app-db/restores", R"({"mode":"overwrite","confirm":"app-db"})", Role::kAdmin, 202},
      {"POST", "/api/v1/services/app-db/verify", "{}", Role::kOperate, 202},
      {"POST", "/api/v1/jobs/42/cancel", "", Role::kOperate, 202},
      {"POST", "/api/v1/alerts/7/ack", "", Role::kOperate, 200},
      {"POST", "/api/v1/schedules/backup:app-db/pause", "", Role::kOperate, 200},
      {"POST", "/api/v1/schedules/backup:app-db/resume", "", Role::kOperate, 200},
      {"POST", "/api/v1/notifications/test", "{}", Role::kAdmin, 202},
  };
  return routes;
}

TEST_F(ApiServerRolesTest, TokensOfEveryRoleOnEveryRoute) {
  for (const RouteCase& rc : Routes()) {
    for (Role role : {Role::kRead, Role::kOperate, Role::kAdmin}) {
      daemon_.ClearCalls();
      const HttpResult r = Request(rc.method, rc.path, rc.body, As(role));
      const bool allowed = !rc.least || role >= *rc.least;
      const std::string what = rc.method + " " + rc.path + " " + rc.body + " as " + std::string(ToString(role));
      if (allowed) {
        EXPECT_EQ(r.status, rc.ok_status) << what << ": " << r.body;
        if (rc.least) {
          EXPECT_FALSE(daemon_.calls().empty()) << what;
        }
      } else {
        EXPECT_EQ(r.status, 403) << what << ": " << r.body;
        EXPECT_TRUE(daemon_.calls().empty()) << what;
      }
    }
  }
}

TEST_F(ApiServerRolesTest, NoOrBadCredentialsAre401) {
  const std::vector<httplib::Headers> bad = {
      {},
      {{"Authorization", "Bearer cairn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
      {{"Authorization", "Bearer " + tokens_[Role::kAdmin] + "x"}},
      {{"Authorization", "Basic YWRtaW46YWRtaW4="}},
      {{"Authorization", "Bearer"}},
      {{"Cookie", "cairn_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
      {{"Cookie", "cairn_session=../../etc/passwd"}},
  };
  for (const RouteCase& rc : Routes()) {
    if (!rc.least) continue;
    for (const auto& headers : bad) {
      daemon_.ClearCalls();
      const HttpResult r = Request(rc.method, rc.path, rc.body, headers);
      EXPECT_EQ(r.status, 401) << rc.method << " " << rc.path << ": " << r.body;
      EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"cairn\"");
      EXPECT_TRUE(daemon_.calls().empty());
    }
  }
}

TEST_F(ApiServerRolesTest, ABadTokenDoesNotFallBackToTheCookie) {
  const TestSession s = SignIn();
  httplib::Headers h = WithSession(s);
  h.emplace("Authorization", "Bearer wrong");
  EXPECT_EQ(Get("/api/v1/services", h).status, 401);
}

TEST_F(ApiServerRolesTest, SessionsCarryTheRoleTheyWereOpenedWith) {
  // The admin password session is admin: every route.
  const TestSession admin = SignIn();
  for (const RouteCase& rc : Routes()) {
    const HttpResult r = Request(rc.method, rc.path, rc.body, WithSession(admin));
    EXPECT_EQ(r.status, rc.ok_status) << rc.method << " " << rc.path << ": " << r.body;
  }
  // A session opened with a read token has the read role.
  HttpResult in = Post("/api/v1/session", Json{{"token", tokens_[Role::kRead]}}.dump());
  ASSERT_EQ(in.status, 200) << in.body;
  EXPECT_EQ(in.json()["role"], "read");
  EXPECT_EQ(in.json()["user"], "read-token");
  TestSession reader;
  reader.cookie = in.header("Set-Cookie").substr(0, in.header("Set-Cookie").find(';'));
  reader.csrf = in.json()["csrf_token"];
  for (const RouteCase& rc : Routes()) {
    const HttpResult r = Request(rc.method, rc.path, rc.body, WithSession(reader));
    const bool allowed = !rc.least || *rc.least == Role::kRead;
    EXPECT_EQ(r.status, allowed ? rc.ok_status : 403) << rc.method << " " << rc.path << ": " << r.body;
  }
}

}  // namespace
}  // namespace cairn::server_testing
