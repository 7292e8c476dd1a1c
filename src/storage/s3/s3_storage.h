// S3-compatible storage driver (AWS S3 and servers speaking its REST API),
// built on libcurl with our own SigV4 signer (s3_sigv4.h). See
// docs/storage-s3.md for the design.
//
// Location syntax (ParseS3Location):
//   s3:http[s]://HOST[:PORT]/BUCKET[/PREFIX...][?OPTIONS]
// e.g. "s3:https://s3.eu-west-1.amazonaws.com/backups/laptop?region=eu-west-1"
//      "s3:http://127.0.0.1:9000/bucket/some/prefix"
// OPTIONS are '&'-separated: region=NAME, path_style=true|false,
// max_connections=N. Never put credentials in the location; they come from
// the environment:
//   - CAIRN_S3_CREDENTIALS_FILE, when set, names a file of "name = value"
//     lines: access_key_id, secret_access_key and optionally session_token
//     (the aws_-prefixed spellings of ~/.aws/credentials are accepted too).
//     Blank lines and lines starting with '#' or ';' are ignored; "[section]"
//     headers are allowed, and only lines outside any section or in
//     [default] count. Keep the file mode 0600.
//   - otherwise AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and optionally
//     AWS_SESSION_TOKEN.
// The region defaults to AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1.
// The CA bundle for https is CAIRN_S3_CA_BUNDLE or AWS_CA_BUNDLE if set, else
// libcurl's default.
//
// Plain http is refused unless S3Options::allow_http is true. ParseS3Location
// sets it for loopback hosts (127.0.0.0/8, ::1, localhost) and when
// CAIRN_S3_ALLOW_HTTP=1. (SigV4 never sends the secret, but over http the
// requests can be read, replayed within their 15-minute validity, or
// altered in their unsigned parts.)
//
// Errors: a missing object is NotFound; 403 is IOError naming the S3 code
// (access denied, signature mismatch, unknown key id, clock skew); 5xx, 429,
// 408, S3 "RequestTimeout", timeouts, refused or reset connections are
// IOErrors marked transient (storage/wrappers/retrying_storage.h), which
// OpenStorage's retrying wrapper retries. Messages never contain
// credentials.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cairn/storage.h"

namespace cairn {

struct S3Options {
  // Scheme, host and optional port; no path. "https://s3.amazonaws.com",
  // "http://127.0.0.1:9000", "https://[::1]:9443".
  std::string endpoint;
  std::string bucket;
  // Key prefix inside the bucket ("" or "a/b"); Cairn keys are stored as
  // "<prefix>/<key>".
  std::string prefix;
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional; sent as x-amz-security-token
  // Path-style ("https://host/bucket/key") or virtual-hosted
  // ("https://bucket.host/key") addressing.
  bool path_style = true;
  // PEM file of CA certificates for https; "" uses libcurl's default.
  std::string ca_bundle;
  // Plain http is refused unless this is true (see above).
  bool allow_http = false;
  // At most this many requests (and pooled connections) at once; also the
  // driver's preferred_concurrency.
  int max_connections = 8;
  // Objects of at least multipart_threshold bytes are uploaded in parts of
  // part_size bytes (S3: >= 5 MiB; raised automatically to keep within
  // 10000 parts), sequentially, on one connection at a time.
  uint64_t part_size = 16ull << 20;
  uint64_t multipart_threshold = 64ull << 20;
  // max-keys for ListObjectsV2 pages (S3 caps it at 1000).
  int list_page_size = 1000;
  // Connection setup (TCP + TLS) limit.
  std::chrono::milliseconds connect_timeout{10'000};
  // A request that moves no bytes for this long fails (transient). libcurl
  // checks it with one-second granularity.
  std::chrono::seconds stall_timeout{60};
  // Whole-request limit; 0 = none (large objects on slow links take long).
  std::chrono::milliseconds request_timeout{0};
};

// Parses "s3:http[s]://host[:port]/bucket[/prefix][?options]" and fills in
// credentials, region and CA bundle from the environment (see above).
Result<S3Options> ParseS3Location(const std::string& location);

// Reads access_key_id / secret_access_key / session_token from a
// credentials file (format above) into `options`.
Status ReadS3CredentialsFile(const std::string& path, S3Options* options);

// Validates `options` and returns the driver. Does no network I/O: a wrong
// endpoint, bucket or credential shows up on the first request. Buckets are
// never created.
Result<std::unique_ptr<Storage>> OpenS3Storage(const S3Options& options);

}  // namespace cairn
