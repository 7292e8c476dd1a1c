#include "server/request_parsing.h"

#include <cctype>
#include <cstdlib>
#include <limits>

namespace cairn {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

bool HasControl(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

// The deepest nesting of arrays and objects in JSON text, counted outside
// strings, stopping early past `limit`.
int JsonDepth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

const char* TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "an unknown value";
  }
}

// Accepts a plain decimal integer (optional '-'), nothing else.
bool ParseDecimal(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    if (v > (std::numeric_limits<int64_t>::max() - (s[i] - '0')) / 10) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = negative ? -v : v;
  return true;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

Result<Json> ParseJsonObjectBody(std::string_view body) {
  if (body.size() > kMaxBodyBytes) return Status::InvalidArgument("request body is larger than 64 KiB");
  if (Trim(body).empty()) return Json::object();
  if (!IsValidUtf8(body)) return Status::InvalidArgument("request body is not valid UTF-8");
  if (JsonDepth(body, kMaxJsonDepth) > kMaxJsonDepth)
    return Status::InvalidArgument("request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  Json value;
  try {
    value = Json::parse(body);
  } catch (const Json::parse_error& e) {
    // e.what() quotes the text around the error, which may be a password.
    return Status::InvalidArgument("request body is not valid JSON (error at byte " + std::to_string(e.byte) + ")");
  } catch (const Json::exception&) {
    // out_of_range: a number beyond a double (1e999); found by router_fuzz.
    return Status::InvalidArgument("request body holds a number out of range");
  }
  if (!value.is_object()) return Status::InvalidArgument("request body must be a JSON object");
  return value;
}

// ------------------------------------------------------------------ BodyFields

const Json* BodyFields::Field(const char* key) {
  read_.insert(key);
  auto it = body_.find(key);
  if (it == body_.end() || it->is_null()) return nullptr;
  return &*it;
}

void BodyFields::Fail(std::string message) {
  if (status_.ok()) status_ = Status::InvalidArgument(std::move(message));
}

std::optional<std::string> BodyFields::String(const char* key) {
  const Json* v = Field(key);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    Fail(std::string("field '") + key + "' must be a string, not " + TypeName(*v));
    return std::nullopt;
  }
  return v->get<std::string>();
}

std::optional<int64_t> BodyFields::Int(const char* key, int64_t min, int64_t max) {
  const Json* v = Field(key);
  if (!v) return std::nullopt;
  int64_t out = 0;
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      Fail(std::string("field '") + key + "' is out of range");
      return std::nullopt;
    }
    out = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    out = v->get<int64_t>();
  } else {
    Fail(std::string("field '") + key + "' must be an integer, not " + TypeName(*v));
    return std::nullopt;
  }
  if (out < min || out > max) {
    Fail(std::string("field '") + key + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return out;
}

Status BodyFields::Finish() {
  if (!status_.ok()) return status_;
  for (auto it = body_.begin(); it != body_.end(); ++it)
    if (!read_.contains(it.key())) {
      std::string key = it.key().substr(0, 64);
      if (!IsValidUtf8(key) || HasControl(key)) key = "?";
      return Status::InvalidArgument("unknown field '" + key + "' in the request body");
    }
  return Status::Ok();
}

// ------------------------------------------------------------------ QueryReader

void QueryReader::Fail(std::string message) {
  if (status_.ok()) status_ = Status::InvalidArgument(std::move(message));
}

std::optional<std::string> QueryReader::Text(const char* key) {
  read_.insert(key);
  const std::string* found = nullptr;
  for (const auto& [k, v] : params_) {
    if (k != key) continue;
    if (found) {
      Fail(std::string("query parameter '") + key + "' is given more than once");
      return std::nullopt;
    }
    found = &v;
  }
  // "?service=&status=" (a form's empty fields) means "not given".
  if (!found || found->empty()) return std::nullopt;
  if (found->size() > 4096 || !IsValidUtf8(*found) || HasControl(*found)) {
    Fail(std::string("query parameter '") + key + "' is not valid text");
    return std::nullopt;
  }
  return *found;
}

int64_t QueryReader::Int64(const char* key, int64_t fallback, int64_t min, int64_t max) {
  const std::optional<std::string> text = Text(key);
  if (!text) return fallback;
  int64_t v = 0;
  if (!ParseDecimal(*text, &v) || v < min || v > max) {
    Fail(std::string("query parameter '") + key + "' must be an integer between " + std::to_string(min) + " and " +
         std::to_string(max));
    return fallback;
  }
  return v;
}

int QueryReader::Int(const char* key, int fallback, int min, int max) {
  return static_cast<int>(Int64(key, fallback, min, max));
}

std::string QueryReader::Cursor() {
  std::optional<std::string> text = Text("cursor");
  if (!text || text->empty()) return "";
  if (!IsCursor(*text)) {
    Fail("query parameter 'cursor' is not a cursor (use the next_cursor of the previous page)");
    return "";
  }
  return *text;
}

Status QueryReader::Finish() {
  if (!status_.ok()) return status_;
  for (const auto& [k, v] : params_)
    if (!read_.contains(k)) {
      std::string key = k.substr(0, 64);
      if (!IsValidUtf8(key) || HasControl(key)) key = "?";
      return Status::InvalidArgument("unknown query parameter '" + key + "'");
    }
  return Status::Ok();
}

// ------------------------------------------------------------------ shapes

bool IsCursor(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' && c != ':' && c != '~')
      return false;
  return true;
}

bool IsTimeZoneName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) slash = s.size();
    const std::string_view part = s.substr(start, slash - start);
    if (part.empty() || part[0] == '.' || part[0] == '-') return false;
    for (char c : part)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '+' && c != '-') return false;
    start = slash + 1;
  }
  return true;
}

