#include "server/api_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "server/api_server_core.h"
#include "server/http_util.h"
#include "server/request_parsing.h"

namespace cairn {
namespace {

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

Result<SSL_CTX*> MakeTlsContext(const std::string& cert, const std::string& key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status::IOError("cannot create a TLS context: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // RELEASE_BUFFERS: an idle TLS connection (an event stream between
  // events) gives back its 2 x 17 KiB record buffers.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  Status failed;
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    failed = Status::InvalidArgument("server.tls_cert " + cert + ": cannot load the certificate chain: " +
                                     OpenSslError());
  else if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    failed = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
                 ? Status::InvalidArgument("server.tls_key " + key + " does not belong to the certificate in " + cert)
                 : Status::InvalidArgument("server.tls_key " + key + ": cannot load the private key: " +
                                           OpenSslError());
  ERR_clear_error();
  if (!failed.ok()) {
    SSL_CTX_free(ctx);
    return failed;
  }
  return ctx;
}

bool HasBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  return req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0";
}

Role MinRole(Access access) {
  switch (access) {
    case Access::kOperate: return Role::kOperate;
    case Access::kAdmin: return Role::kAdmin;
    default: return Role::kRead;
  }
}

std::string ErrorForStatus(int status) {
  switch (status) {
    case 400: return "malformed HTTP request";
    case 404: return "no such route";
    case 405: return "method not allowed";
    case 413: return "request body is larger than 64 KiB";
    case 414: return "request target is longer than 8 KiB";
    case 415: return "unsupported Content-Encoding";
    case 416: return "malformed Range header";
    case 500: return "internal error";
    default: return "HTTP " + std::to_string(status);
  }
}

}  // namespace

Status SplitListenAddress(const std::string& listen, std::string* host, int* port) {
  const Status bad = Status::InvalidArgument("server.listen '" + listen +
                                             "' is not host:port (e.g. 127.0.0.1:8420 or [::1]:8420)");
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) return bad;
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  const std::string p = listen.substr(colon + 1);
  if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return bad;
  const int n = std::stoi(p);
  if (n > 65535) return bad;
  *host = h;
  *port = n;
  return Status::Ok();
}

bool IsLoopbackHost(const std::string& host) {
  if (host.empty()) return false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;
  bool all = found != nullptr;
  for (addrinfo* ai = found; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      const uint32_t a = ntohl(reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr.s_addr);
      all = all && (a >> 24) == 127;
    } else if (ai->ai_family == AF_INET6) {
      const in6_addr& a = reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr;
      const bool mapped_loopback = IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
      all = all && (IN6_IS_ADDR_LOOPBACK(&a) || mapped_loopback);
    } else {
      all = false;
    }
  }
  ::freeaddrinfo(found);
  return all;
}

// ------------------------------------------------------------------ ApiServer

ApiServer::ApiServer(ServerConfig config, DaemonApi& daemon, Catalog& catalog, Clock* clock,
                     ApiServerOptions options)
    : core_(std::make_unique<Core>(std::move(config), daemon, catalog, clock ? clock : SystemClock(), options)) {}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Start() { return core_->Start(); }
void ApiServer::Stop() { core_->Stop(); }
int ApiServer::port() const { return core_->port(); }
std::string ApiServer::url() const {
  std::string host;
  int port = 0;
  if (!SplitListenAddress(core_->config.listen, &host, &port).ok()) host = "127.0.0.1";
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(core_->tls() ? "https://" : "http://") + host + ":" + std::to_string(core_->port());
}
size_t ApiServer::sse_clients() const { return core_->sse.clients(); }
size_t ApiServer::connections() const { return core_->transport ? core_->transport->connections() : 0; }

// ------------------------------------------------------------------ Core

ApiServer::Core::Core(ServerConfig config_in, DaemonApi& daemon_in, Catalog& catalog_in, Clock* clock_in,
                      ApiServerOptions options_in)
    : config(std::move(config_in)),
      daemon(daemon_in),
      catalog(catalog_in),
      clock(clock_in),
      options(options_in),
      auth(catalog_in, clock_in),
      sse(daemon_in, SseLimits{options_in.max_sse_clients, options_in.sse_queue_events,
                               options_in.sse_queue_bytes, options_in.sse_heartbeat}),
      statics(options_in.assets ? *options_in.assets : EmbeddedWebAssets()) {}

