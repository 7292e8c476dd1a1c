#include "config/timezone.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

namespace cairn {
namespace {

constexpr int64_t kLimit = int64_t{1} << 55;
// RFC 8536 asks offsets to stay within -25h..+26h; anything wider is corrupt
// and would break the +-2 day window ToUtc searches.
constexpr int32_t kMaxOffset = 26 * 3600;
constexpr int64_t kDay = 86400;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

// ---------------------------------------------------------------------------
// Civil calendar

int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

CivilTime CivilFromSeconds(int64_t s) {
  const int64_t days = FloorDiv(s, kDay);
  const int64_t secs = s - days * kDay;
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  CivilTime c;
  c.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.year = yoe + era * 400 + (c.month <= 2);
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>(secs / 60 % 60);
  c.second = static_cast<int>(secs % 60);
  const int64_t wd = (days + 4) % 7;  // 1970-01-01 was a Thursday
  c.weekday = static_cast<int>(wd < 0 ? wd + 7 : wd);
  return c;
}

int64_t SecondsFromCivil(int64_t year, int month, int day, int hour, int minute, int second) {
  return DaysFromCivil(year, month, day) * kDay + hour * 3600 + minute * 60 + second;
}

bool IsLeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[(month - 1) % 12];
}

std::string FormatCivil(int64_t seconds) {
  const CivilTime c = CivilFromSeconds(seconds);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02d-%02d %02d:%02d:%02d", static_cast<long long>(c.year), c.month, c.day,
                c.hour, c.minute, c.second);
  return buf;
}

// ---------------------------------------------------------------------------
// POSIX TZ rules (the TZif footer): "CET-1CEST,M3.5.0,M10.5.0/3"

namespace {

struct DateRule {
  enum class Kind { kJulian, kZeroBased, kMonthWeekDay } kind = Kind::kMonthWeekDay;
  int a = 0, b = 0, c = 0;  // Jn: a=n; n: a=n; Mm.w.d: a=m, b=w, c=d
  int32_t time = 7200;      // seconds after local midnight; -167h..167h
};

struct PosixRule {
  int32_t std_offset = 0;  // seconds east of UTC
  bool has_dst = false;
  int32_t dst_offset = 0;
  DateRule start, end;
};

class PosixParser {
 public:
  explicit PosixParser(std::string_view s) : s_(s) {}

  Result<PosixRule> Parse() {
    PosixRule r;
    if (!Name()) return Fail("bad standard time name");
    std::optional<int32_t> off = Offset(/*max_hours=*/24);
    if (!off) return Fail("bad standard time offset");
    r.std_offset = -*off;  // POSIX counts west of Greenwich
    if (AtEnd()) return r;
    if (!Name()) return Fail("bad daylight time name");
    r.has_dst = true;
    r.dst_offset = r.std_offset + 3600;
    if (!AtEnd() && Peek() != ',') {
      off = Offset(24);
      if (!off) return Fail("bad daylight time offset");
      r.dst_offset = -*off;
    }
    if (AtEnd()) {  // POSIX leaves the default to the implementation; US rules, as glibc
      r.start = {DateRule::Kind::kMonthWeekDay, 3, 2, 0, 7200};
      r.end = {DateRule::Kind::kMonthWeekDay, 11, 1, 0, 7200};
      return r;
    }
    if (!Eat(',') || !Date(&r.start) || !Eat(',') || !Date(&r.end)) return Fail("bad rule dates");
    if (!AtEnd()) return Fail("unexpected text after the rule");
    return r;
  }

 private:
  Status Fail(const std::string& why) {
    return Status::Corruption("POSIX TZ rule '" + std::string(s_) + "': " + why);
  }
  bool AtEnd() const { return i_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[i_]; }
  bool Eat(char c) {
    if (Peek() != c) return false;
    ++i_;
    return true;
  }
  static bool Alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
  static bool Digit(char c) { return c >= '0' && c <= '9'; }

