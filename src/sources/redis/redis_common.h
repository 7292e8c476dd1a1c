// What the Redis source's pieces share: small helpers, the RESP client of
// Cairn's own (clear errors, pipelining, passwords never on a command line)
// and the fingerprint read through it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <vector>

#include "cairn/service.h"
#include "sources/field_hash.h"
#include "util/process.h"

namespace cairn::redis {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const char kPartName[] = "rdb";
const char kRdbFile[] = "dump.rdb";

// ---------------------------------------------------------------- small helpers


// Redis's CRC-64 (Jones polynomial, reflected), as stored at the end of an RDB.
class Crc64 {
 public:
  Crc64() {
    static const std::vector<uint64_t> table = [] {
      std::vector<uint64_t> t(256);
      for (uint64_t i = 0; i < 256; ++i) {
        uint64_t c = i;
        for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x95AC9329AC4BC9B5ULL : c >> 1;
        t[i] = c;
      }
      return t;
    }();
    table_ = table.data();
  }
  void Update(const char* data, size_t n) {
    for (size_t i = 0; i < n; ++i) crc_ = table_[(crc_ ^ static_cast<unsigned char>(data[i])) & 0xff] ^ (crc_ >> 8);
  }
  uint64_t value() const { return crc_; }

 private:
  const uint64_t* table_;
  uint64_t crc_ = 0;
};

inline std::string LowerFirst(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

inline std::string FirstLine(const std::string& s) {
  std::string line = s.substr(0, s.find_first_of("\r\n"));
  return line;
}

// "7.0.15" -> {7, 0, 15}; missing parts are 0.
inline std::vector<int> ParseVersion(const std::string& text) {
  std::vector<int> v;
  size_t i = 0;
  while (i < text.size() && v.size() < 3) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) break;
    int n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) n = n * 10 + (text[i++] - '0');
    v.push_back(n);
    if (i < text.size() && text[i] == '.') ++i;
  }
  while (v.size() < 3) v.push_back(0);
  return v;
}

// Compares major.minor only: patch releases share the RDB format.
inline int CompareMajorMinor(const std::string& a, const std::string& b) {
  auto x = ParseVersion(a), y = ParseVersion(b);
  if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
  if (x[1] != y[1]) return x[1] < y[1] ? -1 : 1;
  return 0;
}

inline std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  int fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    size_t got = 0;
    while (got < bytes) {
      ssize_t n = ::read(fd, raw.data() + got, bytes - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  std::string out;
  for (unsigned char c : raw) {
    char b[3];
    std::snprintf(b, sizeof b, "%02x", c);
    out += b;
  }
  return out;
}

// ---------------------------------------------------------------- RESP client

struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string socket;
  std::string Describe() const { return socket.empty() ? host + ":" + std::to_string(port) : socket; }
  bool IsLocal() const { return !socket.empty() || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }
};

struct Reply {
  enum Type { kStatus, kError, kInteger, kBulk, kNil, kArray };
  Type type = kNil;
  std::string str;
  int64_t integer = 0;
  std::vector<Reply> elements;
  bool IsError() const { return type == kError; }
};

