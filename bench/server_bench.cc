// The HTTP server's memory and latency (docs/server.md, "Measurements"):
// an ApiServer with production settings on a FakeDaemonApi and a real
// catalog; RSS and threads idle, with 50 event-stream clients connected and
// after an event reached them all; request latency on a kept-alive
// connection, idle and with the 50 streams open.
//
//   cmake --build build --target cairn_server_bench && ./build/cairn_server_bench [--default-arenas] [--tls]
// (--tls: HTTPS with a certificate the openssl command makes.)
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <openssl/ssl.h>

#include "daemon/catalog_sqlite.h"
#include "server/api_server.h"
#include "server/testing/fake_daemon_api.h"
#include "server/tokens.h"

using namespace cairn;
using namespace std::chrono_literals;

namespace {

long ProcStatus(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(std::strlen(key)));
  return -1;
}

void Report(const char* what) {
  std::printf("%-44s RSS %6ld KiB  threads %3ld\n", what, ProcStatus("VmRSS:"), ProcStatus("Threads:"));
}

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? fd : -1;
}

// A client connection, plain or TLS (blocking; the bench reads with a deadline).
struct Stream {
  int fd = -1;
  SSL* ssl = nullptr;
  bool Open(int port, SSL_CTX* ctx) {
    fd = Connect(port);
    if (fd < 0) return false;
    if (!ctx) return true;
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    return SSL_connect(ssl) == 1;
  }
  void Send(const std::string& s) {
    if (ssl) SSL_write(ssl, s.data(), static_cast<int>(s.size()));
    else ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
  }
  ssize_t Recv(char* buf, size_t n) {
    return ssl ? SSL_read(ssl, buf, static_cast<int>(n)) : ::recv(fd, buf, n, 0);
  }
  void Close() {
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
  }
};

bool ReadUntil(Stream& s, const std::string& text, std::string* data) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (data->find(text) == std::string::npos) {
    if (std::chrono::steady_clock::now() > until) return false;
    if (!(s.ssl && SSL_pending(s.ssl) > 0)) {
      pollfd p{s.fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
    }
    char buf[4096];
    const ssize_t n = s.Recv(buf, sizeof(buf));
    if (n <= 0) return false;
    data->append(buf, static_cast<size_t>(n));
  }
  return true;
}

void Latency(const char* what, int port, const std::string& path, const std::string& token, bool tls) {
  httplib::Client client((tls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port));
  client.enable_server_certificate_verification(false);
  client.set_keep_alive(true);
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  std::vector<double> us;
  for (int i = 0; i < 2200; ++i) {
    const auto t = std::chrono::steady_clock::now();
    auto r = client.Get(path, h);
    const double d = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count();
    if (!r || r->status != 200) {
      std::printf("%s: request failed\n", what);
      return;
    }
    if (i >= 200) us.push_back(d);  // after warm-up
  }
  std::sort(us.begin(), us.end());
  std::printf("%-44s p50 %6.0f us  p99 %6.0f us  max %6.0f us\n", what, us[us.size() / 2], us[us.size() * 99 / 100],
              us.back());
}

}  // namespace

int main(int argc, char** argv) {
  // What `cairn` does in main() (src/cli/main.cc); --default-arenas shows glibc's default.
  bool default_arenas = false, tls = false;
  for (int i = 1; i < argc; ++i) {
    default_arenas = default_arenas || std::string(argv[i]) == "--default-arenas";
    tls = tls || std::string(argv[i]) == "--tls";
  }
  if (!default_arenas) mallopt(M_ARENA_MAX, 1);
  Report("process start");

  const std::string dir = std::filesystem::temp_directory_path() / ("cairn-server-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto catalog = OpenSqliteCatalog(dir + "/catalog.db");
  if (!catalog.ok()) {
    std::fprintf(stderr, "%s\n", catalog.status().ToString().c_str());
    return 1;
  }
  const std::string token = CreateApiToken(**catalog, "bench", Role::kRead, "bench")->token;
  server_testing::FakeDaemonApi daemon;
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  SSL_CTX* client_ctx = nullptr;
  if (tls) {
    config.tls_cert = dir + "/cert.pem";
    config.tls_key = dir + "/key.pem";
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                            "-subj /CN=localhost -keyout " + config.tls_key + " -out " + config.tls_cert +
                            " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) return 1;
    client_ctx = SSL_CTX_new(TLS_client_method());
  }
  {
    ApiServer server(config, daemon, **catalog);
    if (Status st = server.Start(); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    std::this_thread::sleep_for(200ms);
    Report("server started, idle");
    Latency("GET /api/v1/health (no auth)", server.port(), "/api/v1/health", "", tls);
    Latency("GET /api/v1/jobs (token: catalog lookup)", server.port(), "/api/v1/jobs", token, tls);
    Report("after 4400 requests");

    std::vector<Stream> streams(50);
    std::vector<std::string> data(50);
    for (Stream& st : streams) {
      if (!st.Open(server.port(), client_ctx)) std::printf("a stream did not connect\n");
      st.Send("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + "\r\n\r\n");
    }
    for (int i = 0; i < 50; ++i)
      if (!ReadUntil(streams[i], ": connected", &data[i])) std::printf("stream %d did not open\n", i);
    std::this_thread::sleep_for(500ms);
    Report("50 event streams connected");
    for (int k = 0; k < 100; ++k)
      daemon.Emit(ApiEvent{"job", Json{{"id", k}, {"status", "running"}, {"progress", {{"percent", k}}}}});
    for (int i = 0; i < 50; ++i)
      if (!ReadUntil(streams[i], "\"id\":99,", &data[i])) std::printf("stream %d missed events\n", i);
    Report("after 100 events to each of 50 streams");
    Latency("GET /api/v1/health with 50 streams open", server.port(), "/api/v1/health", "", tls);
    Latency("GET /api/v1/jobs with 50 streams open", server.port(), "/api/v1/jobs", token, tls);
    Report("50 streams, after 4400 more requests");
    for (Stream& st : streams) st.Close();
    std::this_thread::sleep_for(35s);  // idle threads exit after 30 s
    Report("streams closed, 35 s later");
    server.Stop();
  }
  if (client_ctx) SSL_CTX_free(client_ctx);
  std::filesystem::remove_all(dir);
  return 0;
}
