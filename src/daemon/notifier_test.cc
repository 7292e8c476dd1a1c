#include "daemon/notifier.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "daemon/testing/catalog_test_util.h"
#include "util/process.h"

namespace cairn {
namespace {

using catalog_testing::IsOk;
using catalog_testing::kSecond;
using catalog_testing::kT0;
using namespace std::chrono_literals;

const std::string kBase =
    "targets: {t: {location: x, password: p}}\n"
    "services: {app-db: {type: redis}, cache: {type: redis}}\n";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

// Records what would have been sent; channels named in `failing` fail.
struct FakeState {
  std::mutex mu;
  std::vector<std::pair<std::string, NotifyMessage>> sent;
  std::map<std::string, std::string> failing;
  size_t Count() {
    std::lock_guard<std::mutex> lock(mu);
    return sent.size();
  }
};

class FakeTransport : public NotifyTransport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}
  Status Send(const NotificationConfig& channel, const NotifyMessage& message, std::chrono::nanoseconds) override {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->sent.emplace_back(channel.name, message);
    auto it = state_->failing.find(channel.name);
    return it == state_->failing.end() ? Status::Ok() : Status::IOError(it->second);
  }

 private:
  std::shared_ptr<FakeState> state_;
};

class NotifierTest : public catalog_testing::CatalogFixture {
 protected:
  void SetConfig(const std::string& notifications) {
    auto c = ParseConfig(kBase + notifications, "t.yaml", dir_.path());
    ASSERT_TRUE(IsOk(c));
    std::lock_guard<std::mutex> lock(config_mu_);
    config_ = std::make_shared<const Config>(std::move(c).value());
  }
  std::function<std::shared_ptr<const Config>()> ConfigFn() {
    return [this] {
      std::lock_guard<std::mutex> lock(config_mu_);
      return config_;
    };
  }
  // A Notifier on the fake transport (nullptr: the real one).
  std::unique_ptr<Notifier> Make(NotifierOptions opts = {}, bool real = false) {
    opts.host = "testhost";
    return std::make_unique<Notifier>(cat(), &clock_, ConfigFn(), opts,
                                      real ? nullptr : std::make_unique<FakeTransport>(fake_));
  }
  AlertRecord Raise(AlertRule rule, Severity severity, const std::string& service, const std::string& target = "") {
    auto r = cat().RaiseAlert(rule, severity, service, target, "the last backup of " + service + " failed");
    EXPECT_TRUE(IsOk(r));
    return r.ok() ? r->alert : AlertRecord{};
  }
  std::vector<DeliveryRecord> Deliveries(int64_t alert_id = 0) {
    auto page = cat().ListDeliveries(alert_id, {1000, ""});
    EXPECT_TRUE(IsOk(page));
    return page.ok() ? page->items : std::vector<DeliveryRecord>{};
  }
  std::vector<std::string> Channels(int64_t alert_id) {
    std::vector<std::string> out;
    for (const auto& d : Deliveries(alert_id)) out.push_back(d.channel);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::shared_ptr<FakeState> fake_ = std::make_shared<FakeState>();
  std::mutex config_mu_;
  std::shared_ptr<const Config> config_;
};

TEST_F(NotifierTest, ChannelsGetWhatTheirSeverityAndServiceFiltersAsk) {
  SetConfig(R"(
notifications:
  - {type: command, command: x, name: all}
  - {type: command, command: x, name: crit, min_severity: critical}
  - {type: command, command: x, name: db, services: [app-db]}
)");
  auto n = Make();
  const AlertRecord warn = Raise(AlertRule::kOverdue, Severity::kWarning, "cache");
  n->Notify(warn, AlertEvent::kOpened);
  EXPECT_EQ(Channels(warn.id), std::vector<std::string>{"all"});
  const AlertRecord crit = Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db", "t");
  n->Notify(crit, AlertEvent::kOpened);
  EXPECT_EQ(Channels(crit.id), (std::vector<std::string>{"all", "crit", "db"}));
  EXPECT_EQ(n->DrainOnce(), 4);
  ASSERT_EQ(fake_->Count(), 4u);

  const NotifyMessage& m = fake_->sent.back().second;
  EXPECT_EQ(m.subject, "[cairn] CRITICAL app-db: job_failed");
  Json body = Json::parse(m.body);
  EXPECT_EQ(body["event"], "opened");
  EXPECT_EQ(body["alert"]["id"], crit.id);
  EXPECT_EQ(body["alert"]["rule"], "job_failed");
  EXPECT_EQ(body["alert"]["severity"], "critical");
  EXPECT_EQ(body["alert"]["service"], "app-db");
  EXPECT_EQ(body["alert"]["target"], "t");
  EXPECT_EQ(body["alert"]["message"], "the last backup of app-db failed");
  EXPECT_EQ(body["alert"]["first_seen"], "2026-01-01T00:00:00.000000000Z");
  EXPECT_EQ(body["alert"]["last_seen"], "2026-01-01T00:00:00.000000000Z");
  EXPECT_EQ(body["alert"]["occurrences"], 1);
  EXPECT_TRUE(body["alert"]["resolved_at"].is_null());
  EXPECT_EQ(body["cairn"]["host"], "testhost");
  EXPECT_EQ(body["sent_at"], "2026-01-01T00:00:00.000000000Z");
  EXPECT_NE(m.text.find("the last backup of app-db failed"), std::string::npos);

  // Acknowledged: silenced until it resolves, and the resolution is still told.
  ASSERT_TRUE(IsOk(cat().AckAlert(crit.id, "admin")));
  auto acked = cat().GetAlert(crit.id);
  ASSERT_TRUE(IsOk(acked));
  n->Notify(*acked, AlertEvent::kOpened);
  EXPECT_EQ(Deliveries(crit.id).size(), 3u);
  clock_.Advance(60 * kSecond);
  auto resolved = cat().ResolveAlert(AlertRule::kJobFailed, "app-db", "t");
  ASSERT_TRUE(IsOk(resolved));
  ASSERT_TRUE(resolved->has_value());
  n->Notify(**resolved, AlertEvent::kResolved);
  EXPECT_EQ(Deliveries(crit.id).size(), 6u);
  EXPECT_EQ(n->DrainOnce(), 3);
  const NotifyMessage& r = fake_->sent.back().second;
  EXPECT_EQ(r.subject, "[cairn] RESOLVED app-db: job_failed");
  EXPECT_EQ(Json::parse(r.body)["alert"]["resolved_at"], "2026-01-01T00:01:00.000000000Z");
  EXPECT_EQ(Json::parse(r.body)["event"], "resolved");

  // A failing channel is not told that it fails.
  const AlertRecord about_all = Raise(AlertRule::kNotificationFailing, Severity::kCritical, "", "all");
  n->Notify(about_all, AlertEvent::kOpened);
  EXPECT_EQ(Channels(about_all.id), std::vector<std::string>{"crit"});
}

TEST_F(NotifierTest, FailedDeliveriesAreRetriedWithExponentialBackoffThenGivenUp) {
  SetConfig("notifications: [{type: command, command: x, name: down}]");
  fake_->failing["down"] = "connection refused";
  NotifierOptions opts;
  opts.max_attempts = 4;
  opts.first_backoff = 30s;
  opts.max_backoff = 90s;
  auto n = Make(opts);
  const AlertRecord a = Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db");
  n->Notify(a, AlertEvent::kOpened);
  struct Step {
    int64_t advance_s;
    int attempted;
    int64_t next_retry_in_s;  // -1: given up
  } steps[] = {{0, 1, 30}, {0, 0, 30}, {29, 0, 1}, {1, 1, 60}, {60, 1, 90 /* capped, not 120 */}, {90, 1, -1},
               {3600, 0, -1}};
  int64_t attempts = 0;
  for (const Step& s : steps) {
    clock_.Advance(s.advance_s * kSecond);
    EXPECT_EQ(n->DrainOnce(), s.attempted) << "after " << s.advance_s << " s";
    attempts += s.attempted;
    auto d = Deliveries(a.id);
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].attempts, attempts);
    EXPECT_EQ(d[0].last_error, "connection refused");
    EXPECT_EQ(d[0].delivered_ns, 0);
    EXPECT_EQ(d[0].next_retry_ns, s.next_retry_in_s < 0 ? 0 : clock_.NowNs() + s.next_retry_in_s * kSecond);
  }
  EXPECT_EQ(attempts, 4);
  EXPECT_EQ(n->Stats().given_up, 1);
  EXPECT_EQ(n->Stats().failed_attempts, 4);

  // One that fails once and then gets through is delivered, error cleared.
  const AlertRecord b = Raise(AlertRule::kOverdue, Severity::kWarning, "cache");
  n->Notify(b, AlertEvent::kOpened);
  EXPECT_EQ(n->DrainOnce(), 1);
  fake_->failing.clear();
  clock_.Advance(30 * kSecond);
  EXPECT_EQ(n->DrainOnce(), 1);
  auto d = Deliveries(b.id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].attempts, 2);
  EXPECT_EQ(d[0].delivered_ns, clock_.NowNs());
  EXPECT_EQ(d[0].next_retry_ns, 0);
  EXPECT_EQ(d[0].last_error, "");
  EXPECT_EQ(n->Stats().delivered, 1);
}

