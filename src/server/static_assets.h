// The dashboard's files, embedded in the binary at build time by
// scripts/embed_web_assets.py (from web/dist, or a one-page placeholder when
// the dashboard was not built). Immutable data; thread-safe.
#pragma once

#include <cstddef>

namespace cairn {

struct EmbeddedAsset {
  const char* path;          // relative, no leading slash: "index.html", "assets/index-3f2a9c.js"
  const char* content_type;  // the Content-Type header value
  const unsigned char* data;
  size_t size;
  const unsigned char* gzip;  // the same bytes gzipped at build time; nullptr when not worth it
  size_t gzip_size;
  const char* etag;       // quoted strong ETag of `data` (SHA-256 prefix)
  const char* gzip_etag;  // quoted strong ETag of `gzip`
  bool immutable;         // a content-hashed name: cacheable forever
};

struct EmbeddedAssetTable {
  const EmbeddedAsset* assets;
  size_t count;
  bool built;  // false: the placeholder page (web/dist was missing)
};

// The table compiled into this binary (generated web_assets.cc).
const EmbeddedAssetTable& EmbeddedWebAssets();

}  // namespace cairn
