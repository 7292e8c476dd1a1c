#include "cairn/retention.h"

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

namespace cairn {

namespace {

using SnapshotTime = std::chrono::sys_time<std::chrono::nanoseconds>;

constexpr int64_t kSecondsPerHour = 3600;
constexpr int64_t kSecondsPerDay = 24 * kSecondsPerHour;
constexpr int64_t kNanosecondsPerSecond = 1'000'000'000;

std::optional<int64_t> SecondsPerDurationUnit(char unit) {
  switch (unit) {
    case 'y': return 365 * kSecondsPerDay;
    case 'm': return 30 * kSecondsPerDay;
    case 'w': return 7 * kSecondsPerDay;
    case 'd': return kSecondsPerDay;
    case 'h': return kSecondsPerHour;
    default: return std::nullopt;
  }
}

// The policy keeps only seconds, not the text the operator typed, so reasons
// use days and hours: exact, and free of the month/minute ambiguity of "m".
std::string FormatRetentionDuration(std::chrono::seconds duration) {
  int64_t remaining = duration.count();
  std::string text;
  for (auto [unit_seconds, unit] : {std::pair{kSecondsPerDay, 'd'}, std::pair{kSecondsPerHour, 'h'},
                                    std::pair{int64_t{1}, 's'}}) {
    if (remaining >= unit_seconds) {
      text += std::to_string(remaining / unit_seconds) + unit;
      remaining %= unit_seconds;
    }
  }
  return text;
}

// A counted rule keeps the newest snapshot of each period until its count runs
// out; keep_last is the same rule with every snapshot being its own period.
struct CountedRule {
  int remaining;  // <0: unlimited
  const char* reason;
  int64_t (*period_of)(SnapshotTime time, size_t position_newest_first);
  std::optional<int64_t> last_kept_period;
};

int64_t EachSnapshot(SnapshotTime, size_t position) { return static_cast<int64_t>(position); }

int64_t HourOf(SnapshotTime time, size_t) {
  return std::chrono::floor<std::chrono::hours>(time).time_since_epoch().count();
}

int64_t DayOf(SnapshotTime time, size_t) {
  return std::chrono::floor<std::chrono::days>(time).time_since_epoch().count();
}

// ISO weeks run Monday to Sunday, so the week's Monday identifies it, including
// weeks that straddle a year change and week 53.
int64_t IsoWeekOf(SnapshotTime time, size_t) {
  const std::chrono::sys_days day = std::chrono::floor<std::chrono::days>(time);
  const std::chrono::sys_days monday = day - (std::chrono::weekday(day) - std::chrono::Monday);
  return monday.time_since_epoch().count();
}

int64_t MonthOf(SnapshotTime time, size_t) {
  const std::chrono::year_month_day date{std::chrono::floor<std::chrono::days>(time)};
  return int64_t{static_cast<int>(date.year())} * 12 + static_cast<unsigned>(date.month());
}

int64_t YearOf(SnapshotTime time, size_t) {
  const std::chrono::year_month_day date{std::chrono::floor<std::chrono::days>(time)};
  return static_cast<int>(date.year());
}

// Strictly newer than newest - within, as restic and borg do. Unsigned
// arithmetic keeps the age exact even for times far apart.
bool IsWithin(int64_t time_unix_ns, int64_t newest_unix_ns, std::chrono::seconds within) {
  const uint64_t age_ns = static_cast<uint64_t>(newest_unix_ns) - static_cast<uint64_t>(time_unix_ns);
  return age_ns / kNanosecondsPerSecond < static_cast<uint64_t>(within.count());
}

bool HasTag(const RetentionCandidate& candidate, const std::string& tag) {
  return std::find(candidate.tags.begin(), candidate.tags.end(), tag) != candidate.tags.end();
}

}  // namespace

bool RetentionPolicy::Empty() const {
  return keep_last == 0 && keep_hourly == 0 && keep_daily == 0 && keep_weekly == 0 &&
         keep_monthly == 0 && keep_yearly == 0 && keep_within == std::chrono::seconds{0} &&
         keep_tags.empty();
}

Status RetentionPolicy::Validate() const {
  if (Empty()) {
    return Status::InvalidArgument("retention policy keeps nothing: give at least one --keep-* option");
  }
  // restic's convention: -1 alone means "unlimited"; any other negative
  // number is a typo (--keep-last -3 must not silently keep everything).
  const std::pair<const char*, int> counts[] = {{"keep-last", keep_last},     {"keep-hourly", keep_hourly},
                                                {"keep-daily", keep_daily},   {"keep-weekly", keep_weekly},
                                                {"keep-monthly", keep_monthly}, {"keep-yearly", keep_yearly}};
  for (const auto& [name, n] : counts)
    if (n < -1)
      return Status::InvalidArgument("retention " + std::string(name) + " " + std::to_string(n) +
                                     " is not allowed: give a count, or -1 for unlimited");
  if (keep_within < std::chrono::seconds{0}) {
    return Status::InvalidArgument("retention policy keep-within duration must not be negative");
  }
  return Status::Ok();
}

Result<std::chrono::seconds> ParseRetentionDuration(const std::string& text) {
  auto invalid = [&text](const std::string& why) {
    return Status::InvalidArgument("invalid retention duration \"" + text + "\": " + why);
  };
  constexpr std::string_view kUnitsHint = "use y, m, w, d or h, e.g. 7d or 2y5m";
  if (text.empty()) return invalid("empty; " + std::string(kUnitsHint));

  int64_t total_seconds = 0;
  size_t position = 0;
  while (position < text.size()) {
    const size_t number_begin = position;
    while (position < text.size() && text[position] >= '0' && text[position] <= '9') ++position;
    const std::string_view number(text.data() + number_begin, position - number_begin);
    if (position == text.size()) {
      return invalid("number " + std::string(number) + " has no unit; " + std::string(kUnitsHint));
    }
    const char unit = text[position++];
    const std::optional<int64_t> unit_seconds = SecondsPerDurationUnit(unit);
    if (number.empty()) {
      return invalid(unit_seconds ? std::string("unit '") + unit + "' has no number before it"
                                  : std::string("expected a number, found '") + unit + "'");
    }
    if (!unit_seconds) {
      return invalid(std::string("unknown unit '") + unit + "'; " + std::string(kUnitsHint));
    }
    int64_t count = 0;
    const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), count);
    if (error != std::errc() ||
        count > (std::numeric_limits<int64_t>::max() - total_seconds) / *unit_seconds) {
      return invalid("too large");
    }
    total_seconds += count * *unit_seconds;
  }
  return std::chrono::seconds{total_seconds};
}

