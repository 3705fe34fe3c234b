#include "common/policy/engine/digest.h"

#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace treatd {

absl::StatusOr<std::string> Sha256Hex(
    std::initializer_list<absl::string_view> parts) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  for (absl::string_view part : parts) {
    ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  }
  ok = ok && EVP_DigestFinal_ex(ctx, md, &size) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return absl::InternalError("SHA-256 computation failed");
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(md), size));
}

}  // namespace treatd
