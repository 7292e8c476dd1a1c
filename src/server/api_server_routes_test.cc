// Every route of docs/api.md over real HTTP against a FakeDaemonApi: the
// success status and body, what reaches the daemon, and each error status
// (400, 404, 405, 409, 413, 500, 503) with its JSON error body.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/testing/server_fixture.h"

namespace cairn::server_testing {
namespace {

using ApiServerRoutesTest = ServerFixture;

// Every error has a JSON body {"error": "<one line>"}.
void ExpectError(const HttpResult& r, int status, const std::string& contains = "") {
  EXPECT_EQ(r.status, status) << r.body;
  const Json j = r.json();
  ASSERT_TRUE(j.is_object()) << r.body;
  ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << r.body;
  const std::string message = j["error"];
  EXPECT_FALSE(message.empty());
  EXPECT_EQ(message.find('\n'), std::string::npos);
  if (!contains.empty()) {
    EXPECT_NE(message.find(contains), std::string::npos) << message;
  }
  EXPECT_EQ(r.header("Content-Type"), "application/json");
}

TEST_F(ApiServerRoutesTest, HealthNeedsNoCredentials) {
  HttpResult r = Get("/api/v1/health");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["status"], "ok");
  EXPECT_EQ(r.json()["version"], "0.1.0");
  EXPECT_EQ(r.header("Cache-Control"), "no-store");
}

TEST_F(ApiServerRoutesTest, ReadRoutesReturnTheDaemonsJsonAndPassParameters) {
  struct Case {
    std::string path;
    std::string method;  // the FakeDaemonApi method called
    Json args;           // what it received
    std::string key;     // a key of the body
  };
  const std::vector<Case> cases = {
      {"/api/v1/services", "ListServices", Json::object(), "summary"},
      {"/api/v1/services/app-db", "GetService", {{"name", "app-db"}}, "type"},
      {"/api/v1/services/app-db/backups", "ListPoints", {{"service", "app-db"}, {"limit", 50}, {"cursor", ""}}, "points"},
      {"/api/v1/services/app-db/backups?limit=500&cursor=6a7c", "ListPoints",
       {{"service", "app-db"}, {"limit", 500}, {"cursor", "6a7c"}}, "points"},
      {"/api/v1/services/app-db/backups/6FC69EA7", "GetPoint", {{"service", "app-db"}, {"point", "6fc69ea7"}}, "manifest"},
      {"/api/v1/services/app-db/backups/latest", "GetPoint", {{"service", "app-db"}, {"point", "latest"}}, "manifest"},
      {"/api/v1/services/app-db/history", "ServiceHistory", {{"service", "app-db"}, {"days", 90}}, "drills"},
      {"/api/v1/services/app-db/history?days=7", "ServiceHistory", {{"service", "app-db"}, {"days", 7}}, "drills"},
      {"/api/v1/calendar", "Calendar", {{"days", 30}, {"tz", "UTC"}}, "days"},
      {"/api/v1/calendar?days=14&tz=Europe/Berlin", "Calendar", {{"days", 14}, {"tz", "Europe/Berlin"}}, "days"},
      {"/api/v1/services/app-db/backups/latest/files", "ListFiles",
       {{"service", "app-db"}, {"point", "latest"}, {"path", "/"}}, "entries"},
      {"/api/v1/services/app-db/backups/6fc6/files?path=/srv/app", "ListFiles",
       {{"service", "app-db"}, {"point", "6fc6"}, {"path", "/srv/app"}}, "entries"},
      {"/api/v1/jobs", "ListJobs",
       {{"service", nullptr}, {"status", nullptr}, {"kind", nullptr}, {"limit", 50}, {"cursor", ""}}, "jobs"},
      {"/api/v1/jobs?service=app-db&status=failed&kind=backup&limit=5", "ListJobs",
       {{"service", "app-db"}, {"status", "failed"}, {"kind", "backup"}, {"limit", 5}, {"cursor", ""}}, "jobs"},
      {"/api/v1/jobs?service=&status=&kind=&limit=&cursor=", "ListJobs",
       {{"service", nullptr}, {"status", nullptr}, {"kind", nullptr}, {"limit", 50}, {"cursor", ""}}, "jobs"},
      {"/api/v1/jobs/42", "GetJob", {{"id", 42}}, "progress"},
      {"/api/v1/jobs/42/log?after=17", "JobLog", {{"id", 42}, {"after", 17}}, "lines"},
      {"/api/v1/alerts", "ListAlerts", {{"open", true}, {"limit", 50}, {"cursor", ""}}, "alerts"},
      {"/api/v1/alerts?state=resolved&limit=2", "ListAlerts", {{"open", false}, {"limit", 2}, {"cursor", ""}}, "alerts"},
      {"/api/v1/schedules", "ListSchedules", Json::object(), "schedules"},
  };
  for (const Case& c : cases) {
    daemon_.ClearCalls();
    HttpResult r = Get(c.path, As(Role::kRead));
    ASSERT_EQ(r.status, 200) << c.path << ": " << r.body;
    EXPECT_EQ(r.header("Content-Type"), "application/json") << c.path;
    EXPECT_TRUE(r.json().contains(c.key)) << c.path << ": " << r.body;
    const auto call = daemon_.last_call();
    EXPECT_EQ(call.method, c.method) << c.path;
    EXPECT_EQ(call.args, c.args) << c.path;
  }
}

TEST_F(ApiServerRoutesTest, ConfigAndMetrics) {
  HttpResult r = Get("/api/v1/config", As(Role::kRead));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["ok"], true);
  r = Get("/metrics", As(Role::kRead));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("cairn_jobs_running 0"), std::string::npos);
  ExpectError(Get("/metrics"), 401);
}

