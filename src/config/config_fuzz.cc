// libFuzzer target: arbitrary text as the YAML configuration file. A bad
// file must come back as one error line; never a crash, a hang, an
// unbounded expansion of aliases or an exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "cairn/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto config = cairn::ParseConfig(text, "fuzz.yaml", "/etc/cairn");
  if (!config.ok() && (config.status().message().empty() || config.status().message().find('\n') != std::string::npos))
    std::abort();
  return 0;
}
