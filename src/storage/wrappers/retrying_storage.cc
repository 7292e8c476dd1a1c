#include "storage/wrappers/retrying_storage.h"

#include <algorithm>
#include <random>
#include <thread>
#include <unordered_set>

namespace cairn {

Status MarkTransient(const Status& status) {
  if (status.ok() || IsTransient(status)) return status;
  return Status::IOError(std::string(kTransientPrefix) + status.message());
}

Status TransientError(const std::string& message) { return MarkTransient(Status::IOError(message)); }

bool IsTransient(const Status& status) {
  if (status.code() != StatusCode::kIOError) return false;
  const std::string& m = status.message();
  return m.starts_with(kTransientPrefix) || m.find(": " + std::string(kTransientPrefix)) != std::string::npos;
}

std::string StripTransient(const std::string& message) {
  if (message.starts_with(kTransientPrefix)) return message.substr(kTransientPrefix.size());
  const std::string marker = ": " + std::string(kTransientPrefix);
  size_t at = message.find(marker);
  if (at == std::string::npos) return message;
  return message.substr(0, at + 2) + message.substr(at + marker.size());
}

RetryingStorage::RetryingStorage(std::unique_ptr<Storage> inner, RetryOptions options)
    : ForwardingStorage(inner.get()), inner_(std::move(inner)), options_(std::move(options)) {
  if (options_.max_attempts < 1) options_.max_attempts = 1;
  if (!options_.sleep) options_.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
}

std::chrono::milliseconds RetryingStorage::Backoff(int retry) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t base = std::max<int64_t>(0, options_.base_delay.count());
  const int64_t cap = std::max<int64_t>(0, options_.max_delay.count());
  int64_t ceiling = base;
  for (int i = 1; i < retry && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  if (ceiling <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, ceiling)(rng));
}

Status RetryingStorage::Run(std::string_view op, std::string_view key, const std::function<Status(int)>& attempt) {
  Status last;
  for (int n = 1; n <= options_.max_attempts; ++n) {
    if (n > 1) {
      if (options_.cancelled && options_.cancelled()) return Status::Aborted("cancelled while retrying: " + last.message());
      options_.sleep(Backoff(n - 1));
      if (options_.cancelled && options_.cancelled()) return Status::Aborted("cancelled while retrying: " + last.message());
    }
    last = attempt(n);
    if (!IsTransient(last)) return last;
  }
  std::string what = std::string(op);
  if (!key.empty()) what += " " + std::string(key);
  const int n = options_.max_attempts;
  return Status::IOError(what + " failed after " + std::to_string(n) + (n == 1 ? " attempt: " : " attempts: ") +
                         StripTransient(last.message()));
}

Status RetryingStorage::Put(std::string_view key, ByteView data) {
  return Run("put", key, [&](int) { return inner_->Put(key, data); });
}

Result<Bytes> RetryingStorage::Get(std::string_view key) {
  Bytes out;
  Status st = Run("get", key, [&](int) {
    Result<Bytes> r = inner_->Get(key);
    if (!r.ok()) return r.status();
    out = std::move(r).value();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<Bytes> RetryingStorage::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  Bytes out;
  Status st = Run("get range of", key, [&](int) {
    Result<Bytes> r = inner_->GetRange(key, offset, length);
    if (!r.ok()) return r.status();
    out = std::move(r).value();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Status RetryingStorage::List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) {
  std::unordered_set<std::string> delivered;
  bool any_retry = false;
  Status fn_error;
  Status st = Run("list", prefix.empty() ? std::string_view("(all)") : prefix, [&](int n) {
    any_retry = n > 1;
    return inner_->List(prefix, [&](const ObjectInfo& info) -> Status {
      if (any_retry && delivered.contains(info.key)) return Status::Ok();
      delivered.insert(info.key);
      Status s = fn(info);
      if (!s.ok()) {
        fn_error = s;
        // Hand the inner driver a non-transient error so it stops; we return
        // fn's own status below, untouched and not retried.
        return Status::Aborted("listing stopped by callback");
      }
      return s;
    });
  });
  if (!fn_error.ok()) return fn_error;
  return st;
}

Status RetryingStorage::Delete(std::string_view key) {
  bool maybe_deleted = false;
  Status st = Run("delete", key, [&](int) {
    Status s = inner_->Delete(key);
    if (s.IsNotFound() && maybe_deleted) return Status::Ok();
    if (IsTransient(s)) maybe_deleted = true;
    return s;
  });
  return st;
}

Result<ObjectInfo> RetryingStorage::Stat(std::string_view key) {
  ObjectInfo info;
  Status st = Run("stat", key, [&](int) {
    Result<ObjectInfo> r = inner_->Stat(key);
    if (!r.ok()) return r.status();
    info = std::move(r).value();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return info;
}

std::unique_ptr<Storage> WrapRetrying(std::unique_ptr<Storage> inner, RetryOptions options) {
  return std::make_unique<RetryingStorage>(std::move(inner), std::move(options));
}

}  // namespace cairn
