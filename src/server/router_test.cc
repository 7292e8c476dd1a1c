// The router and request parsing as pure functions: every route of
// docs/api.md, parameter shapes, path tricks, query and body rules.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "server/request_parsing.h"
#include "server/router.h"

namespace cairn {
namespace {

using Outcome = RouteMatch::Outcome;

TEST(RouterTest, EveryRouteOfTheContractMatches) {
  struct Case {
    const char* method;
    const char* path;
    RouteId route;
  };
  const Case cases[] = {
      {"GET", "/api/v1/health", RouteId::kHealth},
      {"POST", "/api/v1/session", RouteId::kSessionCreate},
      {"GET", "/api/v1/session", RouteId::kSessionGet},
      {"DELETE", "/api/v1/session", RouteId::kSessionDelete},
      {"GET", "/api/v1/services", RouteId::kServiceList},
      {"GET", "/api/v1/services/app-db", RouteId::kServiceGet},
      {"GET", "/api/v1/services/app-db/backups", RouteId::kPointList},
      {"POST", "/api/v1/services/app-db/backups", RouteId::kBackupStart},
      {"GET", "/api/v1/services/app-db/backups/6fc69ea7", RouteId::kPointGet},
      {"GET", "/api/v1/services/app-db/backups/latest", RouteId::kPointGet},
      {"GET", "/api/v1/services/app-db/backups/6fc6/files", RouteId::kFileList},
      {"GET", "/api/v1/services/app-db/backups/6fc6/files/content", RouteId::kFileContent},
      {"GET", "/api/v1/services/app-db/history", RouteId::kServiceHistory},
      {"POST", "/api/v1/services/app-db/restores", RouteId::kRestoreStart},
      {"POST", "/api/v1/services/app-db/verify", RouteId::kVerifyStart},
      {"GET", "/api/v1/calendar", RouteId::kCalendar},
      {"GET", "/api/v1/jobs", RouteId::kJobList},
      {"GET", "/api/v1/jobs/42", RouteId::kJobGet},
      {"GET", "/api/v1/jobs/42/log", RouteId::kJobLog},
      {"POST", "/api/v1/jobs/42/cancel", RouteId::kJobCancel},
      {"GET", "/api/v1/alerts", RouteId::kAlertList},
      {"POST", "/api/v1/alerts/7/ack", RouteId::kAlertAck},
      {"GET", "/api/v1/schedules", RouteId::kScheduleList},
      {"POST", "/api/v1/schedules/backup:app-db/pause", RouteId::kSchedulePause},
      {"POST", "/api/v1/schedules/backup:app-db/resume", RouteId::kScheduleResume},
      {"GET", "/api/v1/config", RouteId::kConfigGet},
      {"POST", "/api/v1/notifications/test", RouteId::kNotificationTest},
      {"GET", "/api/v1/events", RouteId::kEvents},
      {"GET", "/metrics", RouteId::kMetrics},
      {"GET", "/", RouteId::kStatic},
      {"GET", "/services/app-db", RouteId::kStatic},
      {"HEAD", "/api/v1/services", RouteId::kServiceList},
  };
  for (const Case& c : cases) {
    const RouteMatch m = MatchRoute(c.method, c.path);
    EXPECT_EQ(m.outcome, Outcome::kFound) << c.method << " " << c.path << ": " << m.error;
    EXPECT_EQ(m.route, c.route) << c.method << " " << c.path;
  }
}

TEST(RouterTest, ParametersAreBoundAndNormalised) {
  RouteMatch m = MatchRoute("GET", "/api/v1/services/my.app_db-2/backups/6FC69EA7/files");
  ASSERT_EQ(m.outcome, Outcome::kFound);
  EXPECT_EQ(m.params.service, "my.app_db-2");
  EXPECT_EQ(m.params.point, "6fc69ea7");
  m = MatchRoute("POST", "/api/v1/jobs/123456789012/cancel");
  ASSERT_EQ(m.outcome, Outcome::kFound);
  EXPECT_EQ(m.params.id, 123456789012);
  m = MatchRoute("POST", "/api/v1/schedules/check:offsite.s3/resume");
  ASSERT_EQ(m.outcome, Outcome::kFound);
  EXPECT_EQ(m.params.key, "check:offsite.s3");
}

TEST(RouterTest, WrongMethodIs405WithAllow) {
  RouteMatch m = MatchRoute("DELETE", "/api/v1/services");
  EXPECT_EQ(m.outcome, Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD");
  m = MatchRoute("PUT", "/api/v1/services/app/backups");
  EXPECT_EQ(m.outcome, Outcome::kMethodNotAllowed);
  EXPECT_NE(m.allow.find("POST"), std::string::npos);
  EXPECT_NE(m.allow.find("GET"), std::string::npos);
  m = MatchRoute("GET", "/api/v1/jobs/4/cancel");
  EXPECT_EQ(m.outcome, Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "POST");
  // The event stream and downloads have no HEAD.
  m = MatchRoute("HEAD", "/api/v1/events");
  EXPECT_EQ(m.outcome, Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET");
  m = MatchRoute("POST", "/index.html");
  EXPECT_EQ(m.outcome, Outcome::kMethodNotAllowed);
  EXPECT_EQ(m.allow, "GET, HEAD");
}

TEST(RouterTest, PathTricksAndBadParametersAre404) {
  // Paths arrive percent-decoded: "%2e%2e" is "..", "%2F" is "/", "%00" a NUL.
  const char* paths[] = {
      "/api/v1/services/..",
      "/api/v1/services/.",
      "/api/v1/services/../backups",
      "/api/v1/services/app/backups/../../../etc",
      "/api/v1/services/a/b",
      "/api/v1/services/app%00",
      "/api/v1/services/app db",
      "/api/v1/services/",
      "/api/v1/services//backups",
      "/api/v1/services/app/backups/xyz1",
      "/api/v1/services/app/backups/6fc",
      "/api/v1/services/app/backups/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
      "/api/v1/jobs/0",
      "/api/v1/jobs/-1",
      "/api/v1/jobs/007",
      "/api/v1/jobs/99999999999999999999",
      "/api/v1/jobs/1e3",
      "/api/v1/schedules/back/up/pause",
      "/api/v1/nope",
      "/api",
      "/api/",
      "/api/v2/health",
  };
  for (const char* p : paths) {
    const RouteMatch m = MatchRoute("GET", p);
    EXPECT_EQ(m.outcome, Outcome::kNotFound) << p;
    EXPECT_FALSE(m.error.empty()) << p;
  }
  const std::string with_nul("/api/v1/services/app\0db", 23);
  EXPECT_EQ(MatchRoute("GET", with_nul).outcome, Outcome::kNotFound);
  std::string long_name = "/api/v1/services/" + std::string(200, 'a');
  EXPECT_EQ(MatchRoute("GET", long_name).outcome, Outcome::kNotFound);
}

TEST(RouterTest, TargetsThatAreNotPathsAre400) {
  EXPECT_EQ(MatchRoute("GET", "").outcome, Outcome::kBadRequest);
  EXPECT_EQ(MatchRoute("GET", "*").outcome, Outcome::kBadRequest);
  EXPECT_EQ(MatchRoute("GET", "http://example.com/").outcome, Outcome::kBadRequest);
}

TEST(RouterTest, ParameterShapes) {
  EXPECT_TRUE(IsServiceName("app-db"));
  EXPECT_TRUE(IsServiceName("a.b_c-9"));
  EXPECT_FALSE(IsServiceName(".."));
  EXPECT_FALSE(IsServiceName("a/b"));
  EXPECT_FALSE(IsServiceName(""));
  EXPECT_FALSE(IsServiceName("a:b"));
  EXPECT_TRUE(IsScheduleKey("backup:app-db"));
  EXPECT_FALSE(IsScheduleKey("backup app"));
  std::string p;
  EXPECT_TRUE(ParsePointRef("latest", &p));
  EXPECT_EQ(p, "latest");
  EXPECT_TRUE(ParsePointRef("ABCD", &p));
  EXPECT_EQ(p, "abcd");
  EXPECT_FALSE(ParsePointRef("abc", &p));
  EXPECT_FALSE(ParsePointRef("LATEST", &p));
  int64_t id = 0;
  EXPECT_TRUE(ParsePositiveId("1", &id));
  EXPECT_FALSE(ParsePositiveId("0", &id));
  EXPECT_FALSE(ParsePositiveId("+1", &id));
  EXPECT_TRUE(ParsePositiveId("999999999999999999", &id));
  EXPECT_EQ(id, 999999999999999999);
}

TEST(RequestParsingTest, JsonBodies) {
  EXPECT_TRUE(ParseJsonObjectBody("").ok());
  EXPECT_TRUE(ParseJsonObjectBody("  ").ok());
  EXPECT_EQ(ParseJsonObjectBody("")->size(), 0u);
  EXPECT_TRUE(ParseJsonObjectBody(R"({"a": [1, {"b": "é"}]})").ok());
  for (const char* bad : {"[]", "1", "\"x\"", "null", "{", "{\"a\":}", "{} {}", "{\"a\":1,}", "{'a':1}"}) {
    auto r = ParseJsonObjectBody(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ParseJsonObjectBody("{\"a\": \"\xff\"}").ok());
  EXPECT_FALSE(ParseJsonObjectBody("{\"a\": \"\xc0\xaf\"}").ok());  // overlong '/'
  EXPECT_FALSE(ParseJsonObjectBody("{\"a\": \"\xed\xa0\x80\"}").ok());  // surrogate
  EXPECT_FALSE(ParseJsonObjectBody(std::string(70000, ' ') + "{}").ok());
  // A number past a double is out_of_range in nlohmann::json, not a parse
  // error; it must still be a 400 (router_fuzz found it).
  EXPECT_EQ(ParseJsonObjectBody(R"({"port": 2e2222})").status().code(), StatusCode::kInvalidArgument);
  std::string deep = "{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}";
  auto r = ParseJsonObjectBody(deep);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("deeper"), std::string::npos);
  // Brackets inside strings do not count as nesting.
  EXPECT_TRUE(ParseJsonObjectBody("{\"a\":\"" + std::string(100, '[') + "\"}").ok());
  // A parse error never repeats the text (which may be a password).
  r = ParseJsonObjectBody(R"({"password": "hunter2)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("hunter2"), std::string::npos);
}

TEST(RequestParsingTest, BodyFieldsRejectWrongTypesAndUnknownKeys) {
  Json body = Json::parse(R"({"target": "offsite", "port": 5432, "as": null})");
  BodyFields f(body);
  EXPECT_EQ(f.String("target"), "offsite");
  EXPECT_EQ(f.Int("port", 1, 65535), 5432);
  EXPECT_EQ(f.String("as"), std::nullopt);
  EXPECT_TRUE(f.Finish().ok());

  Json typo = Json::parse(R"({"tagret": "offsite"})");
  BodyFields g(typo);
  EXPECT_EQ(g.String("target"), std::nullopt);
  Status st = g.Finish();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("tagret"), std::string::npos);

  for (const char* bad : {R"({"port": "5432"})", R"({"port": 5432.5})", R"({"port": 70000})", R"({"port": -1})",
                          R"({"port": 18446744073709551615})", R"({"port": true})"}) {
    Json j = Json::parse(bad);
    BodyFields h(j);
    h.Int("port", 1, 65535);
    EXPECT_FALSE(h.Finish().ok()) << bad;
  }
  Json wrong = Json::parse(R"({"target": 5})");
  BodyFields w(wrong);
  w.String("target");
  EXPECT_FALSE(w.Finish().ok());
}

TEST(RequestParsingTest, QueryParameters) {
  QueryList q = {{"limit", "20"}, {"cursor", "6a7c"}};
  QueryReader r(q);
  EXPECT_EQ(r.Int("limit", 50, 1, 500), 20);
  EXPECT_EQ(r.Cursor(), "6a7c");
  EXPECT_TRUE(r.Finish().ok());

  for (const QueryList& bad : std::vector<QueryList>{
           {{"limit", "0"}},
           {{"limit", "501"}},
           {{"limit", "ten"}},
           {{"limit", "1"}, {"limit", "2"}},
           {{"limit", " 5"}},
           {{"cursor", "a b"}},
           {{"cursor", std::string("a\0b", 3)}},
           {{"limt", "5"}},
       }) {
    QueryReader b(bad);
    b.Int("limit", 50, 1, 500);
    b.Cursor();
    EXPECT_FALSE(b.Finish().ok()) << bad[0].first << "=" << bad[0].second;
  }
}

TEST(RequestParsingTest, ValueShapes) {
  EXPECT_TRUE(IsTimeZoneName("UTC"));
  EXPECT_TRUE(IsTimeZoneName("Europe/Berlin"));
  EXPECT_TRUE(IsTimeZoneName("America/Argentina/Buenos_Aires"));
  EXPECT_TRUE(IsTimeZoneName("Etc/GMT+1"));
  EXPECT_FALSE(IsTimeZoneName("../etc/passwd"));
  EXPECT_FALSE(IsTimeZoneName("/etc/localtime"));
  EXPECT_FALSE(IsTimeZoneName("Europe/../../x"));
  EXPECT_FALSE(IsTimeZoneName("Europe//Berlin"));
  EXPECT_FALSE(IsTimeZoneName(""));

  EXPECT_TRUE(CheckSnapshotPath("/", true).ok());
  EXPECT_FALSE(CheckSnapshotPath("/", false).ok());
  EXPECT_TRUE(CheckSnapshotPath("/srv/app/a.txt", false).ok());
  EXPECT_TRUE(CheckSnapshotPath("/srv/app/", true).ok());
  for (const char* bad : {"srv", "/srv/../etc", "/srv/./a", "//srv", "/srv//a", "/a/.."})
    EXPECT_FALSE(CheckSnapshotPath(bad, true).ok()) << bad;
  EXPECT_FALSE(CheckSnapshotPath(std::string("/a\0b", 4), true).ok());
  EXPECT_FALSE(CheckSnapshotPath("/a\xff", true).ok());
}

TEST(RequestParsingTest, Headers) {
  EXPECT_EQ(ParseBearer("Bearer abc"), "abc");
  EXPECT_EQ(ParseBearer("bearer  abc "), "abc");
  EXPECT_EQ(ParseBearer("Basic YWJj"), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer"), std::nullopt);
  EXPECT_EQ(ParseBearer("Bearer a b"), std::nullopt);

  auto v = CookieValues("a=1; cairn_session=xyz; b=2; cairn_session=\"q\"", "cairn_session");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], "xyz");
  EXPECT_EQ(v[1], "q");
  EXPECT_TRUE(CookieValues("xcairn_session=1", "cairn_session").empty());

  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br"));
  EXPECT_TRUE(AcceptsGzip("br;q=1.0, GZIP;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("*, gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("br"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("gzipx"));

  EXPECT_TRUE(ETagMatches("\"abc\"", "\"abc\""));
  EXPECT_TRUE(ETagMatches("W/\"abc\"", "\"abc\""));
  EXPECT_TRUE(ETagMatches("\"x\", \"abc\"", "\"abc\""));
  EXPECT_TRUE(ETagMatches("*", "\"abc\""));
  EXPECT_FALSE(ETagMatches("\"abcd\"", "\"abc\""));
  EXPECT_FALSE(ETagMatches("", "\"abc\""));
}

// docs/api.openapi.yaml describes exactly the routes the router serves.
TEST(RouterTest, TheOpenApiFileDescribesEveryRoute) {
  const YAML::Node doc = YAML::LoadFile(std::string(CAIRN_SOURCE_DIR) + "/docs/api.openapi.yaml");
  ASSERT_TRUE(doc["paths"].IsMap());
  size_t described = 0;
  for (const auto& path : doc["paths"])
    for (const auto& op : path.second)
      if (op.first.as<std::string>() != "parameters") ++described;
  size_t routes = 0;
  for (int i = 0; i <= static_cast<int>(RouteId::kStatic); ++i) {
    const RouteInfo& info = GetRouteInfo(static_cast<RouteId>(i));
    if (info.id == RouteId::kStatic) continue;
    ++routes;
    const std::string name = info.name;  // "GET /api/v1/jobs/{id}"
    std::string method = name.substr(0, name.find(' '));
    std::transform(method.begin(), method.end(), method.begin(), ::tolower);
    const std::string path = name.substr(name.find(' ') + 1);
    EXPECT_TRUE(doc["paths"][path] && doc["paths"][path][method]) << name << " is not in docs/api.openapi.yaml";
  }
  EXPECT_EQ(described, routes) << "docs/api.openapi.yaml describes routes the server does not have";
}

}  // namespace
}  // namespace cairn
