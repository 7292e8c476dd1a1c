#include "server/http_transport.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "server/connection_pool.h"
#include "util/process.h"

namespace cairn {
namespace {

thread_local Connection* tl_current = nullptr;
// Set while the pool runs a task it has no thread for (see ConnectionPool).
thread_local bool tl_shedding = false;

const std::string& BusyResponse() {
  static const std::string response = [] {
    const std::string body = R"({"error":"server busy: too many connections; try again shortly"})";
    return "HTTP/1.1 503 Service Unavailable\r\n"
           "Content-Type: application/json\r\n"
           "Content-Length: " + std::to_string(body.size()) + "\r\n"
           "Retry-After: 5\r\n"
           "Connection: close\r\n"
           "Cache-Control: no-store\r\n"
           "X-Content-Type-Options: nosniff\r\n"
           "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n"
           "\r\n" + body;
  }();
  return response;
}

}  // namespace

SigpipeDispositionKeeper::SigpipeDispositionKeeper() { ::sigaction(SIGPIPE, nullptr, &saved_); }

void SigpipeDispositionKeeper::RestoreSigpipeDisposition() { ::sigaction(SIGPIPE, &saved_, nullptr); }

HttpTransport::HttpTransport(const TransportOptions& options, SSL_CTX* tls) : options_(options), tls_(tls) {
  RestoreSigpipeDisposition();
  new_task_queue = [this] {
    return new ConnectionPool(options_.max_connections, options_.min_threads, options_.idle_thread_exit,
                              [](ConnectionPool::Task task) {
                                tl_shedding = true;
                                task();
                                tl_shedding = false;
                              });
  };
  // What httplib writes into Keep-Alive headers; the loop below enforces it.
  set_keep_alive_timeout(std::max<time_t>(1, options_.keep_alive.count() / 1000));
  set_keep_alive_max_count(options_.max_requests_per_connection);
  // Bodies with a Content-Length above this are refused (413) unread.
  set_payload_max_length(64 * 1024);
}

HttpTransport::~HttpTransport() {
  Stop(nullptr);
  if (tls_) SSL_CTX_free(tls_);
}

Status HttpTransport::Listen(const std::string& host, int port) {
  const std::string where = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                            std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int gai = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (gai != 0) return Status::InvalidArgument("cannot listen on " + where + ": " + ::gai_strerror(gai));
  int fd = -1;
  int err = 0;
  for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    // SO_REUSEADDR only: a restart may rebind while old connections linger in
    // TIME_WAIT, but a second daemon on the same port fails to start.
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 128) != 0) {
      err = errno;
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return Status::FromErrno(err, "cannot listen on " + where);
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port_ = ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                                             : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  svr_sock_ = fd;
  return Status::Ok();
}

Status HttpTransport::Start() {
  if (svr_sock_ == INVALID_SOCKET) return Status::InvalidArgument("HttpTransport::Start before Listen");
  accept_ended_ = false;
  accept_thread_ = std::thread([this] {
    BlockSigpipeInThisThread();
    listen_after_bind();
    accept_ended_ = true;
  });
  // Stop() only reaches a server that is running; wait until it is.
  while (!is_running() && !accept_ended_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!is_running()) {
    accept_thread_.join();
    return Status::IOError("the HTTP server stopped as it started");
  }
  return Status::Ok();
}

void HttpTransport::Stop(const std::function<void()>& before_join) {
  stopping_ = true;
  {
    std::lock_guard lock(connections_mu_);
    for (Connection* c : connections_) c->Shutdown();
  }
  if (before_join) before_join();
  stop();
  if (accept_thread_.joinable()) accept_thread_.join();
  // Listening but never started: the socket is still ours to close.
  const socket_t fd = svr_sock_.exchange(INVALID_SOCKET);
  if (fd != INVALID_SOCKET) ::close(fd);
}

size_t HttpTransport::connections() const {
  std::lock_guard lock(connections_mu_);
  return connections_.size();
}

Connection* HttpTransport::Current() { return tl_current; }

void HttpTransport::Shed(int fd) {
  if (!tls_ && !stopping_) {
    const std::string& busy = BusyResponse();
    ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::close(fd);
}

bool HttpTransport::process_and_close_socket(socket_t sock) {
  if (tl_shedding || stopping_) {
    Shed(sock);
    return false;
  }
  SSL* ssl = nullptr;
  if (tls_ && !(ssl = SSL_new(tls_))) {
    ::close(sock);
    return false;
  }
  {
    Connection connection(sock, ssl, options_.limits);
    bool registered = false;
    {
      std::lock_guard lock(connections_mu_);
      if (!stopping_) registered = connections_.insert(&connection).second;
    }
    if (registered) {
      try {
        if (connection.Open()) Serve(connection);
      } catch (...) {
        // An exception out of httplib's parsing (bad_alloc, say) ends this
        // connection, not the thread or the process.
        tl_current = nullptr;
      }
      connection.CloseTls();
      std::lock_guard lock(connections_mu_);
      connections_.erase(&connection);
    }
  }
  ::close(sock);
  return true;
}

void HttpTransport::Serve(Connection& connection) {
  for (size_t served = 0; served < options_.max_requests_per_connection; ++served) {
    if (stopping_ || !connection.WaitForRequest(options_.keep_alive)) return;
    connection.BeginRequest();
    const bool last = served + 1 == options_.max_requests_per_connection;
    bool closed_by_client = false;
    tl_current = &connection;
    const bool ok = process_request(connection, last, closed_by_client, nullptr);
    tl_current = nullptr;
    if (!ok || closed_by_client || last || connection.failed() || connection.close_requested()) return;
  }
}

}  // namespace cairn
