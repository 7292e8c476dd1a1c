// libFuzzer target: arbitrary bytes as a cron expression. Parsing must never
// crash or hang, and a parsed expression must produce matches that are
// strictly later, minute-aligned and matching (NextMatch's contract).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string_view>

#include "config/cron.h"
#include "config/timezone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // "<expression>" or "<expression>\0<up to 8 bytes picking the start time>".
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  int64_t start = 1704067200;  // 2024-01-01
  if (nul != std::string_view::npos) {
    uint64_t raw = 0;
    std::memcpy(&raw, input.data() + nul + 1, std::min<size_t>(8, input.size() - nul - 1));
    start = static_cast<int64_t>(raw % (uint64_t{800} * 366 * 86400)) - int64_t{400} * 366 * 86400;  // +-400 years
  }
  auto expr = cairn::CronExpr::Parse(input.substr(0, nul));
  if (!expr.ok()) {
    if (expr.status().message().empty()) std::abort();
    return 0;
  }
  int64_t t = start;
  for (int i = 0; i < 8; ++i) {
    const std::optional<int64_t> next = expr->NextMatch(t);
    // A parsed expression always matches within 9 years.
    if (!next) std::abort();
    if (*next <= t || *next % 60 != 0 || !expr->Matches(*next)) std::abort();
    t = *next;
  }
  return 0;
}
