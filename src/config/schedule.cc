#include "config/schedule.h"

#include "cairn/config.h"

#include <algorithm>
#include <limits>

#include "config/duration.h"

namespace cairn {
namespace {

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// FNV-1a over the key, then SplitMix64's finaliser over key hash and time:
// stable across builds and platforms, unlike std::hash.
uint64_t Mix(std::string_view key, int64_t t) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  uint64_t z = h ^ (static_cast<uint64_t>(t) + 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Result<int64_t> Duration(const nlohmann::json& v, const std::string& where, const std::string& key) {
  if (v.is_number()) return Status::InvalidArgument(where + ": " + key + ": needs a unit, e.g. '" +
                                                    v.dump() + "s' or '" + v.dump() + "m'");
  if (!v.is_string()) return Status::InvalidArgument(where + ": " + key + ": must be a duration such as 1h or 1h30m");
  auto ns = ParseDurationNs(v.get<std::string>());
  if (!ns.ok()) return ns.status().WithContext(where + ": " + key);
  return *ns;
}

}  // namespace

std::string_view ToString(CatchUp v) { return v == CatchUp::kOnce ? "once" : "skip"; }

Result<Schedule> Schedule::Every(int64_t period_ns) {
  if (period_ns <= 0) return Status::InvalidArgument("an every: interval must be longer than zero");
  Schedule s;
  s.period_ns_ = period_ns;
  return s;
}

Schedule Schedule::Cron(CronExpr expr, TimeZone tz) {
  Schedule s;
  s.cron_ = std::move(expr);
  s.tz_ = std::move(tz);
  return s;
}

std::optional<int64_t> Schedule::NextAfter(int64_t t_ns, int64_t anchor_ns) const {
  if (!cron_) {
    if (period_ns_ <= 0) return std::nullopt;
    const __int128 diff = static_cast<__int128>(t_ns) - anchor_ns;
    __int128 k = diff / period_ns_;
    if (diff % period_ns_ != 0 && diff < 0) --k;  // floor
    const __int128 next = anchor_ns + (k + 1) * period_ns_;
    if (next > std::numeric_limits<int64_t>::max()) return std::nullopt;
    return static_cast<int64_t>(next);
  }
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / kNsPerSecond;
  int64_t local = tz_.ToLocal(FloorDiv(t_ns, kNsPerSecond));
  // Only minutes DST skipped or repeated before t make a second round; a
  // gap or fold holds at most a day's worth of minutes.
  for (int round = 0; round < 2000; ++round) {
    const std::optional<int64_t> match = cron_->NextMatch(local);
    if (!match) return std::nullopt;
    // Unique: the instant. Gap: the first instant after it. Fold: the first
    // occurrence (the second is never a fire of its own).
    const int64_t utc = tz_.ToUtc(*match).first;
    if (utc > kMaxSeconds) return std::nullopt;
    if (utc * kNsPerSecond > t_ns) return utc * kNsPerSecond;
    local = *match;
  }
  return std::nullopt;
}

Schedule::FireSpan Schedule::FiresIn(int64_t after_ns, int64_t until_ns, int64_t anchor_ns,
                                     int64_t max_count) const {
  FireSpan span;
  if (until_ns <= after_ns) return span;
  if (!cron_) {
    if (period_ns_ <= 0) return span;
    auto floor_k = [&](int64_t t) {
      const __int128 diff = static_cast<__int128>(t) - anchor_ns;
      __int128 k = diff / period_ns_;
      if (diff % period_ns_ != 0 && diff < 0) --k;
      return k;
    };
    const __int128 last_k = floor_k(until_ns), count = last_k - floor_k(after_ns);
    if (count <= 0) return span;
    span.count = count > max_count ? max_count : static_cast<int64_t>(count);
    span.last_ns = static_cast<int64_t>(anchor_ns + last_k * period_ns_);
    return span;
  }
  int64_t t = after_ns;
  while (true) {
    const std::optional<int64_t> next = NextAfter(t, anchor_ns);
    if (!next || *next > until_ns) break;
    if (span.count == max_count) {
      span.last_ns = until_ns;
      break;
    }
    ++span.count;
    span.last_ns = t = *next;
  }
  return span;
}

int64_t Schedule::JitterNs(std::string_view key, int64_t fire_ns) const {
  int64_t cap = jitter_ns_;
  if (cap <= 0) return 0;
  if (!cron_) {
    if (period_ns_ <= 0) return 0;
    cap = std::min(cap, period_ns_);
  } else {
    const std::optional<int64_t> next = NextAfter(fire_ns, 0);
    if (next) cap = std::min(cap, *next - fire_ns);
  }
  return cap <= 0 ? 0 : static_cast<int64_t>(Mix(key, fire_ns) % static_cast<uint64_t>(cap));
}

std::string Schedule::ToString() const {
  if (!cron_ && period_ns_ <= 0) return "never";
  std::string s = cron_ ? "cron '" + cron_->text() + "' (" + tz_.name() + ")" : "every " + FormatDuration(period_ns_);
  if (jitter_ns_ > 0) s += ", jitter " + FormatDuration(jitter_ns_);
  if (catch_up_ == CatchUp::kSkip) s += ", catch_up skip";
  return s;
}


Result<Schedule> ParseSchedule(const nlohmann::json& value, const std::string& where,
                               const std::vector<std::string>& other_keys) {
  if (!value.is_object())
    return Status::InvalidArgument(where + ": must be a mapping such as {every: 1h} or {cron: \"15 3 * * *\"}");
  static const std::vector<std::string> kKeys{"every", "cron", "timezone", "catch_up", "jitter"};
  for (const auto& [key, v] : value.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end() ||
        std::find(other_keys.begin(), other_keys.end(), key) != other_keys.end())
      continue;
    std::vector<std::string> all = kKeys;
    all.insert(all.end(), other_keys.begin(), other_keys.end());
    const std::string guess = DidYouMean(std::string(key), all);
    std::string expected;
    for (const std::string& k : all) expected += (expected.empty() ? "" : ", ") + k;
    return Status::InvalidArgument(where + ": unknown key '" + key + "'" +
                                   (guess.empty() ? " (expected " + expected + ")" : " (did you mean '" + guess + "'?)"));
  }
  const bool has_every = value.contains("every"), has_cron = value.contains("cron");
  if (has_every && has_cron) return Status::InvalidArgument(where + ": has both every: and cron: (use one)");
  if (!has_every && !has_cron)
    return Status::InvalidArgument(where + ": needs every: (an interval such as 1h) or cron: (such as \"15 3 * * *\")");