TEST_F(ApiServerRoutesTest, JsonIsGzippedNeverBrotli) {
  // httplib's brotli runs at its slowest quality (docs/server.md): a client
  // that accepts both gets gzip, one that accepts only br gets it plain.
  auto with = [&](const char* accept) {
    httplib::Headers h = As(Role::kRead);
    h.emplace("Accept-Encoding", accept);
    return Get("/api/v1/services", h);
  };
  HttpResult r = with("gzip, deflate, br");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Encoding"), "gzip");
  r = with("br");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Encoding"), "");
  EXPECT_TRUE(r.json().contains("summary"));
  EXPECT_EQ(with("br, gzip;q=0").header("Content-Encoding"), "");
}

TEST_F(ApiServerRoutesTest, MetricsPublicWhenConfigured) {
  ServerConfig c = DefaultConfig();
  c.metrics_public = true;
  StartServer(c, DefaultOptions());
  EXPECT_EQ(Get("/metrics").status, 200);
  // Only /metrics: the API still wants credentials.
  ExpectError(Get("/api/v1/services"), 401);
}

TEST_F(ApiServerRoutesTest, StartingJobsAnswers202WithTheJobId) {
  HttpResult r = Post("/api/v1/services/app-db/backups", R"({"target": "offsite"})", As(Role::kOperate));
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["job_id"], 41);
  auto call = daemon_.last_call();
  EXPECT_EQ(call.method, "StartBackup");
  EXPECT_EQ(call.args["target"], "offsite");
  EXPECT_EQ(call.actor, "operate-token");
  EXPECT_EQ(call.role, Role::kOperate);

  r = Post("/api/v1/services/app-db/backups", "", As(Role::kOperate));
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(daemon_.last_call().args["target"], nullptr);

  r = Post("/api/v1/services/app-db/restores", R"({"point": "6FC69EA7", "mode": "new-instance", "port": 5433})",
           As(Role::kOperate));
  ASSERT_EQ(r.status, 202) << r.body;
  call = daemon_.last_call();
  EXPECT_EQ(call.method, "StartRestore");
  EXPECT_EQ(call.args["request"],
            Json::parse(R"({"point":"6fc69ea7","mode":"new-instance","confirm":null,"target":null,"as":null,
                            "port":5433,"at":null})"));

  r = Post("/api/v1/services/app-db/restores", R"({"at": "2026-12-06T10:15:00Z"})", As(Role::kOperate));
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(daemon_.last_call().args["request"]["point"], nullptr);
  EXPECT_EQ(daemon_.last_call().args["request"]["at"], "2026-12-06T10:15:00Z");

  r = Post("/api/v1/services/app-db/restores", "{}", As(Role::kOperate));
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(daemon_.last_call().args["request"]["point"], "latest");
  EXPECT_EQ(daemon_.last_call().args["request"]["mode"], "new-instance");

  r = Post("/api/v1/services/app-db/verify", R"({"point": "latest"})", As(Role::kOperate));
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(daemon_.last_call().method, "StartVerify");
  EXPECT_EQ(daemon_.last_call().args["point"], "latest");
}

