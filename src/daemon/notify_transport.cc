#include "daemon/notify_transport.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <mutex>
#include <thread>

#include "util/process.h"

namespace cairn {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::steady_clock;

constexpr size_t kKeepAnswer = 4096;  // of a webhook's answer, for the error message

// curl_global_init is not thread-safe before libcurl 7.84 and the S3 driver
// may race us to it; once per process, as that driver does.
void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
template <typename T>
using CurlPtr = std::unique_ptr<T, CurlDeleter>;

Result<std::string> ReadSecretFile(const std::string& path, const char* key) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(std::string("cannot read ") + key + " " + path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.empty()) return Status::InvalidArgument(std::string(key) + " " + path + " is empty");
  return line;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The host of a URL ("" when it does not parse), for messages and the
// loopback rule: never the path, which holds the secret of Slack-style URLs.
std::string UrlHost(const std::string& url) {
  CurlPtr<CURLU> u(curl_url());
  char* host = nullptr;
  if (!u || curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK)
    return "";
  std::string out = host;
  curl_free(host);
  return Lower(out);
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]" || host == "::1";
}

std::string CurlError(CURLcode rc, const char* errbuf) {
  return errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
}

size_t KeepAnswer(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  const size_t len = size * n;
  if (out->size() < kKeepAnswer) out->append(data, std::min(len, kKeepAnswer - out->size()));
  return len;
}

// Settings every request shares: bounded in time, no signals (we run in a
// thread of a bigger program), no redirects (a 3xx is not "delivered").
void CommonOptions(CURL* h, const std::string& url, nanoseconds timeout, char* errbuf) {
  const long ms = std::max<long>(1, static_cast<long>(std::chrono::duration_cast<milliseconds>(timeout).count()));
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn/" CAIRN_VERSION);
}

Status SendWebhook(const NotificationConfig& c, const NotifyMessage& m, nanoseconds timeout) {
  const std::string what = "webhook to " + UrlHost(c.url);
  CurlPtr<curl_slist> headers;
  auto add = [&](const std::string& h) { headers.reset(curl_slist_append(headers.release(), h.c_str())); };
  add("Content-Type: application/json");
  add("X-Cairn-Event: " + m.event);
  add("X-Cairn-Delivery: " + std::to_string(m.delivery_id));
  add("Expect:");  // no "100-continue" round trip for a small body
  if (!c.secret_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(std::string key, ReadSecretFile(c.secret_file, "secret_file"));
    add("X-Cairn-Signature: sha256=" + HmacSha256Hex(key, m.body));
  }
  if (!headers) return Status::IOError(what + ": out of memory");
  CurlGlobalInit();
  CurlPtr<CURL> h(curl_easy_init());
  if (!h) return Status::IOError(what + ": cannot start libcurl");
  char errbuf[CURL_ERROR_SIZE] = {0};
  std::string answer;
  CommonOptions(h.get(), c.url, timeout, errbuf);
  curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDS, m.body.data());
  curl_easy_setopt(h.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(m.body.size()));
  curl_easy_setopt(h.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h.get(), CURLOPT_WRITEFUNCTION, KeepAnswer);
  curl_easy_setopt(h.get(), CURLOPT_WRITEDATA, &answer);
  const CURLcode rc = curl_easy_perform(h.get());
  if (rc != CURLE_OK) return Status::IOError(what + ": " + CurlError(rc, errbuf));
  long code = 0;
  curl_easy_getinfo(h.get(), CURLINFO_RESPONSE_CODE, &code);
  if (code >= 200 && code < 300) return Status::Ok();
  std::string line = answer.substr(0, answer.find_first_of("\r\n"));
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  for (char& ch : line)
    if (static_cast<unsigned char>(ch) < 0x20) ch = ' ';
  return Status::IOError(what + ": HTTP " + std::to_string(code) + (line.empty() ? "" : ": " + line));
}

// The message body as curl reads it for the SMTP DATA phase (curl escapes
// lines that start with a dot).
struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* up = static_cast<Upload*>(user);
  const size_t len = std::min(size * n, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, len);
  up->offset += len;
  return len;
}

Status SendEmail(const NotificationConfig& c, const NotifyMessage& m, nanoseconds timeout) {
  const std::string host = UrlHost(c.smtp_url);
  const std::string what = "email via " + host;
  std::string password;
  if (!c.password_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(password, ReadSecretFile(c.password_file, "password_file"));
  }
  const std::string mail = FormatMail(c, m);
  CurlPtr<curl_slist> rcpt;
  for (const std::string& to : c.to) rcpt.reset(curl_slist_append(rcpt.release(), ("<" + to + ">").c_str()));
  CurlGlobalInit();
  CurlPtr<CURL> h(curl_easy_init());
  if (!h || !rcpt) return Status::IOError(what + ": cannot start libcurl");
  char errbuf[CURL_ERROR_SIZE] = {0};
  Upload upload{&mail};
  CommonOptions(h.get(), c.smtp_url, timeout, errbuf);
  curl_easy_setopt(h.get(), CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  // smtps:// is TLS from the first byte. smtp:// must upgrade with STARTTLS,
  // except to a relay on this machine, where nothing crosses a network and
  // local relays (Postfix's default) often offer no certificate.
  const bool implicit_tls = c.smtp_url.rfind("smtps://", 0) == 0;
  curl_easy_setopt(h.get(), CURLOPT_USE_SSL,
                   implicit_tls || !IsLoopback(host) ? static_cast<long>(CURLUSESSL_ALL)
                                                     : static_cast<long>(CURLUSESSL_TRY));
  curl_easy_setopt(h.get(), CURLOPT_MAIL_FROM, ("<" + c.from + ">").c_str());
  curl_easy_setopt(h.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  if (!password.empty()) {
    curl_easy_setopt(h.get(), CURLOPT_USERNAME, c.username.c_str());
    curl_easy_setopt(h.get(), CURLOPT_PASSWORD, password.c_str());
  }
  curl_easy_setopt(h.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h.get(), CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(h.get(), CURLOPT_READDATA, &upload);
  const CURLcode rc = curl_easy_perform(h.get());
  std::fill(password.begin(), password.end(), '\0');
  if (rc == CURLE_USE_SSL_FAILED)
    return Status::IOError(what + ": the server offers no STARTTLS (use smtps://, or a relay on this machine)");
  if (rc != CURLE_OK) return Status::IOError(what + ": " + CurlError(rc, errbuf));
  return Status::Ok();
}

// Writes all of `data` to a non-blocking `fd` before `deadline`. A program
// that exits without reading is not an error here: its exit status says.
void WriteUntil(int fd, const std::string& data, steady_clock::time_point deadline) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  SigpipeGuard guard;
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return;
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) return;
    struct pollfd p = {fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
  }
}

std::string FirstLine(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) return line;
    start = end + 1;
  }
  return "";
}

