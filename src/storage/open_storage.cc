// Picks the storage driver from a location string.
#include "cairn/storage.h"

namespace cairn {

Result<std::unique_ptr<Storage>> OpenStorage(const std::string& location, bool create) {
  return OpenLocalStorage(location, create);
}

}  // namespace cairn