TEST_F(NotifierTest, AChannelIsFailingAfterConsecutiveFailuresAndRecovers) {
  SetConfig("notifications: [{type: command, command: x, name: hook}, {type: command, command: x, name: ok}]");
  fake_->failing["hook"] = "HTTP 503";
  NotifierOptions opts;
  opts.failing_after = 3;
  auto n = Make(opts);
  std::vector<std::tuple<std::string, bool, std::string>> events;
  n->SetChannelHealthCallback([&](const std::string& channel, bool failing, const std::string& error) {
    events.emplace_back(channel, failing, error);
  });
  n->Notify(Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db"), AlertEvent::kOpened);
  n->Notify(Raise(AlertRule::kOverdue, Severity::kWarning, "cache"), AlertEvent::kOpened);
  EXPECT_EQ(n->DrainOnce(), 4);
  EXPECT_TRUE(events.empty()) << "two failures are not yet failing";
  EXPECT_FALSE(n->ChannelFailing("hook"));
  n->Notify(Raise(AlertRule::kStuck, Severity::kWarning, "cache"), AlertEvent::kOpened);
  n->Notify(Raise(AlertRule::kSmallBackup, Severity::kWarning, "cache"), AlertEvent::kOpened);
  EXPECT_EQ(n->DrainOnce(), 4);
  ASSERT_EQ(events.size(), 1u) << "told once, at the third failure in a row";
  EXPECT_EQ(events[0], std::make_tuple(std::string("hook"), true, std::string("HTTP 503")));
  EXPECT_TRUE(n->ChannelFailing("hook"));
  EXPECT_FALSE(n->ChannelFailing("ok"));

  fake_->failing.clear();
  clock_.Advance(30 * kSecond);
  EXPECT_EQ(n->DrainOnce(), 4);  // the four retries of "hook"
  ASSERT_EQ(events.size(), 2u) << "told once that it recovered";
  EXPECT_EQ(events[1], std::make_tuple(std::string("hook"), false, std::string()));
  EXPECT_FALSE(n->ChannelFailing("hook"));
}

TEST_F(NotifierTest, PendingDeliveriesSurviveARestartAndTheThreadSendsThem) {
  SetConfig("notifications: [{type: command, command: x, name: hook}]");
  const AlertRecord a = Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db");
  Make()->Notify(a, AlertEvent::kOpened);  // gone before it sent anything
  EXPECT_EQ(fake_->Count(), 0u);
  Reopen();
  auto n = Make();
  n->Start();
  for (int i = 0; i < 500 && fake_->Count() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(fake_->Count(), 1u);
  // Notify wakes the thread: no poll interval to wait for.
  n->Notify(a, AlertEvent::kResolved);
  for (int i = 0; i < 500 && fake_->Count() < 2; ++i) std::this_thread::sleep_for(10ms);
  n->Stop();
  EXPECT_EQ(fake_->Count(), 2u);
  for (const auto& d : Deliveries(a.id)) EXPECT_GT(d.delivered_ns, 0) << d.id;
}

TEST_F(NotifierTest, DeliveriesToAChannelNoLongerConfiguredAreGivenUp) {
  SetConfig("notifications: [{type: command, command: x, name: old}]");
  auto n = Make();
  const AlertRecord a = Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db");
  n->Notify(a, AlertEvent::kOpened);
  SetConfig("notifications: [{type: command, command: x, name: new}]");
  EXPECT_EQ(n->DrainOnce(), 1);
  auto d = Deliveries(a.id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].next_retry_ns, 0);
  EXPECT_NE(d[0].last_error.find("channel old is no longer configured"), std::string::npos) << d[0].last_error;
  EXPECT_EQ(fake_->Count(), 0u);
}

TEST_F(NotifierTest, TestNotificationsAreSentAtOnceAndAnsweredPerChannel) {
  auto n = Make();
  auto none = n->SendTest(std::nullopt);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("no notification channels"), std::string::npos);
  SetConfig("notifications: [{type: command, command: x, name: good}, {type: command, command: x, name: bad}]");
  fake_->failing["bad"] = "HTTP 404: no such hook";
  auto all = n->SendTest(std::nullopt);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(*all, (std::vector<std::string>{"ok", "HTTP 404: no such hook"}));
  auto one = n->SendTest(1);
  ASSERT_TRUE(IsOk(one));
  EXPECT_EQ(*one, std::vector<std::string>{"HTTP 404: no such hook"});
  auto out_of_range = n->SendTest(2);
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("no notification channel 2"), std::string::npos);
  EXPECT_FALSE(n->SendTest(-1).ok());
  // Recorded, never retried, and nothing left for the thread to send again.
  auto d = Deliveries();
  ASSERT_EQ(d.size(), 3u);
  for (const auto& r : d) {
    EXPECT_EQ(r.event, AlertEvent::kTest);
    EXPECT_EQ(r.alert_id, 0);
    EXPECT_EQ(r.next_retry_ns, 0);
  }
  clock_.Advance(3600 * kSecond);
  EXPECT_EQ(n->DrainOnce(), 0);
  ASSERT_EQ(fake_->Count(), 3u);
  const NotifyMessage& m = fake_->sent[0].second;
  EXPECT_EQ(Json::parse(m.body)["event"], "test");
  EXPECT_EQ(Json::parse(m.body)["alert"]["rule"], "test");
  EXPECT_EQ(m.subject, "[cairn] TEST notification from testhost");
}

