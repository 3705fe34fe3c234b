// Reads a whole feed file into memory. Stateless; safe from any thread.
#ifndef TREATD_COMMON_INTEL_READ_FILE_H_
#define TREATD_COMMON_INTEL_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"

namespace treatd::intel {

// Returns the bytes of the regular file at `path`. On error returns the errno
// mapped to a status code (NOT_FOUND for a missing file, PERMISSION_DENIED,
// FAILED_PRECONDITION for a directory), with the path in the message.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_READ_FILE_H_