TEST_F(ApiServerRoutesTest, OverwriteRestoreNeedsAdminAndConfirm) {
  const std::string body = R"({"point": "latest", "mode": "overwrite", "confirm": "app-db"})";
  ExpectError(Post("/api/v1/services/app-db/restores", body, As(Role::kOperate)), 403, "admin");
  EXPECT_EQ(daemon_.call_count("StartRestore"), 0u);
  ExpectError(Post("/api/v1/services/app-db/restores", R"({"mode": "overwrite"})", As(Role::kAdmin)), 409,
              "confirm");
  ExpectError(Post("/api/v1/services/app-db/restores", R"({"mode": "overwrite", "confirm": "other"})",
                   As(Role::kAdmin)),
              409);
  EXPECT_EQ(daemon_.call_count("StartRestore"), 0u);
  HttpResult r = Post("/api/v1/services/app-db/restores", body, As(Role::kAdmin));
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(daemon_.last_call().args["request"]["mode"], "overwrite");
  EXPECT_EQ(daemon_.last_call().args["request"]["confirm"], "app-db");
}

TEST_F(ApiServerRoutesTest, CancelAckPauseResumeAndTestNotification) {
  HttpResult r = Post("/api/v1/jobs/42/cancel", "", As(Role::kOperate));
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(r.json(), Json::object());
  EXPECT_EQ(daemon_.last_call().args["id"], 42);

  r = Post("/api/v1/alerts/7/ack", "{}", As(Role::kOperate));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["acked_by"], "operate-token");

  r = Post("/api/v1/schedules/backup:app-db/pause", "", As(Role::kOperate));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["paused"], true);
  EXPECT_EQ(daemon_.last_call().args, Json::parse(R"({"key":"backup:app-db","paused":true})"));
  r = Post("/api/v1/schedules/backup:app-db/resume", "", As(Role::kOperate));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["paused"], false);

  r = Post("/api/v1/notifications/test", R"({"channel": 2})", As(Role::kAdmin));
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(daemon_.last_call().args["channel"], 2);
  r = Post("/api/v1/notifications/test", "", As(Role::kAdmin));
  ASSERT_EQ(r.status, 202);
  EXPECT_EQ(daemon_.last_call().args["channel"], nullptr);
}

TEST_F(ApiServerRoutesTest, StateChangesAreAudited) {
  ASSERT_EQ(Post("/api/v1/services/app-db/restores", "{}", As(Role::kOperate)).status, 202);
  ASSERT_EQ(Post("/api/v1/jobs/42/cancel", "", As(Role::kOperate)).status, 202);
  ASSERT_EQ(Post("/api/v1/alerts/7/ack", "", As(Role::kOperate)).status, 200);
  ASSERT_EQ(Post("/api/v1/schedules/backup:app-db/pause", "", As(Role::kOperate)).status, 200);
  ASSERT_EQ(Post("/api/v1/schedules/backup:app-db/resume", "", As(Role::kOperate)).status, 200);
  ASSERT_EQ(Post("/api/v1/notifications/test", "", As(Role::kAdmin)).status, 202);
  auto page = catalog_->ListAudit(PageRequest{100, ""});
  ASSERT_TRUE(page.ok());
  std::vector<std::string> actions;
  for (const AuditRecord& a : page->items) {
    if (a.action.starts_with("token.")) continue;  // the fixture's own tokens
    actions.push_back(a.action);
    EXPECT_EQ(a.details["address"], "127.0.0.1");
  }
  const std::vector<std::string> want = {"notification.test", "schedule.resume", "schedule.pause",
                                         "alert.ack",         "job.cancel",      "restore"};
  EXPECT_EQ(actions, want);
  EXPECT_EQ(page->items[0].actor, "token:admin-token");
  EXPECT_EQ(page->items[5].actor, "token:operate-token");
  EXPECT_EQ(page->items[5].details["job_id"], 41);
}