TEST(NotifyTransportTest, HmacMatchesIndependentComputations) {
  // printf '%s' '{"event":"test","alert":{"id":0}}' | openssl dgst -sha256 -hmac cairn-test-secret
  // (python3's hmac module gives the same).
  EXPECT_EQ(HmacSha256Hex("cairn-test-secret", R"({"event":"test","alert":{"id":0}})"),
            "7833b79c7efa2a9d13e779decebecc1f5e6e1ff2120186729786ec823f88bcc9");
  // RFC 4231, test case 2.
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(NotifyTransportTest, MailHasTheHeadersMailersExpect) {
  NotificationConfig c;
  c.type = NotificationType::kEmail;
  c.from = "cairn@example.com";
  c.to = {"ops@example.com", "dba@example.com"};
  NotifyMessage m;
  m.delivery_id = 7;
  m.event = "opened";
  m.subject = "[cairn] CRITICAL app-db: job_failed\r\nBcc: evil@example.com";
  m.text = "line one\n.\nline three\n";
  m.host = "db1.example.com";
  m.sent_ns = kT0 + 5 * kSecond;
  const std::string mail = FormatMail(c, m);
  EXPECT_NE(mail.find("Date: Thu, 01 Jan 2026 00:00:05 +0000\r\n"), std::string::npos) << mail;
  EXPECT_NE(mail.find("From: Cairn <cairn@example.com>\r\n"), std::string::npos);
  EXPECT_NE(mail.find("To: ops@example.com, dba@example.com\r\n"), std::string::npos);
  EXPECT_NE(mail.find("Message-ID: <cairn.7.1767225605000000000@db1.example.com>\r\n"), std::string::npos);
  EXPECT_EQ(mail.find("\r\nBcc:"), std::string::npos) << "a header must not be injected through the subject";
  EXPECT_NE(mail.find("\r\n\r\nline one\r\n.\r\nline three\r\n"), std::string::npos);
  for (size_t i = 0; i < mail.size(); ++i) {
    if (mail[i] == '\n') {
      ASSERT_TRUE(i > 0 && mail[i - 1] == '\r') << "bare LF at " << i;
    }
  }
}

// --------------------------------------------------------- real channels

TEST_F(NotifierTest, CommandChannelGetsTheAlertOnStdinAndNothingOfOurEnvironment) {
  const std::string script = dir_.File("notify.sh");
  WriteFile(script,
            "#!/bin/sh\ncat > " + dir_.File("stdin.json") + "\nenv > " + dir_.File("env.txt") + "\necho \"$1\" > " +
                dir_.File("args.txt") + "\n",
            0755);
  ::setenv("CAIRN_NOTIFY_TEST_MARKER", "must-not-leak", 1);
  SetConfig("notifications: [{type: command, command: ./notify.sh --flag, name: cmd}]");  // beside the config
  auto n = Make({}, /*real=*/true);
  const AlertRecord a = Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db");
  n->Notify(a, AlertEvent::kOpened);
  EXPECT_EQ(n->DrainOnce(), 1);
  auto d = Deliveries(a.id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_GT(d[0].delivered_ns, 0) << d[0].last_error;
  Json body = Json::parse(ReadFile(dir_.File("stdin.json")));
  EXPECT_EQ(body["event"], "opened");
  EXPECT_EQ(body["alert"]["id"], a.id);
  EXPECT_EQ(ReadFile(dir_.File("args.txt")), "--flag\n");
  const std::string env = ReadFile(dir_.File("env.txt"));
  EXPECT_EQ(env.find("CAIRN_NOTIFY_TEST_MARKER"), std::string::npos) << env;
  EXPECT_NE(env.find("CAIRN_EVENT=opened\n"), std::string::npos) << env;
  EXPECT_NE(env.find("CAIRN_SEVERITY=critical\n"), std::string::npos) << env;
  EXPECT_NE(env.find("CAIRN_SUBJECT=[cairn] CRITICAL app-db: job_failed\n"), std::string::npos) << env;
  EXPECT_NE(env.find("PATH="), std::string::npos);
  ::unsetenv("CAIRN_NOTIFY_TEST_MARKER");
}

TEST(NotifyTransportTest, FailingHangingAndMissingCommands) {
  auto transport = MakeNotifyTransport();
  NotificationConfig c;
  c.type = NotificationType::kCommand;
  NotifyMessage m;
  m.body = "{}";
  c.command = {"/bin/sh", "-c", "cat >/dev/null; echo 'ntfy.sh: no route to host' >&2; echo 'later noise' >&2; exit 3"};
  Status st = transport->Send(c, m, 5s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exit 3"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("ntfy.sh: no route to host"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("later noise"), std::string::npos) << st.message();

  // A hung program, and a child of it holding stderr: both killed at the timeout.
  c.command = {"/bin/sh", "-c", "sleep 30 & sleep 30"};
  const auto start = std::chrono::steady_clock::now();
  st = transport->Send(c, m, 300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("still running after 0.3 s"), std::string::npos) << st.message();

  c.command = {"/nonexistent/notify"};
  st = transport->Send(c, m, 5s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("not installed"), std::string::npos) << st.message();
}

// A real HTTP server in this process, on a free loopback port.
class HookServer {
 public:
  HookServer() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
      res.status = 204;
    });
    server_.Post("/broken", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content("maintenance until 04:00\nsecond line", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ > 0) thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && port_ > 0 && !server_.is_running(); ++i) std::this_thread::sleep_for(10ms);
  }
  ~HookServer() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  bool running() { return port_ > 0 && server_.is_running(); }
  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<httplib::Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::vector<httplib::Request> requests_;
};