Status RunCommand(const NotificationConfig& c, const NotifyMessage& m, nanoseconds timeout) {
  const std::string what = "command " + c.command[0];
  ProcessOptions o;
  o.argv = c.command;
  // What a script needs to run and to word its message, nothing of the
  // daemon's own environment (which may hold CAIRN_PASSWORD or AWS keys).
  o.inherit_env = false;
  const char* path = std::getenv("PATH");
  const char* home = std::getenv("HOME");
  o.env = {std::string("PATH=") + (path && *path ? path : "/usr/local/bin:/usr/bin:/bin"), "LANG=C.UTF-8",
           "CAIRN_EVENT=" + m.event, "CAIRN_SEVERITY=" + m.severity, "CAIRN_RULE=" + m.rule,
           "CAIRN_SERVICE=" + m.service, "CAIRN_SUBJECT=" + m.subject};
  if (home && *home) o.env.push_back(std::string("HOME=") + home);
  o.cwd = "/";
  o.stdin_pipe = true;
  o.new_process_group = true;  // a timeout kills the program and whatever it started
  auto started = Process::Start(std::move(o));
  if (!started.ok()) return Status::IOError(what + ": " + started.status().message());
  std::unique_ptr<Process> p = std::move(started).value();
  const auto deadline = steady_clock::now() + timeout;
  WriteUntil(p->stdin_fd(), m.body, deadline);
  p->CloseStdin();
  bool timed_out = false;
  while (p->Running()) {
    if (steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  // Also once it exited: a background child left holding its stderr would
  // keep Wait (which reads stderr to the end) from returning.
  ::kill(-p->pid(), SIGKILL);
  Status st = p->Wait();
  const double seconds = std::chrono::duration<double>(timeout).count();
  if (timed_out) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", seconds);
    return Status::IOError(what + ": still running after " + buf + " s (killed)");
  }
  if (st.ok()) return st;
  // Process::Wait names the exit status and stderr's last line; the first
  // line of a failing script is usually the one that says why.
  std::string how = st.message();
  const size_t open = how.find(" failed (");
  if (open != std::string::npos && how.find(')', open) != std::string::npos)
    how = how.substr(open + 9, how.find(')', open) - open - 9);
  const std::string line = FirstLine(p->captured_stderr());
  return Status::IOError(what + " failed (" + how + ")" + (line.empty() ? "" : ": " + line));
}

class RealTransport : public NotifyTransport {
 public:
  Status Send(const NotificationConfig& channel, const NotifyMessage& message, nanoseconds timeout) override {
    switch (channel.type) {
      case NotificationType::kWebhook: return SendWebhook(channel, message, timeout);
      case NotificationType::kEmail: return SendEmail(channel, message, timeout);
      case NotificationType::kCommand: return RunCommand(channel, message, timeout);
    }
    return Status::InvalidArgument("unknown notification type");
  }
};

// RFC 5322's date, in English whatever the locale.
std::string MailDate(int64_t ns) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// A header value on one line whatever the alert's text holds.
std::string HeaderValue(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return s;
}

}  // namespace

std::unique_ptr<NotifyTransport> MakeNotifyTransport() { return std::make_unique<RealTransport>(); }

std::string HmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), mac, &len);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

std::string FormatMail(const NotificationConfig& channel, const NotifyMessage& m) {
  std::string domain;
  for (char c : m.host)
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') domain += c;
  if (domain.empty()) domain = "localhost";
  std::string to;
  for (const std::string& a : channel.to) to += (to.empty() ? "" : ", ") + a;
  std::string mail;
  auto header = [&](const std::string& name, const std::string& value) {
    mail += name + ": " + HeaderValue(value) + "\r\n";
  };
  header("Date", MailDate(m.sent_ns));
  header("From", "Cairn <" + channel.from + ">");
  header("To", to);
  header("Subject", m.subject);
  header("Message-ID", "<cairn." + std::to_string(m.delivery_id) + "." + std::to_string(m.sent_ns) + "@" + domain + ">");
  header("MIME-Version", "1.0");
  header("Content-Type", "text/plain; charset=utf-8");
  header("Content-Transfer-Encoding", "8bit");
  header("Auto-Submitted", "auto-generated");  // RFC 3834: no vacation replies to a robot
  header("X-Cairn-Event", m.event);
  mail += "\r\n";
  for (size_t start = 0; start < m.text.size();) {
    size_t end = m.text.find('\n', start);
    if (end == std::string::npos) end = m.text.size();
    std::string line = m.text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    mail += line + "\r\n";
    start = end + 1;
  }
  return mail;
}

}  // namespace cairn
