#include "daemon/notifier.h"

#include <algorithm>
#include <utility>

#include "cairn/system.h"
#include "daemon/daemon_json.h"

namespace cairn {
namespace {

bool Wants(const NotificationConfig& channel, const AlertRecord& alert) {
  const Severity min = ParseSeverity(channel.min_severity).value_or(Severity::kWarning);
  if (alert.severity == Severity::kWarning && min == Severity::kCritical) return false;
  if (!channel.services.empty() &&
      std::find(channel.services.begin(), channel.services.end(), alert.service) == channel.services.end())
    return false;
  // Telling a channel that it fails goes through the others.
  return !(alert.rule == AlertRule::kNotificationFailing && alert.target == channel.name);
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Plural(int64_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

Notifier::Notifier(Catalog& catalog, Clock* clock, std::function<std::shared_ptr<const Config>()> config,
                   NotifierOptions opts, std::unique_ptr<NotifyTransport> transport)
    : catalog_(catalog),
      clock_(clock ? clock : SystemClock()),
      config_(std::move(config)),
      opts_(std::move(opts)),
      transport_(transport ? std::move(transport) : MakeNotifyTransport()),
      host_(opts_.host.empty() ? Hostname() : opts_.host) {}

Notifier::~Notifier() { Stop(); }

void Notifier::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void Notifier::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Notifier::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    const int attempted = DrainOnce();
    lock.lock();
    if (stop_) break;
    if (attempted >= opts_.batch && !wake_) continue;  // more may be due right now
    cv_.wait_for(lock, opts_.poll_interval, [&] { return stop_ || wake_; });
    wake_ = false;
  }
}

void Notifier::Notify(const AlertRecord& alert, AlertEvent event) {
  if (event == AlertEvent::kTest) return;  // SendTest's
  if (event == AlertEvent::kOpened && alert.acked_ns != 0) return;
  const std::shared_ptr<const Config> config = config_ ? config_() : nullptr;
  if (!config) return;
  bool queued = false;
  for (const NotificationConfig& channel : config->notifications) {
    if (!Wants(channel, alert)) continue;
    auto id = catalog_.EnqueueDelivery(channel.name, alert.id, event);
    std::lock_guard<std::mutex> lock(mu_);
    if (id.ok()) {
      queued = true;
    } else {
      ++stats_.catalog_errors;
      stats_.last_catalog_error = id.status().message();
    }
  }
  if (!queued) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

int Notifier::DrainOnce() {
  std::vector<DeliveryRecord> claimed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto due = catalog_.DueDeliveries(opts_.batch);
    if (!due.ok()) {
      ++stats_.catalog_errors;
      stats_.last_catalog_error = due.status().message();
      return 0;
    }
    for (DeliveryRecord& d : *due)
      if (in_flight_.insert(d.id).second) claimed.push_back(std::move(d));
  }
  int attempted = 0;
  for (const DeliveryRecord& d : claimed) {
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping = stop_ && thread_.joinable() && std::this_thread::get_id() == thread_.get_id();
    }
    // Stop must not wait for a whole batch of slow channels: the rest stay due.
    if (!stopping) {
      (void)Attempt(d);
      ++attempted;
    }
    Release(d.id);
  }
  return attempted;
}

Result<std::vector<std::string>> Notifier::SendTest(std::optional<int> channel_index) {
  const std::shared_ptr<const Config> config = config_ ? config_() : nullptr;
  const size_t count = config ? config->notifications.size() : 0;
  if (count == 0) return Status::InvalidArgument("no notification channels are configured (notifications:)");
  if (channel_index && (*channel_index < 0 || static_cast<size_t>(*channel_index) >= count))
    return Status::InvalidArgument("there is no notification channel " + std::to_string(*channel_index) +
                                   " (the configuration has " + std::to_string(count) + ", counted from 0)");
  std::vector<DeliveryRecord> claimed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < count; ++i) {
      if (channel_index && static_cast<size_t>(*channel_index) != i) continue;
      DeliveryRecord d;
      d.channel = config->notifications[i].name;
      d.event = AlertEvent::kTest;
      auto id = catalog_.EnqueueDelivery(d.channel, 0, AlertEvent::kTest);
      if (!id.ok()) {
        for (const DeliveryRecord& c : claimed) in_flight_.erase(c.id);
        return id.status();
      }
      d.id = *id;
      in_flight_.insert(d.id);
      claimed.push_back(std::move(d));
    }
  }
  // In parallel: an operator waits for the answer, and one channel timing
  // out should not make the others look slow.
  std::vector<std::string> results(claimed.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < claimed.size(); ++i)
    threads.emplace_back([&, i] {
      const Status st = Attempt(claimed[i]);
      results[i] = st.ok() ? "ok" : st.message();
      Release(claimed[i].id);
    });
  for (std::thread& t : threads) t.join();
  return results;
}

void Notifier::SetChannelHealthCallback(HealthCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  health_callback_ = std::move(callback);
}

bool Notifier::ChannelFailing(const std::string& channel) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = health_.find(channel);
  return it != health_.end() && it->second.failing;
}

NotifierStats Notifier::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Notifier::Release(int64_t delivery_id) {
  std::lock_guard<std::mutex> lock(mu_);
  in_flight_.erase(delivery_id);
}

