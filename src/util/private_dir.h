// A directory only this process's user can enter (mode 0700, mkdtemp),
// removed with its content when the object goes away: where the option and
// password files of client tools live (never world-readable, never in a
// child's environment).
//
// Thread-safety: immutable after Create.
#pragma once

#include <memory>
#include <string>

#include "cairn/status.h"

namespace cairn {

class PrivateDir {
 public:
  // `base` empty: $TMPDIR or /tmp. The name is base/<prefix>-XXXXXX.
  static Result<std::unique_ptr<PrivateDir>> Create(const std::string& base, const std::string& prefix);
  ~PrivateDir();
  PrivateDir(const PrivateDir&) = delete;
  PrivateDir& operator=(const PrivateDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  PrivateDir() = default;
  std::string path_;
};

}  // namespace cairn
