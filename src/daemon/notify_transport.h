// Delivering one notification to one channel (docs/notifications.md): an
// HTTP POST (webhook), a mail over SMTP (email) or a program fed the JSON on
// its stdin (command). The Notifier decides what is sent and when; a
// transport only delivers, within a time limit, and says why it could not.
//
// Secrets (the webhook's HMAC key, the SMTP password) are read from their
// files on every send, so that a rotated secret needs no reload and none is
// kept in memory between sends; no error message contains one.
//
// Thread-safety: Send may be called from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/config.h"
#include "cairn/status.h"

namespace cairn {

// What one delivery says, in every channel's form.
struct NotifyMessage {
  int64_t delivery_id = 0;  // the catalog's delivery: X-Cairn-Delivery, the mail's Message-ID
  std::string event;        // opened | resolved | test
  std::string severity, rule, service;
  std::string body;     // the JSON document (webhook body, command stdin)
  std::string subject;  // "[cairn] CRITICAL app-db: job_failed"
  std::string text;     // the mail's plain-text body ('\n' line ends)
  std::string host;     // where Cairn runs
  int64_t sent_ns = 0;  // the attempt's time (the mail's Date)
};

class NotifyTransport {
 public:
  virtual ~NotifyTransport() = default;
  // OK once the channel took the message (webhook: a 2xx answer; email: the
  // server accepted it; command: exit 0); else an error of one line naming
  // the cause. Returns within about `timeout`.
  virtual Status Send(const NotificationConfig& channel, const NotifyMessage& message,
                      std::chrono::nanoseconds timeout) = 0;
};

// The real one: libcurl for webhooks and SMTP, a child process for commands.
std::unique_ptr<NotifyTransport> MakeNotifyTransport();

// Lowercase hex HMAC-SHA256 of `data` under `key` (X-Cairn-Signature).
std::string HmacSha256Hex(std::string_view key, std::string_view data);

// The whole RFC 5322 message (headers, CRLF line ends) the email channel sends.
std::string FormatMail(const NotificationConfig& channel, const NotifyMessage& message);

}  // namespace cairn
