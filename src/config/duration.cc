#include "config/duration.h"

#include <array>
#include <limits>

namespace cairn {
namespace {

struct Unit {
  char letter;
  int64_t seconds;
};
constexpr std::array<Unit, 4> kUnits{{{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};

// A bound far beyond any sensible schedule that keeps every sum of fire
// times and periods inside int64 nanoseconds (about 292 years).
constexpr int64_t kMaxSeconds = 100LL * 366 * 86400;

Status Bad(std::string_view text, const std::string& why) {
  return Status::InvalidArgument("duration '" + std::string(text) + "': " + why);
}

}  // namespace

Result<int64_t> ParseDurationNs(std::string_view text) {
  if (text.empty()) return Bad(text, "empty (write e.g. 90s, 5m, 1h, 7d or 1h30m)");
  int64_t total = 0;
  size_t i = 0;
  size_t last_unit = 0;  // index into kUnits + 1 of the previous unit; units must descend
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') {
      if (text[i] == '-') return Bad(text, "must not be negative");
      return Bad(text, std::string("expected a number at '") + text[i] + "'");
    }
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > kMaxSeconds) return Bad(text, "too long (at most 100 years)");
      ++i;
    }
    if (i == text.size()) return Bad(text, "the number " + std::to_string(n) + " needs a unit (s, m, h or d)");
    const char u = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    size_t k = 0;
    while (k < kUnits.size() && kUnits[k].letter != u) ++k;
    if (k == kUnits.size()) return Bad(text, std::string("unknown unit '") + text[i] + "' (use s, m, h or d)");
    if (k + 1 <= last_unit)
      return Bad(text, std::string("unit '") + u + "' repeated or out of order (largest first, as in 1d2h30m)");
    last_unit = k + 1;
    ++i;
    if (n > (kMaxSeconds - total) / kUnits[k].seconds) return Bad(text, "too long (at most 100 years)");
    total += n * kUnits[k].seconds;
  }
  return total * kNsPerSecond;
}

std::string FormatDuration(int64_t ns) {
  if (ns < 0) return "-" + FormatDuration(ns == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -ns);
  int64_t s = ns / kNsPerSecond;
  const int64_t frac = ns % kNsPerSecond;
  if (frac != 0) {
    std::string f = std::to_string(frac + kNsPerSecond).substr(1);
    while (f.back() == '0') f.pop_back();
    return std::to_string(s) + "." + f + "s";
  }
  if (s == 0) return "0s";
  std::string out;
  for (const Unit& u : kUnits) {
    if (s >= u.seconds) {
      out += std::to_string(s / u.seconds) + u.letter;
      s %= u.seconds;
    }
  }
  return out;
}

}  // namespace cairn
