#include "config/cron.h"

#include <array>
#include <vector>

#include "config/timezone.h"

namespace cairn {
namespace {

struct FieldSpec {
  const char* name;
  int min, max;        // accepted values (day-of-week accepts 7 for Sunday)
  int star_max;        // the top of "*" (day-of-week: 6, so Sunday is not doubled)
  const std::array<const char*, 13>* names;  // names[i] is value i, or nullptr
};

constexpr std::array<const char*, 13> kMonthNames{nullptr, "jan", "feb", "mar", "apr", "may", "jun",
                                                  "jul",   "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<const char*, 13> kDayNames{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

const std::array<FieldSpec, 5> kFields{{
    {"minute", 0, 59, 59, nullptr},
    {"hour", 0, 23, 23, nullptr},
    {"day-of-month", 1, 31, 31, nullptr},
    {"month", 1, 12, 12, &kMonthNames},
    {"day-of-week", 0, 7, 6, &kDayNames},
}};

struct Macro {
  const char* name;
  const char* expansion;
};
constexpr std::array<Macro, 7> kMacros{{{"@hourly", "0 * * * *"},
                                        {"@daily", "0 0 * * *"},
                                        {"@midnight", "0 0 * * *"},
                                        {"@weekly", "0 0 * * 0"},
                                        {"@monthly", "0 0 1 * *"},
                                        {"@yearly", "0 0 1 1 *"},
                                        {"@annually", "0 0 1 1 *"}}};

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }

class FieldParser {
 public:
  FieldParser(const std::string& expr, const FieldSpec& spec, std::string_view field)
      : expr_(expr), spec_(spec), field_(field) {}

  // Sets the bits of every value the field selects (day-of-week 7 folds to 0).
  Status Parse(std::vector<bool>* bits) {
    bits->assign(spec_.max + 1, false);
    size_t start = 0;
    while (true) {
      size_t comma = field_.find(',', start);
      const std::string_view item =
          field_.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      CAIRN_RETURN_IF_ERROR(Item(item, bits));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return Status::Ok();
  }

 private:
  Status Error(const std::string& why) const {
    return Status::InvalidArgument("cron '" + expr_ + "': " + spec_.name + ": " + why);
  }
  std::string Range() const {
    std::string r = std::to_string(spec_.min) + "-" + std::to_string(spec_.max);
    if (spec_.names) r += " or " + Upper((*spec_.names)[spec_.min == 0 ? 0 : 1]) + "-" + Upper(LastName());
    return r;
  }
  static std::string Upper(const char* s) {
    std::string u(s);
    for (char& c : u) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    return u;
  }
  const char* LastName() const {
    const char* last = nullptr;
    for (const char* n : *spec_.names)
      if (n) last = n;
    return last;
  }

  Result<int> Value(std::string_view tok) const {
    if (tok.empty()) return Error("missing value in '" + std::string(field_) + "'");
    if (tok[0] >= '0' && tok[0] <= '9') {
      int v = 0;
      for (char c : tok) {
        if (c < '0' || c > '9') return Error("bad token '" + std::string(tok) + "' (expected " + Range() + ")");
        v = v * 10 + (c - '0');
        if (v > 1000) break;
      }
      if (v < spec_.min || v > spec_.max)
        return Error(std::string(tok) + " is out of range " + std::to_string(spec_.min) + "-" +
                     std::to_string(spec_.max));
      return v;
    }
    if (spec_.names && tok.size() == 3) {
      for (size_t i = 0; i < spec_.names->size(); ++i) {
        const char* n = (*spec_.names)[i];
        if (n && Lower(tok[0]) == n[0] && Lower(tok[1]) == n[1] && Lower(tok[2]) == n[2]) return static_cast<int>(i);
      }
    }
    return Error("bad token '" + std::string(tok) + "' (expected " + Range() + ")");
  }

  Status Item(std::string_view item, std::vector<bool>* bits) const {
    if (item.empty()) return Error("empty list item in '" + std::string(field_) + "'");
    const size_t slash = item.find('/');
    const std::string_view base = item.substr(0, slash);
    int lo, hi;
    if (base == "*") {
      lo = spec_.min;
      hi = spec_.star_max;
    } else {
      const size_t dash = base.find('-');
      CAIRN_ASSIGN_OR_RETURN(lo, Value(base.substr(0, dash)));
      hi = lo;
      if (dash != std::string_view::npos) {
        CAIRN_ASSIGN_OR_RETURN(hi, Value(base.substr(dash + 1)));
        if (hi < lo) return Error("range '" + std::string(base) + "' runs backwards");
      } else if (slash != std::string_view::npos) {
        hi = spec_.max;  // "10/15" = "10-max/15" ("7/2" in day-of-week is Sunday)
      }
    }
    int step = 1;
    if (slash != std::string_view::npos) {
      const std::string_view s = item.substr(slash + 1);
      if (s.empty() || s.size() > 4 || s.find_first_not_of("0123456789") != std::string_view::npos)
        return Error("bad step '" + std::string(s) + "' in '" + std::string(item) + "'");
      step = std::stoi(std::string(s));
      if (step < 1) return Error("step must be at least 1 in '" + std::string(item) + "'");
      if (step > spec_.star_max - spec_.min)
        return Error("step " + std::to_string(step) + " in '" + std::string(item) + "' is larger than the field (" +
                     std::to_string(spec_.min) + "-" + std::to_string(spec_.star_max) +
                     "); for longer intervals use every: instead of cron:");
    }
    for (int v = lo; v <= hi; v += step) (*bits)[v == 7 && spec_.max == 7 ? 0 : v] = true;
    return Status::Ok();  // lo <= hi always: every item selects at least one value
  }

  const std::string& expr_;
  const FieldSpec& spec_;
  std::string_view field_;
};

template <size_t N>
void CopyBits(const std::vector<bool>& from, std::bitset<N>* to) {
  for (size_t i = 0; i < N && i < from.size(); ++i) (*to)[i] = from[i];
}

}  // namespace

Result<CronExpr> CronExpr::Parse(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && IsSpace(text[b])) ++b;
  while (e > b && IsSpace(text[e - 1])) --e;
  const std::string trimmed(text.substr(b, e - b));
  std::string fields_text = trimmed;
  if (!trimmed.empty() && trimmed[0] == '@') {
    std::string lower;
    for (char c : trimmed) lower += Lower(c);
    const Macro* found = nullptr;
    for (const Macro& m : kMacros)
      if (lower == m.name) found = &m;
    if (!found) {
      if (lower == "@reboot") return Status::InvalidArgument("cron '@reboot' is not supported (schedules are about time)");
      return Status::InvalidArgument("cron '" + trimmed +
                                     "': unknown macro (use @hourly, @daily, @midnight, @weekly, @monthly, "
                                     "@yearly or @annually)");
    }
    fields_text = found->expansion;
  }

