// SHA-256, the one place treatd computes it: policy digests
// ("sha256:<hex>"), intel feed hashes, OpenVEX document ids, importer
// finding ids and API token hashes. (Decision ids are XXH3, not SHA-256:
// see common/policy/engine/evaluate.cc.)
//
// Thread safety: stateless functions.
#ifndef TREATD_COMMON_DIGEST_SHA256_H_
#define TREATD_COMMON_DIGEST_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd {

// The 32 raw bytes of SHA-256(`data`).
std::string Sha256(absl::string_view data);

// SHA-256(`data`) as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

}  // namespace treatd

#endif  // TREATD_COMMON_DIGEST_SHA256_H_
