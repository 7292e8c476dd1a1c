#include "config/timezone.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace cairn {
namespace {

using Kind = LocalResolution::Kind;

int64_t U(int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0) { return SecondsFromCivil(y, mo, d, h, mi, s); }

TimeZone MustLoad(const std::string& name) {
  auto tz = TimeZone::Load(name);
  EXPECT_TRUE(tz.ok()) << name << ": " << tz.status().ToString();
  return tz.ok() ? *tz : TimeZone();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(TimeZoneTest, CivilArithmeticRoundTrips) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
  EXPECT_EQ(DaysFromCivil(1969, 12, 31), -1);
  for (int64_t s : {int64_t{0}, int64_t{-1}, U(2024, 2, 29, 23, 59, 59), U(1600, 3, 1), U(2100, 2, 28, 12)}) {
    const CivilTime c = CivilFromSeconds(s);
    EXPECT_EQ(SecondsFromCivil(c.year, c.month, c.day, c.hour, c.minute, c.second), s);
  }
  EXPECT_EQ(CivilFromSeconds(U(2024, 9, 1)).weekday, 0);  // Sunday
  EXPECT_EQ(CivilFromSeconds(-1).weekday, 3);             // 1969-12-31, a Wednesday
  EXPECT_TRUE(IsLeapYear(2000));
  EXPECT_FALSE(IsLeapYear(2100));
  EXPECT_EQ(DaysInMonth(2024, 2), 29);
  EXPECT_EQ(DaysInMonth(2023, 2), 28);
  EXPECT_EQ(FormatCivil(U(2024, 3, 31, 2, 30)), "2024-03-31 02:30:00");
}

TEST(TimeZoneTest, UtcNeedsNoFiles) {
  auto tz = TimeZone::Load("UTC", "/nonexistent-zoneinfo");
  ASSERT_TRUE(tz.ok()) << tz.status().ToString();
  EXPECT_EQ(tz->name(), "UTC");
  EXPECT_EQ(tz->OffsetAt(U(2024, 7, 1)), 0);
  const LocalResolution r = tz->ToUtc(U(2024, 3, 31, 2, 30));
  EXPECT_EQ(r.kind, Kind::kUnique);
  EXPECT_EQ(r.first, U(2024, 3, 31, 2, 30));
  EXPECT_TRUE(tz->TransitionsBetween(U(2000, 1, 1), U(2030, 1, 1)).empty());
  EXPECT_EQ(TimeZone().name(), "UTC");
}

TEST(TimeZoneTest, BerlinBothTransitions) {
  TimeZone tz = MustLoad("Europe/Berlin");
  EXPECT_EQ(tz.OffsetAt(U(2024, 3, 31, 1) - 1), 3600);
  EXPECT_EQ(tz.OffsetAt(U(2024, 3, 31, 1)), 7200);
  EXPECT_EQ(tz.OffsetAt(U(2024, 10, 27, 1) - 1), 7200);
  EXPECT_EQ(tz.OffsetAt(U(2024, 10, 27, 1)), 3600);
  EXPECT_EQ(tz.TransitionsBetween(U(2024, 1, 1), U(2025, 1, 1)),
            (std::vector<int64_t>{U(2024, 3, 31, 1), U(2024, 10, 27, 1)}));

  // 02:30 does not exist on spring-forward day: the gap ends at 01:00 UTC (03:00 CEST).
  LocalResolution gap = tz.ToUtc(U(2024, 3, 31, 2, 30));
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.first, U(2024, 3, 31, 1));
  EXPECT_EQ(tz.ToUtc(U(2024, 3, 31, 2, 0)).kind, Kind::kGap);
  EXPECT_EQ(tz.ToUtc(U(2024, 3, 31, 3, 0)).kind, Kind::kUnique);
  EXPECT_EQ(tz.ToUtc(U(2024, 3, 31, 1, 59, 59)).first, U(2024, 3, 31, 0, 59, 59));

  // 02:30 happens twice on fall-back day: 00:30 UTC (CEST) and 01:30 UTC (CET).
  LocalResolution fold = tz.ToUtc(U(2024, 10, 27, 2, 30));
  EXPECT_EQ(fold.kind, Kind::kFold);
  EXPECT_EQ(fold.first, U(2024, 10, 27, 0, 30));
  EXPECT_EQ(fold.second, U(2024, 10, 27, 1, 30));
  EXPECT_EQ(tz.ToUtc(U(2024, 10, 27, 3, 0)).kind, Kind::kUnique);
  EXPECT_EQ(tz.ToUtc(U(2024, 10, 27, 1, 59)).kind, Kind::kUnique);
}

