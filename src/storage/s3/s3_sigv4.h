// AWS Signature Version 4 for S3 requests (header form), written out rather
// than left to libcurl's CURLOPT_AWS_SIGV4 so that the canonical request is
// exactly what we send: the same encoded path, the same sorted query string,
// the same Host header (which also makes virtual-hosted addressing and
// session tokens straightforward), and a payload hash we choose.
//
// Reference: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/bytes.h"

namespace cairn::s3 {

// SHA-256 of the empty string, the payload hash of body-less requests.
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Sha256Hex(ByteView data);

// RFC 3986 percent-encoding as SigV4 wants it: every byte except A-Z a-z 0-9
// '-' '.' '_' '~' becomes %XX (upper-case hex). '/' is kept when
// `keep_slash` (object paths) and encoded otherwise (query names and values).
std::string UriEncode(std::string_view s, bool keep_slash);

// The canonical query string: parameters encoded with UriEncode, sorted by
// name then value, joined with '&'; a parameter without a value is written
// "name=" (SigV4 requires the '='). The same string is sent on the wire.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params);

// "20130524T000000Z" and "20130524" for a UTC time.
std::string AmzDate(std::time_t t);

struct SigV4Request {
  std::string method;           // "GET", "PUT", ...
  std::string canonical_uri;    // already encoded path, e.g. "/bucket/dir/a%20b"
  std::string canonical_query;  // from CanonicalQuery (may be empty)
  // Headers to sign, names in any case; values are trimmed and inner runs of
  // spaces collapsed. Must include "host", "x-amz-date" and
  // "x-amz-content-sha256".
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_hash;     // hex SHA-256 of the body (or UNSIGNED-PAYLOAD)
};

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
};

// Returns the value of the Authorization header. `amz_date` must be the same
// string as the request's x-amz-date header. When `debug_canonical` is not
// null it receives the canonical request (tests).
std::string SignV4(const SigV4Request& request, const SigV4Credentials& creds, std::string_view region,
                   std::string_view amz_date, std::string* debug_canonical = nullptr);

}  // namespace cairn::s3
