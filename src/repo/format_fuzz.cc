// libFuzzer target: the binary decoders of the repository format (pack
// header, index, tree). The first byte picks the decoder. Anything may come
// back as an error; nothing may crash, hang or read out of bounds, and what
// decodes must encode back to the same bytes (the format is canonical).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "cairn/format.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ByteView input(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      auto blobs = DecodePackHeader(input);
      if (blobs.ok() && EncodePackHeader(*blobs) != Bytes(input.begin(), input.end())) std::abort();
      break;
    }
    case 1: {
      auto packs = DecodeIndex(input);
      if (packs.ok() && EncodeIndex(*packs) != Bytes(input.begin(), input.end())) std::abort();
      break;
    }
    case 2: {
      auto tree = DecodeTree(input);
      if (tree.ok()) {
        // A decoded tree passed validation: names are safe path components.
        for (const Node& n : tree->nodes)
          if (n.name.empty() || n.name == "." || n.name == ".." || n.name.find('/') != std::string::npos) std::abort();
      }
      break;
    }
  }
  return 0;
}
