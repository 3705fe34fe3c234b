// SHA-256 helpers for policy digests and decision ids.
//
// Thread safety: stateless functions.
#ifndef TREATD_COMMON_POLICY_ENGINE_DIGEST_H_
#define TREATD_COMMON_POLICY_ENGINE_DIGEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace treatd {

// Lowercase hex SHA-256 of the concatenation of `parts`. INTERNAL only when
// OpenSSL fails (out of memory).
absl::StatusOr<std::string> Sha256Hex(
    std::initializer_list<absl::string_view> parts);

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_ENGINE_DIGEST_H_
