// The configuration file: targets, services, the daemon's server,
// notifications and alert thresholds (docs/configuration.md,
// examples/cairn.yaml). Parsed once at start-up into plain structs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cairn/service.h"
#include "cairn/status.h"
#include "cairn/target.h"

namespace cairn {

// The `server:` section: how `cairn serve` listens and keeps its state
// (docs/daemon.md). Every key has a default; the section may be left out.
struct ServerConfig {
  std::string listen = "127.0.0.1:8420";  // host:port; a non-loopback host needs TLS or allow_insecure_http
  std::string data_dir;                   // catalog and job logs; default "<config dir>/cairn-data"
  std::string tls_cert, tls_key;          // PEM files; both or neither
  bool allow_insecure_http = false;       // serve plain HTTP on a non-loopback address anyway
  std::string admin_password_file;        // first line: the admin password; default: generated on first start
  bool metrics_public = false;            // /metrics without a token
  int max_concurrent_jobs = 1;            // jobs running at once (small machines: 1)
};

// One entry of `notifications:` (docs/notifications.md): where the daemon
// sends alerts. Secrets stay in files named here and are read at send time,
// so a Config never holds them.
enum class NotificationType { kWebhook, kEmail, kCommand };

struct NotificationConfig {
  NotificationType type = NotificationType::kWebhook;
  std::string name;                   // unique; default "<type>-<index in the list>"
  std::string min_severity = "warning";  // "warning" | "critical"
  std::vector<std::string> services;  // only alerts about these; empty = all
  // webhook
  std::string url;          // http:// or https://
  std::string secret_file;  // first line: HMAC-SHA256 key of X-Cairn-Signature; "" = unsigned
  // email
  std::string smtp_url;     // smtp://host[:port] (STARTTLS) or smtps://host[:port]
  std::string from;
  std::vector<std::string> to;
  std::string username;       // default: from
  std::string password_file;  // first line: the SMTP password; "" = no authentication
  // command
  std::vector<std::string> command;  // argv; argv[0] is looked up on PATH unless it has a '/'
};

std::string_view ToString(NotificationType type);

// The `alerts:` section: thresholds of the daemon's alert rules.
struct AlertsConfig {
  double small_backup_ratio = 0.5;  // a point smaller than this share of the previous one alerts
  double disk_full_percent = 90;    // a local target's file system this full (percent) alerts
  double stuck_factor = 3;          // a job running longer than this x its p95 duration alerts
  double archive_lag_seconds = 300; // a continuous archive (archive: stream) further behind than this alerts
};

struct Config {
  std::string path;                     // the file it was read from
  std::vector<TargetConfig> targets;    // in file order
  std::vector<ServiceConfig> services;  // in file order
  ServerConfig server;
  std::vector<NotificationConfig> notifications;  // in file order (the API's test names them by index)
  AlertsConfig alerts;
  // Things that do not stop Cairn but that the operator should fix (a file
  // holding a password that group or others can read); one line each.
  std::vector<std::string> warnings;
  // Whether the file itself holds a secret (a `password:` or an S3 secret
  // key), as opposed to naming files that do.
  bool holds_inline_secrets = false;

  const ServiceConfig* FindService(const std::string& name) const;
  const TargetConfig* FindTarget(const std::string& name) const;
  const NotificationConfig* FindNotification(const std::string& name) const;
};

// Reads and validates a YAML configuration file, all of it, strictly: an
// unknown key is an error with a did-you-mean, every value's type is checked,
// a service type's own settings against that source's SourceSettingSpecs, and
// names are unique. Errors name the file, the entry and the key
// ("cairn.yaml: service app: unknown key 'prot' (did you mean 'port'?)").
// Relative paths in it are relative to the file's directory.
Result<Config> LoadConfig(const std::string& path);
// Same, from text; `base_dir` resolves relative paths.
Result<Config> ParseConfig(const std::string& yaml, const std::string& origin, const std::string& base_dir);

// A check's read_data: "10%" (that share of the packs per run, rotating so
// that every pack is read once per 1/share runs), true (all), false/absent (0).
Result<double> ParseReadData(const Json& value, const std::string& where);

// Parses "10M", "512k", "1G", "12345" (bytes, powers of 1024).
Result<uint64_t> ParseByteSize(const std::string& text);

// The closest of `candidates` to a misspelt `word`, or "" when none is close.
std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates);

// What the file was understood to say, secrets replaced by "(set)", for
// `cairn config check`.
Json DescribeConfig(const Config& config);

}  // namespace cairn
