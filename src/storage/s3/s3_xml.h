// Just enough XML for the S3 responses Cairn reads: ListObjectsV2 results,
// error documents, InitiateMultipartUpload and CompleteMultipartUpload.
//
// S3 response documents are flat, have no attributes we need, no CDATA and no
// namespace prefixes, and every '<' or '&' inside text is escaped, so finding
// "<Tag>" ... "</Tag>" pairs is exact. Text is entity-decoded (&amp; &lt; &gt;
// &quot; &apos; and numeric &#NN; / &#xHH; references, emitted as UTF-8).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::s3 {

// Decodes XML entities; returns nullopt on an unknown or malformed entity.
std::optional<std::string> XmlDecode(std::string_view text);
// Escapes & < > " ' for element text we write.
std::string XmlEscape(std::string_view text);

// The raw (not decoded) inner text of the first <tag>...</tag> at or after
// `*pos` in `xml`; advances `*pos` past the closing tag. A self-closing
// <tag/> yields "". nullopt when there is none.
std::optional<std::string_view> XmlElement(std::string_view xml, std::string_view tag, size_t* pos);
// Decoded text of the first <tag> in `xml`, or nullopt.
std::optional<std::string> XmlText(std::string_view xml, std::string_view tag);

struct ListEntry {
  std::string key;
  uint64_t size = 0;
};
struct ListPage {
  std::vector<ListEntry> entries;
  bool truncated = false;
  std::string next_token;  // NextContinuationToken when truncated
};
// Parses a ListBucketResult (ListObjectsV2). False on malformed input.
bool ParseListObjectsV2(std::string_view xml, ListPage* page);

struct S3ErrorInfo {
  std::string code;     // "NoSuchKey", "SignatureDoesNotMatch", ... ("" if none)
  std::string message;  // the server's human-readable text ("" if none)
};
// Parses an <Error> document; returns nullopt when `xml` has no <Error>.
std::optional<S3ErrorInfo> ParseS3Error(std::string_view xml);

}  // namespace cairn::s3
