#include "common/digest/sha256.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <initializer_list>
#include <memory>

#include "absl/strings/escaping.h"

namespace treatd {
namespace {

// OpenSSL 3's one-shot SHA256() fetches the algorithm and allocates a
// context on every call, about as long as hashing an event's ~800 bytes
// with the CPU's SHA extensions (the ledger hashes one per event on its
// single writer thread). The algorithm is fetched once and each thread
// keeps its context.
const EVP_MD* FetchedSha256() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

struct ContextFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// SHA-256 of the concatenation of `parts` into `digest`; false only when
// OpenSSL could not allocate (the caller then falls back to SHA256()).
bool Digest(std::initializer_list<absl::string_view> parts,
            unsigned char digest[SHA256_DIGEST_LENGTH]) {
  thread_local std::unique_ptr<EVP_MD_CTX, ContextFree> ctx(EVP_MD_CTX_new());
  const EVP_MD* md = FetchedSha256();
  if (md == nullptr || ctx == nullptr ||
      EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1) {
    return false;
  }
  for (absl::string_view part : parts) {
    if (EVP_DigestUpdate(ctx.get(), part.data(), part.size()) != 1) {
      return false;
    }
  }
  unsigned int size = 0;
  return EVP_DigestFinal_ex(ctx.get(), digest, &size) == 1 &&
         size == SHA256_DIGEST_LENGTH;
}

// SHA-256 of the concatenation of `parts` into `digest`.
void DigestInto(std::initializer_list<absl::string_view> parts,
                unsigned char digest[SHA256_DIGEST_LENGTH]) {
  if (!Digest(parts, digest)) {
    // OpenSSL's one-shot SHA256() hashes an in-memory buffer and cannot
    // fail; it needs the parts in one piece.
    std::string joined;
    for (absl::string_view part : parts) {
      joined.append(part.data(), part.size());
    }
    SHA256(reinterpret_cast<const unsigned char*>(joined.data()), joined.size(),
           digest);
  }
}

std::string DigestOf(std::initializer_list<absl::string_view> parts) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  DigestInto(parts, digest);
  return std::string(reinterpret_cast<const char*>(digest), sizeof(digest));
}

}  // namespace

std::string Sha256(absl::string_view data) { return DigestOf({data}); }

void Sha256Into(absl::string_view data,
                unsigned char digest[SHA256_DIGEST_LENGTH]) {
  DigestInto({data}, digest);
}

std::string Sha256Hex(absl::string_view data) {
  return absl::BytesToHexString(DigestOf({data}));
}

std::string Sha256Hex(absl::string_view a, absl::string_view b,
                      absl::string_view c) {
  return absl::BytesToHexString(DigestOf({a, b, c}));
}

}  // namespace treatd
