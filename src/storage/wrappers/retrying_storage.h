// A Storage wrapper that retries transient failures with exponential backoff
// and full jitter.
//
// Which failures are transient is decided by the driver, which knows its
// transport: a driver marks an error as worth retrying by returning
// MarkTransient(status), an IOError whose message starts with "transient: "
// (status.h has no code for it and is not ours to change; a message prefix
// survives copying, WithContext() and any layer that passes a Status through).
// IsTransient() also recognises the marker after WithContext() prefixes
// ("context: transient: ..."). Everything else (NotFound, Corruption, access
// denied, ...) is returned at once.
//
// When the budget runs out the wrapper returns a non-transient IOError
//   "<op> <key> failed after N attempts: <last error>"
// with the marker removed from <last error>, so an outer retry layer does not
// multiply the attempts.
//
// Per-method notes:
//  - List: an attempt that fails after some objects were already passed to
//    `fn` is retried, and objects already delivered are not delivered again
//    (the wrapper remembers their keys). An error returned by `fn` itself is
//    never retried.
//  - Delete: if an attempt failed transiently (the request may have reached
//    the server and deleted the object) and a later attempt reports NotFound,
//    Delete returns OK.
//  - Put is safe to repeat: it replaces the whole object.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/forwarding_storage.h"

namespace cairn {

inline constexpr std::string_view kTransientPrefix = "transient: ";

// An IOError with `status`'s message, marked transient. OK stays OK.
Status MarkTransient(const Status& status);
// Shorthand for MarkTransient(Status::IOError(message)).
Status TransientError(const std::string& message);
// True for an IOError carrying the transient marker.
bool IsTransient(const Status& status);
// The message without the transient marker.
std::string StripTransient(const std::string& message);

struct RetryOptions {
  // Total attempts, the first included. 1 disables retrying.
  int max_attempts = 6;
  // The wait before retry number i (i = 1, 2, ...) is drawn uniformly from
  // [0, min(max_delay, base_delay * 2^(i-1))] ("full jitter").
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{10'000};
  // How to wait; tests replace it. Default: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
  // Whether the operation was cancelled: checked before every retry, so a
  // cancelled job stops retrying at once (an OpContext's Done()).
  std::function<bool()> cancelled;
};

class RetryingStorage final : public ForwardingStorage {
 public:
  RetryingStorage(std::unique_ptr<Storage> inner, RetryOptions options = {});

  Status Put(std::string_view key, ByteView data) override;
  Result<Bytes> Get(std::string_view key) override;
  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Delete(std::string_view key) override;
  Result<ObjectInfo> Stat(std::string_view key) override;

  Storage* inner() const { return inner_.get(); }

 private:
  // Runs `attempt` until it returns a non-transient status or the budget is
  // spent. `attempt` receives the attempt number (1-based).
  Status Run(std::string_view op, std::string_view key, const std::function<Status(int)>& attempt);
  std::chrono::milliseconds Backoff(int retry) const;

  std::unique_ptr<Storage> inner_;
  RetryOptions options_;
};

std::unique_ptr<Storage> WrapRetrying(std::unique_ptr<Storage> inner, RetryOptions options = {});

}  // namespace cairn