  bool Name() {
    size_t n = 0;
    if (Eat('<')) {
      while (!AtEnd() && (Alpha(Peek()) || Digit(Peek()) || Peek() == '+' || Peek() == '-')) ++i_, ++n;
      return Eat('>') && n >= 3;
    }
    while (!AtEnd() && Alpha(Peek())) ++i_, ++n;
    return n >= 3;
  }

  std::optional<int> Number(int max) {
    if (!Digit(Peek())) return std::nullopt;
    int v = 0;
    while (Digit(Peek())) {
      v = v * 10 + (s_[i_++] - '0');
      if (v > max) return std::nullopt;
    }
    return v;
  }

  // [+-]hh[:mm[:ss]]
  std::optional<int32_t> Offset(int max_hours) {
    int sign = 1;
    if (Eat('-')) sign = -1;
    else Eat('+');
    std::optional<int> h = Number(max_hours), m = 0, sec = 0;
    if (!h) return std::nullopt;
    if (Eat(':')) {
      m = Number(59);
      if (!m) return std::nullopt;
      if (Eat(':')) {
        sec = Number(59);
        if (!sec) return std::nullopt;
      }
    }
    return sign * (*h * 3600 + *m * 60 + *sec);
  }

  bool Date(DateRule* d) {
    if (Eat('J')) {
      std::optional<int> n = Number(365);
      if (!n || *n < 1) return false;
      *d = {DateRule::Kind::kJulian, *n, 0, 0, 7200};
    } else if (Eat('M')) {
      std::optional<int> m = Number(12), w, wd;
      if (!m || *m < 1 || !Eat('.') || !(w = Number(5)) || *w < 1 || !Eat('.') || !(wd = Number(6))) return false;
      *d = {DateRule::Kind::kMonthWeekDay, *m, *w, *wd, 7200};
    } else {
      std::optional<int> n = Number(365);
      if (!n) return false;
      *d = {DateRule::Kind::kZeroBased, *n, 0, 0, 7200};
    }
    if (Eat('/')) {
      std::optional<int32_t> t = Offset(167);  // RFC 8536 (v3) widens the POSIX 0..24 hours
      if (!t) return false;
      d->time = *t;
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
};

// Local wall-clock seconds at which `d` happens in `year`.
int64_t RuleLocalTime(const DateRule& d, int64_t year) {
  int64_t day;  // days since the epoch
  switch (d.kind) {
    case DateRule::Kind::kJulian:
      day = DaysFromCivil(year, 1, 1) + d.a - 1 + (IsLeapYear(year) && d.a >= 60 ? 1 : 0);
      break;
    case DateRule::Kind::kZeroBased:
      day = DaysFromCivil(year, 1, 1) + d.a;
      break;
    case DateRule::Kind::kMonthWeekDay:
    default: {
      const int64_t first = DaysFromCivil(year, d.a, 1);
      const int first_wd = static_cast<int>(((first + 4) % 7 + 7) % 7);
      int dom = 1 + (d.c - first_wd + 7) % 7 + (d.b - 1) * 7;
      while (dom > DaysInMonth(year, d.a)) dom -= 7;
      day = first + dom - 1;
      break;
    }
  }
  return day * kDay + d.time;
}

struct RuleEvent {
  int64_t utc;
  bool to_dst;
};

// The rule's changes in the years around `year`, in order; at equal instants
// the end of daylight time sorts first so that a rule with daylight time all
// year ("EST5EDT,0/0,J365/25") stays in daylight time.
std::vector<RuleEvent> RuleEvents(const PosixRule& r, int64_t first_year, int64_t last_year) {
  std::vector<RuleEvent> ev;
  for (int64_t y = first_year; y <= last_year; ++y) {
    ev.push_back({RuleLocalTime(r.start, y) - r.std_offset, true});
    ev.push_back({RuleLocalTime(r.end, y) - r.dst_offset, false});
  }
  std::sort(ev.begin(), ev.end(), [](const RuleEvent& a, const RuleEvent& b) {
    return a.utc != b.utc ? a.utc < b.utc : (!a.to_dst && b.to_dst);
  });
  return ev;
}

int32_t RuleOffsetAt(const PosixRule& r, int64_t utc) {
  if (!r.has_dst) return r.std_offset;
  const int64_t year = CivilFromSeconds(utc + r.std_offset).year;
  int32_t offset = r.std_offset;
  for (const RuleEvent& e : RuleEvents(r, year - 1, year + 1)) {
    if (e.utc > utc) break;
    offset = e.to_dst ? r.dst_offset : r.std_offset;
  }
  return offset;
}

}  // namespace

// ---------------------------------------------------------------------------
// Rules and lookups

struct TimeZone::Rules {
  std::string name = "UTC";
  std::vector<int64_t> trans;          // offset changes, ascending
  std::vector<int32_t> trans_offset;   // offset from each change on
  int32_t initial_offset = 0;          // before the first change
  std::optional<int64_t> last_table;   // the table's last transition; the footer rules after it
  std::optional<PosixRule> footer;
};

TimeZone::TimeZone() {
  static const std::shared_ptr<const Rules> kUtc = std::make_shared<const Rules>();
  rules_ = kUtc;
}

int64_t TimeZone::Clamp(int64_t t) { return std::clamp(t, -kLimit, kLimit); }

const std::string& TimeZone::name() const { return rules_->name; }

int32_t TimeZone::OffsetAt(int64_t utc) const {
  const Rules& r = *rules_;
  utc = Clamp(utc);
  if (r.footer && (!r.last_table || utc > *r.last_table)) return RuleOffsetAt(*r.footer, utc);
  auto it = std::upper_bound(r.trans.begin(), r.trans.end(), utc);
  if (it == r.trans.begin()) return r.initial_offset;
  return r.trans_offset[static_cast<size_t>(it - r.trans.begin() - 1)];
}

std::vector<int64_t> TimeZone::TransitionsBetween(int64_t from, int64_t to) const {
  const Rules& r = *rules_;
  from = Clamp(from);
  to = Clamp(to);
  std::vector<int64_t> out;
  if (from >= to) return out;
  for (auto it = std::lower_bound(r.trans.begin(), r.trans.end(), from); it != r.trans.end() && *it < to; ++it)
    if (!r.footer || !r.last_table || *it <= *r.last_table) out.push_back(*it);
  if (r.footer && r.footer->has_dst) {
    const int64_t rule_from = r.last_table ? std::max(from, *r.last_table + 1) : from;
    if (rule_from < to) {
      const int64_t y0 = CivilFromSeconds(rule_from).year - 1;
      const int64_t y1 = std::min(CivilFromSeconds(to).year + 1, y0 + 10000);
      for (const RuleEvent& e : RuleEvents(*r.footer, y0, y1))
        if (e.utc >= rule_from && e.utc < to && OffsetAt(e.utc - 1) != OffsetAt(e.utc) &&
            (out.empty() || out.back() != e.utc))
          out.push_back(e.utc);
    }
  }
  return out;
}

LocalResolution TimeZone::ToUtc(int64_t local) const {
  local = Clamp(local);
  const int64_t lo = local - 2 * kDay, hi = local + 2 * kDay;
  const std::vector<int64_t> trans = TransitionsBetween(lo, hi);
  std::set<int32_t> offsets{OffsetAt(lo)};
  for (int64_t t : trans) offsets.insert(OffsetAt(t));
  std::set<int64_t> valid;
  for (int32_t o : offsets)
    if (OffsetAt(local - o) == o) valid.insert(local - o);
  LocalResolution res;
  if (valid.size() == 1) {
    res.first = res.second = *valid.begin();
    return res;
  }
  if (valid.size() > 1) {
    res.kind = LocalResolution::Kind::kFold;
    res.first = *valid.begin();
    res.second = *valid.rbegin();
    return res;
  }
  res.kind = LocalResolution::Kind::kGap;
  res.first = res.second = local - OffsetAt(local);  // only for malformed rules; see below
  for (int64_t t : trans) {
    if (t + OffsetAt(t - 1) <= local && local < t + OffsetAt(t)) {
      res.first = res.second = t;
      break;
    }
  }
  return res;
}

// ---------------------------------------------------------------------------
// Loading

Status TimeZone::ValidateName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("time zone name '" + std::string(name) + "' " + why);
  };
  if (name.empty()) return bad("is empty");
  if (name.size() > 255) return bad("is too long");
  if (name.front() == '/') return bad("must not start with '/' (write e.g. Europe/Berlin)");
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view part = name.substr(start, end - start);
    if (part.empty()) return bad("has an empty component");
    if (part == "." || part == "..") return bad("must not contain '.' or '..' components");
    for (char c : part)
      if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
            c == '+' || c == '.'))
        return bad("has a character outside A-Z a-z 0-9 _ - + .");
    start = end + 1;
  }
  return Status::Ok();
}