class RedisConnection {
 public:
  static Result<std::unique_ptr<RedisConnection>> Connect(const Endpoint& ep, int timeout_ms = 5000) {
    const std::string where = "Redis at " + ep.Describe();
    int fd = -1;
    int last_errno = 0;
    auto connect_fd = [&](int family, const sockaddr* addr, socklen_t len) -> bool {
      fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) {
        last_errno = errno;
        return false;
      }
      int rc = ::connect(fd, addr, len);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        rc = ::poll(&p, 1, timeout_ms);
        if (rc == 0) {
          last_errno = ETIMEDOUT;
          rc = -1;
        } else {
          int err = 0;
          socklen_t l = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
          last_errno = err;
          rc = err == 0 ? 0 : -1;
        }
      } else if (rc != 0) {
        last_errno = errno;
      }
      if (rc != 0) {
        ::close(fd);
        fd = -1;
        return false;
      }
      return true;
    };
    if (!ep.socket.empty()) {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      if (ep.socket.size() >= sizeof addr.sun_path)
        return Status::InvalidArgument("socket path too long: " + ep.socket);
      std::memcpy(addr.sun_path, ep.socket.c_str(), ep.socket.size() + 1);
      connect_fd(AF_UNIX, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } else {
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      int rc = ::getaddrinfo(ep.host.c_str(), std::to_string(ep.port).c_str(), &hints, &res);
      if (rc != 0) return Status::IOError("cannot connect to " + where + ": " + gai_strerror(rc));
      for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) connect_fd(ai->ai_family, ai->ai_addr, ai->ai_addrlen);
      ::freeaddrinfo(res);
    }
    if (fd < 0)
      return Status::IOError("cannot connect to " + where + ": " +
                             LowerFirst(std::strerror(last_errno ? last_errno : ECONNREFUSED)));
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    timeval tv{120, 0};  // a stuck server must not hang a backup forever
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return std::unique_ptr<RedisConnection>(new RedisConnection(fd, where));
  }

  ~RedisConnection() { ::close(fd_); }
  const std::string& where() const { return where_; }

  void Append(const std::vector<std::string>& args) {
    out_ += "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) {
      out_ += "$" + std::to_string(a.size()) + "\r\n";
      out_ += a;
      out_ += "\r\n";
    }
  }

  Status Flush() {
    size_t off = 0;
    while (off < out_.size()) {
      ssize_t n = ::send(fd_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        out_.clear();
        return Status::IOError(where_ + ": connection lost while sending: " + LowerFirst(std::strerror(errno)));
      }
      off += static_cast<size_t>(n);
    }
    out_.clear();
    return Status::Ok();
  }

  Result<Reply> Read() {
    CAIRN_ASSIGN_OR_RETURN(std::string line, ReadLine());
    if (line.empty()) return Status::IOError(where_ + ": malformed reply");
    Reply r;
    const std::string rest = line.substr(1);
    switch (line[0]) {
      case '+':
        r.type = Reply::kStatus;
        r.str = rest;
        return r;
      case '-':
        r.type = Reply::kError;
        r.str = rest;
        return r;
      case ':':
        r.type = Reply::kInteger;
        r.integer = std::strtoll(rest.c_str(), nullptr, 10);
        return r;
      case '$': {
        long long len = std::strtoll(rest.c_str(), nullptr, 10);
        if (len < 0) return r;  // nil
        CAIRN_RETURN_IF_ERROR(Need(static_cast<size_t>(len) + 2));
        r.type = Reply::kBulk;
        r.str = in_.substr(pos_, static_cast<size_t>(len));
        pos_ += static_cast<size_t>(len) + 2;
        return r;
      }
      case '*': {
        long long n = std::strtoll(rest.c_str(), nullptr, 10);
        if (n < 0) return r;
        r.type = Reply::kArray;
        r.elements.reserve(static_cast<size_t>(n));
        for (long long i = 0; i < n; ++i) {
          CAIRN_ASSIGN_OR_RETURN(Reply e, Read());
          r.elements.push_back(std::move(e));
        }
        return r;
      }
      default:
        return Status::IOError(where_ + ": unexpected reply '" + line.substr(0, 40) + "'");
    }
  }

  // One command; an error reply is returned as a Reply, transport failures as Status.
  Result<Reply> CallRaw(const std::vector<std::string>& args) {
    Append(args);
    CAIRN_RETURN_IF_ERROR(Flush());
    return Read();
  }

  // One command; error replies become a Status naming the server and command.
  Result<Reply> Call(const std::vector<std::string>& args) {
    CAIRN_ASSIGN_OR_RETURN(Reply r, CallRaw(args));
    if (r.IsError()) return CommandError(args, r.str);
    return r;
  }

  Status CommandError(const std::vector<std::string>& args, const std::string& error) const {
    if (error.rfind("NOAUTH", 0) == 0)
      return Status::WrongPassword(where_ + " requires a password (set password or password_file)");
    if (error.rfind("NOPERM", 0) == 0)
      return Status::IOError(where_ + ": the user may not run " + args[0] + ": " + error);
    std::string cmd = args[0];
    if (args.size() > 1 && (cmd == "CONFIG" || cmd == "INFO" || cmd == "CLIENT")) cmd += " " + args[1];
    return Status::IOError(where_ + ": " + cmd + " failed: " + error);
  }

 private:
  RedisConnection(int fd, std::string where) : fd_(fd), where_(std::move(where)) {}

  Status Fill() {
    if (pos_ > 0 && pos_ >= in_.size() / 2) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return Status::IOError(where_ + ": no reply within 120 s");
      if (n < 0) return Status::IOError(where_ + ": connection lost: " + LowerFirst(std::strerror(errno)));
      if (n == 0) return Status::IOError(where_ + " closed the connection");
      in_.append(buf, static_cast<size_t>(n));
      return Status::Ok();
    }
  }

  Status Need(size_t n) {
    while (in_.size() - pos_ < n) CAIRN_RETURN_IF_ERROR(Fill());
    return Status::Ok();
  }

  Result<std::string> ReadLine() {
    for (;;) {
      size_t eol = in_.find("\r\n", pos_);
      if (eol != std::string::npos) {
        std::string line = in_.substr(pos_, eol - pos_);
        pos_ = eol + 2;
        return line;
      }
      CAIRN_RETURN_IF_ERROR(Fill());
    }
  }

  int fd_;
  std::string where_;
  std::string out_, in_;
  size_t pos_ = 0;
};

