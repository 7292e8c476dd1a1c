// Small pieces every handler uses: JSON responses and error bodies, the
// Status -> HTTP mapping of daemon_api.h, and the security headers.
#pragma once

#include <string>
#include <string_view>

#include <httplib.h>

#include "cairn/status.h"
#include "daemon/catalog.h"

namespace cairn {

inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// JSON text of any value; text that is not UTF-8 is replaced, never fatal.
std::string DumpJson(const Json& value);

// A JSON body. httplib compresses it when the client accepts gzip or br.
void SendJson(httplib::Response& res, int status, const Json& body);
// The same, never compressed: for bodies holding a secret (the session's
// CSRF token), so that compression cannot leak it (BREACH).
void SendJsonUncompressed(httplib::Response& res, int status, const Json& body);
// {"error": message}; the message is made one line.
void SendError(httplib::Response& res, int status, std::string_view message);

// daemon_api.h's mapping: kInvalidArgument/kUnsupported 400, kNotFound 404,
// kAlreadyExists/kLocked/kAborted 409, kWrongPassword 401, else 500.
int HttpStatusOf(const Status& status);

// Headers every response carries (HSTS only over TLS); `api` responses are
// also never cached.
void AddSecurityHeaders(httplib::Response& res, bool tls, bool api);

}  // namespace cairn
