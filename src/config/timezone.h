// Time zones for schedules, read from the system's TZif files
// (/usr/share/zoneinfo, RFC 8536 versions 1 to 4) without touching the
// process-wide TZ/localtime machinery: GCC 12's libstdc++ has no
// std::chrono::tzdb, and setenv("TZ") would race with every other thread.
//
// Times are whole seconds. "Local seconds" are the wall-clock reading written
// as if it were UTC (2024-03-31 02:30 local is DaysFromCivil(2024,3,31)*86400
// + 2.5h whatever the zone); they are what cron expressions match against.
//
// A TimeZone is an immutable value sharing its rules; copy freely, use from
// any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"

namespace cairn {

// Proleptic Gregorian calendar arithmetic (Howard Hinnant's algorithms).
struct CivilTime {
  int64_t year = 1970;
  int month = 1, day = 1;               // 1-12, 1-31
  int hour = 0, minute = 0, second = 0;
  int weekday = 4;                      // 0 = Sunday; filled by CivilFromSeconds
};
int64_t DaysFromCivil(int64_t year, int month, int day);
CivilTime CivilFromSeconds(int64_t seconds);
int64_t SecondsFromCivil(int64_t year, int month, int day, int hour = 0, int minute = 0, int second = 0);
bool IsLeapYear(int64_t year);
int DaysInMonth(int64_t year, int month);
// "2024-03-31 02:30:00"; for messages and tests.
std::string FormatCivil(int64_t seconds);

// What a local wall-clock reading corresponds to.
struct LocalResolution {
  enum class Kind {
    kUnique,  // exactly one instant
    kGap,     // skipped (spring forward): `first` is the transition, the first instant after the gap
    kFold,    // repeated (fall back): `first` and `second` are its two instants, in order
  };
  Kind kind = Kind::kUnique;
  int64_t first = 0;   // UTC seconds
  int64_t second = 0;  // UTC seconds; equals `first` unless kFold
};

class TimeZone {
 public:
  // UTC.
  TimeZone();
  static TimeZone Utc() { return TimeZone(); }

  // Loads /usr/share/zoneinfo/<name> ("Europe/Berlin"); "UTC" needs no file.
  // Errors: InvalidArgument for a malformed name, NotFound for an unknown
  // zone, Corruption for a file that is not valid TZif.
  static Result<TimeZone> Load(const std::string& name);
  static Result<TimeZone> Load(const std::string& name, const std::string& zoneinfo_dir);
  // Parses the bytes of a TZif file (what Load reads); `name` is only kept.
  static Result<TimeZone> FromTzif(const std::string& name, std::string_view bytes);
  // A zone given by a POSIX TZ rule alone ("CET-1CEST,M3.5.0,M10.5.0/3").
  static Result<TimeZone> FromPosixRule(const std::string& name, std::string_view rule);
  // IANA-style names only: [A-Za-z0-9_+-] components joined by '/', no "."
  // or ".." component, no leading '/', at most 255 characters.
  static Status ValidateName(std::string_view name);

  const std::string& name() const;

  // Offset of local time from UTC at a UTC instant (seconds east of UTC).
  int32_t OffsetAt(int64_t utc) const;
  int64_t ToLocal(int64_t utc) const { return Clamp(utc) + OffsetAt(utc); }
  // Resolves a local wall-clock reading: unique, in a gap, or in a fold.
  LocalResolution ToUtc(int64_t local) const;
  // UTC instants in [from, to) at which the offset changes, in order.
  std::vector<int64_t> TransitionsBetween(int64_t from, int64_t to) const;

  struct Rules;  // opaque; defined in timezone.cc

 private:
  explicit TimeZone(std::shared_ptr<const Rules> rules) : rules_(std::move(rules)) {}
  // Instants are clamped to +-2^55 s (about a billion years) so that adding
  // an offset or a rule's date can never overflow; no schedule reaches that far.
  static int64_t Clamp(int64_t t);

  std::shared_ptr<const Rules> rules_;  // never null
};

}  // namespace cairn
