// libFuzzer target: the request router and everything that parses what a
// client sends (query parameters, JSON bodies and their fields, the
// Authorization, Cookie, Accept-Encoding and If-None-Match headers).
// Nothing may crash, hang or leak, and what the router accepts must have
// the shapes the handlers rely on.
//
// Input: fields separated by NUL bytes: method, path, query string, body,
// Authorization, Cookie, Accept-Encoding, If-None-Match.
//
// Build by hand (the fuzz build is wired elsewhere):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address -Isrc -Iinclude \
//     src/server/router_fuzz.cc src/server/router.cc src/server/request_parsing.cc \
//     src/util/status.cc -o /tmp/router_fuzz
//   /tmp/router_fuzz fuzz/corpus/router
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/request_parsing.h"
#include "server/router.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

std::vector<std::string_view> Fields(std::string_view input, size_t n) {
  std::vector<std::string_view> out;
  while (out.size() + 1 < n) {
    const size_t nul = input.find('\0');
    if (nul == std::string_view::npos) break;
    out.push_back(input.substr(0, nul));
    input.remove_prefix(nul + 1);
  }
  out.push_back(input);
  out.resize(n);
  return out;
}

// "a=1&b=2" the way httplib splits it (no decoding: the parsers must cope
// with any bytes).
cairn::QueryList Query(std::string_view text) {
  cairn::QueryList out;
  while (!text.empty() && out.size() < 64) {
    const size_t amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    const size_t eq = pair.find('=');
    out.emplace_back(std::string(pair.substr(0, eq)),
                     eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const auto f = Fields(std::string_view(reinterpret_cast<const char*>(data), size), 8);

  const RouteMatch m = MatchRoute(f[0], f[1]);
  switch (m.outcome) {
    case RouteMatch::Outcome::kFound: {
      const RouteInfo& info = GetRouteInfo(m.route);
      Check(info.id == m.route && info.name != nullptr);
      const RouteParams& p = m.params;
      // Parameters the handlers pass on are of their shapes, never a path.
      if (!p.service.empty()) Check(IsServiceName(p.service));
      if (!p.key.empty()) Check(IsScheduleKey(p.key));
      if (!p.point.empty()) Check(p.point == "latest" || (p.point.size() >= 4 && IsLowerHex(p.point)));
      for (const std::string* s : {&p.service, &p.key, &p.point}) {
        Check(s->find('/') == std::string::npos && s->find('\0') == std::string::npos);
        Check(*s != "..");
      }
      Check(p.id >= 0);
      if (m.route != RouteId::kStatic) Check(f[1].rfind("/api/", 0) == 0 || f[1] == "/metrics");
      break;
    }
    case RouteMatch::Outcome::kMethodNotAllowed:
      Check(!m.allow.empty());
      break;
    case RouteMatch::Outcome::kNotFound:
    case RouteMatch::Outcome::kBadRequest:
      Check(!m.error.empty());
      break;
  }

  const QueryList query = Query(f[2]);
  QueryReader q(query);
  const int limit = q.Int("limit", 50, 1, 500);
  Check(limit >= 1 && limit <= 500);
  const std::string cursor = q.Cursor();
  Check(cursor.empty() || IsCursor(cursor));
  if (auto tz = q.Text("tz")) (void)IsTimeZoneName(*tz);
  if (auto path = q.Text("path")) {
    if (CheckSnapshotPath(*path, true).ok()) Check(path->find("/../") == std::string::npos && (*path)[0] == '/');
  }
  const Status qs = q.Finish();
  Check(qs.ok() || !qs.message().empty());

  auto body = ParseJsonObjectBody(f[3]);
  if (body.ok()) {
    Check(body->is_object());
    BodyFields fields(*body);
    (void)fields.String("point");
    (void)fields.String("mode");
    (void)fields.Int("port", 1, 65535);
    (void)fields.Int("channel", 0, 1000000);
    const Status bs = fields.Finish();
    Check(bs.ok() || !bs.message().empty());
  } else {
    Check(!body.status().message().empty());
  }

  if (auto token = ParseBearer(f[4])) Check(!token->empty() && token->find(' ') == std::string::npos);
  for (const std::string& v : CookieValues(f[5], "cairn_session")) Check(v.size() <= f[5].size());
  (void)AcceptsGzip(f[6]);
  (void)ETagMatches(f[7], "\"abc\"");
  return 0;
}
