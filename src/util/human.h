// Sizes as people read them ("12.3 MiB"), for messages and the CLI.
#pragma once

#include <string>

namespace cairn {

// Powers of 1024 with one decimal ("512 B", "1.5 KiB", "3.0 GiB").
std::string HumanBytes(double bytes);

}  // namespace cairn
