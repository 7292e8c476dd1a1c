// The HTTP side of `cairn serve`: the REST API of docs/api.md, the live
// event stream, /metrics and the embedded dashboard, over HTTP or HTTPS.
// docs/server.md has the design (threads, limits, authentication, CSRF,
// event fan-out, static files).
//
//   ApiServer server(config.server, daemon, catalog);   // catalog: OpenSqliteCatalog
//   CAIRN_ASSIGN_OR_RETURN(auto generated, EnsureAdminPassword(catalog, config.server));
//   if (generated) print it once;                        // server/auth.h
//   CAIRN_RETURN_IF_ERROR(server.Start());               // binds server.listen
//   ...
//   server.Stop();                                       // before daemon and catalog go
//
// Start refuses (kInvalidArgument, one line) a non-loopback `listen` without
// tls_cert/tls_key unless allow_insecure_http, and names the address and the
// cause when it cannot bind or load the certificate.
//
// Thread-safety: Start and Stop from one thread; the server calls the
// DaemonApi and the Catalog from its connection threads, concurrently.
// DaemonApi, Catalog and Clock must outlive Stop().
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "cairn/clock.h"
#include "cairn/config.h"
#include "cairn/status.h"
#include "daemon/catalog.h"
#include "daemon/daemon_api.h"
#include "server/static_assets.h"

namespace cairn {

// Limits and timings; the defaults are the production values (tests shrink
// the timings). docs/server.md says why each is what it is.
struct ApiServerOptions {
  size_t max_connections = 128;   // connections served at once; one thread each
  size_t max_sse_clients = 100;   // event streams at once (each is a connection)
  size_t max_downloads = 8;       // file downloads at once (each adds a thread)
  size_t sse_queue_events = 256;  // events queued for one slow stream before it is dropped
  size_t sse_queue_bytes = 1 << 20;
  std::chrono::milliseconds sse_heartbeat{15000};
  std::chrono::milliseconds keep_alive{5000};
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds write_timeout{5000};
  std::chrono::milliseconds request_deadline{20000};
  std::chrono::milliseconds tls_handshake{10000};
  std::chrono::milliseconds idle_thread_exit{30000};
  // The dashboard files; nullptr = the ones embedded in this binary.
  const EmbeddedAssetTable* assets = nullptr;
};

class ApiServer {
 public:
  ApiServer(ServerConfig config, DaemonApi& daemon, Catalog& catalog, Clock* clock = nullptr,
            ApiServerOptions options = {});
  ~ApiServer();  // Stop()
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Status Start();
  // Ends every connection and event stream and joins every thread. Idempotent.
  void Stop();

  // The bound port (after Start; useful with "127.0.0.1:0").
  int port() const;
  // "http://127.0.0.1:8420" or "https://...".
  std::string url() const;

  // For tests and measurements.
  size_t sse_clients() const;
  size_t connections() const;

  class Core;  // the request handling (api_server_core.h); public for the handler files

 private:
  std::unique_ptr<Core> core_;
};

// "host:port" of server.listen split ("[::1]:8420" too); kInvalidArgument
// when malformed.
Status SplitListenAddress(const std::string& listen, std::string* host, int* port);
// Whether every address `host` resolves to is a loopback address.
bool IsLoopbackHost(const std::string& host);

}  // namespace cairn
