// Picks the storage driver from a location string: "s3:..." is the S3 driver
// (credentials from the environment, see storage/s3/s3_storage.h) behind the
// retrying wrapper, which retries what the driver marks transient; anything
// else is a local directory.
#include "cairn/storage.h"
#include "storage/s3/s3_storage.h"
#include "storage/wrappers/retrying_storage.h"

namespace cairn {

Result<std::unique_ptr<Storage>> OpenStorage(const std::string& location, bool create) {
  if (location.starts_with("s3:")) {
    // Buckets are never created: `create` has nothing to do for S3.
    CAIRN_ASSIGN_OR_RETURN(S3Options options, ParseS3Location(location));
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Storage> s3, OpenS3Storage(options));
    return WrapRetrying(std::move(s3));
  }
  return OpenLocalStorage(location, create);
}

}  // namespace cairn
