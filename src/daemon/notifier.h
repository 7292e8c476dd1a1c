// Notifications of alerts (docs/notifications.md): the daemon tells the
// Notifier that an alert opened or resolved; the Notifier records one
// delivery per channel of `notifications:` that wants it, in the catalog,
// and a thread of its own sends them, retrying with exponential backoff.
//
// Because deliveries are rows of the catalog (EnqueueDelivery,
// RecordDeliveryAttempt), they survive a restart: a new Notifier sends what
// its predecessor left pending. A channel that is down never holds up the
// daemon, a backup or another caller: Notify only writes rows, and sending
// happens on the Notifier's thread, each attempt bounded by `timeout`.
//
// Which channels get an alert: min_severity and services (the channel's
// filter), for both events. An acknowledged alert is silenced: no "opened"
// is sent for it, but its resolution still is. An alert of rule
// notification_failing whose target is a channel's name is not sent to that
// channel (it is the one failing).
//
// What is sent is the alert as the catalog has it when the attempt is made
// (a late "opened" shows a resolved_at if it resolved meanwhile), so a
// delivery needs only its alert's id.
//
// Ownership: the catalog and the clock are not owned and must outlive the
// Notifier. `config` is called (from any of the Notifier's threads) for the
// configuration in force at each attempt; nullptr means "no channels".
// Deliveries to a channel that is no longer configured are given up.
//
// Thread-safety: every public method may be called from any thread. The
// health callback is called from the thread that made the attempt, with no
// lock of the Notifier held; it may call the Notifier back.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cairn/clock.h"
#include "cairn/config.h"
#include "daemon/catalog.h"
#include "daemon/notify_transport.h"

namespace cairn {

struct NotifierOptions {
  int max_attempts = 6;  // then the delivery is given up (about 15 minutes with the defaults)
  std::chrono::nanoseconds first_backoff = std::chrono::seconds(30);  // doubled after each failure...
  std::chrono::nanoseconds max_backoff = std::chrono::minutes(30);    // ...up to this
  std::chrono::nanoseconds timeout = std::chrono::seconds(10);        // one attempt
  int failing_after = 3;  // consecutive failed attempts that make a channel "failing"
  // How often the thread looks for deliveries that came due (retries);
  // Notify and SendTest wake it at once. Real time, whatever the clock.
  std::chrono::nanoseconds poll_interval = std::chrono::seconds(5);
  int batch = 50;    // deliveries read from the catalog at a time
  std::string host;  // the body's cairn.host; "" = this machine's name
};

// What the Notifier did since it was made (for metrics and the dashboard).
struct NotifierStats {
  int64_t delivered = 0, failed_attempts = 0, given_up = 0;
  int64_t catalog_errors = 0;  // a delivery could not be recorded or read
  std::string last_catalog_error;
};

class Notifier {
 public:
  using HealthCallback = std::function<void(const std::string& channel, bool failing, const std::string& error)>;

  // `clock` must be the catalog's: due times are compared with its now.
  // `transport` nullptr = the real one (MakeNotifyTransport).
  Notifier(Catalog& catalog, Clock* clock, std::function<std::shared_ptr<const Config>()> config,
           NotifierOptions opts = {}, std::unique_ptr<NotifyTransport> transport = nullptr);
  ~Notifier();  // Stop()

  // Starts / ends the sending thread. Stop waits for the attempt in progress
  // (at most `timeout`); what is still pending stays in the catalog.
  void Start();
  void Stop();

  // Records a delivery for every channel that wants this event of `alert`
  // (opened or resolved; tests go through SendTest) and wakes the thread;
  // returns without sending. A catalog error is counted in Stats() (the
  // alert itself is in the catalog either way).
  void Notify(const AlertRecord& alert, AlertEvent event);

  // A test notification to channel `channel_index` of `notifications:`
  // (nullopt = every channel), sent now from the calling thread (channels
  // in parallel), once, without retries. Returns one entry per channel
  // tried, in configuration order: "ok" or why it failed. InvalidArgument
  // for an index out of range or when no channel is configured.
  Result<std::vector<std::string>> SendTest(std::optional<int> channel_index);

  // Called when a channel becomes failing (`failing_after` failed attempts
  // in a row; `error` is the last one) and when it delivers again
  // (failing = false, error ""). The daemon raises and resolves the
  // notification_failing alert from it.
  void SetChannelHealthCallback(HealthCallback callback);

  bool ChannelFailing(const std::string& channel) const;
  NotifierStats Stats() const;

  // One pass over the deliveries due now, in the calling thread: what the
  // sending thread does each time it wakes. Returns how many were attempted.
  // For tests on a FakeClock (with or without Start()).
  int DrainOnce();

 private:
  struct ChannelHealth {
    int consecutive_failures = 0;
    bool failing = false;
  };

  // Sends one claimed delivery and records the outcome; returns it.
  Status Attempt(const DeliveryRecord& delivery);
  Result<NotifyMessage> BuildMessage(const DeliveryRecord& delivery);
  void Record(const DeliveryRecord& delivery, const Status& outcome, bool retry);
  void UpdateHealth(const std::string& channel, const Status& outcome);
  void Release(int64_t delivery_id);
  void Run();

  Catalog& catalog_;
  Clock* const clock_;
  const std::function<std::shared_ptr<const Config>()> config_;
  const NotifierOptions opts_;
  const std::unique_ptr<NotifyTransport> transport_;
  const std::string host_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false, wake_ = false;
  std::thread thread_;
  // Deliveries being attempted. Claimed under mu_ in the same critical
  // section that reads (DrainOnce) or creates (SendTest) them, so no
  // delivery is ever sent twice at once.
  std::set<int64_t> in_flight_;
  std::map<std::string, ChannelHealth> health_;
  HealthCallback health_callback_;
  NotifierStats stats_;
};

}  // namespace cairn