TEST_F(ApiServerRoutesTest, DaemonErrorsMapToStatuses) {
  struct Case {
    Status status;
    int http;
  };
  const std::vector<Case> cases = {
      {Status::InvalidArgument("bad cursor"), 400}, {Status::Unsupported("no pitr"), 400},
      {Status::NotFound("no service named x"), 404}, {Status::AlreadyExists("a backup is queued"), 409},
      {Status::Locked("running"), 409},              {Status::Aborted("ended"), 409},
      {Status::WrongPassword("nope"), 401},          {Status::Corruption("broken"), 500},
      {Status::IOError("disk"), 500},                {Status::NoSpace("full"), 500},
  };
  for (const Case& c : cases) {
    daemon_.FailMethod("GetService", c.status);
    daemon_.FailMethod("StartBackup", c.status);
    daemon_.FailMethod("CancelJob", c.status);
    ExpectError(Get("/api/v1/services/x", As(Role::kRead)), c.http, c.status.message());
    ExpectError(Post("/api/v1/services/x/backups", "", As(Role::kOperate)), c.http, c.status.message());
    ExpectError(Post("/api/v1/jobs/3/cancel", "", As(Role::kOperate)), c.http, c.status.message());
  }
}

TEST_F(ApiServerRoutesTest, ConfigurationNotLoadedIs503ForRoutesThatNeedIt) {
  daemon_.config_loaded = false;
  for (const char* path : {"/api/v1/services", "/api/v1/services/app-db", "/api/v1/services/app-db/backups",
                           "/api/v1/services/app-db/history", "/api/v1/calendar", "/api/v1/schedules",
                           "/api/v1/services/app-db/backups/latest/files"}) {
    ExpectError(Get(path, As(Role::kRead)), 503, "configuration not loaded");
  }
  ExpectError(Post("/api/v1/services/app-db/backups", "", As(Role::kOperate)), 503, "unknown key 'prot'");
  ExpectError(Post("/api/v1/notifications/test", "", As(Role::kAdmin)), 503);
  // What does not need the configuration still works, the status first.
  EXPECT_EQ(Get("/api/v1/config", As(Role::kRead)).json()["ok"], false);
  for (const char* path : {"/api/v1/health", "/api/v1/jobs", "/api/v1/jobs/1", "/api/v1/alerts", "/metrics"})
    EXPECT_EQ(Get(path, As(Role::kRead)).status, 200) << path;
  EXPECT_EQ(Post("/api/v1/jobs/1/cancel", "", As(Role::kOperate)).status, 202);
  // A daemon that loses its configuration mid-call answers 503, not 500.
  daemon_.FailMethod("ListJobs", Status::IOError("configuration not loaded"));
  ExpectError(Get("/api/v1/jobs", As(Role::kRead)), 503);
}

