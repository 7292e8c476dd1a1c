#include "server/http_util.h"

#include <memory>

namespace cairn {
namespace {

void SetIfAbsent(httplib::Response& res, const char* key, std::string_view value) {
  if (!res.has_header(key)) res.set_header(key, std::string(value));
}

}  // namespace

std::string DumpJson(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

void SendJsonUncompressed(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  // httplib compresses `body` strings of compressible types; a content
  // provider with a length is sent as it is.
  auto text = std::make_shared<std::string>(DumpJson(body));
  res.body.clear();
  res.set_content_provider(text->size(), "application/json",
                           [text](size_t offset, size_t length, httplib::DataSink& sink) {
                             return sink.write(text->data() + offset, length);
                           });
}

void SendError(httplib::Response& res, int status, std::string_view message) {
  std::string line(message.substr(0, 1000));
  for (char& c : line)
    if (c == '\n' || c == '\r') c = ' ';
  SendJson(res, status, Json{{"error", line}});
}

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kLocked:
    case StatusCode::kAborted: return 409;
    case StatusCode::kWrongPassword: return 401;
    default: return 500;
  }
}

void AddSecurityHeaders(httplib::Response& res, bool tls, bool api) {
  SetIfAbsent(res, "Content-Security-Policy", kContentSecurityPolicy);
  SetIfAbsent(res, "X-Content-Type-Options", "nosniff");
  SetIfAbsent(res, "Referrer-Policy", "no-referrer");
  SetIfAbsent(res, "X-Frame-Options", "DENY");
  SetIfAbsent(res, "Cross-Origin-Opener-Policy", "same-origin");
  SetIfAbsent(res, "Cross-Origin-Resource-Policy", "same-origin");
  if (tls) SetIfAbsent(res, "Strict-Transport-Security", "max-age=31536000");
  if (api) SetIfAbsent(res, "Cache-Control", "no-store");
}

}  // namespace cairn