TEST_F(NotifierTest, WebhookPostsTheSignedBodyToARealServer) {
  HookServer server;
  ASSERT_TRUE(server.running()) << "the test HTTP server did not start";
  WriteFile(dir_.File("hook.secret"), "cairn-test-secret\n");
  SetConfig("notifications:\n"
            "  - {type: webhook, name: hook, secret_file: hook.secret, url: '" + server.Url("/hook") + "'}\n"
            "  - {type: webhook, name: broken, url: '" + server.Url("/broken") + "'}\n"
            "  - {type: webhook, name: nobody, url: 'http://127.0.0.1:1/hook'}\n");
  auto n = Make({}, /*real=*/true);
  const AlertRecord a = Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db");
  n->Notify(a, AlertEvent::kOpened);
  EXPECT_EQ(n->DrainOnce(), 3);

  auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const httplib::Request& req = requests[0];
  Json body = Json::parse(req.body);
  EXPECT_EQ(body["event"], "opened");
  EXPECT_EQ(body["alert"]["id"], a.id);
  EXPECT_EQ(body["alert"]["rule"], "job_failed");
  EXPECT_EQ(req.get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(req.get_header_value("User-Agent").rfind("cairn/", 0), 0u);
  EXPECT_EQ(req.get_header_value("X-Cairn-Event"), "opened");
  // The receiver's check: HMAC of the raw body it got, under the shared secret.
  EXPECT_EQ(req.get_header_value("X-Cairn-Signature"), "sha256=" + HmacSha256Hex("cairn-test-secret", req.body));

  std::map<std::string, DeliveryRecord> by_channel;
  for (const auto& d : Deliveries(a.id)) by_channel[d.channel] = d;
  EXPECT_GT(by_channel["hook"].delivered_ns, 0) << by_channel["hook"].last_error;
  EXPECT_EQ(by_channel["broken"].delivered_ns, 0);
  EXPECT_NE(by_channel["broken"].last_error.find("HTTP 500: maintenance until 04:00"), std::string::npos)
      << by_channel["broken"].last_error;
  EXPECT_EQ(by_channel["broken"].last_error.find("second line"), std::string::npos);
  EXPECT_GT(by_channel["broken"].next_retry_ns, 0);
  EXPECT_NE(by_channel["nobody"].last_error.find("webhook to 127.0.0.1"), std::string::npos)
      << by_channel["nobody"].last_error;

  // A secret file that went away fails the delivery, and says which file.
  ::unlink(dir_.File("hook.secret").c_str());
  auto test = n->SendTest(0);
  ASSERT_TRUE(IsOk(test));
  EXPECT_NE((*test)[0].find("cannot read secret_file"), std::string::npos) << (*test)[0];
}

// aiosmtpd in a child process (src/daemon/testing/smtp_sink.py), which
// writes every mail it takes to a directory. Debian's python3-aiosmtpd is
// installed for /usr/bin/python3, not for whatever python3 is first on PATH.
class SmtpSink {
 public:
  SmtpSink(const std::string& out_dir, const std::string& user, const std::string& password) {
    ProcessOptions o;
    o.argv = {"/usr/bin/python3", std::string(CAIRN_SOURCE_DIR) + "/src/daemon/testing/smtp_sink.py", out_dir, user,
              password};
    o.stdin_pipe = true;  // the sink stops when this closes
    o.stdout_mode = ProcessOptions::Output::kPipe;
    o.new_process_group = true;
    auto p = Process::Start(o);
    if (!p.ok()) {
      error_ = p.status().ToString();
      return;
    }
    process_ = std::move(p).value();
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      struct pollfd pfd = {process_->stdout_fd(), POLLIN, 0};
      if (::poll(&pfd, 1, 200) <= 0) continue;
      char buf[64];
      const ssize_t n = ::read(process_->stdout_fd(), buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
    port_ = std::atoi(line.c_str());
    if (port_ <= 0) {
      process_->CloseStdin();
      ::kill(-process_->pid(), SIGKILL);
      Status st = process_->Wait();
      error_ = "the SMTP test server did not start: " + st.ToString() + " " + process_->captured_stderr();
    }
  }
  ~SmtpSink() {
    if (process_) process_->CloseStdin();
  }
  const std::string& error() const { return error_; }
  int port() const { return port_; }

 private:
  std::unique_ptr<Process> process_;
  std::string error_;
  int port_ = 0;
};

TEST_F(NotifierTest, EmailArrivesAtARealSmtpServer) {
  const std::string mailbox = dir_.File("mailbox");
  ASSERT_EQ(::mkdir(mailbox.c_str(), 0700), 0);
  SmtpSink sink(mailbox, "cairn@example.com", "smtp-pw");
  ASSERT_GT(sink.port(), 0) << sink.error();
  WriteFile(dir_.File("smtp.pass"), "smtp-pw\n");
  WriteFile(dir_.File("wrong.pass"), "not-the-password\n");
  const std::string url = "smtp://127.0.0.1:" + std::to_string(sink.port());
  SetConfig("notifications:\n"
            "  - {type: email, name: mail, smtp_url: '" + url + "', from: cairn@example.com,\n"
            "     to: [ops@example.com, dba@example.com], password_file: smtp.pass}\n"
            "  - {type: email, name: wrong, smtp_url: '" + url + "', from: cairn@example.com,\n"
            "     to: [ops@example.com], password_file: wrong.pass, min_severity: critical, services: [cache]}\n");
  auto n = Make({}, /*real=*/true);
  const AlertRecord a = Raise(AlertRule::kJobFailed, Severity::kCritical, "app-db", "t");
  n->Notify(a, AlertEvent::kOpened);
  EXPECT_EQ(n->DrainOnce(), 1);
  auto d = Deliveries(a.id);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_GT(d[0].delivered_ns, 0) << d[0].last_error;

  const std::string file = mailbox + "/1.json";
  for (int i = 0; i < 200 && ::access(file.c_str(), F_OK) != 0; ++i) std::this_thread::sleep_for(10ms);
  Json got = Json::parse(ReadFile(file));
  EXPECT_EQ(got["mail_from"], "cairn@example.com");
  EXPECT_EQ(got["rcpt_tos"], (std::vector<std::string>{"ops@example.com", "dba@example.com"}));
  EXPECT_EQ(got["login"], "cairn@example.com");  // username defaults to from
  const std::string content = got["content"];
  EXPECT_NE(content.find("Subject: [cairn] CRITICAL app-db: job_failed\r\n"), std::string::npos) << content;
  EXPECT_NE(content.find("To: ops@example.com, dba@example.com\r\n"), std::string::npos) << content;
  EXPECT_NE(content.find("From: Cairn <cairn@example.com>\r\n"), std::string::npos) << content;
  EXPECT_NE(content.find("Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"), std::string::npos) << content;
  EXPECT_NE(content.find("Message-ID: <cairn." + std::to_string(d[0].id) + "."), std::string::npos) << content;
  EXPECT_NE(content.find("the last backup of app-db failed"), std::string::npos) << content;

  // Refused credentials are a failed delivery that says so.
  auto test = n->SendTest(1);
  ASSERT_TRUE(IsOk(test));
  EXPECT_NE((*test)[0].find("email via 127.0.0.1"), std::string::npos) << (*test)[0];
  EXPECT_NE((*test)[0].find("Login denied"), std::string::npos) << (*test)[0];
  EXPECT_EQ((*test)[0].find("not-the-password"), std::string::npos);
}

}  // namespace
}  // namespace cairn