TEST_F(ApiServerRoutesTest, UnknownRoutesAre404AndWrongMethods405) {
  ExpectError(Get("/api/v1/nothing", As(Role::kRead)), 404);
  ExpectError(Get("/api/v1/services/a%2Fb", As(Role::kRead)), 404);
  ExpectError(Get("/api/v1/services/%2e%2e/backups", As(Role::kRead)), 404);
  ExpectError(Get("/api/v1/jobs/abc", As(Role::kRead)), 404);
  HttpResult r = Delete("/api/v1/services", As(Role::kAdmin));
  ExpectError(r, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD");
  r = Request("PUT", "/api/v1/services/app-db/backups", "{}", As(Role::kAdmin));
  ExpectError(r, 405);
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, POST");
  ExpectError(Get("/api/v1/jobs/1/cancel", As(Role::kAdmin)), 405);
  ExpectError(Request("PATCH", "/api/v1/session", "{}"), 405);
  ExpectError(Request("OPTIONS", "/api/v1/services"), 405);
  ExpectError(Post("/", "{}"), 405);
  // 404/405 need no credentials (the routes are public knowledge) and call nothing.
  EXPECT_TRUE(daemon_.calls().empty());
}

TEST_F(ApiServerRoutesTest, MalformedInputIs400) {
  const auto op = As(Role::kOperate);
  ExpectError(Post("/api/v1/services/app-db/backups", "{", op), 400, "not valid JSON");
  ExpectError(Post("/api/v1/services/app-db/backups", "[]", op), 400, "object");
  ExpectError(Post("/api/v1/services/app-db/backups", "{\"target\": \"\xff\xfe\"}", op), 400, "UTF-8");
  ExpectError(Post("/api/v1/services/app-db/backups", R"({"target": 5})", op), 400, "string");
  ExpectError(Post("/api/v1/services/app-db/backups", R"({"target": "a/b"})", op), 400);
  ExpectError(Post("/api/v1/services/app-db/backups", R"({"targets": "x"})", op), 400, "targets");
  ExpectError(Post("/api/v1/services/app-db/restores", R"({"mode": "sideways"})", op), 400, "mode");
  ExpectError(Post("/api/v1/services/app-db/restores", R"({"point": "zz"})", op), 400, "point");
  ExpectError(Post("/api/v1/services/app-db/restores", R"({"point": "latest", "at": "latest"})", op), 400);
  ExpectError(Post("/api/v1/services/app-db/restores", R"({"at": "yesterday"})", op), 400, "RFC 3339");
  ExpectError(Post("/api/v1/services/app-db/restores", R"({"port": 99999})", op), 400, "port");
  ExpectError(Post("/api/v1/jobs/4/cancel", R"({"now": true})", op), 400);
  ExpectError(Post("/api/v1/notifications/test", R"({"channel": "email"})", As(Role::kAdmin)), 400);
  std::string deep = "{\"target\":" + std::string(100, '[') + std::string(100, ']') + "}";
  ExpectError(Post("/api/v1/services/app-db/backups", deep, op), 400, "deeper");

  const auto rd = As(Role::kRead);
  ExpectError(Get("/api/v1/jobs?limit=0", rd), 400, "limit");
  ExpectError(Get("/api/v1/jobs?limit=501", rd), 400, "limit");
  ExpectError(Get("/api/v1/jobs?limit=x", rd), 400);
  ExpectError(Get("/api/v1/jobs?status=exploded", rd), 400, "status");
  ExpectError(Get("/api/v1/jobs?kind=dance", rd), 400, "kind");
  ExpectError(Get("/api/v1/jobs?service=../x", rd), 400);
  ExpectError(Get("/api/v1/jobs?cursor=a%20b", rd), 400, "cursor");
  ExpectError(Get("/api/v1/jobs?limit=1&limit=2", rd), 400, "more than once");
  ExpectError(Get("/api/v1/jobs?limt=5", rd), 400, "limt");
  ExpectError(Get("/api/v1/alerts?state=maybe", rd), 400, "state");
  ExpectError(Get("/api/v1/jobs/4/log?after=-1", rd), 400);
  ExpectError(Get("/api/v1/calendar?tz=../../etc/passwd", rd), 400, "tz");
  ExpectError(Get("/api/v1/calendar?days=0", rd), 400);
  ExpectError(Get("/api/v1/services/app-db/backups/latest/files?path=../etc", rd), 400, "path");
  ExpectError(Get("/api/v1/services/app-db/backups/latest/files?path=/srv/../etc", rd), 400);
  ExpectError(Get("/api/v1/services/app-db/backups/latest/files?path=/a%00b", rd), 400);
  ExpectError(Get("/api/v1/services/app-db/backups/latest/files?path=/a%ff", rd), 400);
  ExpectError(Get("/api/v1/services/app-db/backups/latest/files/content", rd), 400, "required");
  // None of these reached the daemon.
  EXPECT_TRUE(daemon_.calls().empty());
}

TEST_F(ApiServerRoutesTest, BodiesOver64KiBAre413) {
  const std::string big = "{\"target\":\"" + std::string(70 * 1024, 'a') + "\"}";
  ExpectError(Post("/api/v1/services/app-db/backups", big, As(Role::kOperate)), 413);
  // Chunked: no length to check up front, the count stops it.
  const std::string head =
      "POST /api/v1/services/app-db/backups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokens_[Role::kOperate] +
      "\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunks;
  for (int i = 0; i < 20; ++i) chunks += "1000\r\n" + std::string(4096, 'a') + "\r\n";
  const std::string reply = Raw(head + chunks + "0\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 413", 0), 0u) << reply.substr(0, 200);
  // A claimed length is refused before a byte of the body is read.
  const std::string claimed = Raw(
      "POST /api/v1/services/app-db/backups HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tokens_[Role::kOperate] +
          "\r\nContent-Length: 10000000000\r\n\r\n",
      3000, /*half_close=*/false);
  EXPECT_EQ(claimed.rfind("HTTP/1.1 413", 0), 0u) << claimed.substr(0, 200);
  EXPECT_EQ(daemon_.call_count("StartBackup"), 0u);
}