Result<NotifyMessage> Notifier::BuildMessage(const DeliveryRecord& d) {
  AlertRecord alert;
  const int64_t now = clock_->NowNs();
  if (d.alert_id != 0) {
    CAIRN_ASSIGN_OR_RETURN(alert, catalog_.GetAlert(d.alert_id));
  } else {
    alert.severity = Severity::kWarning;
    alert.message = "A test notification from Cairn on " + host_ + ": this channel works.";
    alert.first_seen_ns = alert.last_seen_ns = now;
    alert.occurrences = 1;
  }
  const bool test = d.event == AlertEvent::kTest;
  NotifyMessage m;
  m.delivery_id = d.id;
  m.event = std::string(ToString(d.event));
  m.severity = std::string(ToString(alert.severity));
  m.rule = test ? "test" : std::string(ToString(alert.rule));
  m.service = alert.service;
  m.host = host_;
  m.sent_ns = now;
  Json a = {{"id", alert.id},
            {"rule", m.rule},
            {"severity", m.severity},
            {"service", alert.service},
            {"target", alert.target},
            {"message", alert.message},
            {"hint", test ? "" : AlertHint(alert.rule, alert.service, alert.target)},
            {"first_seen", TimeOrNull(alert.first_seen_ns)},
            {"last_seen", TimeOrNull(alert.last_seen_ns)},
            {"occurrences", alert.occurrences},
            {"resolved_at", TimeOrNull(alert.resolved_ns)}};
  const Json body = {{"event", m.event},
                     {"alert", a},
                     {"cairn", {{"host", host_}, {"version", CAIRN_VERSION}}},
                     {"sent_at", FormatTime(now)}};
  m.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);

  const std::string about = !alert.service.empty() ? alert.service : !alert.target.empty() ? alert.target : host_;
  if (test) {
    m.subject = "[cairn] TEST notification from " + host_;
    m.text = alert.message + "\n";
  } else {
    const std::string state = d.event == AlertEvent::kResolved ? "RESOLVED" : Upper(m.severity);
    m.subject = "[cairn] " + state + " " + about + ": " + m.rule;
    m.text = (d.event == AlertEvent::kResolved ? "Resolved: " : "") + alert.message + "\n\n";
    if (!a["hint"].get<std::string>().empty()) m.text += "What to do: " + a["hint"].get<std::string>() + "\n\n";
    m.text += "Rule:        " + m.rule + " (" + m.severity + ")\n";
    if (!alert.service.empty()) m.text += "Service:     " + alert.service + "\n";
    if (!alert.target.empty()) m.text += "Target:      " + alert.target + "\n";
    m.text += "First seen:  " + FormatTime(alert.first_seen_ns) + "\n";
    m.text += "Last seen:   " + FormatTime(alert.last_seen_ns) + " (" + Plural(alert.occurrences, "time") + ")\n";
    if (alert.resolved_ns) m.text += "Resolved at: " + FormatTime(alert.resolved_ns) + "\n";
    m.text += "Alert:       #" + std::to_string(alert.id) + "\n";
  }
  m.text += "\n-- \nCairn on " + host_ + "\n";
  return m;
}

Status Notifier::Attempt(const DeliveryRecord& d) {
  const std::shared_ptr<const Config> config = config_ ? config_() : nullptr;
  const NotificationConfig* channel = config ? config->FindNotification(d.channel) : nullptr;
  if (!channel) {
    Status gone = Status::NotFound("notification channel " + d.channel + " is no longer configured");
    Record(d, gone, false);
    return gone;
  }
  auto message = BuildMessage(d);
  if (!message.ok()) {
    // The alert was pruned: nothing left to tell. A busy catalog: later.
    Status st = message.status().WithContext("cannot read alert " + std::to_string(d.alert_id));
    Record(d, st, !message.status().IsNotFound());
    return st;
  }
  Status outcome = transport_->Send(*channel, *message, opts_.timeout);
  // A test is answered at once; retried in the night it would only puzzle.
  Record(d, outcome, d.event != AlertEvent::kTest);
  UpdateHealth(channel->name, outcome);
  return outcome;
}

void Notifier::Record(const DeliveryRecord& d, const Status& outcome, bool retry) {
  int64_t next = 0;
  const int64_t attempts = d.attempts + 1;
  if (!outcome.ok() && retry && attempts < opts_.max_attempts) {
    // first_backoff x 2^(attempts-1), capped; the shift is bounded so that
    // it cannot overflow before the cap applies.
    const int64_t first = opts_.first_backoff.count(), cap = opts_.max_backoff.count();
    int64_t wait = first;
    for (int64_t i = 1; i < attempts && wait < cap; ++i) wait = wait > cap / 2 ? cap : wait * 2;
    next = clock_->NowNs() + std::min(wait, cap);
  }
  Status st = catalog_.RecordDeliveryAttempt(d.id, outcome.ok(), outcome.ok() ? "" : outcome.message(), next);
  std::lock_guard<std::mutex> lock(mu_);
  if (outcome.ok()) ++stats_.delivered;
  else ++stats_.failed_attempts;
  if (!outcome.ok() && next == 0) ++stats_.given_up;
  if (!st.ok()) {
    ++stats_.catalog_errors;
    stats_.last_catalog_error = st.message();
  }
}

void Notifier::UpdateHealth(const std::string& channel, const Status& outcome) {
  HealthCallback callback;
  bool failing = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ChannelHealth& h = health_[channel];
    if (outcome.ok()) {
      if (h.failing) callback = health_callback_;
      h = ChannelHealth{};
    } else {
      ++h.consecutive_failures;
      if (!h.failing && h.consecutive_failures >= opts_.failing_after) {
        h.failing = failing = true;
        callback = health_callback_;
      }
    }
  }
  if (callback) callback(channel, failing, outcome.ok() ? "" : outcome.message());
}

}  // namespace cairn