Status CheckSnapshotPath(std::string_view path, bool allow_root) {
  if (path.empty() || path[0] != '/') return Status::InvalidArgument("path must be absolute (start with '/')");
  if (path.size() > 4096) return Status::InvalidArgument("path is longer than 4096 bytes");
  if (!IsValidUtf8(path) || HasControl(path)) return Status::InvalidArgument("path is not valid text");
  if (path == "/") {
    if (allow_root) return Status::Ok();
    return Status::InvalidArgument("path must name a file, not '/'");
  }
  std::string_view rest = path.substr(1);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t slash = rest.find('/', start);
    if (slash == std::string_view::npos) slash = rest.size();
    const std::string_view part = rest.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..")
      return Status::InvalidArgument("path must not contain empty, '.' or '..' components");
    start = slash + 1;
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ headers

std::optional<std::string> ParseBearer(std::string_view authorization) {
  authorization = Trim(authorization);
  const size_t space = authorization.find(' ');
  if (space == std::string_view::npos || !EqualsNoCase(authorization.substr(0, space), "Bearer")) return std::nullopt;
  const std::string_view token = Trim(authorization.substr(space + 1));
  if (token.empty() || token.size() > 512) return std::nullopt;
  for (char c : token)
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
  return std::string(token);
}

std::vector<std::string> CookieValues(std::string_view header, std::string_view name) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < header.size() && out.size() < 16) {
    size_t end = header.find(';', start);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view pair = Trim(header.substr(start, end - start));
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && Trim(pair.substr(0, eq)) == name) {
      std::string_view value = Trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      out.emplace_back(value);
    }
    start = end + 1;
  }
  return out;
}

bool AcceptsGzip(std::string_view header) {
  bool star = false, gzip = false, gzip_refused = false;
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(',', start);
    if (end == std::string_view::npos) end = header.size();
    std::string_view item = Trim(header.substr(start, end - start));
    start = end + 1;
    double q = 1.0;
    const size_t semi = item.find(';');
    std::string_view coding = Trim(item.substr(0, semi));
    if (semi != std::string_view::npos) {
      std::string_view param = Trim(item.substr(semi + 1));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        const std::string number(Trim(param.substr(2)));
        char* endp = nullptr;
        q = std::strtod(number.c_str(), &endp);
        if (endp == number.c_str() || !(q >= 0 && q <= 1)) q = 0;
      }
    }
    if (EqualsNoCase(coding, "gzip") || EqualsNoCase(coding, "x-gzip")) {
      if (q > 0) gzip = true;
      else gzip_refused = true;
    } else if (coding == "*" && q > 0) {
      star = true;
    }
  }
  return gzip || (star && !gzip_refused);
}

bool ETagMatches(std::string_view header, std::string_view etag) {
  auto strip_weak = [](std::string_view t) {
    if (t.size() >= 2 && (t[0] == 'W' || t[0] == 'w') && t[1] == '/') t.remove_prefix(2);
    return t;
  };
  etag = strip_weak(etag);
  size_t start = 0;
  while (start < header.size()) {
    size_t end = header.find(',', start);
    if (end == std::string_view::npos) end = header.size();
    const std::string_view item = Trim(header.substr(start, end - start));
    if (item == "*" || strip_weak(item) == etag) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace cairn
