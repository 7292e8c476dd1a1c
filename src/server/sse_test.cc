// GET /api/v1/events: events reach every client, heartbeats keep idle
// streams open, a client that goes away is unsubscribed at once, a slow
// client is dropped without ever holding the daemon up, and Stop ends
// every stream.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "server/sse.h"
#include "server/testing/server_fixture.h"

namespace cairn::server_testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// An event-stream client on a raw socket, so that a test controls exactly
// when (and whether) it reads.
class SseReader {
 public:
  SseReader(int port, const std::string& token, int rcvbuf = 0) {
    fd_ = ConnectLoopback(port);
    if (fd_ < 0) return;
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    const std::string req = "GET /api/v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                            "Accept-Encoding: gzip, br\r\nAuthorization: Bearer " + token + "\r\n\r\n";
    ::send(fd_, req.data(), req.size(), MSG_NOSIGNAL);
  }
  ~SseReader() { Close(); }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Reads until `text` has arrived (true) or the timeout or EOF (false).
  bool WaitFor(const std::string& text, std::chrono::milliseconds timeout = 3s) {
    const auto until = SteadyClock::now() + timeout;
    while (data_.find(text) == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count();
      if (left <= 0 || !ReadSome(static_cast<int>(left))) return false;
    }
    return true;
  }
  // True when the server closed the stream within the timeout.
  bool WaitForClose(std::chrono::milliseconds timeout) {
    const auto until = SteadyClock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count();
      if (left <= 0) return false;
      if (!ReadSome(static_cast<int>(left))) return eof_;
    }
  }
  const std::string& data() const { return data_; }
  bool ok() const { return fd_ >= 0; }

 private:
  bool ReadSome(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    data_.append(buf, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool eof_ = false;
  std::string data_;
};

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 3s) {
  const auto until = SteadyClock::now() + timeout;
  while (SteadyClock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

ApiEvent JobEvent(int id, size_t padding = 0) {
  return ApiEvent{"job", Json{{"id", id}, {"status", "running"}, {"pad", std::string(padding, 'x')}}};
}

using SseTest = ServerFixture;

TEST_F(SseTest, ClientsReceiveEveryEventInOrder) {
  SseReader a(server_->port(), tokens_[Role::kRead]);
  SseReader b(server_->port(), tokens_[Role::kAdmin]);
  ASSERT_TRUE(a.WaitFor(": connected"));
  ASSERT_TRUE(b.WaitFor(": connected"));
  EXPECT_NE(a.data().find("Content-Type: text/event-stream"), std::string::npos);
  // Never compressed, even though the client accepts gzip: it would hold events back.
  EXPECT_EQ(a.data().find("Content-Encoding"), std::string::npos);
  EXPECT_NE(a.data().find("Cache-Control: no-store"), std::string::npos);
  ASSERT_TRUE(Eventually([&] { return server_->sse_clients() == 2; }));
  EXPECT_EQ(daemon_.active_subscriptions(), 1u);  // one subscription for all clients

  daemon_.Emit(JobEvent(1));
  daemon_.Emit(ApiEvent{"alert", Json{{"id", 7}, {"message", "line one\nline two"}}});
  daemon_.Emit(ApiEvent{"service", Json{{"name", "app-db"}}});
  daemon_.Emit(ApiEvent{"config", Json{{"ok", true}}});
  for (SseReader* r : {&a, &b}) {
    ASSERT_TRUE(r->WaitFor("event: config\n")) << r->data();
    const std::string& d = r->data();
    const size_t job = d.find("event: job\ndata: {\"id\":1,\"pad\":\"\",\"status\":\"running\"}\n\n");
    const size_t alert = d.find("event: alert\ndata: {\"id\":7,\"message\":\"line one\\nline two\"}\n\n");
    const size_t service = d.find("event: service\ndata: {\"name\":\"app-db\"}\n\n");
    ASSERT_NE(job, std::string::npos) << d;
    ASSERT_NE(alert, std::string::npos) << d;
    ASSERT_NE(service, std::string::npos) << d;
    EXPECT_LT(job, alert);
    EXPECT_LT(alert, service);
  }
}

TEST_F(SseTest, IdleStreamsGetHeartbeats) {
  SseReader a(server_->port(), tokens_[Role::kRead]);
  ASSERT_TRUE(a.WaitFor(": connected"));
  const auto start = SteadyClock::now();
  ASSERT_TRUE(a.WaitFor(": keep-alive\n\n", 2s));
  // DefaultOptions: every 200 ms.
  EXPECT_GE(SteadyClock::now() - start, 150ms);
}

TEST_F(SseTest, AClientThatLeavesIsUnsubscribedAtOnce) {
  ApiServerOptions o = DefaultOptions();
  o.sse_heartbeat = 60s;  // no write would notice: the hang-up itself must
  StartServer(DefaultConfig(), o);
  {
    SseReader a(server_->port(), tokens_[Role::kRead]);
    ASSERT_TRUE(a.WaitFor(": connected"));
    ASSERT_TRUE(Eventually([&] { return daemon_.active_subscriptions() == 1; }));
  }
  EXPECT_TRUE(Eventually([&] { return server_->sse_clients() == 0; }, 1s));
  EXPECT_EQ(daemon_.active_subscriptions(), 0u);
  EXPECT_TRUE(Eventually([&] { return server_->connections() == 0; }, 1s));
}

TEST_F(SseTest, ASlowClientIsDroppedWithoutHoldingTheDaemon) {
  ApiServerOptions o = DefaultOptions();
  o.sse_queue_bytes = 256 * 1024;
  StartServer(DefaultConfig(), o);
  SseReader slow(server_->port(), tokens_[Role::kRead], /*rcvbuf=*/4096);
  SseReader fast(server_->port(), tokens_[Role::kRead]);
  ASSERT_TRUE(slow.WaitFor(": connected"));
  ASSERT_TRUE(fast.WaitFor(": connected"));
  ASSERT_TRUE(Eventually([&] { return server_->sse_clients() == 2; }));

  // The slow client reads nothing more. 200 events of 32 KiB are far more
  // than the socket buffers and its 256 KiB queue hold.
  SteadyClock::duration worst{};
  size_t fast_seen = 0;
  for (int i = 0; i < 200; ++i) {
    const auto t = SteadyClock::now();
    daemon_.Emit(JobEvent(i, 32 * 1024));
    worst = std::max(worst, SteadyClock::now() - t);
    // The fast client keeps up.
    if (fast.WaitFor("\"id\":" + std::to_string(i) + ",", 2s)) ++fast_seen;
  }
  EXPECT_EQ(fast_seen, 200u);
  EXPECT_LT(worst, 50ms) << "Emit blocked for "
                         << std::chrono::duration_cast<std::chrono::milliseconds>(worst).count() << " ms";
  // Dropped: out of the hub and its connection closed by the server (what
  // the kernel still holds for it drains to the client afterwards, slowly
  // through its 4 KiB window).
  EXPECT_TRUE(Eventually([&] { return server_->sse_clients() == 1; }, 5s));
  EXPECT_TRUE(Eventually([&] { return server_->connections() == 1; }, 5s));
  // The fast one is still served.
  daemon_.Emit(JobEvent(1000));
  EXPECT_TRUE(fast.WaitFor("\"id\":1000,"));
}

TEST_F(SseTest, TooManyStreamsAre503) {
  ApiServerOptions o = DefaultOptions();
  o.max_sse_clients = 2;
  StartServer(DefaultConfig(), o);
  SseReader a(server_->port(), tokens_[Role::kRead]);
  SseReader b(server_->port(), tokens_[Role::kRead]);
  ASSERT_TRUE(a.WaitFor(": connected"));
  ASSERT_TRUE(b.WaitFor(": connected"));
  SseReader c(server_->port(), tokens_[Role::kRead]);
  // The reader accepts gzip like a browser, so the JSON body may come
  // compressed: the status, the JSON type and the retry hint are the answer.
  EXPECT_TRUE(c.WaitFor("\r\n\r\n")) << c.data();
  EXPECT_EQ(c.data().rfind("HTTP/1.1 503", 0), 0u) << c.data();
  EXPECT_NE(c.data().find("Content-Type: application/json"), std::string::npos) << c.data();
  EXPECT_NE(c.data().find("Retry-After: "), std::string::npos) << c.data();
}

TEST_F(SseTest, StreamsNeedCredentials) {
  SseReader anon(server_->port(), "");
  ASSERT_TRUE(anon.WaitFor("\r\n\r\n"));
  EXPECT_EQ(anon.data().rfind("HTTP/1.1 401", 0), 0u);
  EXPECT_EQ(daemon_.active_subscriptions(), 0u);
}

TEST_F(SseTest, FiftyClientsAllReceiveAndStopEndsThemPromptly) {
  std::vector<std::unique_ptr<SseReader>> readers;
  for (int i = 0; i < 50; ++i) readers.push_back(std::make_unique<SseReader>(server_->port(), tokens_[Role::kRead]));
  for (auto& r : readers) ASSERT_TRUE(r->WaitFor(": connected", 5s));
  ASSERT_TRUE(Eventually([&] { return server_->sse_clients() == 50; }));
  daemon_.Emit(ApiEvent{"service", Json{{"name", "app-db"}}});
  for (auto& r : readers) EXPECT_TRUE(r->WaitFor("event: service\n"));
  // Requests are still answered with 50 streams open.
  EXPECT_EQ(Get("/api/v1/jobs", As(Role::kRead)).status, 200);
  const auto start = SteadyClock::now();
  server_->Stop();
  EXPECT_LT(SteadyClock::now() - start, 1s);
  for (auto& r : readers) EXPECT_TRUE(r->WaitForClose(1s));
  EXPECT_EQ(daemon_.active_subscriptions(), 0u);
}

TEST(SseFrameTest, EventNamesThatWouldBreakFramingAreDropped) {
  EXPECT_EQ(SseHub::Frame(ApiEvent{"job", Json{{"a", 1}}}), "event: job\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(SseHub::Frame(ApiEvent{"job\ndata: x", Json::object()}), "");
  EXPECT_EQ(SseHub::Frame(ApiEvent{"", Json::object()}), "");
  // Text that is not UTF-8 is replaced, not fatal.
  EXPECT_NE(SseHub::Frame(ApiEvent{"job", Json{{"path", "\xff"}}}).find("data: "), std::string::npos);
}

}  // namespace
}  // namespace cairn::server_testing