ApiServer::Core::~Core() { Stop(); }

int ApiServer::Core::port() const { return transport ? transport->port() : 0; }
bool ApiServer::Core::tls() const { return transport && transport->tls(); }

Status ApiServer::Core::Start() {
  if (transport) return Status::InvalidArgument("the API server is already started");
  std::string host;
  int port = 0;
  CAIRN_RETURN_IF_ERROR(SplitListenAddress(config.listen, &host, &port));
  if (config.tls_cert.empty() != config.tls_key.empty())
    return Status::InvalidArgument("server.tls_cert and server.tls_key go together");
  const bool want_tls = !config.tls_cert.empty();
  if (!want_tls && !config.allow_insecure_http && !IsLoopbackHost(host))
    return Status::InvalidArgument(
        "server.listen " + config.listen +
        " is not a loopback address: set server.tls_cert and server.tls_key to serve HTTPS, or "
        "server.allow_insecure_http: true to send passwords and tokens over the network unencrypted");
  SSL_CTX* ctx = nullptr;
  if (want_tls) {
    CAIRN_ASSIGN_OR_RETURN(ctx, MakeTlsContext(config.tls_cert, config.tls_key));
  }

  TransportOptions topts;
  topts.max_connections = options.max_connections;
  topts.idle_thread_exit = options.idle_thread_exit;
  topts.keep_alive = options.keep_alive;
  topts.limits.read_timeout = options.read_timeout;
  topts.limits.write_timeout = options.write_timeout;
  topts.limits.request_deadline = options.request_deadline;
  topts.limits.tls_handshake = options.tls_handshake;
  transport = std::make_unique<HttpTransport>(topts, ctx);

  transport->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    // Partial content is never served (RFC 9110 lets a server ignore
    // Range); httplib would otherwise cut bodies and status codes apart.
    // The request object is httplib's own non-const local.
    const_cast<httplib::Request&>(req).ranges.clear();
    // httplib compresses JSON with brotli whenever the client accepts it, at
    // brotli's slowest quality: 150 ms of CPU for the 177 KB services list of
    // 200 services (gzip: 10 ms, 40 % larger), which made the dashboard's
    // overview miss its 1 s. It is offered gzip, or nothing.
    auto& headers = const_cast<httplib::Request&>(req).headers;
    auto [ae, ae_end] = headers.equal_range("Accept-Encoding");
    if (ae != ae_end) {
      bool gzip = false;
      for (auto it = ae; it != ae_end; ++it) gzip = gzip || AcceptsGzip(it->second);
      headers.erase(ae, ae_end);
      if (gzip) headers.emplace("Accept-Encoding", "gzip");
    }
    const HttpMethod method = ParseHttpMethod(req.method);
    if ((method == HttpMethod::kPost || method == HttpMethod::kDelete) &&
        MatchRoute(req.method, req.path).outcome == RouteMatch::Outcome::kFound)
      return httplib::Server::HandlerResponse::Unhandled;  // to the body-reading handlers below
    OnRequest(req, res, nullptr);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Routed here only for paths that matched a route (so the pattern's
  // regex never runs over a long path).
  auto with_body = [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    OnRequest(req, res, &reader);
  };
  transport->Post("[\\s\\S]*", with_body);
  transport->Delete("[\\s\\S]*", with_body);
  // httplib's own refusals (a request it cannot parse, 413, 414) get a JSON body too.
  transport->set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
        SendError(res, res.status, ErrorForStatus(res.status));
        return httplib::Server::HandlerResponse::Handled;
      }));
  transport->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.headers.clear();
    res.content_provider_ = nullptr;
    SendError(res, 500, "internal error while answering the request");
  });
  const bool tls_on = want_tls;
  transport->set_post_routing_handler([tls_on](const httplib::Request& req, httplib::Response& res) {
    const bool api = req.path.rfind("/api", 0) == 0 || req.path == "/metrics" || res.status >= 400;
    AddSecurityHeaders(res, tls_on, api);
    Connection* c = HttpTransport::Current();
    if (c && (c->close_requested() || c->failed())) {
      res.headers.erase("Keep-Alive");
      if (!res.has_header("Connection")) res.set_header("Connection", "close");
    }
  });

  Status st = transport->Listen(host, port);
  if (st.ok()) st = transport->Start();
  if (!st.ok()) {
    transport.reset();
    return st;
  }
  return Status::Ok();
}

