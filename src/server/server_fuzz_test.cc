// Thousands of malformed requests against a running server: random bytes,
// mutated requests, bad JSON and UTF-8, path tricks, huge bodies and headers,
// header floods, slowloris clients and connection floods. Afterwards the
// server still answers /api/v1/health, nothing it should not have done
// reached the daemon, and memory did not run away.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <random>
#include <thread>

#include "server/testing/server_fixture.h"

namespace cairn::server_testing {
namespace {

using namespace std::chrono_literals;

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

class ServerFuzzTest : public ServerFixture {
 protected:
  void ExpectHealthy() {
    HttpResult r = Get("/api/v1/health");
    ASSERT_EQ(r.status, 200) << "the server stopped answering";
    EXPECT_EQ(r.json()["status"], "ok");
  }
  std::string ValidRequest(std::mt19937& rng) {
    static const std::vector<std::string> paths = {
        "/api/v1/services", "/api/v1/jobs?limit=5", "/api/v1/services/app-db/backups/latest", "/", "/metrics",
        "/api/v1/events", "/api/v1/alerts?state=open"};
    const std::string& path = paths[rng() % paths.size()];
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + tokens_[Role::kRead] +
           "\r\nConnection: close\r\n\r\n";
  }
};

TEST_F(ServerFuzzTest, MalformedRequestsNeverStopTheServer) {
  const unsigned seed = 20261206;
  SCOPED_TRACE("seed " + std::to_string(seed));
  const long rss_before = RssKiB();
  std::atomic<int> answered{0}, sent{0};
  std::mutex statuses_mu;
  std::set<int> statuses;
  auto worker = [&](unsigned worker_seed) {
    std::mt19937 rng(worker_seed);
    for (int i = 0; i < 600; ++i) {
      std::string req;
      switch (rng() % 8) {
        case 0: {  // random bytes
          req.resize(rng() % 2048);
          for (char& c : req) c = static_cast<char>(rng());
          break;
        }
        case 1: {  // a valid request with bytes flipped, cut or doubled
          req = ValidRequest(rng);
          for (int k = 0, n = 1 + rng() % 8; k < n; ++k) req[rng() % req.size()] = static_cast<char>(rng());
          if (rng() % 3 == 0) req.resize(rng() % req.size());
          if (rng() % 5 == 0) req += req;
          break;
        }
        case 2: {  // random JSON-ish bodies on POST routes
          static const char* kPosts[] = {"/api/v1/services/app-db/restores", "/api/v1/session",
                                         "/api/v1/services/app-db/backups", "/api/v1/notifications/test"};
          static const char kAlphabet[] = "{}[]\":,0123456789.eE+-truefalsn \\u\xc3\xa9\xff" "\x00" "xyz";
          std::string body;
          for (int k = 0, n = rng() % 300; k < n; ++k) body += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
          req = std::string("POST ") + kPosts[rng() % 4] + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                tokens_[Role::kRead] + "\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body;
          break;
        }
        case 3: {  // path tricks and bad UTF-8 in the target
          static const std::vector<std::string> kTargets = {
              "/api/v1/services/%2e%2e/backups", "/api/v1/services/..%2F..%2Fetc/backups",
              "/api/v1/services/a%00b", "/%2e%2e/%2e%2e/etc/passwd", "/api/v1/services/%ff%fe",
              "/api/v1/calendar?tz=%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/api/v1/jobs?cursor=%00",
              "/api/v1/services/app-db/backups/latest/files?path=/%2e%2e/%00", "//api//v1", "/api/v1/jobs/%31",
              "/api/v1/services/app-db/backups/latest/files/content?path=%c0%af", "/api/v1/jobs?limit=%2B5",
              "*", "http://evil/api/v1/health", "/api/v1/services/" + std::string(5000, 'a')};
          req = "GET " + kTargets[rng() % kTargets.size()] + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                tokens_[Role::kAdmin] + "\r\n\r\n";
          break;
        }
        case 4: {  // odd methods, versions and framing
          static const char* kHeads[] = {
              "FOO / HTTP/1.1\r\n\r\n", "GET / HTTP/9.9\r\n\r\n", "GET /\r\n\r\n", "GET / HTTP/1.1\n\n",
              "POST /api/v1/session HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
              "POST /api/v1/session HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 9\r\n\r\n{}",
              "POST /api/v1/session HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
              "POST /api/v1/session HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
              "POST /api/v1/session HTTP/1.1\r\nContent-Encoding: deflate\r\nContent-Length: 3\r\n\r\nabc",
              "POST /api/v1/session HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
              "GET / HTTP/1.1\r\nRange: bytes=9-1,5-\r\n\r\n", "GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
              "DELETE /api/v1/session HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              "TRACE / HTTP/1.1\r\n\r\n", "CONNECT x:1 HTTP/1.1\r\n\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"};
          req = kHeads[rng() % 16];
          break;
        }
        case 5: {  // bad credentials of every shape
          static const char* kAuth[] = {"Bearer ", "Bearer \xff\xfe", "Basic x", "Bearer a b c",
                                        "Bearer cairn_\x01\x02", "bearer cairn_" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
          req = std::string("GET /api/v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: ") + kAuth[rng() % 6] +
                "\r\nCookie: cairn_session=\xff\x00; cairn_session=" + std::string(rng() % 100, 'A') + "\r\n\r\n";
          break;
        }
        case 6: {  // many small headers
          req = "GET /api/v1/health HTTP/1.1\r\n";
          for (int k = 0, n = 50 + rng() % 200; k < n; ++k) req += "X-" + std::to_string(k) + ": v\r\n";
          req += "\r\n";
          break;
        }
        default: {  // pipelined valid and invalid requests
          req = ValidRequest(rng);
          req.replace(req.find("Connection: close\r\n"), 19, "");
          req += "GET /api/v1/health HTTP/1.1\r\n\r\nBROKEN\r\n\r\n" + ValidRequest(rng);
          break;
        }
      }
      ++sent;
      const std::string reply = Raw(req, 3000);
      if (reply.empty()) continue;
      ++answered;
      if (reply.rfind("HTTP/1.1 ", 0) == 0 && reply.size() > 12) {
        std::lock_guard lock(statuses_mu);
        statuses.insert(std::atoi(reply.substr(9, 3).c_str()));
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) threads.emplace_back(worker, seed + t);
  for (auto& t : threads) t.join();
  EXPECT_EQ(sent, 2400);
  // Nearly everything gets an answer (a 400 at least); the rest is closed.
  EXPECT_GT(answered, 1200);
  // The mix reached every layer: parsing, routing, authentication, roles, bodies.
  for (int status : {200, 400, 401, 403, 404, 405})
    EXPECT_TRUE(statuses.contains(status)) << "no response had status " << status;
  ExpectHealthy();
  // Nothing but reads reached the daemon: the fuzz requests had a read token.
  for (const auto& call : daemon_.calls())
    EXPECT_TRUE(call.method.rfind("Start", 0) != 0 && call.method != "CancelJob" && call.method != "TestNotification")
        << call.method;
  const long rss_after = RssKiB();
  EXPECT_LT(rss_after - rss_before, 64 * 1024) << "RSS grew from " << rss_before << " to " << rss_after << " KiB";
}

TEST_F(ServerFuzzTest, OversizedHeadsAndBodiesAreCutOff) {
  // A request line, a header line and a header list without end: each is
  // refused once past its limit, not buffered.
  const std::string endless_line = "GET /" + std::string(1 << 20, 'a');
  const std::string endless_header = "GET / HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'b');
  std::string header_flood = "GET / HTTP/1.1\r\n";
  while (header_flood.size() < (1 << 20)) header_flood += "X: y\r\n";
  const std::string chunked_flood =
      "POST /api/v1/session HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
      [] {
        std::string s;
        while (s.size() < (1 << 20)) s += "1\r\na\r\n";
        return s;
      }();
  for (const std::string* req : std::vector<const std::string*>{&endless_line, &endless_header, &header_flood, &chunked_flood}) {
    const auto start = std::chrono::steady_clock::now();
    const std::string reply = Raw(*req, 5000, /*half_close=*/false);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 4s);
    EXPECT_TRUE(reply.empty() || reply.rfind("HTTP/1.1 4", 0) == 0) << reply.substr(0, 100);
  }
  ExpectHealthy();
}

TEST_F(ServerFuzzTest, SlowlorisClientsAreDisconnectedAndDoNotStarveOthers) {
  // DefaultOptions: a request must arrive within 3 s of its first byte.
  std::vector<int> fds;
  for (int i = 0; i < 20; ++i) {
    const int fd = ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    ::send(fd, "GET /api/v1/health HTTP/1.1\r\n", 29, MSG_NOSIGNAL);
    fds.push_back(fd);
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<bool> closed(fds.size(), false);
  size_t closed_count = 0;
  while (closed_count < fds.size() && std::chrono::steady_clock::now() - start < 8s) {
    for (size_t i = 0; i < fds.size(); ++i) {
      if (closed[i]) continue;
      // One header byte every 400 ms: never silent long enough for the read timeout.
      if (::send(fds[i], "X", 1, MSG_NOSIGNAL) <= 0) {
        closed[i] = true;
        ++closed_count;
        continue;
      }
      pollfd p{fds[i], POLLIN, 0};
      if (::poll(&p, 1, 0) == 1) {
        char buf[512];
        if (::recv(fds[i], buf, sizeof(buf), 0) <= 0) {
          closed[i] = true;
          ++closed_count;
        }
      }
    }
    // Others are served meanwhile.
    ExpectHealthy();
    std::this_thread::sleep_for(400ms);
  }
  EXPECT_EQ(closed_count, fds.size()) << "slow clients were not cut off";
  EXPECT_LT(std::chrono::steady_clock::now() - start, 7s);
  for (int fd : fds) ::close(fd);
  ExpectHealthy();
}

TEST_F(ServerFuzzTest, ConnectionFloodsAreShedWith503) {
  ApiServerOptions o = DefaultOptions();
  o.max_connections = 8;
  StartServer(DefaultConfig(), o);
  // Eight silent connections hold every thread...
  std::vector<int> held;
  for (int i = 0; i < 8; ++i) held.push_back(ConnectLoopback(server_->port()));
  std::this_thread::sleep_for(100ms);
  // ...so the next is answered 503 at once instead of waiting.
  const auto start = std::chrono::steady_clock::now();
  const std::string reply = Raw("GET /api/v1/health HTTP/1.1\r\n\r\n", 2000);
  EXPECT_EQ(reply.rfind("HTTP/1.1 503", 0), 0u) << reply;
  EXPECT_NE(reply.find("Retry-After"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  for (int fd : held) ::close(fd);
  // Once they are gone the server answers again.
  std::this_thread::sleep_for(200ms);
  ExpectHealthy();
}

}  // namespace
}  // namespace cairn::server_testing