  std::vector<std::string_view> fields;
  const std::string_view ft(fields_text);
  for (size_t i = 0; i < ft.size();) {
    while (i < ft.size() && IsSpace(ft[i])) ++i;
    size_t j = i;
    while (j < ft.size() && !IsSpace(ft[j])) ++j;
    if (j > i) fields.push_back(ft.substr(i, j - i));
    i = j;
  }
  if (fields.size() != 5)
    return Status::InvalidArgument("cron '" + trimmed + "': expected 5 fields (minute hour day-of-month month " +
                                   "day-of-week), got " + std::to_string(fields.size()));

  CronExpr c;
  c.text_ = trimmed;
  std::vector<bool> bits;
  CAIRN_RETURN_IF_ERROR(FieldParser(trimmed, kFields[0], fields[0]).Parse(&bits));
  CopyBits(bits, &c.minutes_);
  CAIRN_RETURN_IF_ERROR(FieldParser(trimmed, kFields[1], fields[1]).Parse(&bits));
  CopyBits(bits, &c.hours_);
  CAIRN_RETURN_IF_ERROR(FieldParser(trimmed, kFields[2], fields[2]).Parse(&bits));
  CopyBits(bits, &c.days_);
  CAIRN_RETURN_IF_ERROR(FieldParser(trimmed, kFields[3], fields[3]).Parse(&bits));
  CopyBits(bits, &c.months_);
  CAIRN_RETURN_IF_ERROR(FieldParser(trimmed, kFields[4], fields[4]).Parse(&bits));
  CopyBits(bits, &c.weekdays_);
  c.days_any_ = fields[2] == "*" || fields[2] == "*/1";
  c.weekdays_any_ = fields[4] == "*" || fields[4] == "*/1";

  // Only day-of-month alone can select nothing (a weekday recurs every week).
  if (!c.days_any_ && c.weekdays_any_) {
    bool possible = false;
    for (int m = 1; m <= 12; ++m)
      for (int d = 1; d <= DaysInMonth(2000, m); ++d) possible |= c.months_[m] && c.days_[d];
    if (!possible)
      return Status::InvalidArgument("cron '" + trimmed + "': never matches: day-of-month " +
                                     std::string(fields[2]) + " does not occur in month " + std::string(fields[3]));
  }
  return c;
}

bool CronExpr::DayMatches(int64_t year, int month, int day, int weekday) const {
  if (!months_[month]) return false;
  if (day > DaysInMonth(year, month)) return false;
  if (days_any_ || weekdays_any_) return days_[day] && weekdays_[weekday];
  return days_[day] || weekdays_[weekday];
}

bool CronExpr::Matches(int64_t local) const {
  const CivilTime c = CivilFromSeconds(local);
  return minutes_[c.minute] && hours_[c.hour] && DayMatches(c.year, c.month, c.day, c.weekday);
}

std::optional<int64_t> CronExpr::NextMatch(int64_t local) const {
  constexpr int64_t kLimit = int64_t{1} << 55;  // as TimeZone: far beyond any schedule, far from overflow
  if (local < -kLimit || local > kLimit) return std::nullopt;
  int64_t minute_start = local - (local % 60 + 60) % 60;  // floor to the minute
  const CivilTime start = CivilFromSeconds(minute_start + 60);
  int64_t day = DaysFromCivil(start.year, start.month, start.day);
  int hour = start.hour, minute = start.minute;
  const int64_t last_day = day + 9 * 366;
  for (; day <= last_day; ++day, hour = 0, minute = 0) {
    const CivilTime c = CivilFromSeconds(day * 86400);
    if (!months_[c.month]) {  // jump to the 1st of the next month
      const int64_t next_month = c.month == 12 ? DaysFromCivil(c.year + 1, 1, 1) : DaysFromCivil(c.year, c.month + 1, 1);
      day = next_month - 1;
      continue;
    }
    if (!DayMatches(c.year, c.month, c.day, c.weekday)) continue;
    for (int h = hour; h < 24; ++h) {
      if (!hours_[h]) continue;
      for (int m = h == hour ? minute : 0; m < 60; ++m)
        if (minutes_[m]) return day * 86400 + h * 3600 + m * 60;
    }
  }
  return std::nullopt;
}

}  // namespace cairn
