// A real ApiServer on 127.0.0.1 (an ephemeral port) with a FakeDaemonApi, a
// real SQLite catalog in a scratch directory and a FakeClock, driven over
// real HTTP; plus a raw-socket client for requests no HTTP library would
// send. Tokens of every role exist, and the admin password is kPassword.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include <httplib.h>

#include "daemon/testing/catalog_test_util.h"
#include "server/api_server.h"
#include "server/testing/fake_daemon_api.h"

namespace cairn::server_testing {

inline constexpr char kPassword[] = "correct horse battery staple";

struct HttpResult {
  int status = 0;  // 0: no response (connection failed or closed)
  httplib::Headers headers;
  std::string body;
  Json json() const;  // the body parsed, or null
  std::string header(const std::string& key) const;
};

// A signed-in dashboard session.
struct TestSession {
  std::string cookie;  // "cairn_session=..."
  std::string csrf;
};

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // (Re)starts the server; SetUp starts one with DefaultConfig/DefaultOptions.
  void StartServer(ServerConfig config, ApiServerOptions options);
  static ServerConfig DefaultConfig();
  static ApiServerOptions DefaultOptions();

  HttpResult Request(const std::string& method, const std::string& path, const std::string& body = "",
                     httplib::Headers headers = {});
  HttpResult Get(const std::string& path, httplib::Headers headers = {}) { return Request("GET", path, "", headers); }
  HttpResult Post(const std::string& path, const std::string& body, httplib::Headers headers = {}) {
    return Request("POST", path, body, headers);
  }
  HttpResult Delete(const std::string& path, httplib::Headers headers = {}) {
    return Request("DELETE", path, "", headers);
  }

  httplib::Headers As(Role role) const;  // Authorization: Bearer <token of that role>
  // Signs in with the admin password (or a token); fails the test if it cannot.
  TestSession SignIn(const std::string& password = kPassword);
  httplib::Headers WithSession(const TestSession& s, bool csrf = true) const;

  // Sends `bytes` on a fresh connection, half-closes unless told not to, and
  // returns what came back within `timeout_ms` (or until the server closed).
  std::string Raw(const std::string& bytes, int timeout_ms = 3000, bool half_close = true);

  catalog_testing::ScratchDir dir_;
  FakeClock clock_{catalog_testing::kT0};
  std::unique_ptr<Catalog> catalog_;
  FakeDaemonApi daemon_;
  std::unique_ptr<ApiServer> server_;
  std::map<Role, std::string> tokens_;
};

// Connects to 127.0.0.1:port; -1 on failure.
int ConnectLoopback(int port);

}  // namespace cairn::server_testing