  TimeZone tz;
  if (value.contains("timezone")) {
    if (!value["timezone"].is_string())
      return Status::InvalidArgument(where + ": timezone: must be a zone name such as Europe/Berlin");
    auto loaded = TimeZone::Load(value["timezone"].get<std::string>());
    if (!loaded.ok()) return loaded.status().WithContext(where + ": timezone");
    tz = *loaded;
  }

  std::optional<Schedule> s;
  if (has_every) {
    CAIRN_ASSIGN_OR_RETURN(int64_t period, Duration(value["every"], where, "every"));
    if (period <= 0) return Status::InvalidArgument(where + ": every: must be longer than zero");
    s = *Schedule::Every(period);
    s->set_timezone(tz);
  } else {
    if (!value["cron"].is_string())
      return Status::InvalidArgument(where + ": cron: must be a string such as \"15 3 * * *\" (quote it in YAML)");
    auto expr = CronExpr::Parse(value["cron"].get<std::string>());
    if (!expr.ok()) return expr.status().WithContext(where);
    s = Schedule::Cron(*expr, tz);
  }

  if (value.contains("catch_up")) {
    const nlohmann::json& c = value["catch_up"];
    if (c == "once") s->set_catch_up(CatchUp::kOnce);
    else if (c == "skip") s->set_catch_up(CatchUp::kSkip);
    else return Status::InvalidArgument(where + ": catch_up: must be once or skip, not " + c.dump());
  }
  if (value.contains("jitter")) {
    CAIRN_ASSIGN_OR_RETURN(int64_t jitter, Duration(value["jitter"], where, "jitter"));
    if (has_every && jitter >= s->period_ns())
      return Status::InvalidArgument(where + ": jitter: " + FormatDuration(jitter) +
                                     " must be shorter than the interval " + FormatDuration(s->period_ns()));
    s->set_jitter_ns(jitter);
  }
  return *s;
}

}  // namespace cairn
