// A libpq password file for the PostgreSQL tools Cairn runs.
//
// A password in the environment (PGPASSWORD) is readable in
// /proc/PID/environ and inherited by whatever the tool starts; the brief of
// the project is that secrets never reach child environments. Instead the
// password goes into a file of mode 0600 in a private directory (0700) and
// the tools get PGPASSFILE, the file's path. The file is removed with the
// last reference (Endpoint copies share it).
//
// Thread-safety: immutable after Create.
#pragma once

#include <memory>
#include <string>

#include "cairn/status.h"
#include "util/private_dir.h"

namespace cairn::pgsrc {

class PassFile {
 public:
  // In `parent` (empty: $TMPDIR or /tmp): parent/cairn-pg-XXXXXX/pgpass,
  // one line "*:*:*:*:<password>" with ':' and '\' escaped.
  static Result<std::shared_ptr<const PassFile>> Create(const std::string& password, const std::string& parent = "");
  ~PassFile();
  PassFile(const PassFile&) = delete;
  PassFile& operator=(const PassFile&) = delete;

  const std::string& path() const { return path_; }

  // The line libpq reads (exposed for tests).
  static std::string Line(const std::string& password);

 private:
  PassFile() = default;
  std::unique_ptr<PrivateDir> dir_;
  std::string path_;
};

}  // namespace cairn::pgsrc
