// S3 driver: libcurl easy handles from a bounded pool, requests signed with
// our SigV4 signer, responses parsed with the minimal XML reader.
#include "storage/s3/s3_storage.h"

#include <curl/curl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <unistd.h>
#include <mutex>
#include <vector>

#include "storage/s3/s3_sigv4.h"
#include "storage/s3/s3_xml.h"
#include "storage/wrappers/retrying_storage.h"

namespace cairn {
namespace {

using s3::CanonicalQuery;
using s3::Sha256Hex;
using s3::UriEncode;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kMinPartSize = 5 * kMiB;
constexpr uint64_t kMaxPartSize = 5ull << 30;
constexpr uint64_t kMaxSinglePut = 5ull << 30;
constexpr uint64_t kMaxParts = 10000;
constexpr const char* kSyntax = "expected s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX][?region=..&path_style=..]";

using Params = std::vector<std::pair<std::string, std::string>>;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

const char* GetEnv(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

void CurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---- endpoint ----

struct Endpoint {
  std::string scheme;  // "http" or "https"
  std::string host;    // lower case; IPv6 literals keep their brackets
  std::string port;    // "" when the URL has none
  bool DefaultPort() const {
    return port.empty() || (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
  }
  std::string Authority(std::string_view bucket_label) const {
    std::string a;
    if (!bucket_label.empty()) a = std::string(bucket_label) + ".";
    a += host;
    if (!DefaultPort()) a += ":" + port;
    return a;
  }
};

Result<Endpoint> ParseEndpoint(std::string_view url) {
  Endpoint ep;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return Status::InvalidArgument("S3 endpoint '" + std::string(url) + "' has no scheme (http:// or https://)");
  ep.scheme = Lower(url.substr(0, sep));
  if (ep.scheme != "http" && ep.scheme != "https")
    return Status::InvalidArgument("S3 endpoint scheme must be http or https, not '" + ep.scheme + "'");
  std::string_view authority = url.substr(sep + 3);
  while (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find_first_of("@") != std::string_view::npos)
    return Status::InvalidArgument("S3 endpoint must not contain credentials (user@host); use the environment");
  if (authority.find_first_of("/?#") != std::string_view::npos)
    return Status::InvalidArgument("S3 endpoint '" + std::string(url) + "' must be scheme://host[:port] without a path");
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Status::InvalidArgument("S3 endpoint has an unterminated IPv6 address");
    host = authority.substr(0, close + 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Status::InvalidArgument("S3 endpoint '" + std::string(url) + "' is malformed");
      port = rest.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
        return Status::InvalidArgument("S3 endpoint host '" + std::string(host) + "' is malformed");
  }
  if (host.empty()) return Status::InvalidArgument("S3 endpoint '" + std::string(url) + "' has no host");
  if (!port.empty() || authority.back() == ':') {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return Status::InvalidArgument("S3 endpoint port '" + std::string(port) + "' is invalid");
  }
  ep.host = Lower(host);
  ep.port = std::string(port);
  return ep;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.") || host == "[::1]";
}

// ---- HTTP plumbing ----

struct Request {
  const char* method = "GET";
  std::string key;  // full S3 object key; "" addresses the bucket
  Params query;     // raw names and values
  Params headers;   // extra headers to send and sign (lower-case names)
  ByteView body;
  bool has_body = false;
};

struct Response {
  long status = 0;
  Bytes body;
  Params headers;  // lower-case names
  std::string Header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (n == name) return v;
    return "";
  }
};

struct Transfer {
  Response* response;
  ByteView upload;
  size_t upload_pos = 0;
};

size_t WriteCallback(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response->body.insert(t->response->body.end(), reinterpret_cast<uint8_t*>(data),
                           reinterpret_cast<uint8_t*>(data) + size * n);
  return size * n;
}

size_t HeaderCallback(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue, ...)
    t->response->headers.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = Lower(line.substr(0, colon));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (name == "content-length") {
    uint64_t length = 0;
    std::from_chars(value.data(), value.data() + value.size(), length);
    t->response->body.reserve(static_cast<size_t>(std::min<uint64_t>(length, 1ull << 31)));
  }
  t->response->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

size_t ReadCallback(char* out, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t take = std::min(size * n, t->upload.size() - t->upload_pos);
  std::memcpy(out, t->upload.data() + t->upload_pos, take);
  t->upload_pos += take;
  return take;
}

int SeekCallback(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->upload.size()) return CURL_SEEKFUNC_CANTSEEK;
  t->upload_pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

bool IsTransientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

// A fixed-size pool of easy handles. Handles keep their connection caches
// across requests (curl_easy_reset keeps live connections), so a handle
// reused for the same host reuses its keep-alive connection.
class HandlePool {
 public:
  explicit HandlePool(int max) : max_(max) {}
  ~HandlePool() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }
  CURL* Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_use_ < max_; });
    ++in_use_;
    if (!idle_.empty()) {
      CURL* h = idle_.back();
      idle_.pop_back();
      return h;
    }
    lock.unlock();
    CURL* h = curl_easy_init();
    if (!h) {
      std::lock_guard relock(mu_);
      --in_use_;
      cv_.notify_one();
    }
    return h;
  }
  void Release(CURL* h) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(h);
      --in_use_;
    }
    cv_.notify_one();
  }

 private:
  const int max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CURL*> idle_;
  int in_use_ = 0;
};

