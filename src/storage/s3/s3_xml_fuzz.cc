// libFuzzer target: S3 response documents (a server, or anything between
// Cairn and it, controls these bytes).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/s3/s3_xml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view xml(reinterpret_cast<const char*>(data), size);
  cairn::s3::ListPage page;
  (void)cairn::s3::ParseListObjectsV2(xml, &page);
  (void)cairn::s3::ParseS3Error(xml);
  (void)cairn::s3::XmlDecode(xml);
  return 0;
}
