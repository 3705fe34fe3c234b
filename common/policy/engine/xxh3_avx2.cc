// XXH3 compiled for AVX2 (xxh3.h): xxhash.h's own code, inlined here
// (XXH_INLINE_ALL keeps every symbol of it local to this file) with its
// AVX2 kernels. Only this file's functions are built for AVX2 (a target
// pragma, not a compiler flag): the C headers are included first, so that
// no inline function another file may share is compiled for AVX2. On
// other targets (xxh3.h: no TREATD_XXH3_AVX2) the file is empty.
#include "common/policy/engine/xxh3.h"

#ifdef TREATD_XXH3_AVX2

#include <assert.h>
#include <immintrin.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
// clang has no `#pragma GCC target`; this gives every function from here
// to the pop, xxhash.h's included, the same target.
#pragma clang attribute push(__attribute__((target("avx2"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2")
#endif

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include "xxhash.h"

namespace treatd::internal {

Xxh3Hash128 Xxh3_128Avx2(const void* data, size_t size) {
  const XXH128_hash_t h = XXH3_128bits(data, size);
  return {h.low64, h.high64};
}

uint64_t Xxh3_64Avx2(const void* data, size_t size) {
  return XXH3_64bits(data, size);
}

}  // namespace treatd::internal

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#endif  // TREATD_XXH3_AVX2
