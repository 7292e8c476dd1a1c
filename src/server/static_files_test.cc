// The embedded dashboard: SPA fallback, caching (immutable assets,
// revalidated index.html), ETag/If-None-Match, precompressed gzip, and the
// security headers on every kind of response.
#include <gtest/gtest.h>

#include <filesystem>

#include "server/http_util.h"
#include "server/static_assets.h"
#include "server/testing/server_fixture.h"

namespace cairn::server_testing {
namespace {

const unsigned char kIndex[] = "<!doctype html><title>Cairn</title><script type=module src=/assets/app-1a2b3c4d.js></script>";
const unsigned char kApp[] = "console.log('cairn dashboard');";
const unsigned char kAppGz[] = "GZIPPED-BYTES";
const unsigned char kIcon[] = "<svg xmlns='http://www.w3.org/2000/svg'/>";

const EmbeddedAsset kAssets[] = {
    {"index.html", "text/html; charset=utf-8", kIndex, sizeof(kIndex) - 1, nullptr, 0, "\"idx1\"", "\"idx1-gz\"", false},
    {"assets/app-1a2b3c4d.js", "text/javascript; charset=utf-8", kApp, sizeof(kApp) - 1, kAppGz, sizeof(kAppGz) - 1,
     "\"app1\"", "\"app1-gz\"", true},
    {"favicon.svg", "image/svg+xml", kIcon, sizeof(kIcon) - 1, nullptr, 0, "\"ico1\"", "\"ico1-gz\"", false},
};
const EmbeddedAssetTable kTable{kAssets, 3, true};

class StaticFilesTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    ApiServerOptions o = DefaultOptions();
    o.assets = &kTable;
    StartServer(DefaultConfig(), o);
  }
};

void ExpectSecurityHeaders(const HttpResult& r, const std::string& what) {
  EXPECT_EQ(r.header("Content-Security-Policy"), kContentSecurityPolicy) << what;
  EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff") << what;
  EXPECT_EQ(r.header("Referrer-Policy"), "no-referrer") << what;
  EXPECT_EQ(r.header("X-Frame-Options"), "DENY") << what;
  EXPECT_EQ(r.header("Strict-Transport-Security"), "") << what;  // plain HTTP
}

TEST_F(StaticFilesTest, IndexAndSpaRoutesServeIndexHtmlRevalidated) {
  for (const char* path : {"/", "/services/app-db", "/jobs/42/log", "/a/b/c", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/shadow"}) {
    HttpResult r = Get(path);
    ASSERT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, std::string(reinterpret_cast<const char*>(kIndex))) << path;
    EXPECT_EQ(r.header("Content-Type"), "text/html; charset=utf-8");
    EXPECT_EQ(r.header("Cache-Control"), "no-cache");
    EXPECT_EQ(r.header("ETag"), "\"idx1\"");
    ExpectSecurityHeaders(r, path);
  }
  EXPECT_EQ(Get("/", {{"If-None-Match", "\"idx1\""}}).status, 304);
  EXPECT_EQ(Get("/", {{"If-None-Match", "W/\"idx1\""}}).status, 304);
  EXPECT_EQ(Get("/", {{"If-None-Match", "\"old\""}}).status, 200);
}

TEST_F(StaticFilesTest, HashedAssetsAreImmutableAndGzippedWhenAccepted) {
  HttpResult r = Get("/assets/app-1a2b3c4d.js");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, std::string(reinterpret_cast<const char*>(kApp)));
  EXPECT_EQ(r.header("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(r.header("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(r.header("Content-Encoding"), "");
  EXPECT_EQ(r.header("Vary"), "Accept-Encoding");
  EXPECT_EQ(r.header("ETag"), "\"app1\"");
  ExpectSecurityHeaders(r, "asset");

  r = Get("/assets/app-1a2b3c4d.js", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Encoding"), "gzip");
  EXPECT_EQ(r.body, std::string(reinterpret_cast<const char*>(kAppGz)));  // the build-time bytes, not re-compressed
  EXPECT_EQ(r.header("Content-Length"), std::to_string(sizeof(kAppGz) - 1));
  EXPECT_EQ(r.header("ETag"), "\"app1-gz\"");
  EXPECT_EQ(Get("/assets/app-1a2b3c4d.js", {{"Accept-Encoding", "gzip"}, {"If-None-Match", "\"app1-gz\""}}).status,
            304);
  EXPECT_EQ(Get("/assets/app-1a2b3c4d.js", {{"Accept-Encoding", "gzip;q=0"}}).header("Content-Encoding"), "");
  // Range requests get the whole file (partial content is never served).
  r = Get("/assets/app-1a2b3c4d.js", {{"Range", "bytes=0-3"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), sizeof(kApp) - 1);
}

TEST_F(StaticFilesTest, MissingFilesWithAnExtensionAre404) {
  for (const char* path : {"/assets/app-00000000.js", "/favicon.ico", "/robots.txt", "/assets/../index.html"}) {
    HttpResult r = Get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.json()["error"], "no such file") << path;
    ExpectSecurityHeaders(r, path);
  }
  EXPECT_EQ(Get("/favicon.svg").header("Content-Type"), "image/svg+xml");
}

TEST_F(StaticFilesTest, HeadSendsHeadersOnly) {
  HttpResult r = Request("HEAD", "/assets/app-1a2b3c4d.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(r.header("Content-Length"), std::to_string(sizeof(kApp) - 1));
}

TEST_F(StaticFilesTest, SecurityHeadersOnApiResponsesAndErrorsToo) {
  ExpectSecurityHeaders(Get("/api/v1/health"), "health");
  ExpectSecurityHeaders(Get("/api/v1/services"), "401");
  ExpectSecurityHeaders(Get("/api/v1/nope"), "404");
  ExpectSecurityHeaders(Post("/", ""), "405");
  // Even a request httplib itself refuses.
  const std::string raw = Raw("GARBAGE\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400", 0), 0u) << raw;
  EXPECT_NE(raw.find("Content-Security-Policy: default-src 'none'"), std::string::npos) << raw;
  EXPECT_NE(raw.find("{\"error\":"), std::string::npos) << raw;
}

TEST(EmbeddedAssetsTest, TheBinaryCarriesAnIndexPage) {
  const EmbeddedAssetTable& t = EmbeddedWebAssets();
  bool index = false;
  for (size_t i = 0; i < t.count; ++i) {
    const EmbeddedAsset& a = t.assets[i];
    if (std::string(a.path) == "index.html") index = true;
    EXPECT_EQ(a.etag[0], '"');
    EXPECT_EQ(std::string(a.path).find(".."), std::string::npos);
    if (a.immutable) {
      EXPECT_EQ(std::string(a.path).rfind("assets/", 0), 0u);
    }
  }
  EXPECT_TRUE(index);
  // Built from web/dist when it exists, else the placeholder page.
  EXPECT_EQ(t.built, std::filesystem::exists(std::string(CAIRN_SOURCE_DIR) + "/web/dist/index.html"));
}

}  // namespace
}  // namespace cairn::server_testing