void ApiServer::Core::Stop() {
  if (!transport || stopped_) return;
  stopped_ = true;
  transport->Stop([this] {
    sse.CloseAll();
    std::lock_guard lock(tracked_mu_);
    interrupting_ = true;
    for (const auto& t : tracked_) t->Interrupt();
  });
}

void ApiServer::Core::Track(const std::shared_ptr<Interruptible>& response) {
  std::lock_guard lock(tracked_mu_);
  tracked_.insert(response);
  if (interrupting_) response->Interrupt();
}

void ApiServer::Core::Untrack(const std::shared_ptr<Interruptible>& response) {
  std::lock_guard lock(tracked_mu_);
  tracked_.erase(response);
}

void ApiServer::Core::Fail(ApiRequest& r, const Status& status) {
  if (status.code() == StatusCode::kIOError && !daemon.ConfigLoaded()) {
    SendError(r.res, 503, "configuration not loaded: " + status.message());
    return;
  }
  const int code = HttpStatusOf(status);
  SendError(r.res, code, status.message());
  if (code == 401) r.res.set_header("WWW-Authenticate", "Bearer realm=\"cairn\"");
}

void ApiServer::Core::Audit(const ApiRequest& r, const std::string& action, Json details) {
  details["address"] = r.http.remote_addr;
  (void)catalog.AppendAudit(r.who.audit_actor.empty() ? "anonymous" : r.who.audit_actor, action, details);
}

bool ApiServer::Core::FinishQuery(ApiRequest& r, QueryReader& query) {
  const Status st = query.Finish();
  if (st.ok()) return true;
  SendError(r.res, 400, st.message());
  return false;
}

bool ApiServer::Core::FinishBody(ApiRequest& r, BodyFields& fields) {
  const Status st = fields.Finish();
  if (st.ok()) return true;
  SendError(r.res, 400, st.message());
  return false;
}

bool ApiServer::Core::Authorize(ApiRequest& r, Access access) {
  if (access == Access::kMetrics) access = config.metrics_public ? Access::kPublic : Access::kRead;
  if (access == Access::kPublic || access == Access::kSession) return true;
  auto who = auth.Authenticate(r.http.get_header_value("Authorization"), r.http.get_header_value("Cookie"));
  if (!who.ok()) {
    Fail(r, who.status());
    return false;
  }
  r.who = std::move(who).value();
  const Role need = MinRole(access);
  if (r.who.actor.role < need) {
    SendError(r.res, 403,
              "this needs the " + std::string(ToString(need)) + " role; " + r.who.audit_actor + " has " +
                  std::string(ToString(r.who.actor.role)));
    return false;
  }
  const HttpMethod method = ParseHttpMethod(r.http.method);
  if (r.who.kind == CredentialKind::kSession && (method == HttpMethod::kPost || method == HttpMethod::kDelete) &&
      !Authenticator::CsrfMatches(r.who, r.http.get_header_value("X-CSRF-Token"))) {
    SendError(r.res, 403, "missing or wrong X-CSRF-Token header (the session's csrf_token)");
    return false;
  }
  return true;
}