class PooledHandle {
 public:
  explicit PooledHandle(HandlePool* pool) : pool_(pool), h_(pool->Acquire()) {}
  ~PooledHandle() {
    if (h_) pool_->Release(h_);
  }
  PooledHandle(const PooledHandle&) = delete;
  PooledHandle& operator=(const PooledHandle&) = delete;
  CURL* get() const { return h_; }

 private:
  HandlePool* pool_;
  CURL* h_;
};

class SlistGuard {
 public:
  ~SlistGuard() { curl_slist_free_all(list_); }
  void Append(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

// ---- the driver ----

class S3Storage final : public Storage {
 public:
  S3Storage(S3Options options, Endpoint endpoint)
      : o_(std::move(options)), ep_(std::move(endpoint)), pool_(o_.max_connections) {
    key_prefix_ = o_.prefix.empty() ? "" : o_.prefix + "/";
    location_ = "s3:" + o_.endpoint + "/" + o_.bucket + (o_.prefix.empty() ? "" : "/" + o_.prefix);
  }

  Status Put(std::string_view key, ByteView data) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    if (data.size() >= o_.multipart_threshold && data.size() > 0) return PutMultipart(key, data);
    if (data.size() > kMaxSinglePut) return PutMultipart(key, data);
    Request req;
    req.method = "PUT";
    req.key = FullKey(key);
    req.headers = {{"content-type", "application/octet-stream"}};
    req.body = data;
    req.has_body = true;
    Response r;
    const std::string what = What("PUT", key);
    CAIRN_RETURN_IF_ERROR(Perform(req, &r, what));
    if (r.status != 200) return HttpError(what, r);
    return Status::Ok();
  }

  Result<Bytes> Get(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    Request req;
    req.key = FullKey(key);
    Response r;
    const std::string what = What("GET", key);
    CAIRN_RETURN_IF_ERROR(Perform(req, &r, what));
    if (r.status != 200) return HttpError(what, r);
    return std::move(r.body);
  }

  Result<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    const std::string what = What("GET", key) + " range [" + std::to_string(offset) + ", +" + std::to_string(length) + ")";
    if (length == 0) {  // HTTP cannot express an empty range; check bounds instead
      CAIRN_ASSIGN_OR_RETURN(ObjectInfo info, Stat(key));
      if (offset > info.size)
        return Status::Corruption(what + ": the object is only " + std::to_string(info.size) + " bytes");
      return Bytes();
    }
    if (offset + length < offset) return Status::Corruption(what + ": reads past the end of any object");
    Request req;
    req.key = FullKey(key);
    req.headers = {{"range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}};
    Response r;
    CAIRN_RETURN_IF_ERROR(Perform(req, &r, what));
    if (r.status == 206) {
      std::string content_range = r.Header("content-range");  // "bytes 10-19/100"
      uint64_t start = 0;
      if (content_range.starts_with("bytes ")) {
        const char* p = content_range.data() + 6;
        std::from_chars(p, content_range.data() + content_range.size(), start);
      }
      if (start != offset) return Status::IOError(what + ": server answered with range '" + content_range + "'");
      if (r.body.size() < length)
        return Status::Corruption(what + ": reads past the end of the object (" + content_range + ")");
      r.body.resize(length);  // a server that sent more than asked for
      return std::move(r.body);
    }
    if (r.status == 200) {  // the server ignored Range and sent everything
      if (offset + length > r.body.size())
        return Status::Corruption(what + ": reads past the end of the " + std::to_string(r.body.size()) + "-byte object");
      return Bytes(r.body.begin() + static_cast<ptrdiff_t>(offset),
                   r.body.begin() + static_cast<ptrdiff_t>(offset + length));
    }
    if (r.status == 416) return Status::Corruption(what + ": starts past the end of the object");
    return HttpError(what, r);
  }

  Status List(std::string_view prefix, const std::function<Status(const ObjectInfo&)>& fn) override {
    const std::string full_prefix = key_prefix_ + std::string(prefix);
    const std::string what = "s3 LIST '" + std::string(prefix) + "' (" + location_ + ")";
    std::string token;
    s3::ListPage page;
    while (true) {
      Request req;
      req.key = "";
      req.query = {{"list-type", "2"}, {"prefix", full_prefix}};
      if (o_.list_page_size != 1000) req.query.emplace_back("max-keys", std::to_string(o_.list_page_size));
      if (!token.empty()) req.query.emplace_back("continuation-token", token);
      Response r;
      CAIRN_RETURN_IF_ERROR(Perform(req, &r, what));  // releases the connection before fn runs
      if (r.status != 200) return HttpError(what, r);
      if (!s3::ParseListObjectsV2(AsString(r.body), &page))
        return Status::IOError(what + ": malformed ListObjectsV2 response");
      for (const s3::ListEntry& e : page.entries) {
        if (!e.key.starts_with(full_prefix)) continue;  // not ours (a misbehaving server)
        CAIRN_RETURN_IF_ERROR(fn(ObjectInfo{e.key.substr(key_prefix_.size()), e.size}));
      }
      if (!page.truncated) return Status::Ok();
      if (page.next_token == token) return Status::IOError(what + ": server repeated a continuation token");
      token = page.next_token;
    }
  }

  Status Delete(std::string_view key) override {
    // S3 answers DELETE of a missing key with 204, so look first; a concurrent
    // deleter can still make both calls succeed.
    CAIRN_RETURN_IF_ERROR(Stat(key).status());
    Request req;
    req.method = "DELETE";
    req.key = FullKey(key);
    Response r;
    const std::string what = What("DELETE", key);
    CAIRN_RETURN_IF_ERROR(Perform(req, &r, what));
    if (r.status != 204 && r.status != 200) return HttpError(what, r);
    return Status::Ok();
  }

  Result<ObjectInfo> Stat(std::string_view key) override {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    Request req;
    req.method = "HEAD";
    req.key = FullKey(key);
    Response r;
    const std::string what = What("HEAD", key);
    CAIRN_RETURN_IF_ERROR(Perform(req, &r, what));
    if (r.status != 200) return HttpError(what, r);
    const std::string length = r.Header("content-length");
    uint64_t size = 0;
    auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), size);
    if (length.empty() || ec != std::errc() || end != length.data() + length.size())
      return Status::IOError(what + ": response has no valid Content-Length");
    return ObjectInfo{std::string(key), size};
  }

