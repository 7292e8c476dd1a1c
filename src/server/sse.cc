#include "server/sse.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

namespace cairn {

struct SseHub::Shared {
  SseLimits limits;
  mutable std::mutex mu;
  std::vector<std::shared_ptr<SseClient>> clients;
  bool closed = false;

  void Publish(const ApiEvent& event) {
    std::string text = Frame(event);
    if (text.empty()) return;
    auto frame = std::make_shared<const std::string>(std::move(text));
    std::lock_guard lock(mu);
    for (const auto& client : clients) client->Push(frame, limits);
  }
};

SseClient::SseClient() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

SseClient::~SseClient() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void SseClient::Wake() {
  const uint64_t one = 1;
  // A full counter (never, in practice) still leaves the fd readable.
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void SseClient::Push(const std::shared_ptr<const std::string>& frame, const SseLimits& limits) {
  {
    std::lock_guard lock(mu_);
    if (state_ != State::kOpen) return;
    if (queue_.size() >= limits.queue_events || queued_bytes_ + frame->size() > limits.queue_bytes) {
      state_ = State::kOverflowed;
      queue_.clear();
      queued_bytes_ = 0;
    } else {
      queue_.push_back(frame);
      queued_bytes_ += frame->size();
    }
  }
  Wake();
}

void SseClient::Close() {
  {
    std::lock_guard lock(mu_);
    state_ = State::kClosed;
  }
  Wake();
}

SseClient::State SseClient::Take(std::string* out) {
  std::lock_guard lock(mu_);
  for (const auto& frame : queue_) out->append(*frame);
  queue_.clear();
  queued_bytes_ = 0;
  return state_;
}

SseHub::SseHub(DaemonApi& daemon, SseLimits limits)
    : daemon_(daemon), limits_(limits), shared_(std::make_shared<Shared>()) {
  shared_->limits = limits_;
}

SseHub::~SseHub() {
  CloseAll();
  std::lock_guard lock(subscription_mu_);
  if (subscription_ >= 0) daemon_.Unsubscribe(subscription_);
  subscription_ = -1;
}

std::string SseHub::Frame(const ApiEvent& event) {
  if (event.event.empty() || event.event.size() > 32) return "";
  for (char c : event.event)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.')) return "";
  // dump() escapes every control character, so the data is one line.
  return "event: " + event.event + "\ndata: " + event.data.dump(-1, ' ', false, Json::error_handler_t::replace) +
         "\n\n";
}

std::shared_ptr<SseClient> SseHub::Add() {
  auto client = std::make_shared<SseClient>();
  if (!client->valid()) return nullptr;
  std::lock_guard sub_lock(subscription_mu_);
  bool first = false;
  {
    std::lock_guard lock(shared_->mu);
    if (shared_->closed || shared_->clients.size() >= limits_.max_clients) return nullptr;
    shared_->clients.push_back(client);
    first = shared_->clients.size() == 1;
  }
  if (first && subscription_ < 0) {
    // The callback holds the shared state, not the hub: a daemon that calls
    // it once more after Unsubscribe finds a valid (empty) client list.
    std::weak_ptr<Shared> weak = shared_;
    subscription_ = daemon_.Subscribe([weak](const ApiEvent& event) {
      if (auto shared = weak.lock()) shared->Publish(event);
    });
  }
  return client;
}

void SseHub::Remove(const std::shared_ptr<SseClient>& client) {
  std::lock_guard sub_lock(subscription_mu_);
  bool last = false;
  {
    std::lock_guard lock(shared_->mu);
    auto& v = shared_->clients;
    auto it = std::find(v.begin(), v.end(), client);
    if (it == v.end()) return;
    v.erase(it);
    last = v.empty();
  }
  if (last && subscription_ >= 0) {
    daemon_.Unsubscribe(subscription_);
    subscription_ = -1;
  }
}

void SseHub::CloseAll() {
  std::lock_guard lock(shared_->mu);
  shared_->closed = true;
  for (const auto& client : shared_->clients) client->Close();
}

size_t SseHub::clients() const {
  std::lock_guard lock(shared_->mu);
  return shared_->clients.size();
}

}  // namespace cairn
