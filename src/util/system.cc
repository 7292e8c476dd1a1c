#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "cairn/system.h"
#include "cairn/clock.h"

namespace cairn {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatTime(int64_t unix_ns) {
  time_t secs = static_cast<time_t>(unix_ns / 1000000000);
  long nanos = static_cast<long>(unix_ns % 1000000000);
  if (nanos < 0) {
    nanos += 1000000000;
    --secs;
  }
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
  return buf;
}

Result<int64_t> ParseTime(const std::string& text) {
  struct tm tm = {};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6)
    return Status::InvalidArgument("bad time '" + text + "' (want RFC 3339, e.g. 2026-01-02T03:04:05Z)");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t nanos = 0;
  size_t pos = static_cast<size_t>(consumed);
  if (pos < text.size() && text[pos] == '.') {
    int64_t scale = 100000000;
    for (++pos; pos < text.size() && isdigit(static_cast<unsigned char>(text[pos])); ++pos, scale /= 10)
      nanos += (text[pos] - '0') * scale;
  }
  if (pos < text.size() && text[pos] != 'Z')
    return Status::InvalidArgument("bad time '" + text + "' (only UTC 'Z' times are written by cairn)");
  return static_cast<int64_t>(timegm(&tm)) * 1000000000 + nanos;
}

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown";
  return buf;
}

std::string Username() {
  struct passwd pw, *result = nullptr;
  char buf[4096];
  if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &result) == 0 && result) return result->pw_name;
  return std::to_string(geteuid());
}

}  // namespace cairn

namespace cairn {

unsigned CurrentUmask() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Umask:", 0) == 0) return static_cast<unsigned>(std::stoul(line.substr(6), nullptr, 8) & 0777);
  return 022;
}

namespace {
class RealClock : public Clock {
 public:
  int64_t NowNs() const override { return cairn::NowNs(); }
};
}  // namespace

Clock* SystemClock() {
  static RealClock* clock = new RealClock();  // never destroyed: usable from static destructors
  return clock;
}

}  // namespace cairn