  StorageCapabilities capabilities() const override { return {o_.max_connections, false}; }
  std::string location() const override { return location_; }

 private:
  std::string FullKey(std::string_view key) const { return key_prefix_ + std::string(key); }
  std::string What(std::string_view method, std::string_view key) const {
    return "s3 " + std::string(method) + " " + std::string(key) + " (" + location_ + ")";
  }

  static Status CheckKey(std::string_view key) {
    bool bad = key.empty() || key.front() == '/' || key.find("..") != std::string_view::npos;
    for (unsigned char c : key) bad = bad || c < 0x20 || c == 0x7f;
    if (bad) return Status::InvalidArgument("invalid storage key '" + std::string(key) + "'");
    return Status::Ok();
  }

  // Removes anything secret from a message built partly from server text.
  std::string Redact(std::string message) const {
    for (const std::string* secret : {&o_.secret_access_key, &o_.access_key_id, &o_.session_token}) {
      if (secret->size() < 4) continue;
      for (size_t at; (at = message.find(*secret)) != std::string::npos;)
        message.replace(at, secret->size(), "<redacted>");
    }
    return message;
  }

  Status HttpError(const std::string& what, const Response& r) const {
    auto err = s3::ParseS3Error(AsString(r.body));
    const std::string code = err ? err->code : "";
    std::string detail = "HTTP " + std::to_string(r.status);
    if (!code.empty()) detail += " " + code;
    if (err && !err->message.empty()) detail += ": " + err->message;
    detail = Redact(detail);
    const long s = r.status;
    if (s == 404) {
      if (code == "NoSuchBucket")
        return Status::IOError(what + ": bucket '" + o_.bucket + "' does not exist (" + detail + ")");
      if (code == "NoSuchUpload") return Status::IOError(what + ": " + detail);
      return Status::NotFound(what + ": no such object");
    }
    if (s == 403) {
      std::string hint;
      if (code == "SignatureDoesNotMatch")
        hint = "signature mismatch: the secret access key (or the region) is wrong";
      else if (code == "InvalidAccessKeyId")
        hint = "access denied: the server does not know this access key id";
      else if (code == "RequestTimeTooSkewed")
        hint = "access denied: this machine's clock differs too much from the server's";
      else if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired")
        hint = "access denied: the session token is invalid or expired";
      else if (code.empty())
        hint = "access denied or signature mismatch (the response names no error code)";
      else
        hint = "access denied";
      return Status::IOError(what + ": " + hint + " (" + detail + ")");
    }
    if (s == 301 || s == 307 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
        code == "IllegalLocationConstraintException") {
      std::string region = r.Header("x-amz-bucket-region");
      return Status::IOError(what + ": the bucket is served by another endpoint or region" +
                             (region.empty() ? "" : " (the server says region '" + region + "')") + " (" + detail + ")");
    }
    if (s >= 500 || s == 429 || s == 408 || code == "RequestTimeout" || code == "SlowDown" ||
        code == "InternalError" || code == "ServiceUnavailable")
      return TransientError(what + ": " + detail);
    return Status::IOError(what + ": " + detail);
  }

