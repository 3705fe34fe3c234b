#include "common/digest/sha256.h"

#include <openssl/sha.h>

#include "absl/strings/escaping.h"

namespace treatd {

// OpenSSL's one-shot SHA256() hashes an in-memory buffer without
// allocating, so it cannot fail: no error path to report.
std::string Sha256(absl::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

std::string Sha256Hex(absl::string_view data) {
  return absl::BytesToHexString(Sha256(data));
}

}  // namespace treatd