Result<TimeZone> TimeZone::Load(const std::string& name) { return Load(name, "/usr/share/zoneinfo"); }

Result<TimeZone> TimeZone::Load(const std::string& name, const std::string& zoneinfo_dir) {
  CAIRN_RETURN_IF_ERROR(ValidateName(name));
  if (name == "UTC") return TimeZone();
  const std::string path = zoneinfo_dir + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("unknown time zone '" + name + "' (no file " + path + ")");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read " + path);
  return FromTzif(name, bytes.str());
}

Result<TimeZone> TimeZone::FromPosixRule(const std::string& name, std::string_view rule) {
  CAIRN_ASSIGN_OR_RETURN(PosixRule r, PosixParser(rule).Parse());
  if (std::abs(r.std_offset) > kMaxOffset || std::abs(r.dst_offset) > kMaxOffset)
    return Status::Corruption("POSIX TZ rule '" + std::string(rule) + "': offset out of range");
  auto rules = std::make_shared<Rules>();
  rules->name = name;
  rules->initial_offset = r.std_offset;
  rules->footer = r;
  return TimeZone(std::move(rules));
}

namespace {

class TzifReader {
 public:
  explicit TzifReader(std::string_view b) : b_(b) {}
  bool Has(uint64_t n) const { return n <= b_.size() - pos_; }
  size_t pos() const { return pos_; }
  void Skip(uint64_t n) { pos_ += static_cast<size_t>(n); }
  uint32_t U32() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return v;
  }
  int64_t I64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return static_cast<int64_t>(v);
  }
  int64_t Time(bool wide) { return wide ? I64() : static_cast<int32_t>(U32()); }
  uint8_t U8() { return static_cast<uint8_t>(b_[pos_++]); }
  std::string_view Rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
  uint64_t DataSize(bool wide) const {
    const uint64_t t = wide ? 8 : 4;
    return timecnt * t + timecnt + typecnt * uint64_t{6} + charcnt + leapcnt * (t + 4) + isstdcnt + isutcnt;
  }
};

