#include "server/connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace cairn {
namespace {

using SteadyClock = std::chrono::steady_clock;

int MillisUntil(SteadyClock::time_point until) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - SteadyClock::now()).count();
  if (left <= 0) return 0;
  return static_cast<int>(std::min<int64_t>(left, INT_MAX));
}

// "192.0.2.1" for an IPv4-mapped IPv6 address, so that one client has one
// address whichever socket family accepted it.
std::string NumericHost(const sockaddr_storage& addr, socklen_t len, int* port) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return "";
  *port = std::atoi(serv);
  std::string out = host;
  if (out.rfind("::ffff:", 0) == 0 && out.find('.') != std::string::npos) out.erase(0, 7);
  return out;
}

}  // namespace

Connection::Connection(int fd, SSL* ssl, const ConnectionLimits& limits) : fd_(fd), ssl_(ssl), limits_(limits) {
  deadline_ = SteadyClock::now() + limits_.request_deadline;
}

Connection::~Connection() {
  if (ssl_) SSL_free(ssl_);
}

bool Connection::Open() {
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) return false;
  // Headers and body go out as separate writes; without this the second
  // waits for the client's delayed ACK (40 ms on Linux) on a kept-alive
  // connection.
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (!ssl_) return true;
  if (SSL_set_fd(ssl_, fd_) != 1) return false;
  const auto until = SteadyClock::now() + limits_.tls_handshake;
  for (;;) {
    const int r = SSL_accept(ssl_);
    if (r == 1) return true;
    const int err = SSL_get_error(ssl_, r);
    if (err == SSL_ERROR_WANT_READ) {
      if (!PollUntil(POLLIN, until)) break;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      if (!PollUntil(POLLOUT, until)) break;
    } else {
      break;
    }
  }
  // The error queue is per thread; leave it clean for the next user.
  ERR_clear_error();
  failed_ = true;
  return false;
}

bool Connection::PollUntil(short events, SteadyClock::time_point until) const {
  for (;;) {
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, MillisUntil(until));
    if (r > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0 && !(p.revents & POLLNVAL);
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool Connection::WaitForRequest(std::chrono::milliseconds idle) {
  if (failed() || eof_) return false;
  if (buf_pos_ < buf_len_ || (ssl_ && SSL_pending(ssl_) > 0)) return true;
  pollfd p{fd_, POLLIN, 0};
  for (;;) {
    const int r = ::poll(&p, 1, static_cast<int>(idle.count()));
    if (r > 0) return (p.revents & POLLIN) != 0;
    if (r == 0 || errno != EINTR) return false;
  }
}

void Connection::BeginRequest() {
  in_head_ = true;
  head_bytes_ = head_lines_ = line_length_ = body_bytes_ = 0;
  deadline_ = SteadyClock::now() + limits_.request_deadline;
}

void Connection::CloseTls() {
  if (ssl_ && !failed_) {
    SSL_shutdown(ssl_);
    ERR_clear_error();
  }
}

void Connection::Shutdown() { ::shutdown(fd_, SHUT_RDWR); }

bool Connection::Fill() {
  buf_pos_ = buf_len_ = 0;
  for (;;) {
    const auto now = SteadyClock::now();
    if (now >= deadline_) break;
    const auto until = std::min(deadline_, now + limits_.read_timeout);
    if (!ssl_) {
      const ssize_t n = ::recv(fd_, buf_, sizeof(buf_), 0);
      if (n > 0) {
        buf_len_ = static_cast<size_t>(n);
        return true;
      }
      if (n == 0) {
        eof_ = true;
        return false;
      }
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && PollUntil(POLLIN, until)) continue;
      break;
    }
    const int n = SSL_read(ssl_, buf_, sizeof(buf_));
    if (n > 0) {
      buf_len_ = static_cast<size_t>(n);
      return true;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ && PollUntil(POLLIN, until)) continue;
    if (err == SSL_ERROR_WANT_WRITE && PollUntil(POLLOUT, until)) continue;
    ERR_clear_error();
    if (err == SSL_ERROR_ZERO_RETURN) {
      eof_ = true;
      return false;
    }
    break;
  }
  // A response (400, 408-like) can still be written; nothing more is read.
  read_failed_ = true;
  return false;
}

void Connection::Account(const char* data, size_t n) {
  size_t i = 0;
  for (; in_head_ && i < n; ++i) {
    ++head_bytes_;
    if (data[i] == '\n') {
      ++head_lines_;
      if (line_length_ == 0) in_head_ = false;  // the empty line ends the head
      line_length_ = 0;
    } else if (data[i] != '\r') {
      ++line_length_;
    }
  }
  body_bytes_ += n - i;
  if (head_bytes_ > limits_.head_bytes || head_lines_ > limits_.head_lines || body_bytes_ > limits_.body_bytes)
    read_failed_ = true;
}

ssize_t Connection::read(char* ptr, size_t size) {
  if (failed_ || read_failed_) return -1;
  if (size == 0) return 0;
  if (buf_pos_ == buf_len_ && !Fill()) return read_failed_ ? -1 : 0;
  const size_t n = std::min(size, buf_len_ - buf_pos_);
  std::copy(buf_ + buf_pos_, buf_ + buf_pos_ + n, ptr);
  buf_pos_ += n;
  Account(ptr, n);
  return read_failed_ ? -1 : static_cast<ssize_t>(n);
}

ssize_t Connection::write(const char* ptr, size_t size) {
  if (failed_) return -1;
  if (size == 0) return 0;
  const auto until = SteadyClock::now() + limits_.write_timeout;
  for (;;) {
    if (!ssl_) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n > 0) return n;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && PollUntil(POLLOUT, until)) continue;
      break;
    }
    const int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, INT_MAX)));
    if (n > 0) return n;
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_WRITE && PollUntil(POLLOUT, until)) continue;
    if (err == SSL_ERROR_WANT_READ && PollUntil(POLLIN, until)) continue;
    ERR_clear_error();
    break;
  }
  failed_ = true;
  return -1;
}

bool Connection::is_readable() const {
  if (buf_pos_ < buf_len_ || (ssl_ && SSL_pending(ssl_) > 0)) return true;
  return PollUntil(POLLIN, SteadyClock::now() + limits_.read_timeout);
}

bool Connection::is_writable() const {
  return !failed_ && PollUntil(POLLOUT, SteadyClock::now() + limits_.write_timeout);
}

Connection::Wake Connection::WaitForWake(int wake_fd, std::chrono::milliseconds timeout) {
  if (failed() || buf_pos_ < buf_len_) return Wake::kPeerGone;
  const auto until = SteadyClock::now() + timeout;
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN | POLLRDHUP, 0}, {wake_fd, POLLIN, 0}};
    const int r = ::poll(p, 2, MillisUntil(until));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Wake::kPeerGone;
    if (r == 0) return Wake::kTimeout;
    if (p[0].revents) return Wake::kPeerGone;
    uint64_t count;
    while (::read(wake_fd, &count, sizeof(count)) > 0) {
    }
    return Wake::kWoken;
  }
}

void Connection::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  port = -1;
  ip.clear();
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) ip = NumericHost(addr, len, &port);
}

void Connection::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  port = -1;
  ip.clear();
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) ip = NumericHost(addr, len, &port);
}

}  // namespace cairn