TEST_F(ApiServerRoutesTest, GzippedRequestBodiesAreCappedAfterDecompression) {
  // 1 MiB of zeros gzips to about 1 KiB: the cap applies to what it inflates to.
  std::string zeros(1 << 20, '0');
  std::string body = "{\"target\":\"" + zeros + "\"}";
  httplib::Client client("127.0.0.1", server_->port());
  client.set_compress(true);
  auto r = client.Post("/api/v1/services/app-db/backups", As(Role::kOperate), body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(daemon_.call_count("StartBackup"), 0u);
}

TEST_F(ApiServerRoutesTest, FileDownloadStreamsTheDaemonsBytes) {
  std::string content;
  for (int i = 0; i < 200000; ++i) content += static_cast<char>('a' + i % 26);
  daemon_.SetFile("report 2026.txt", content, 7000);
  HttpResult r = Get("/api/v1/services/app-db/backups/latest/files/content?path=/srv/app/report%202026.txt",
                     As(Role::kRead));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, content);
  EXPECT_EQ(r.header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(daemon_.last_call().args["path"], "/srv/app/report 2026.txt");
  // httplib's client percent-decodes header values; read this one raw.
  const std::string raw = Raw("GET /api/v1/services/app-db/backups/latest/files/content?path=/r HTTP/1.1\r\n"
                              "Authorization: Bearer " + tokens_[Role::kRead] + "\r\nConnection: close\r\n\r\n");
  EXPECT_NE(raw.find("\r\nContent-Disposition: attachment; filename=\"report_2026.txt\"; "
                     "filename*=UTF-8''report%202026.txt\r\n"),
            std::string::npos)
      << raw.substr(0, 600);

  daemon_.SetFile("empty", "");
  r = Get("/api/v1/services/app-db/backups/latest/files/content?path=/empty", As(Role::kRead));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");

  // Before the first byte an error is still an error status.
  daemon_.FailMethod("DownloadFile", Status::NotFound("no file /nope in point 6fc69ea7"));
  ExpectError(Get("/api/v1/services/app-db/backups/latest/files/content?path=/nope", As(Role::kRead)), 404, "/nope");
  daemon_.ClearFailures();
  // After it, the body is cut short: the client cannot mistake it for the file.
  daemon_.SetFile("big", content, 7000, /*fail_after=*/70000);
  r = Get("/api/v1/services/app-db/backups/latest/files/content?path=/big", As(Role::kRead));
  EXPECT_NE(r.body, content);
  EXPECT_LT(r.body.size(), content.size());
}

TEST_F(ApiServerRoutesTest, StopEndsADownloadWaitingOnTheDaemon) {
  daemon_.SetFile("big", std::string(1 << 20, 'x'), 64 * 1024, -1, /*stall_after=*/128 * 1024);
  std::atomic<size_t> received{0};
  std::thread client([&] {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(10, 0);
    c.Get("/api/v1/services/app-db/backups/latest/files/content?path=/big", As(Role::kRead),
          [&](const char*, size_t n) {
            received += n;
            return true;
          });
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (received < 128 * 1024 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(received, 128u * 1024);
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  client.join();
  EXPECT_EQ(received, 128u * 1024);  // cut short, never passed off as the file
}

TEST_F(ApiServerRoutesTest, HeadAnswersLikeGetWithoutABody) {
  HttpResult r = Request("HEAD", "/api/v1/services", "", As(Role::kRead));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  ExpectError(Get("/api/v1/events", {}), 401);
}

}  // namespace
}  // namespace cairn::server_testing