struct Credentials {
  std::string user, password;
};

// `no_password_needed` (optional) is set when the server has no password at all.
inline Result<std::unique_ptr<RedisConnection>> ConnectAuth(const Endpoint& ep, const Credentials& cred,
                                                     bool* no_password_needed = nullptr) {
  CAIRN_ASSIGN_OR_RETURN(auto c, RedisConnection::Connect(ep));
  if (cred.password.empty()) return c;
  std::vector<std::string> args = {"AUTH"};
  if (!cred.user.empty()) args.push_back(cred.user);
  args.push_back(cred.password);
  CAIRN_ASSIGN_OR_RETURN(Reply r, c->CallRaw(args));
  if (r.IsError()) {
    // A server without a password answers AUTH with an error but serves anyway.
    if (r.str.find("without any password configured") != std::string::npos) {
      if (no_password_needed) *no_password_needed = true;
      return c;
    }
    if (r.str.rfind("WRONGPASS", 0) == 0 || r.str.find("invalid password") != std::string::npos ||
        r.str.find("invalid username-password") != std::string::npos)
      return Status::WrongPassword(c->where() + " rejected the password" +
                                   (cred.user.empty() ? "" : " for user " + cred.user) + " (" + FirstLine(r.str) + ")");
    return Status::IOError(c->where() + ": AUTH failed: " + FirstLine(r.str));
  }
  return c;
}

inline std::map<std::string, std::string> ParseInfo(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (!line.empty() && line[0] != '#' && colon != std::string::npos)
      out[line.substr(0, colon)] = line.substr(colon + 1);
    start = end + 1;
  }
  return out;
}

inline Result<std::map<std::string, std::string>> Info(RedisConnection& c, const std::string& section) {
  CAIRN_ASSIGN_OR_RETURN(Reply r, c.Call({"INFO", section}));
  return ParseInfo(r.str);
}

// ---------------------------------------------------------------- fingerprint

inline void HashReply(FieldHasher& h, const Reply& r) {
  switch (r.type) {
    case Reply::kArray:
      h.Field('[', std::to_string(r.elements.size()));
      for (const Reply& e : r.elements) HashReply(h, e);
      break;
    case Reply::kInteger:
      h.Field(':', std::to_string(r.integer));
      break;
    case Reply::kNil:
      h.Field('_', "");
      break;
    default:
      h.Field('$', r.str);
  }
}

// Value of one key in a canonical form (member order of sets and hashes is
// an accident of the encoding, so those are sorted).
inline std::vector<std::string> ValueCommand(const std::string& type, const std::string& key) {
  if (type == "string") return {"GET", key};
  if (type == "list") return {"LRANGE", key, "0", "-1"};
  if (type == "set") return {"SMEMBERS", key};
  if (type == "zset") return {"ZRANGE", key, "0", "-1", "WITHSCORES"};
  if (type == "hash") return {"HGETALL", key};
  if (type == "stream") return {"XRANGE", key, "-", "+"};
  return {"DUMP", key};  // module types: their serialized form
}