  std::string Path(const std::string& key) const {
    std::string path = o_.path_style ? "/" + UriEncode(o_.bucket, false) : "";
    if (!key.empty()) path += "/" + UriEncode(key, true);
    if (path.empty()) path = "/";
    return path;
  }

  // Sends one request. OK means an HTTP response arrived (any status);
  // transport failures come back as (mostly transient) IOErrors.
  Status Perform(const Request& req, Response* resp, const std::string& what) {
    PooledHandle handle(&pool_);
    CURL* h = handle.get();
    if (!h) return Status::IOError(what + ": cannot create a libcurl handle");
    curl_easy_reset(h);

    const std::string authority = ep_.Authority(o_.path_style ? "" : o_.bucket);
    const std::string path = Path(req.key);
    const std::string query = req.query.empty() ? "" : CanonicalQuery(req.query);
    const std::string url = ep_.scheme + "://" + authority + path + (query.empty() ? "" : "?" + query);
    const std::string amz_date = s3::AmzDate(std::time(nullptr));
    // Over https the body is protected by TLS (and every Cairn object by its
    // own MAC), so it is sent as UNSIGNED-PAYLOAD, as AWS allows: hashing
    // every uploaded pack again cost about 5% of a backup's CPU.
    const bool body = req.has_body && !req.body.empty();
    const std::string payload_hash = !body                  ? std::string(s3::kEmptySha256)
                                     : ep_.scheme == "https" ? std::string("UNSIGNED-PAYLOAD")
                                                             : Sha256Hex(req.body);

    s3::SigV4Request sig;
    sig.method = req.method;
    sig.canonical_uri = path;
    sig.canonical_query = query;
    sig.headers = {{"host", authority}, {"x-amz-date", amz_date}, {"x-amz-content-sha256", payload_hash}};
    if (!o_.session_token.empty()) sig.headers.emplace_back("x-amz-security-token", o_.session_token);
    for (const auto& hdr : req.headers) sig.headers.push_back(hdr);
    sig.payload_hash = payload_hash;
    const std::string authorization =
        s3::SignV4(sig, {o_.access_key_id, o_.secret_access_key}, o_.region, amz_date);

    SlistGuard headers;
    for (const auto& [name, value] : sig.headers) headers.Append(name + ": " + value);
    headers.Append("Authorization: " + authorization);
    headers.Append("Expect:");  // no 100-continue round trip

    resp->status = 0;
    resp->body.clear();
    resp->headers.clear();
    Transfer t{resp, req.body, 0};
    char errbuf[CURL_ERROR_SIZE] = {0};

    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cairn-s3");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o_.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(std::max<int64_t>(1, o_.stall_timeout.count())));
    if (o_.request_timeout.count() > 0)
      curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o_.request_timeout.count()));
    if (!o_.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o_.ca_bundle.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteCallback);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, HeaderCallback);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);

    if (std::strcmp(req.method, "HEAD") == 0) {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (std::strcmp(req.method, "PUT") == 0) {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadCallback);
      curl_easy_setopt(h, CURLOPT_READDATA, &t);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, SeekCallback);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &t);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (std::strcmp(req.method, "POST") == 0) {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.empty() ? "" : reinterpret_cast<const char*>(req.body.data()));
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (std::strcmp(req.method, "GET") != 0) {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method);
    }

    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    // Drop the pointers to this frame's header list, buffers and callback
    // state; the live connection stays in the handle for the next request.
    curl_easy_reset(h);
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      while (!detail.empty() && detail.back() == '\n') detail.pop_back();
      if (rc == CURLE_OPERATION_TIMEDOUT && detail.find("too slow") != std::string::npos)
        detail = "no data moved for " + std::to_string(o_.stall_timeout.count()) + " s (" + detail + ")";
      std::string message = Redact(what + ": " + detail);
      return IsTransientCurlError(rc) ? TransientError(message) : Status::IOError(message);
    }
    return Status::Ok();
  }

  Status PutMultipart(std::string_view key, ByteView data) {
    const std::string what = What("PUT", key) + " (multipart)";
    uint64_t part = o_.part_size;
    if ((data.size() + part - 1) / part > kMaxParts) part = (data.size() + kMaxParts - 1) / kMaxParts;
    const std::string full = FullKey(key);

    Request init;
    init.method = "POST";
    init.key = full;
    init.query = {{"uploads", ""}};
    init.headers = {{"content-type", "application/octet-stream"}};
    Response r;
    CAIRN_RETURN_IF_ERROR(Perform(init, &r, what + " initiate"));
    if (r.status != 200) return HttpError(what + " initiate", r);
    auto upload_id = s3::XmlText(AsString(r.body), "UploadId");
    if (!upload_id || upload_id->empty()) return Status::IOError(what + ": initiate response has no UploadId");

    std::string complete = "<CompleteMultipartUpload>";
    Status st;
    for (uint64_t offset = 0, number = 1; offset < data.size(); offset += part, ++number) {
      Request put;
      put.method = "PUT";
      put.key = full;
      put.query = {{"partNumber", std::to_string(number)}, {"uploadId", *upload_id}};
      put.body = data.subspan(offset, std::min<uint64_t>(part, data.size() - offset));
      put.has_body = true;
      const std::string part_what = what + " part " + std::to_string(number);
      st = Perform(put, &r, part_what);
      if (st.ok() && r.status != 200) st = HttpError(part_what, r);
      std::string etag = r.Header("etag");
      if (st.ok() && etag.empty()) st = Status::IOError(part_what + ": response has no ETag");
      if (!st.ok()) break;
      complete += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" + s3::XmlEscape(etag) +
                  "</ETag></Part>";
    }
    if (st.ok()) {
      complete += "</CompleteMultipartUpload>";
      Request done;
      done.method = "POST";
      done.key = full;
      done.query = {{"uploadId", *upload_id}};
      done.headers = {{"content-type", "application/xml"}};
      done.body = AsBytes(complete);
      done.has_body = true;
      st = Perform(done, &r, what + " complete");
      // CompleteMultipartUpload can fail after a 200 status line: the error
      // is then in the body.
      if (st.ok() && (r.status != 200 || s3::ParseS3Error(AsString(r.body))))
        st = HttpError(what + " complete", r);
      if (st.ok()) return st;
    }
    // Best effort: servers without AbortMultipartUpload (or a dead link)
    // leave the parts to the bucket's lifecycle rules.
    Request abort;
    abort.method = "DELETE";
    abort.key = full;
    abort.query = {{"uploadId", *upload_id}};
    Response ignored;
    (void)Perform(abort, &ignored, what + " abort");
    return st;
  }

  const S3Options o_;
  const Endpoint ep_;
  std::string key_prefix_;
  std::string location_;
  HandlePool pool_;
};

