// Cron expressions: the five fields of Vixie cron (minute hour day-of-month
// month day-of-week) and its @hourly/@daily/... macros.
//
// Syntax per field: "*", a value, a range "1-5", a step "*/15", "1-30/5" or
// "10/15" (= 10-max/15), and comma lists of these. Month and weekday names
// (JAN-DEC, SUN-SAT) are case-insensitive and also work in ranges; weekday 0
// and 7 are both Sunday. A range must not run backwards ("FRI-MON" is refused:
// write "FRI-SAT,SUN-MON" or "0,1,5,6").
//
// Days follow Vixie's rule: when both day-of-month and day-of-week are
// restricted, a day matches if EITHER matches ("0 0 1 * MON" runs on the 1st
// and on every Monday); otherwise both must (the unrestricted one matches all).
// A field is unrestricted only when written "*" or "*/1": unlike Vixie, where
// any field starting with '*' counts as unrestricted, "*/2" restricts (as in
// robfig/cron), so "0 0 */2 * MON" runs on odd days and on Mondays.
//
// Expressions that can never match (such as "0 0 30 2 *") are refused at
// parse time; NextMatch additionally bounds its search.
//
// Matching is on local wall-clock time ("local seconds", see timezone.h);
// mapping to UTC instants with DST gaps and folds is Schedule's job.
// A CronExpr is an immutable value; thread-safe.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn {

class CronExpr {
 public:
  // Errors are InvalidArgument and name the field and the token
  // ("cron '0 25 * * *': hour: 25 is out of range 0-23").
  static Result<CronExpr> Parse(std::string_view text);

  // The first whole local minute strictly after `local` that matches, or
  // nullopt if none does within the next 9 years (a parsed expression always
  // matches within that: Feb 29 recurs at most 8 years apart).
  std::optional<int64_t> NextMatch(int64_t local) const;
  // Whether the local minute containing `local` matches.
  bool Matches(int64_t local) const;

  // The text as given (macros stay macros), e.g. for listings.
  const std::string& text() const { return text_; }

 private:
  CronExpr() = default;
  bool DayMatches(int64_t year, int month, int day, int weekday) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> weekdays_; // 0-6, Sunday = 0
  bool days_any_ = false;     // day-of-month written "*"
  bool weekdays_any_ = false; // day-of-week written "*"
};

}  // namespace cairn