bool ApiServer::Core::ReadBody(ApiRequest& r, const httplib::ContentReader& reader) {
  // Refused before a byte of it is read (httplib would read and discard it).
  if (r.http.has_header("Content-Length") &&
      r.http.get_header_value<uint64_t>("Content-Length") > kMaxBodyBytes) {
    SendError(r.res, 413, "request body is larger than 64 KiB");
    return false;
  }
  // httplib reads no body of a DELETE without Content-Length.
  if (!r.http.has_header("Content-Length") && r.http.has_header("Transfer-Encoding") &&
      ParseHttpMethod(r.http.method) == HttpMethod::kDelete) {
    SendError(r.res, 400, "a DELETE request takes no body");
    return false;
  }
  std::string body;
  bool too_large = false;
  const bool ok = reader([&](const char* data, size_t n) {
    if (body.size() + n > kMaxBodyBytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large || r.res.status == 413) {
    SendError(r.res, 413, "request body is larger than 64 KiB");
    return false;
  }
  if (!ok) {
    SendError(r.res, 400, r.res.status == 415 ? "unsupported Content-Encoding of the request body"
                                              : "could not read the request body");
    return false;
  }
  auto parsed = ParseJsonObjectBody(body);
  if (!parsed.ok()) {
    SendError(r.res, 400, parsed.status().message());
    return false;
  }
  r.body = std::move(parsed).value();
  return true;
}

void ApiServer::Core::OnRequest(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader* reader) {
  ApiRequest r(req, res, MatchRoute(req.method, req.path));
  bool body_read = false;
  switch (r.match.outcome) {
    case RouteMatch::Outcome::kBadRequest:
      SendError(res, 400, r.match.error);
      break;
    case RouteMatch::Outcome::kNotFound:
      SendError(res, 404, r.match.error);
      break;
    case RouteMatch::Outcome::kMethodNotAllowed:
      SendError(res, 405, "method " + req.method.substr(0, 16) + " not allowed here; use " + r.match.allow);
      res.set_header("Allow", r.match.allow);
      break;
    case RouteMatch::Outcome::kFound: {
      const RouteInfo& info = GetRouteInfo(r.match.route);
      if (r.match.route == RouteId::kStatic) {
        statics.Serve(req, res);
        break;
      }
      if (!Authorize(r, info.access)) break;
      if (reader) {
        body_read = ReadBody(r, *reader);
        if (!body_read) break;
      }
      r.query.assign(req.params.begin(), req.params.end());
      if (info.needs_config && !daemon.ConfigLoaded()) {
        Json status = daemon.ConfigStatus();
        std::string why = status.is_object() && status.contains("error") && status["error"].is_string()
                              ? ": " + status["error"].get<std::string>()
                              : "";
        SendError(res, 503, "configuration not loaded" + why + " (see GET /api/v1/config)");
        break;
      }
      Dispatch(r);
      break;
    }
  }
  // A body left unread would be parsed as the next request.
  if (!body_read && HasBody(req))
    if (Connection* c = HttpTransport::Current()) c->RequestClose();
}

void ApiServer::Core::Dispatch(ApiRequest& r) {
  switch (r.match.route) {
    case RouteId::kHealth: return HandleHealth(*this, r);
    case RouteId::kSessionCreate: return HandleSessionCreate(*this, r);
    case RouteId::kSessionGet: return HandleSessionGet(*this, r);
    case RouteId::kSessionDelete: return HandleSessionDelete(*this, r);
    case RouteId::kServiceList: return HandleServiceList(*this, r);
    case RouteId::kServiceGet: return HandleServiceGet(*this, r);
    case RouteId::kPointList: return HandlePointList(*this, r);
    case RouteId::kPointGet: return HandlePointGet(*this, r);
    case RouteId::kServiceHistory: return HandleServiceHistory(*this, r);
    case RouteId::kCalendar: return HandleCalendar(*this, r);
    case RouteId::kFileList: return HandleFileList(*this, r);
    case RouteId::kFileContent: return HandleFileContent(*this, r);
    case RouteId::kBackupStart: return HandleBackupStart(*this, r);
    case RouteId::kRestoreStart: return HandleRestoreStart(*this, r);
    case RouteId::kVerifyStart: return HandleVerifyStart(*this, r);
    case RouteId::kJobList: return HandleJobList(*this, r);
    case RouteId::kJobGet: return HandleJobGet(*this, r);
    case RouteId::kJobLog: return HandleJobLog(*this, r);
    case RouteId::kJobCancel: return HandleJobCancel(*this, r);
    case RouteId::kAlertList: return HandleAlertList(*this, r);
    case RouteId::kAlertAck: return HandleAlertAck(*this, r);
    case RouteId::kScheduleList: return HandleScheduleList(*this, r);
    case RouteId::kSchedulePause: return HandleSchedulePause(*this, r, true);
    case RouteId::kScheduleResume: return HandleSchedulePause(*this, r, false);
    case RouteId::kConfigGet: return HandleConfig(*this, r);
    case RouteId::kNotificationTest: return HandleNotificationTest(*this, r);
    case RouteId::kEvents: return HandleEvents(*this, r);
    case RouteId::kMetrics: return HandleMetrics(*this, r);
    case RouteId::kStatic: return statics.Serve(r.http, r.res);
  }
}

}  // namespace cairn
