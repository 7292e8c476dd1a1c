#include "server/static_files.h"

#include "server/http_util.h"
#include "server/request_parsing.h"

namespace cairn {

StaticFiles::StaticFiles(const EmbeddedAssetTable& table) : table_(table) {
  for (size_t i = 0; i < table_.count; ++i) by_path_[table_.assets[i].path] = &table_.assets[i];
  auto it = by_path_.find("index.html");
  if (it != by_path_.end()) index_ = it->second;
}

void StaticFiles::Serve(const httplib::Request& req, httplib::Response& res) const {
  std::string_view rel = req.path;
  if (!rel.empty() && rel[0] == '/') rel.remove_prefix(1);
  const EmbeddedAsset* asset = nullptr;
  if (auto it = by_path_.find(rel); it != by_path_.end()) asset = it->second;
  if (!asset) {
    const std::string_view last = rel.substr(rel.rfind('/') == std::string_view::npos ? 0 : rel.rfind('/') + 1);
    if (last.find('.') != std::string_view::npos || !index_) {
      SendError(res, 404, "no such file");
      return;
    }
    asset = index_;
  }

  const bool gzip = asset->gzip && AcceptsGzip(req.get_header_value("Accept-Encoding"));
  const char* etag = gzip ? asset->gzip_etag : asset->etag;
  res.set_header("ETag", etag);
  res.set_header("Cache-Control", asset->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  if (asset->gzip) res.set_header("Vary", "Accept-Encoding");
  if (ETagMatches(req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  const unsigned char* data = gzip ? asset->gzip : asset->data;
  const size_t size = gzip ? asset->gzip_size : asset->size;
  if (gzip) res.set_header("Content-Encoding", "gzip");
  if (size == 0) {
    res.set_content("", asset->content_type);
    return;
  }
  // Written straight from the embedded bytes: no copy per request, and a
  // provider with a length is never compressed again by httplib.
  res.set_content_provider(size, asset->content_type,
                           [data](size_t offset, size_t length, httplib::DataSink& sink) {
                             return sink.write(reinterpret_cast<const char*>(data) + offset, length);
                           });
}

}  // namespace cairn