TEST(TimeZoneTest, NewYorkBothTransitions) {
  TimeZone tz = MustLoad("America/New_York");
  EXPECT_EQ(tz.OffsetAt(U(2024, 1, 15)), -5 * 3600);
  EXPECT_EQ(tz.OffsetAt(U(2024, 7, 15)), -4 * 3600);
  LocalResolution gap = tz.ToUtc(U(2024, 3, 10, 2, 30));
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.first, U(2024, 3, 10, 7));  // 03:00 EDT
  LocalResolution fold = tz.ToUtc(U(2024, 11, 3, 1, 30));
  EXPECT_EQ(fold.kind, Kind::kFold);
  EXPECT_EQ(fold.first, U(2024, 11, 3, 5, 30));   // 01:30 EDT
  EXPECT_EQ(fold.second, U(2024, 11, 3, 6, 30));  // 01:30 EST
}

TEST(TimeZoneTest, SydneyIsSouthern) {
  TimeZone tz = MustLoad("Australia/Sydney");
  EXPECT_EQ(tz.OffsetAt(U(2024, 1, 15)), 11 * 3600);  // summer: AEDT
  EXPECT_EQ(tz.OffsetAt(U(2024, 7, 15)), 10 * 3600);  // winter: AEST
  EXPECT_EQ(tz.TransitionsBetween(U(2024, 1, 1), U(2025, 1, 1)),
            (std::vector<int64_t>{U(2024, 4, 6, 16), U(2024, 10, 5, 16)}));
  // Fall back on 2024-04-07: 02:30 twice. Spring forward on 2024-10-06: 02:30 never.
  LocalResolution fold = tz.ToUtc(U(2024, 4, 7, 2, 30));
  EXPECT_EQ(fold.kind, Kind::kFold);
  EXPECT_EQ(fold.first, U(2024, 4, 6, 15, 30));
  EXPECT_EQ(fold.second, U(2024, 4, 6, 16, 30));
  LocalResolution gap = tz.ToUtc(U(2024, 10, 6, 2, 30));
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.first, U(2024, 10, 5, 16));
}

TEST(TimeZoneTest, HalfHourDstLordHowe) {
  // Lord Howe Island moves its clocks by 30 minutes (+10:30 <-> +11).
  TimeZone tz = MustLoad("Australia/Lord_Howe");
  EXPECT_EQ(tz.OffsetAt(U(2024, 1, 1)), 11 * 3600);
  EXPECT_EQ(tz.OffsetAt(U(2024, 7, 1)), 10 * 3600 + 1800);
  LocalResolution fold = tz.ToUtc(U(2024, 4, 7, 1, 45));
  EXPECT_EQ(fold.kind, Kind::kFold);
  EXPECT_EQ(fold.first, U(2024, 4, 6, 14, 45));
  EXPECT_EQ(fold.second, U(2024, 4, 6, 15, 15));
  LocalResolution gap = tz.ToUtc(U(2024, 10, 6, 2, 15));
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.first, U(2024, 10, 5, 15, 30));
}

TEST(TimeZoneTest, FooterRuleCoversTimesPastTheTable) {
  // The files' tables end in 2037; the POSIX rule in the footer takes over.
  TimeZone berlin = MustLoad("Europe/Berlin");
  EXPECT_EQ(berlin.TransitionsBetween(U(2100, 1, 1), U(2101, 1, 1)),
            (std::vector<int64_t>{U(2100, 3, 28, 1), U(2100, 10, 31, 1)}));
  TimeZone sydney = MustLoad("Australia/Sydney");
  EXPECT_EQ(sydney.TransitionsBetween(U(2090, 1, 1), U(2091, 1, 1)),
            (std::vector<int64_t>{U(2090, 4, 1, 16), U(2090, 9, 30, 16)}));
  EXPECT_EQ(sydney.ToUtc(U(2090, 10, 1, 2, 30)).kind, Kind::kGap);
  // Nuuk's footer uses RFC 8536's extension: transition times of -1:00 local.
  TimeZone nuuk = MustLoad("America/Nuuk");
  EXPECT_EQ(nuuk.TransitionsBetween(U(2070, 1, 1), U(2071, 1, 1)),
            (std::vector<int64_t>{U(2070, 3, 30, 1), U(2070, 10, 26, 1)}));
  EXPECT_EQ(nuuk.OffsetAt(U(2070, 7, 1)), -3600);
}