// ---- credentials ----

Status ReadCredentialsFile(const std::string& path, S3Options* o) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read S3 credentials file " + path + " (CAIRN_S3_CREDENTIALS_FILE)");
  std::string line, section;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::string_view v = line;
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    if (v.empty() || v.front() == '#' || v.front() == ';') continue;
    if (v.front() == '[' && v.back() == ']') {
      section = std::string(v.substr(1, v.size() - 2));
      continue;
    }
    size_t eq = v.find('=');
    if (eq == std::string_view::npos)
      return Status::InvalidArgument("S3 credentials file " + path + " line " + std::to_string(line_no) +
                                     ": expected 'name = value'");
    if (!section.empty() && section != "default") continue;
    std::string_view name = v.substr(0, eq), value = v.substr(eq + 1);
    while (!name.empty() && std::isspace(static_cast<unsigned char>(name.back()))) name.remove_suffix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.remove_prefix(1);
    std::string n = Lower(name);
    if (n.starts_with("aws_")) n = n.substr(4);
    if (n == "access_key_id") o->access_key_id = std::string(value);
    else if (n == "secret_access_key") o->secret_access_key = std::string(value);
    else if (n == "session_token") o->session_token = std::string(value);
    // other names (region, output, ...) are ignored
  }
  if (o->access_key_id.empty() || o->secret_access_key.empty())
    return Status::InvalidArgument("S3 credentials file " + path +
                                   " must set access_key_id and secret_access_key");
  return Status::Ok();
}