Result<TzifHeader> ReadHeader(TzifReader& r) {
  if (!r.Has(44)) return Status::Corruption("truncated header");
  if (r.Rest().substr(0, 4) != "TZif") return Status::Corruption("no TZif magic");
  r.Skip(4);
  TzifHeader h;
  h.version = static_cast<char>(r.U8());
  if (h.version != 0 && (h.version < '2' || h.version > '4')) return Status::Corruption("unknown version");
  r.Skip(15);
  h.isutcnt = r.U32();
  h.isstdcnt = r.U32();
  h.leapcnt = r.U32();
  h.timecnt = r.U32();
  h.typecnt = r.U32();
  h.charcnt = r.U32();
  if (h.typecnt == 0) return Status::Corruption("no local time types");
  if (h.typecnt > 256) return Status::Corruption("more than 256 local time types");
  if (h.isutcnt != 0 && h.isutcnt != h.typecnt) return Status::Corruption("bad UT/local indicator count");
  if (h.isstdcnt != 0 && h.isstdcnt != h.typecnt) return Status::Corruption("bad standard/wall indicator count");
  return h;
}

}  // namespace

Result<TimeZone> TimeZone::FromTzif(const std::string& name, std::string_view bytes) {
  auto fail = [&](const Status& st) {
    return Status::Corruption("time zone '" + name + "' is not a valid TZif file: " + st.message());
  };
  TzifReader r(bytes);
  auto header = ReadHeader(r);
  if (!header.ok()) return fail(header.status());
  TzifHeader h = *header;
  bool wide = false;
  if (h.version != 0) {  // skip the 32-bit block; the 64-bit one follows with its own header
    if (!r.Has(h.DataSize(false))) return fail(Status::Corruption("truncated version 1 data"));
    r.Skip(h.DataSize(false));
    header = ReadHeader(r);
    if (!header.ok()) return fail(header.status());
    h = *header;
    wide = true;
  }
  if (!r.Has(h.DataSize(wide))) return fail(Status::Corruption("truncated data"));
  if (h.leapcnt != 0) return fail(Status::Unsupported("it counts leap seconds (right/ zones are not supported)"));

  std::vector<int64_t> times(h.timecnt);
  for (auto& t : times) t = r.Time(wide);
  std::vector<uint8_t> idx(h.timecnt);
  for (auto& i : idx) i = r.U8();
  std::vector<int32_t> type_offset(h.typecnt);
  for (auto& off : type_offset) {
    off = static_cast<int32_t>(r.U32());
    r.Skip(2);  // isdst, abbreviation index: not needed to compute offsets
    if (off < -kMaxOffset || off > kMaxOffset) return fail(Status::Corruption("UTC offset out of range"));
  }
  r.Skip(h.charcnt + uint64_t{h.isstdcnt} + h.isutcnt);
  for (size_t i = 0; i < times.size(); ++i) {
    if (idx[i] >= h.typecnt) return fail(Status::Corruption("transition names a missing local time type"));
    if (i > 0 && times[i] <= times[i - 1]) return fail(Status::Corruption("transitions out of order"));
  }

  auto rules = std::make_shared<Rules>();
  rules->name = name;
  rules->initial_offset = type_offset[0];
  if (!times.empty()) rules->last_table = std::clamp(times.back(), -kLimit - 1, kLimit + 1);
  int32_t current = rules->initial_offset;
  for (size_t i = 0; i < times.size(); ++i) {
    const int32_t off = type_offset[idx[i]];
    if (times[i] < -kLimit) {  // before anything a clamped instant can reach ("big bang" markers)
      rules->initial_offset = current = off;
      continue;
    }
    if (times[i] > kLimit) break;
    if (off == current) continue;  // only the abbreviation or the DST flag changed
    rules->trans.push_back(times[i]);
    rules->trans_offset.push_back(off);
    current = off;
  }

  if (wide) {  // footer: "\n<POSIX TZ rule>\n", possibly empty
    const std::string_view rest = r.Rest();
    if (rest.empty() || rest.front() != '\n') return fail(Status::Corruption("missing footer"));
    const size_t end = rest.find('\n', 1);
    if (end == std::string_view::npos) return fail(Status::Corruption("unterminated footer"));
    const std::string_view rule = rest.substr(1, end - 1);
    if (!rule.empty()) {
      auto tz = FromPosixRule(name, rule);
      if (!tz.ok()) return fail(tz.status());
      rules->footer = tz->rules_->footer;
      if (times.empty()) rules->initial_offset = tz->rules_->initial_offset;
    }
  }
  return TimeZone(std::move(rules));
}

}  // namespace cairn
