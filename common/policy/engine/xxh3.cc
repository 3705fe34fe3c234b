// XXH3 through libxxhash, or its AVX2 build when the CPU has AVX2
// (xxh3.h).
#include "common/policy/engine/xxh3.h"

#include "xxhash.h"

namespace treatd::internal {
namespace {

bool HasAvx2() {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2;
}

}  // namespace

Xxh3Hash128 Xxh3_128(const void* data, size_t size) {
  if (HasAvx2()) return Xxh3_128Avx2(data, size);
  const XXH128_hash_t h = XXH3_128bits(data, size);
  return {h.low64, h.high64};
}

uint64_t Xxh3_64(const void* data, size_t size) {
  if (HasAvx2()) return Xxh3_64Avx2(data, size);
  return XXH3_64bits(data, size);
}

}  // namespace treatd::internal
