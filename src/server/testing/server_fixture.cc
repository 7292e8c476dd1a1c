#include "server/testing/server_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "server/auth.h"
#include "server/tokens.h"

namespace cairn::server_testing {

Json HttpResult::json() const { return Json::parse(body, nullptr, /*allow_exceptions=*/false); }

std::string HttpResult::header(const std::string& key) const {
  auto it = headers.find(key);
  return it == headers.end() ? "" : it->second;
}

int ConnectLoopback(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

ServerConfig ServerFixture::DefaultConfig() {
  ServerConfig c;
  c.listen = "127.0.0.1:0";
  return c;
}

ApiServerOptions ServerFixture::DefaultOptions() {
  ApiServerOptions o;
  o.keep_alive = std::chrono::milliseconds(1000);
  o.read_timeout = std::chrono::milliseconds(1000);
  o.write_timeout = std::chrono::milliseconds(1000);
  o.request_deadline = std::chrono::milliseconds(3000);
  o.sse_heartbeat = std::chrono::milliseconds(200);
  o.idle_thread_exit = std::chrono::milliseconds(500);
  return o;
}

void ServerFixture::SetUp() {
  ASSERT_FALSE(dir_.path().empty());
  SqliteCatalogOptions copts;
  copts.clock = &clock_;
  auto cat = OpenSqliteCatalog(dir_.File("catalog.db"), copts);
  ASSERT_TRUE(cat.ok()) << cat.status().ToString();
  catalog_ = std::move(cat).value();
  for (Role role : {Role::kRead, Role::kOperate, Role::kAdmin}) {
    auto t = CreateApiToken(*catalog_, std::string(ToString(role)) + "-token", role, "test");
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tokens_[role] = t->token;
  }
  auto hash = HashPassword(kPassword);
  ASSERT_TRUE(hash.ok());
  ASSERT_TRUE(catalog_->PutSetting(std::string(kAdminPasswordHashKey), *hash).ok());
  StartServer(DefaultConfig(), DefaultOptions());
}

void ServerFixture::TearDown() {
  if (server_) server_->Stop();
  server_.reset();
}

void ServerFixture::StartServer(ServerConfig config, ApiServerOptions options) {
  if (server_) server_->Stop();
  server_ = std::make_unique<ApiServer>(std::move(config), daemon_, *catalog_, &clock_, options);
  const Status st = server_->Start();
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_GT(server_->port(), 0);
}

HttpResult ServerFixture::Request(const std::string& method, const std::string& path, const std::string& body,
                                  httplib::Headers headers) {
  httplib::Client client("127.0.0.1", server_->port());
  client.set_read_timeout(5, 0);
  client.set_decompress(false);
  httplib::Result r(nullptr, httplib::Error::Unknown);
  if (method == "GET") r = client.Get(path, headers);
  else if (method == "HEAD") r = client.Head(path, headers);
  else if (method == "POST") r = client.Post(path, headers, body, "application/json");
  else if (method == "DELETE") r = client.Delete(path, headers, body, "application/json");
  else if (method == "PUT") r = client.Put(path, headers, body, "application/json");
  else if (method == "PATCH") r = client.Patch(path, headers, body, "application/json");
  else if (method == "OPTIONS") r = client.Options(path, headers);
  HttpResult out;
  if (!r) return out;
  out.status = r->status;
  out.headers = r->headers;
  out.body = r->body;
  return out;
}

httplib::Headers ServerFixture::As(Role role) const {
  return {{"Authorization", "Bearer " + tokens_.at(role)}};
}

TestSession ServerFixture::SignIn(const std::string& password) {
  HttpResult r = Post("/api/v1/session", Json{{"password", password}}.dump());
  EXPECT_EQ(r.status, 200) << r.body;
  TestSession s;
  const std::string set_cookie = r.header("Set-Cookie");
  s.cookie = set_cookie.substr(0, set_cookie.find(';'));
  const Json j = r.json();
  if (j.is_object() && j.contains("csrf_token")) s.csrf = j["csrf_token"].get<std::string>();
  return s;
}

httplib::Headers ServerFixture::WithSession(const TestSession& s, bool csrf) const {
  httplib::Headers h{{"Cookie", s.cookie}};
  if (csrf) h.emplace("X-CSRF-Token", s.csrf);
  return h;
}

std::string ServerFixture::Raw(const std::string& bytes, int timeout_ms, bool half_close) {
  const int fd = ConnectLoopback(server_->port());
  if (fd < 0) return "";
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string out;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buf[8192];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace cairn::server_testing