std::vector<RetentionDecision> ApplyRetention(const RetentionPolicy& policy,
                                              std::vector<RetentionCandidate> candidates) {
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const RetentionCandidate& a, const RetentionCandidate& b) {
                     return a.time_unix_ns > b.time_unix_ns;
                   });

  // Reasons come out in this order, the order of the policy's fields.
  CountedRule counted_rules[] = {
      {policy.keep_last, "last snapshot", EachSnapshot, std::nullopt},
      {policy.keep_hourly, "hourly snapshot", HourOf, std::nullopt},
      {policy.keep_daily, "daily snapshot", DayOf, std::nullopt},
      {policy.keep_weekly, "weekly snapshot", IsoWeekOf, std::nullopt},
      {policy.keep_monthly, "monthly snapshot", MonthOf, std::nullopt},
      {policy.keep_yearly, "yearly snapshot", YearOf, std::nullopt},
  };
  const bool within_applies = policy.keep_within > std::chrono::seconds{0};
  const std::string within_reason = "within " + FormatRetentionDuration(policy.keep_within);
  std::vector<std::string> distinct_tags;
  for (const std::string& tag : policy.keep_tags) {
    if (std::find(distinct_tags.begin(), distinct_tags.end(), tag) == distinct_tags.end()) {
      distinct_tags.push_back(tag);
    }
  }

  std::vector<RetentionDecision> decisions;
  decisions.reserve(candidates.size());
  for (size_t position = 0; position < candidates.size(); ++position) {
    const RetentionCandidate& candidate = candidates[position];
    RetentionDecision decision{candidate.id, false, {}};
    const SnapshotTime time{std::chrono::nanoseconds{candidate.time_unix_ns}};
    for (CountedRule& rule : counted_rules) {
      if (rule.remaining == 0) continue;
      // Newest first, so a period differing from the last kept one is older and unseen.
      const int64_t period = rule.period_of(time, position);
      if (rule.last_kept_period == period) continue;
      rule.last_kept_period = period;
      if (rule.remaining > 0) --rule.remaining;
      decision.reasons.push_back(rule.reason);
    }
    if (within_applies &&
        IsWithin(candidate.time_unix_ns, candidates.front().time_unix_ns, policy.keep_within)) {
      decision.reasons.push_back(within_reason);
    }
    for (const std::string& tag : distinct_tags) {
      if (HasTag(candidate, tag)) decision.reasons.push_back("tag " + tag);
    }
    decision.keep = !decision.reasons.empty();
    decisions.push_back(std::move(decision));
  }
  return decisions;
}

}  // namespace cairn
