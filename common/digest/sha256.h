// SHA-256, the one place treatd computes it: policy digests
// ("sha256:<hex>"), intel feed hashes, OpenVEX document ids, importer
// finding ids and API token hashes. (Decision ids are XXH3, not SHA-256:
// see common/policy/engine/evaluate.cc.)
//
// Thread safety: any number of threads may call them at once (each keeps
// its own OpenSSL context).
#ifndef TREATD_COMMON_DIGEST_SHA256_H_
#define TREATD_COMMON_DIGEST_SHA256_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd {

// The 32 raw bytes of SHA-256(`data`).
std::string Sha256(absl::string_view data);

// Sha256() into `digest` instead of a new string, for callers that hash a
// small input per record (the importers, once per finding).
void Sha256Into(absl::string_view data, unsigned char digest[32]);

// SHA-256(`data`) as 64 lowercase hex digits.
std::string Sha256Hex(absl::string_view data);

// Sha256Hex of a + b + c, without joining them first.
std::string Sha256Hex(absl::string_view a, absl::string_view b,
                      absl::string_view c);

}  // namespace treatd

#endif  // TREATD_COMMON_DIGEST_SHA256_H_