bool ParseBool(std::string_view v, bool* out) {
  if (v == "true" || v == "1" || v == "yes") return *out = true, true;
  if (v == "false" || v == "0" || v == "no") return *out = false, true;
  return false;
}

}  // namespace

Status ReadS3CredentialsFile(const std::string& path, S3Options* options) {
  if (::access(path.c_str(), R_OK) != 0) return Status::InvalidArgument("cannot read S3 credentials file " + path);
  return ReadCredentialsFile(path, options);
}

Result<S3Options> ParseS3Location(const std::string& location) {
  if (!location.starts_with("s3:")) return Status::InvalidArgument("not an S3 location (" + std::string(kSyntax) + ")");
  std::string_view rest = std::string_view(location).substr(3);
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t sep = rest.find("://");
  if (sep == std::string_view::npos) return Status::InvalidArgument(std::string("malformed S3 location: ") + kSyntax);
  size_t slash = rest.find('/', sep + 3);
  std::string_view endpoint = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (endpoint.find('@') != std::string_view::npos)
    return Status::InvalidArgument(
        "an S3 location must not contain credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or "
        "CAIRN_S3_CREDENTIALS_FILE");

  S3Options o;
  o.endpoint = std::string(endpoint);
  CAIRN_ASSIGN_OR_RETURN(Endpoint ep, ParseEndpoint(o.endpoint));
  o.endpoint = ep.scheme + "://" + ep.host + (ep.port.empty() ? "" : ":" + ep.port);
  size_t bucket_end = path.find('/');
  o.bucket = std::string(path.substr(0, bucket_end));
  if (o.bucket.empty()) return Status::InvalidArgument("S3 location names no bucket (" + std::string(kSyntax) + ")");
  if (bucket_end != std::string_view::npos) {
    std::string_view prefix = path.substr(bucket_end + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    o.prefix = std::string(prefix);
  }

  if (const char* r = GetEnv("AWS_REGION")) o.region = r;
  else if (const char* r2 = GetEnv("AWS_DEFAULT_REGION")) o.region = r2;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string_view name = item.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1);
    if (name == "region" && !value.empty()) {
      o.region = std::string(value);
    } else if (name == "path_style") {
      if (!ParseBool(value, &o.path_style))
        return Status::InvalidArgument("S3 location option path_style must be true or false");
    } else if (name == "max_connections") {
      int n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > 256)
        return Status::InvalidArgument("S3 location option max_connections must be 1..256");
      o.max_connections = n;
    } else {
      return Status::InvalidArgument("unknown S3 location option '" + std::string(name) +
                                     "' (known: region, path_style, max_connections)");
    }
  }

  if (const char* file = GetEnv("CAIRN_S3_CREDENTIALS_FILE")) {
    CAIRN_RETURN_IF_ERROR(ReadCredentialsFile(file, &o));
  } else {
    // Missing credentials are reported by OpenS3Storage, after a caller
    // (a configured target) had the chance to supply its own.
    const char* id = GetEnv("AWS_ACCESS_KEY_ID");
    const char* secret = GetEnv("AWS_SECRET_ACCESS_KEY");
    if (id && secret) {
      o.access_key_id = id;
      o.secret_access_key = secret;
      if (const char* token = GetEnv("AWS_SESSION_TOKEN")) o.session_token = token;
    }
  }

  if (const char* ca = GetEnv("CAIRN_S3_CA_BUNDLE")) o.ca_bundle = ca;
  else if (const char* ca2 = GetEnv("AWS_CA_BUNDLE")) o.ca_bundle = ca2;
  const char* allow = GetEnv("CAIRN_S3_ALLOW_HTTP");
  o.allow_http = IsLoopbackHost(ep.host) || (allow && std::string_view(allow) == "1");
  return o;
}

