// XXH3 through libxxhash, or its AVX2 build on x86 when the CPU has AVX2
// (xxh3.h).
#include "common/policy/engine/xxh3.h"

#include "xxhash.h"

namespace treatd::internal {
namespace {

bool HasAvx2() {
#ifdef TREATD_XXH3_AVX2
  // libgcc's and compiler-rt's feature bits count AVX2 only where the OS
  // saves the AVX registers (XGETBV). The explicit init makes the check
  // right even when it first runs in another file's static initializer.
  static const bool avx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return avx2;
#else
  return false;
#endif
}

}  // namespace

bool Xxh3UsesAvx2() { return HasAvx2(); }

Xxh3Hash128 Xxh3_128(const void* data, size_t size) {
#ifdef TREATD_XXH3_AVX2
  if (HasAvx2()) return Xxh3_128Avx2(data, size);
#endif
  const XXH128_hash_t h = XXH3_128bits(data, size);
  return {h.low64, h.high64};
}

uint64_t Xxh3_64(const void* data, size_t size) {
#ifdef TREATD_XXH3_AVX2
  if (HasAvx2()) return Xxh3_64Avx2(data, size);
#endif
  return XXH3_64bits(data, size);
}

}  // namespace treatd::internal