TEST(TimeZoneTest, PosixRuleAloneAgreesWithTheFile) {
  TimeZone file = MustLoad("Europe/Berlin");
  auto rule = TimeZone::FromPosixRule("Berlin-rule", "CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(rule.ok()) << rule.status().ToString();
  for (int64_t t = U(1997, 1, 1); t < U(2040, 1, 1); t += 7 * 3600 + 13)
    ASSERT_EQ(rule->OffsetAt(t), file.OffsetAt(t)) << FormatCivil(t);
  auto fixed = TimeZone::FromPosixRule("x", "<+0530>-5:30");
  ASSERT_TRUE(fixed.ok());
  EXPECT_EQ(fixed->OffsetAt(0), 5 * 3600 + 1800);
  auto dublin_style = TimeZone::FromPosixRule("x", "IST-1GMT0,M10.5.0,M3.5.0/1");  // negative DST
  ASSERT_TRUE(dublin_style.ok());
  EXPECT_EQ(dublin_style->OffsetAt(U(2024, 7, 1)), 3600);
  EXPECT_EQ(dublin_style->OffsetAt(U(2024, 1, 1)), 0);
  auto permanent = TimeZone::FromPosixRule("x", "EST5EDT,0/0,J365/25");  // DST all year
  ASSERT_TRUE(permanent.ok());
  for (int64_t t : {U(2024, 1, 1), U(2024, 1, 1, 5), U(2024, 7, 1), U(2024, 12, 31, 23)})
    EXPECT_EQ(permanent->OffsetAt(t), -4 * 3600) << FormatCivil(t);
  auto default_rule = TimeZone::FromPosixRule("x", "EST5EDT");
  ASSERT_TRUE(default_rule.ok());
  EXPECT_EQ(default_rule->OffsetAt(U(2024, 7, 1)), -4 * 3600);
  for (const char* bad : {"", "C", "CET", "CET-1CEST,M3.5.0", "CET-1CEST,M13.5.0,M10.5.0", "CET-1CEST,M3.6.0,M10.5.0",
                          "CET-1CEST,J0,J365", "CET25", "<CE", "CET-1CEST,M3.5.0,M10.5.0/168", "CET-1x"})
    EXPECT_FALSE(TimeZone::FromPosixRule("x", bad).ok()) << bad;
}

TEST(TimeZoneTest, NamesAreValidated) {
  for (const char* bad : {"", "/etc/localtime", "../etc/passwd", "Europe/../../etc/passwd", "Europe/.", "Europe//Berlin",
                          "Europe/Berlin/", "Europe/Ber lin", "Europe\\Berlin", "Europe/Berlin\n"}) {
    auto tz = TimeZone::Load(bad);
    ASSERT_FALSE(tz.ok()) << bad;
    EXPECT_EQ(tz.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(tz.status().message().find("time zone name"), std::string::npos);
  }
  EXPECT_FALSE(TimeZone::Load(std::string(300, 'a')).ok());
  for (const char* good : {"Etc/GMT+5", "America/Argentina/Buenos_Aires", "America/Port-au-Prince"})
    EXPECT_TRUE(TimeZone::ValidateName(good).ok()) << good;
}

TEST(TimeZoneTest, MissingAndCorruptZonesAreClearErrors) {
  auto missing = TimeZone::Load("Europe/Berln");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("unknown time zone 'Europe/Berln'"), std::string::npos);

  auto garbage = TimeZone::FromTzif("Bad/Zone", "not a zone file at all, but long enough to have a header......");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kCorruption);
  EXPECT_NE(garbage.status().message().find("time zone 'Bad/Zone' is not a valid TZif file"), std::string::npos);

  // Every proper prefix of a real file is refused, none crashes.
  const std::string berlin = ReadFile("/usr/share/zoneinfo/Europe/Berlin");
  ASSERT_GT(berlin.size(), 100u);
  ASSERT_TRUE(TimeZone::FromTzif("Europe/Berlin", berlin).ok());
  for (size_t n = 0; n < berlin.size(); ++n)
    EXPECT_FALSE(TimeZone::FromTzif("Europe/Berlin", berlin.substr(0, n)).ok()) << n;

  // Leap-second zones ("right/") count TAI-like seconds: refused, not misread.
  const std::string right = ReadFile("/usr/share/zoneinfo/right/UTC");
  if (!right.empty()) {
    auto r = TimeZone::FromTzif("right/UTC", right);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("leap seconds"), std::string::npos);
  }
}

TEST(TimeZoneTest, VersionOneFilesAreRead) {
  // Rewrite Berlin as a version 1 file: the 32-bit block alone, no footer.
  std::string v1 = ReadFile("/usr/share/zoneinfo/Europe/Berlin");
  ASSERT_GT(v1.size(), 44u);
  auto count = [&](int i) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v = (v << 8) | static_cast<uint8_t>(v1[20 + 4 * i + k]);
    return uint64_t{v};
  };
  const uint64_t size = 44 + count(3) * 5 + count(4) * 6 + count(5) + count(2) * 8 + count(1) + count(0);
  v1 = v1.substr(0, size);
  v1[4] = '\0';
  auto tz = TimeZone::FromTzif("Europe/Berlin", v1);
  ASSERT_TRUE(tz.ok()) << tz.status().ToString();
  EXPECT_EQ(tz->OffsetAt(U(2024, 3, 31, 1) - 1), 3600);
  EXPECT_EQ(tz->OffsetAt(U(2024, 3, 31, 1)), 7200);
  EXPECT_EQ(tz->ToUtc(U(2024, 10, 27, 2, 30)).kind, Kind::kFold);
}

}  // namespace
}  // namespace cairn
