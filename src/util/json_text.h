// File names and paths are bytes, JSON strings are UTF-8. Text that is not
// valid UTF-8 is written with each offending byte as "\xNN": deterministic
// (the same path always gives the same text, so parent-snapshot matching
// works) and readable. Trees keep names as raw bytes; only JSON fields
// (snapshot paths, warnings) use this.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cairn {

std::string JsonSafeText(std::string_view text);
std::vector<std::string> JsonSafeText(const std::vector<std::string>& texts);

}  // namespace cairn
