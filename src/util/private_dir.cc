#include "util/private_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace cairn {

Result<std::unique_ptr<PrivateDir>> PrivateDir::Create(const std::string& base, const std::string& prefix) {
  std::string root = base;
  if (root.empty()) {
    const char* t = std::getenv("TMPDIR");
    root = t && *t ? t : "/tmp";
  }
  const std::string templ = root + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) return Status::FromErrno(errno, "cannot create a private directory in " + root);
  std::unique_ptr<PrivateDir> d(new PrivateDir());
  d->path_ = buf.data();
  return d;
}

PrivateDir::~PrivateDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace cairn
