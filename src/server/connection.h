// One client connection (plain TCP or TLS) as the httplib::Stream that
// httplib parses requests from and writes responses to. It exists because
// cpp-httplib 0.11.4 reads without bounds: a request line or header line
// without a newline, an endless list of headers, a chunked or length-less
// body all grow memory for as long as the client sends, and a client that
// sends one byte every few seconds holds a thread forever. Here every
// request gets a byte budget (head and body apart), a line budget for its
// head, and a deadline; past any of them the read fails and the connection
// is closed. The socket is non-blocking and every wait is a poll() with a
// timeout, so nothing waits forever, and writes use MSG_NOSIGNAL.
//
// Thread-safety: a connection is used by the one thread serving it; only
// Shutdown() may be called from another (to end it during Stop).
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <httplib.h>

namespace cairn {

struct ConnectionLimits {
  size_t head_bytes = 32 * 1024;   // request line and headers
  size_t head_lines = 101;         // the request line and 100 headers
  size_t body_bytes = 256 * 1024;  // on the wire (chunk framing included); decoded bodies are capped at 64 KiB
  std::chrono::milliseconds read_timeout{5000};       // longest silence while a request arrives
  std::chrono::milliseconds write_timeout{5000};      // longest wait for the client to take bytes
  std::chrono::milliseconds request_deadline{20000};  // a whole request, from its first byte
  std::chrono::milliseconds tls_handshake{10000};
};

class Connection final : public httplib::Stream {
 public:
  // Takes `ssl` (may be nullptr: plain TCP), not the socket.
  Connection(int fd, SSL* ssl, const ConnectionLimits& limits);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Makes the socket non-blocking and runs the TLS handshake, if any.
  bool Open();
  // Waits up to `idle` for the first byte of the next request; false when
  // the client closed, went silent, or the connection failed.
  bool WaitForRequest(std::chrono::milliseconds idle);
  // Starts a request: fresh budgets, deadline from now.
  void BeginRequest();
  // Sends close_notify (TLS) without waiting for the answer.
  void CloseTls();
  // From another thread: wakes every wait of this connection, ends it.
  void Shutdown();

  // A limit was exceeded, a read or write failed: serve nothing more.
  bool failed() const { return failed_ || read_failed_; }
  // The response must be the last one (an unread body is left in the socket).
  void RequestClose() { close_requested_ = true; }
  bool close_requested() const { return close_requested_; }
  bool tls() const { return ssl_ != nullptr; }
  int fd() const { return fd_; }

  // Long-lived responses (the event stream) wait here between writes.
  enum class Wake { kWoken, kTimeout, kPeerGone };
  // Waits until `wake_fd` is readable, the peer hangs up (or sends anything,
  // which an event-stream client never does), or `timeout` passes.
  Wake WaitForWake(int wake_fd, std::chrono::milliseconds timeout);

  // httplib::Stream
  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  // Reads into buf_; false on EOF, error, timeout or deadline.
  bool Fill();
  // Waits for `events` until `until` (steady clock); false on timeout or error.
  bool PollUntil(short events, std::chrono::steady_clock::time_point until) const;
  void Account(const char* data, size_t n);

  int fd_;
  SSL* ssl_;
  ConnectionLimits limits_;
  bool failed_ = false;       // writing failed: nothing more can be sent
  bool read_failed_ = false;  // a read limit, timeout or error: the response still goes out
  bool close_requested_ = false;
  bool eof_ = false;

  char buf_[4096];
  size_t buf_pos_ = 0, buf_len_ = 0;

  // The request being read.
  bool in_head_ = true;
  size_t head_bytes_ = 0, head_lines_ = 0, line_length_ = 0, body_bytes_ = 0;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace cairn
