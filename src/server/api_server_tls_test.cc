// HTTPS with a certificate made by the openssl command in the test; the
// refusal to serve plain HTTP on a non-loopback address; listen errors.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "server/testing/server_fixture.h"
#include "server/tokens.h"

namespace cairn::server_testing {
namespace {

class ApiServerTlsTest : public ServerFixture {
 protected:
  void SetUp() override {
    ServerFixture::SetUp();
    cert_ = dir_.File("cert.pem");
    key_ = dir_.File("key.pem");
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                            "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " +
                            key_ + " -out " + cert_ + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "the openssl command is needed to make a test certificate";
  }

  ServerConfig TlsConfig() const {
    ServerConfig c = DefaultConfig();
    c.tls_cert = cert_;
    c.tls_key = key_;
    return c;
  }

  std::unique_ptr<httplib::SSLClient> Client() {
    auto client = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    client->set_ca_cert_path(cert_.c_str());
    client->enable_server_certificate_verification(true);
    client->set_read_timeout(5, 0);
    return client;
  }

  std::string cert_, key_;
};

TEST_F(ApiServerTlsTest, ServesHttpsWithHstsAndSecureCookies) {
  StartServer(TlsConfig(), DefaultOptions());
  EXPECT_EQ(server_->url().rfind("https://127.0.0.1:", 0), 0u);
  auto client = Client();
  auto r = client->Get("/api/v1/health");
  ASSERT_TRUE(r) << httplib::to_string(r.error()) << " verify=" << client->get_openssl_verify_result();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Strict-Transport-Security"), "max-age=31536000");
  r = client->Post("/api/v1/session", Json{{"password", kPassword}}.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Set-Cookie").find("; Secure"), std::string::npos);
  // Keep-alive over TLS: several requests on one connection.
  for (int i = 0; i < 5; ++i) {
    auto j = client->Get("/api/v1/jobs", httplib::Headers{{"Authorization", "Bearer " + tokens_[Role::kRead]}});
    ASSERT_TRUE(j);
    EXPECT_EQ(j->status, 200);
  }
}

TEST_F(ApiServerTlsTest, PlainHttpToTheTlsPortGetsNoAnswer) {
  StartServer(TlsConfig(), DefaultOptions());
  const std::string reply = Raw("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 3000);
  EXPECT_EQ(reply.find("200 OK"), std::string::npos);
  auto client = Client();
  EXPECT_EQ(client->Get("/api/v1/health")->status, 200);
}

TEST_F(ApiServerTlsTest, AStalledHandshakeIsDropped) {
  ApiServerOptions o = DefaultOptions();
  o.tls_handshake = std::chrono::milliseconds(300);
  StartServer(TlsConfig(), o);
  const int fd = ConnectLoopback(server_->port());
  ASSERT_GE(fd, 0);
  const auto start = std::chrono::steady_clock::now();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char c;
  EXPECT_LE(::recv(fd, &c, 1, 0), 0);  // closed, nothing sent
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ::close(fd);
  EXPECT_EQ(Client()->Get("/api/v1/health")->status, 200);
}

TEST_F(ApiServerTlsTest, BadCertificateOrKeyIsOneClearError) {
  ServerConfig c = TlsConfig();
  c.tls_cert = dir_.File("nope.pem");
  ApiServer missing(c, daemon_, *catalog_, &clock_, DefaultOptions());
  Status st = missing.Start();
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("server.tls_cert " + c.tls_cert), std::string::npos) << st.message();

  // A key of another certificate.
  const std::string other_key = dir_.File("other.pem");
  ASSERT_EQ(std::system(("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out " + other_key +
                         " >/dev/null 2>&1")
                            .c_str()),
            0);
  c = TlsConfig();
  c.tls_key = other_key;
  ApiServer mismatched(c, daemon_, *catalog_, &clock_, DefaultOptions());
  st = mismatched.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not belong"), std::string::npos) << st.message();

  c = TlsConfig();
  c.tls_key.clear();
  ApiServer half(c, daemon_, *catalog_, &clock_, DefaultOptions());
  EXPECT_FALSE(half.Start().ok());
}

using ApiServerListenTest = ServerFixture;

TEST_F(ApiServerListenTest, NonLoopbackWithoutTlsIsRefused) {
  for (const char* listen : {"0.0.0.0:0", "[::]:0", ":0"}) {
    ServerConfig c = DefaultConfig();
    c.listen = listen;
    ApiServer server(c, daemon_, *catalog_, &clock_, DefaultOptions());
    const Status st = server.Start();
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << listen;
    EXPECT_NE(st.message().find("not a loopback address"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("tls_cert"), std::string::npos);
    EXPECT_NE(st.message().find("allow_insecure_http"), std::string::npos);
  }
  // Loopback in any spelling is fine.
  for (const char* listen : {"127.0.0.1:0", "localhost:0", "[::1]:0", "127.1.2.3:0"}) {
    ServerConfig c = DefaultConfig();
    c.listen = listen;
    ApiServer server(c, daemon_, *catalog_, &clock_, DefaultOptions());
    const Status st = server.Start();
    EXPECT_TRUE(st.ok()) << listen << ": " << st.ToString();
  }
}

TEST_F(ApiServerListenTest, AllowInsecureHttpServesOnAllAddresses) {
  ServerConfig c = DefaultConfig();
  c.listen = "0.0.0.0:0";
  c.allow_insecure_http = true;
  StartServer(c, DefaultOptions());
  EXPECT_EQ(Get("/api/v1/health").status, 200);
}

TEST_F(ApiServerListenTest, APortInUseAndMalformedAddressesAreErrors) {
  ServerConfig c = DefaultConfig();
  c.listen = "127.0.0.1:" + std::to_string(server_->port());
  ApiServer second(c, daemon_, *catalog_, &clock_, DefaultOptions());
  Status st = second.Start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("cannot listen on 127.0.0.1:" + std::to_string(server_->port())), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("in use"), std::string::npos) << st.message();
  // The first one is untouched.
  EXPECT_EQ(Get("/api/v1/health").status, 200);
  for (const char* listen : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:http", "no.such.host.invalid:1"}) {
    c.listen = listen;
    ApiServer bad(c, daemon_, *catalog_, &clock_, DefaultOptions());
    EXPECT_FALSE(bad.Start().ok()) << listen;
  }
}

TEST(ApiServerSignalsTest, TheProcessSignalDispositionIsLeftAlone) {
  // httplib's Server constructor sets SIGPIPE to SIG_IGN for the process;
  // the server undoes that (children of the daemon inherit dispositions).
  // The test sets a known disposition first: an earlier test's server must
  // not decide the outcome.
  struct sigaction original {}, dfl {}, now {};
  dfl.sa_handler = SIG_DFL;
  ASSERT_EQ(::sigaction(SIGPIPE, &dfl, &original), 0);
  catalog_testing::ScratchDir dir;
  auto catalog = OpenSqliteCatalog(dir.File("catalog.db"));
  ASSERT_TRUE(catalog.ok());
  auto token = CreateApiToken(**catalog, "t", Role::kRead, "test");
  ASSERT_TRUE(token.ok());
  FakeDaemonApi daemon;
  {
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    ApiServer server(config, daemon, **catalog);
    ASSERT_TRUE(server.Start().ok());
    ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &now), 0);
    EXPECT_EQ(now.sa_handler, SIG_DFL);
    // Clients that vanish mid-response do not kill the process (SIGPIPE is
    // blocked in the server's threads, writes use MSG_NOSIGNAL).
    for (int i = 0; i < 20; ++i) {
      const int fd = ConnectLoopback(server.port());
      const std::string req = "GET /api/v1/events HTTP/1.1\r\nAuthorization: Bearer " + token->token + "\r\n\r\n";
      ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
      ::close(fd);
    }
    for (int i = 0; i < 50; ++i) daemon.Emit(ApiEvent{"job", Json{{"id", i}, {"pad", std::string(10000, 'x')}}});
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(::sigaction(SIGPIPE, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
  ::sigaction(SIGPIPE, &original, nullptr);
}

TEST_F(ApiServerListenTest, StopIsPromptWithOpenConnections) {
  // A kept-alive connection and a half-sent request must not hold Stop up.
  const int idle = ConnectLoopback(server_->port());
  const int partial = ConnectLoopback(server_->port());
  ASSERT_GE(idle, 0);
  ASSERT_GE(partial, 0);
  ASSERT_GT(::send(partial, "GET /api/v1/heal", 16, MSG_NOSIGNAL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  ::close(idle);
  ::close(partial);
}

}  // namespace
}  // namespace cairn::server_testing
