// libFuzzer target: the JSON documents of the repository format (snapshot
// and key file) as they arrive after decryption or from storage. The first
// byte picks which. Errors are fine; crashes, hangs and exceptions are not.
#include <cstddef>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "cairn/repository.h"
#include "repo/snapshot_json.h"

using namespace cairn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ByteView input(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    nlohmann::json j = nlohmann::json::parse(input.begin(), input.end(), nullptr, /*allow_exceptions=*/false);
    if (!j.is_discarded()) (void)SnapshotFromJson(j);
  } else {
    (void)Repository::VerifyKeyFile(input, "keys/fuzz");
  }
  return 0;
}