Result<std::unique_ptr<Storage>> OpenS3Storage(const S3Options& options_in) {
  S3Options o = options_in;
  CAIRN_ASSIGN_OR_RETURN(Endpoint ep, ParseEndpoint(o.endpoint));
  while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  if (ep.scheme == "http" && !o.allow_http)
    return Status::InvalidArgument("refusing plain http to S3 endpoint " + o.endpoint +
                                   " (requests would travel unencrypted); use https, or set CAIRN_S3_ALLOW_HTTP=1");
  if (o.bucket.empty()) return Status::InvalidArgument("S3 bucket name is empty");
  for (unsigned char c : o.bucket)
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%')
      return Status::InvalidArgument("S3 bucket name '" + o.bucket + "' is invalid");
  if (!o.path_style) {
    for (unsigned char c : o.bucket)
      if (!(std::islower(c) || std::isdigit(c) || c == '-' || c == '.'))
        return Status::InvalidArgument("S3 bucket name '" + o.bucket +
                                       "' cannot be used in a host name; use path-style addressing");
    if (ep.host.front() == '[' || std::isdigit(static_cast<unsigned char>(ep.host.back())))
      return Status::InvalidArgument("virtual-hosted addressing needs a DNS endpoint, not an IP address");
  }
  while (!o.prefix.empty() && o.prefix.front() == '/') o.prefix.erase(0, 1);
  while (!o.prefix.empty() && o.prefix.back() == '/') o.prefix.pop_back();
  if (o.prefix.find("//") != std::string::npos)
    return Status::InvalidArgument("S3 prefix '" + o.prefix + "' contains an empty path segment");
  if (o.region.empty()) return Status::InvalidArgument("S3 region is empty");
  if (o.access_key_id.empty() || o.secret_access_key.empty())
    return Status::InvalidArgument(
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or CAIRN_S3_CREDENTIALS_FILE "
        "(in a configuration file: s3_credentials_file)");
  if (o.max_connections < 1 || o.max_connections > 256)
    return Status::InvalidArgument("S3 max_connections must be between 1 and 256");
  if (o.part_size < kMinPartSize || o.part_size > kMaxPartSize)
    return Status::InvalidArgument("S3 part_size must be between 5 MiB and 5 GiB");
  if (o.multipart_threshold == 0 || o.multipart_threshold > kMaxSinglePut)
    return Status::InvalidArgument("S3 multipart_threshold must be between 1 byte and 5 GiB");
  if (o.list_page_size < 1 || o.list_page_size > 1000)
    return Status::InvalidArgument("S3 list_page_size must be between 1 and 1000");
  if (!o.ca_bundle.empty()) {
    struct stat st;
    if (::stat(o.ca_bundle.c_str(), &st) != 0)
      return Status::InvalidArgument("S3 CA bundle " + o.ca_bundle + " does not exist");
  }
  CurlGlobalInit();
  return std::unique_ptr<Storage>(new S3Storage(std::move(o), std::move(ep)));
}

}  // namespace cairn
