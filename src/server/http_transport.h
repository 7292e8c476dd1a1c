// cpp-httplib's Server with our own connection handling: httplib parses
// requests, routes and writes responses; this class owns the listening
// socket, the threads (ConnectionPool), TLS, per-request limits (Connection)
// and an orderly Stop. See docs/server.md, "Threads and limits".
//
// Why not httplib's own loop: its reads are unbounded (see connection.h),
// its keep-alive wait polls every 10 ms, it cannot end a kept-alive
// connection on stop, it binds with SO_REUSEPORT (a second daemon on the same
// port would start silently and take half the connections), and its
// constructor ignores SIGPIPE for the whole process. Here the socket is
// ours, SIGPIPE is blocked per thread, and the process's disposition is
// restored after httplib's constructor.
//
// Thread-safety: Listen, Start and Stop from one thread; Current() from the
// thread serving a request.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <httplib.h>

#include "cairn/status.h"
#include "server/connection.h"

namespace cairn {

struct TransportOptions {
  ConnectionLimits limits;
  size_t max_connections = 128;  // connections served at once (one thread each); more get 503
  size_t min_threads = 2;        // threads kept while idle
  std::chrono::milliseconds idle_thread_exit{30000};
  std::chrono::milliseconds keep_alive{5000};  // how long an idle connection is kept
  size_t max_requests_per_connection = 100;
};

// Restores SIGPIPE's disposition after httplib::Server's constructor set it
// to SIG_IGN: a base class constructed before httplib::Server saves it.
class SigpipeDispositionKeeper {
 protected:
  SigpipeDispositionKeeper();
  void RestoreSigpipeDisposition();

 private:
  struct sigaction saved_ {};
};

class HttpTransport final : private SigpipeDispositionKeeper, public httplib::Server {
 public:
  // `tls`: the server context for HTTPS, or nullptr; owned.
  HttpTransport(const TransportOptions& options, SSL_CTX* tls);
  ~HttpTransport() override;

  // Binds and listens on host:port (port 0: any free port).
  Status Listen(const std::string& host, int port);
  int port() const { return port_; }
  // Starts accepting on a thread of its own.
  Status Start();
  // Stops accepting, ends every connection (kept-alive and event streams:
  // the latter through `before_join`) and joins every thread.
  void Stop(const std::function<void()>& before_join);

  bool tls() const { return tls_ != nullptr; }
  size_t connections() const;

  // The connection the calling thread is serving, or nullptr.
  static Connection* Current();

 private:
  bool process_and_close_socket(socket_t sock) override;
  void Serve(Connection& connection);
  void Shed(int fd);

  TransportOptions options_;
  SSL_CTX* tls_;
  int port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> accept_ended_{false};

  mutable std::mutex connections_mu_;
  std::set<Connection*> connections_;
};

}  // namespace cairn
