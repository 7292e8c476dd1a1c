// What a client sends, parsed and checked before anything acts on it: JSON
// bodies, query parameters, and the few headers that authentication and the
// static files read. Pure functions over strings, so that they can be fuzzed
// (router_fuzz.cc). Every error is kInvalidArgument with one line that names
// the field and never repeats a secret. Thread-safe (no state).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"

namespace cairn {

using Json = nlohmann::json;

// Request bodies: larger ones are refused with 413.
constexpr size_t kMaxBodyBytes = 64 * 1024;
// Deeper JSON is refused: nothing in the API nests past 3, and depth costs
// stack in every recursive walk (printing, comparing) of the value.
constexpr int kMaxJsonDepth = 32;

bool IsValidUtf8(std::string_view s);

// A request body: empty means {}; otherwise one JSON object in UTF-8,
// nested at most kMaxJsonDepth deep.
Result<Json> ParseJsonObjectBody(std::string_view body);

// Typed fields of a request object. Absent and null read as nullopt; a value
// of the wrong type, and any key that was not read, make Finish() fail, so
// that a misspelt field is an error instead of a silent default.
class BodyFields {
 public:
  explicit BodyFields(const Json& body) : body_(body) {}
  std::optional<std::string> String(const char* key);
  std::optional<int64_t> Int(const char* key, int64_t min, int64_t max);
  Status Finish();

 private:
  const Json* Field(const char* key);
  void Fail(std::string message);

  const Json& body_;
  std::set<std::string, std::less<>> read_;
  Status status_;
};

using QueryList = std::vector<std::pair<std::string, std::string>>;

// Query parameters of one route. Every parameter must be one the route
// reads, given once, in UTF-8 without control characters; Finish() says
// which was not. An empty value reads as absent.
class QueryReader {
 public:
  explicit QueryReader(const QueryList& params) : params_(params) {}
  std::optional<std::string> Text(const char* key);
  // An integer in [min, max]; `fallback` when absent.
  int Int(const char* key, int fallback, int min, int max);
  int64_t Int64(const char* key, int64_t fallback, int64_t min, int64_t max);
  // A paging cursor ("" when absent).
  std::string Cursor();
  Status Finish();

 private:
  void Fail(std::string message);

  const QueryList& params_;
  std::set<std::string, std::less<>> read_;
  Status status_;
};

// Shapes of query values.
bool IsCursor(std::string_view s);
// An IANA zone name: "UTC", "Europe/Berlin", "Etc/GMT+1"; never a path that
// climbs ("..") or starts at the root.
bool IsTimeZoneName(std::string_view s);
// An absolute path inside a snapshot: starts with '/', no "." or ".."
// components, no empty ones but a trailing slash, no NUL, UTF-8, at most 4096
// bytes. `allow_root`: whether "/" itself is accepted.
Status CheckSnapshotPath(std::string_view path, bool allow_root);

// The token of "Bearer <token>" (scheme case-insensitive); nullopt for any
// other scheme or a malformed value.
std::optional<std::string> ParseBearer(std::string_view authorization);
// Every value of cookie `name` in a Cookie header, in order.
std::vector<std::string> CookieValues(std::string_view header, std::string_view name);
// Whether an Accept-Encoding value allows gzip (q > 0, directly or by "*").
bool AcceptsGzip(std::string_view accept_encoding);
// Whether an If-None-Match value matches `etag` (weak comparison, "*").
bool ETagMatches(std::string_view if_none_match, std::string_view etag);

}  // namespace cairn