inline void HashValue(FieldHasher& h, const std::string& type, const Reply& value) {
  if ((type == "set" || type == "hash") && value.type == Reply::kArray) {
    std::vector<std::string> items;
    if (type == "set") {
      for (const Reply& e : value.elements) items.push_back(e.str);
    } else {
      for (size_t i = 0; i + 1 < value.elements.size(); i += 2) {
        std::string k = value.elements[i].str, v = value.elements[i + 1].str;
        items.push_back(std::to_string(k.size()) + ":" + k + v);
      }
    }
    std::sort(items.begin(), items.end());
    h.Field('[', std::to_string(items.size()));
    for (const std::string& s : items) h.Field('$', s);
    return;
  }
  HashReply(h, value);
}

inline Result<Json> FingerprintItems(RedisConnection& c) {
  CAIRN_ASSIGN_OR_RETURN(auto keyspace, Info(c, "keyspace"));
  Json items = Json::object();
  for (const auto& [name, stats] : keyspace) {
    if (name.rfind("db", 0) != 0) continue;
    const std::string db = name.substr(2);
    CAIRN_ASSIGN_OR_RETURN(Reply sel, c.Call({"SELECT", db}));
    std::vector<std::pair<uint64_t, uint64_t>> entries;  // (hash of the name, hash of everything)
    std::string cursor = "0";
    do {
      CAIRN_ASSIGN_OR_RETURN(Reply scan, c.Call({"SCAN", cursor, "COUNT", "1000"}));
      if (scan.type != Reply::kArray || scan.elements.size() != 2)
        return Status::IOError(c.where() + ": unexpected SCAN reply");
      cursor = scan.elements[0].str;
      const std::vector<Reply>& keys = scan.elements[1].elements;
      if (keys.empty()) continue;
      for (const Reply& k : keys) {
        c.Append({"TYPE", k.str});
        c.Append({"PTTL", k.str});
      }
      CAIRN_RETURN_IF_ERROR(c.Flush());
      std::vector<std::string> types(keys.size());
      std::vector<bool> expiring(keys.size());
      for (size_t i = 0; i < keys.size(); ++i) {
        CAIRN_ASSIGN_OR_RETURN(Reply t, c.Read());
        CAIRN_ASSIGN_OR_RETURN(Reply ttl, c.Read());
        if (t.IsError()) return c.CommandError({"TYPE"}, t.str);
        types[i] = t.str;
        expiring[i] = ttl.type == Reply::kInteger && ttl.integer >= 0;
      }
      // Keys with a TTL are left out: they may rightly be gone by the time a
      // backup is restored, and must not fail its validation.
      auto counted = [&](size_t i) { return types[i] != "none" && !expiring[i]; };
      for (size_t i = 0; i < keys.size(); ++i)
        if (counted(i)) c.Append(ValueCommand(types[i], keys[i].str));
      CAIRN_RETURN_IF_ERROR(c.Flush());
      for (size_t i = 0; i < keys.size(); ++i) {
        if (!counted(i)) continue;
        CAIRN_ASSIGN_OR_RETURN(Reply v, c.Read());
        if (v.IsError()) return c.CommandError(ValueCommand(types[i], keys[i].str), v.str);
        FieldHasher name_hash;
        name_hash.Field('k', keys[i].str);
        FieldHasher h;
        h.Field('k', keys[i].str);
        h.Field('y', types[i]);
        HashValue(h, types[i], v);
        entries.emplace_back(name_hash.Digest(), h.Digest());
      }
    } while (cursor != "0");
    // SCAN may return a key twice (rehashing); count each name once.
    std::sort(entries.begin(), entries.end());
    entries.erase(
        std::unique(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first == b.first; }),
        entries.end());
    if (entries.empty()) continue;
    uint64_t sum = 0;
    for (const auto& e : entries) sum += e.second;
    items["db" + db] = Json{{"keys", entries.size()}, {"digest", Hex64(sum)}};
  }
  CAIRN_RETURN_IF_ERROR(c.Call({"SELECT", "0"}).status());
  return items;
}

}  // namespace cairn::redis
