// Fan-out of the daemon's live events to GET /api/v1/events clients.
//
// The hub holds one subscription to DaemonApi::Subscribe while at least one
// client is connected (none otherwise). The daemon's callback formats each
// event once ("event: job\ndata: {...}\n\n") and appends a shared pointer to
// it to every client's queue, then wakes the client through its eventfd:
// a mutex held for a push, never a socket write, so the daemon is never held
// up by a client. Each client's queue is bounded (events and bytes); a client
// that falls behind so far is marked overflowed and its stream ends (the
// browser's EventSource reconnects and the dashboard reloads what it shows).
//
// Each stream is written by the thread serving its connection: it sleeps in
// Connection::WaitForWake (eventfd, peer hang-up, or the heartbeat), writes
// what is queued, a comment line every heartbeat interval, and ends when the
// client goes away, overflows, or the server stops.
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/daemon_api.h"

namespace cairn {

struct SseLimits {
  size_t max_clients = 100;
  size_t queue_events = 256;      // events waiting for one client
  size_t queue_bytes = 1 << 20;   // bytes waiting for one client
  std::chrono::milliseconds heartbeat{15000};
};

class SseClient {
 public:
  SseClient();
  ~SseClient();
  SseClient(const SseClient&) = delete;
  SseClient& operator=(const SseClient&) = delete;

  bool valid() const { return wake_fd_ >= 0; }
  int wake_fd() const { return wake_fd_; }

  enum class State { kOpen, kOverflowed, kClosed };
  // Appends every queued frame to `out` and empties the queue.
  State Take(std::string* out);

  // The hub's side: queue a frame (or overflow), end the stream.
  void Push(const std::shared_ptr<const std::string>& frame, const SseLimits& limits);
  void Close();

 private:
  void Wake();

  int wake_fd_;
  std::mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queued_bytes_ = 0;
  State state_ = State::kOpen;
};

class SseHub {
 public:
  SseHub(DaemonApi& daemon, SseLimits limits);
  ~SseHub();
  SseHub(const SseHub&) = delete;
  SseHub& operator=(const SseHub&) = delete;

  // A new client, or nullptr when max_clients are connected (or stopped).
  std::shared_ptr<SseClient> Add();
  void Remove(const std::shared_ptr<SseClient>& client);
  // Ends every stream and refuses new ones (server stop).
  void CloseAll();

  size_t clients() const;
  const SseLimits& limits() const { return limits_; }

  // The SSE frame of an event: "event: NAME\ndata: JSON\n\n"; "" when the
  // name is not a plain word (it would break the framing).
  static std::string Frame(const ApiEvent& event);

 private:
  struct Shared;  // what the daemon's callback reaches; outlives the hub if need be

  DaemonApi& daemon_;
  const SseLimits limits_;
  std::shared_ptr<Shared> shared_;
  std::mutex subscription_mu_;  // Subscribe/Unsubscribe, never held by the callback
  int64_t subscription_ = -1;
};

}  // namespace cairn
