// libFuzzer target: arbitrary bytes as a TZif file (and as a POSIX TZ rule).
// Parsing must never crash, hang or read out of bounds; a parsed zone must
// answer every query, and ToUtc must agree with OffsetAt.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "config/cron.h"
#include "config/schedule.h"
#include "config/timezone.h"

namespace {

void Exercise(const cairn::TimeZone& tz) {
  constexpr int64_t kSamples[] = {INT64_MIN, -(int64_t{1} << 56), -2208988800, -1, 0, 1711846800, 1729990800,
                                  2147483647, 4102444800, int64_t{1} << 40, INT64_MAX};
  for (int64_t t : kSamples) {
    const int32_t off = tz.OffsetAt(t);
    if (off < -26 * 3600 || off > 26 * 3600) std::abort();
    const int64_t local = tz.ToLocal(t);
    const cairn::LocalResolution r = tz.ToUtc(local);
    if (r.first > r.second) std::abort();
    if (r.kind != cairn::LocalResolution::Kind::kGap && t > -(int64_t{1} << 50) && t < (int64_t{1} << 50)) {
      // Each instant found maps back to the local time asked for (away from
      // the clamped extremes).
      if (tz.ToLocal(r.first) != local || tz.ToLocal(r.second) != local) std::abort();
    }
    const int64_t to = t > INT64_MAX - 400 * 86400 ? INT64_MAX : t + 400 * 86400;
    const std::vector<int64_t> trans = tz.TransitionsBetween(t, to);
    for (size_t i = 1; i < trans.size(); ++i)
      if (trans[i] <= trans[i - 1]) std::abort();
  }
  // The cron-in-a-zone loop must terminate on any zone.
  auto every_7 = cairn::CronExpr::Parse("*/7 1-3 * * *");
  if (!every_7.ok()) std::abort();
  const cairn::Schedule s = cairn::Schedule::Cron(*every_7, tz);
  int64_t t = int64_t{1704067200} * 1000000000;
  for (int i = 0; i < 20; ++i) {
    const std::optional<int64_t> next = s.NextAfter(t, 0);
    if (!next) break;
    if (*next <= t) std::abort();
    t = *next;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tz = cairn::TimeZone::FromTzif("Fuzz/Zone", bytes);
  if (tz.ok()) Exercise(*tz);
  else if (tz.status().message().empty()) std::abort();
  if (size < 64) {
    auto rule = cairn::TimeZone::FromPosixRule("fuzz", bytes);
    if (rule.ok()) Exercise(*rule);
  }
  return 0;
}
