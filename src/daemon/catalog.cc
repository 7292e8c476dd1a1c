#include "daemon/catalog.h"

#include <algorithm>
#include <charconv>

#include "cairn/bytes.h"
#include "cairn/crypto.h"
#include "cairn/target.h"
#include "daemon/catalog_util.h"

namespace cairn {

double JobRecord::duration_s() const {
  if (started_ns <= 0 || ended_ns < started_ns) return 0;
  return static_cast<double>(ended_ns - started_ns) / 1e9;
}

std::string HashSecret(std::string_view secret) {
  return crypto::Sha256(ByteView(reinterpret_cast<const uint8_t*>(secret.data()), secret.size())).Hex();
}

Result<PointWrite> ToPointWrite(const RestorePoint& point) {
  PointWrite w;
  w.service = point.service;
  w.id = point.id;
  w.target = point.target;
  w.native_id = point.native_id;
  w.time_ns = point.time_ns;
  auto kind = ParsePointKind(point.kind);
  if (!kind) return Status::InvalidArgument("restore point " + point.id + " has an unknown kind '" + point.kind + "'");
  w.kind = *kind;
  auto status = ParsePointStatus(point.status.empty() ? "complete" : point.status);
  if (!status)
    return Status::InvalidArgument("restore point " + point.id + " has an unknown status '" + point.status + "'");
  w.status = *status;
  w.size = point.size;
  w.added = point.stored;
  w.duration_s = point.duration_s;
  if (point.manifest.is_object() && point.manifest.contains("parts") && point.manifest["parts"].is_array()) {
    for (const auto& part : point.manifest["parts"]) {
      if (!part.is_object() || !part.contains("name") || !part["name"].is_string()) continue;
      PointPart pp;
      pp.name = part["name"].get<std::string>();
      pp.kind = part.value("kind", "stream");
      pp.bytes = part.value("bytes", uint64_t{0});
      if (pp.kind == "files") pp.files = part.value("files", uint64_t{0});
      w.parts.push_back(std::move(pp));
    }
  }
  if (point.manifest.is_object() && point.manifest.contains("fingerprint"))
    w.inexact_reasons = InexactReasons(point.manifest["fingerprint"]);
  w.manifest = point.manifest.dump(-1, ' ', false, Json::error_handler_t::replace);
  return w;
}

namespace catalog_internal {

int PageLimit(const PageRequest& page) {
  if (page.limit <= 0) return kDefaultPageLimit;
  return std::min(page.limit, kMaxPageLimit);
}

std::string EncodeCursor(char tag, std::initializer_list<std::string_view> fields) {
  std::string raw(1, tag);
  for (std::string_view f : fields) {
    raw += '|';
    raw += f;
  }
  return HexEncode(ByteView(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
}

Result<std::vector<std::string>> DecodeCursor(std::string_view cursor, char tag, size_t count) {
  const Status invalid = Status::InvalidArgument("invalid cursor '" + std::string(cursor.substr(0, 64)) +
                                                 "' (use the next_cursor of the previous page)");
  Bytes raw;
  if (cursor.size() > 512 || !HexDecode(cursor, &raw) || raw.empty() || raw[0] != static_cast<uint8_t>(tag))
    return invalid;
  std::string text(raw.begin(), raw.end());
  std::vector<std::string> fields;
  size_t pos = 1;
  while (pos < text.size()) {
    if (text[pos] != '|') return invalid;
    size_t next = text.find('|', pos + 1);
    if (next == std::string::npos) next = text.size();
    fields.push_back(text.substr(pos + 1, next - pos - 1));
    pos = next;
  }
  if (fields.size() != count) return invalid;
  return fields;
}

Result<int64_t> CursorInt(const std::string& field) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), v);
  if (ec != std::errc() || end != field.data() + field.size() || field.empty())
    return Status::InvalidArgument("invalid cursor (use the next_cursor of the previous page)");
  return v;
}

Json ParseJsonColumn(std::string_view text) {
  if (text.empty()) return Json();
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json() : j;
}

std::string JsonColumn(const Json& value) { return value.is_null() ? std::string() : value.dump(); }

}  // namespace catalog_internal
}  // namespace cairn
