#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "cairn/repository.h"

namespace cairn {

using json = nlohmann::json;

namespace {

constexpr auto kRefreshInterval = std::chrono::minutes(5);
constexpr int64_t kStaleAfterNs = 30ll * 60 * 1000000000;

Bytes LockPlaintext(bool exclusive) {
  json j = {{"hostname", Hostname()}, {"pid", ::getpid()},        {"username", Username()},
            {"time", FormatTime(NowNs())}, {"exclusive", exclusive}};
  const std::string text = j.dump();
  return Bytes(text.begin(), text.end());
}

bool ProcessIsGone(int pid) { return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace

Result<std::unique_ptr<RepositoryLock>> Repository::Lock(bool exclusive) {
  Id own;
  CAIRN_RETURN_IF_ERROR(crypto::RandomBytes(own.bytes.data(), own.bytes.size()));
  const std::string own_key = "locks/" + own.Hex();
  Bytes plaintext = LockPlaintext(exclusive);
  CAIRN_ASSIGN_OR_RETURN(Bytes sealed, crypto::Seal(key_, plaintext));
  CAIRN_RETURN_IF_ERROR(storage_->Put(own_key, sealed).WithContext("creating lock"));

  std::string conflict;
  Status listed = storage_->List("locks/", [&](const ObjectInfo& o) {
    if (o.key == own_key) return Status::Ok();
    auto raw = storage_->Get(o.key);
    if (!raw.ok()) return raw.status().IsNotFound() ? Status::Ok() : raw.status();  // released meanwhile
    Bytes plain;
    if (!crypto::Open(key_, *raw, &plain).ok()) return Status::Ok();  // not ours to judge; ignored
    json j = json::parse(plain.begin(), plain.end(), nullptr, false);
    if (!j.is_object()) return Status::Ok();
    const std::string host = j.value("hostname", "");
    const int pid = j.value("pid", 0);
    auto time = ParseTime(j.value("time", ""));
    const bool stale = (host == Hostname() && ProcessIsGone(pid)) || !time.ok() || NowNs() - *time > kStaleAfterNs;
    if (stale) {
      (void)storage_->Delete(o.key);  // whoever finds a stale lock clears it
      return Status::Ok();
    }
    if ((exclusive || j.value("exclusive", false)) && conflict.empty())
      conflict = "repository is locked by PID " + std::to_string(pid) + " on " + host + " since " +
                 j.value("time", "?") + (j.value("exclusive", false) ? " (exclusive lock)" : " (shared lock)");
    return Status::Ok();
  });
  if (!listed.ok() || !conflict.empty()) {
    (void)storage_->Delete(own_key);
    if (!listed.ok()) return listed.WithContext("listing locks");
    return Status::Locked(conflict);
  }
  return std::make_unique<RepositoryLock>(*this, own_key, std::move(plaintext));
}

Result<std::unique_ptr<RepositoryLock>> Repository::LockForReading(
    ReadLock mode, const std::function<void(const std::string&)>& warn) {
  if (mode == ReadLock::kNone) return std::unique_ptr<RepositoryLock>();
  auto lock = Lock(/*exclusive=*/false);
  if (lock.ok() || lock.status().code() == StatusCode::kLocked) return lock;
  // Could not write our lock: still refuse to read under a running prune,
  // whose deletions would make this read fail half-way.
  std::string exclusive_holder;
  Status listed = storage_->List("locks/", [&](const ObjectInfo& o) {
    auto raw = storage_->Get(o.key);
    Bytes plain;
    if (!raw.ok() || !crypto::Open(key_, *raw, &plain).ok()) return Status::Ok();
    json j = json::parse(plain.begin(), plain.end(), nullptr, false);
    if (!j.is_object() || !j.value("exclusive", false)) return Status::Ok();
    auto time = ParseTime(j.value("time", ""));
    if (!time.ok() || NowNs() - *time > kStaleAfterNs) return Status::Ok();
    if (j.value("hostname", "") == Hostname() && ProcessIsGone(j.value("pid", 0))) return Status::Ok();
    exclusive_holder = "PID " + std::to_string(j.value("pid", 0)) + " on " + j.value("hostname", "?");
    return Status::Ok();
  });
  if (!exclusive_holder.empty())
    return Status::Locked("repository is locked exclusively by " + exclusive_holder + " (a prune or forget)");
  if (warn)
    warn("cannot write a lock (" + lock.status().message() + "); reading without one" +
         (listed.ok() ? "" : " and without checking for other users' locks"));
  return std::unique_ptr<RepositoryLock>();
}

RepositoryLock::RepositoryLock(Repository& repo, std::string key, Bytes plaintext)
    : repo_(repo), key_(std::move(key)), plaintext_(std::move(plaintext)) {
  refresher_ = std::thread(&RepositoryLock::RefreshLoop, this);
}

RepositoryLock::~RepositoryLock() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  refresher_.join();
  (void)repo_.storage().Delete(key_);
}

void RepositoryLock::RefreshLoop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, kRefreshInterval, [&] { return stop_; })) {
    json j = json::parse(plaintext_.begin(), plaintext_.end());
    j["time"] = FormatTime(NowNs());
    std::string text = j.dump();
    auto sealed = crypto::Seal(repo_.key(), AsBytes(text));
    if (sealed.ok()) (void)repo_.storage().Put(key_, *sealed);
  }
}

}  // namespace cairn
