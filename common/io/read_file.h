// Reads a whole file into memory: policies, feeds, inventories, token
// files, PEM files, test case files. Stateless; safe from any thread.
#ifndef TREATD_COMMON_IO_READ_FILE_H_
#define TREATD_COMMON_IO_READ_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace treatd {

// Returns the bytes of the file at `path` (read to its end: pipes too). On
// error returns the errno mapped to a status code (NOT_FOUND for a missing
// file, PERMISSION_DENIED, FAILED_PRECONDITION for a directory), with a message
// that names `what` the file is ("policy", "tokens file"; "file" by default),
// its path and the reason: "cannot read policy /etc/treatd/p.yaml: No such file
// or directory".
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             absl::string_view what = "file");

}  // namespace treatd

#endif  // TREATD_COMMON_IO_READ_FILE_H_
