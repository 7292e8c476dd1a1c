// The dashboard's files from the table embedded in the binary
// (static_assets.h); nothing is read from the file system, so no path can
// reach outside it. `/` and every unknown path without a file extension get
// index.html (the dashboard routes in the browser); unknown paths with an
// extension are 404. Content-hashed files (assets/) are cacheable forever,
// index.html is revalidated (no-cache) by its ETag. The build-time gzip form
// is sent to clients that accept gzip.
// Thread-safety: immutable after construction.
#pragma once

#include <map>
#include <string_view>

#include <httplib.h>

#include "server/static_assets.h"

namespace cairn {

class StaticFiles {
 public:
  explicit StaticFiles(const EmbeddedAssetTable& table);

  // GET or HEAD of `path` (decoded; starts with '/').
  void Serve(const httplib::Request& req, httplib::Response& res) const;

  bool built() const { return table_.built; }

 private:
  const EmbeddedAssetTable& table_;
  std::map<std::string_view, const EmbeddedAsset*> by_path_;
  const EmbeddedAsset* index_ = nullptr;
};

}  // namespace cairn
