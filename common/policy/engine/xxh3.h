// The XXH3 hashes of the engine (decision ids, core cache keys): the same
// values as libxxhash's XXH3_64bits() and XXH3_128bits() (XXH3's output is
// defined independently of the instruction set), computed with AVX2 when
// the CPU has it (x86 only; elsewhere libxxhash's build). Debian's library is
// built for SSE2 and reached through the PLT; a decision id hashes ~1 KB per
// decision, about a tenth of a BASIC decision's instructions, and AVX2 takes 32
// bytes per step where SSE2 takes 16.
//
// Thread safety: pure functions.
#ifndef TREATD_COMMON_POLICY_ENGINE_XXH3_H_
#define TREATD_COMMON_POLICY_ENGINE_XXH3_H_

#include <cstddef>
#include <cstdint>

namespace treatd::internal {

struct Xxh3Hash128 {
  uint64_t low64;
  uint64_t high64;
};

// XXH3_128bits(data, size).
Xxh3Hash128 Xxh3_128(const void* data, size_t size);
// XXH3_64bits(data, size).
uint64_t Xxh3_64(const void* data, size_t size);

// Whether Xxh3_128() and Xxh3_64() run the AVX2 build: on x86, when the
// CPU (and the OS) support AVX2, checked once at run time.
bool Xxh3UsesAvx2();

// The AVX2 builds of the above (xxh3_avx2.cc); only for a CPU with AVX2.
// Only x86 builds have them.
#if defined(__x86_64__) || defined(__i386__)
#define TREATD_XXH3_AVX2 1
Xxh3Hash128 Xxh3_128Avx2(const void* data, size_t size);
uint64_t Xxh3_64Avx2(const void* data, size_t size);
#endif

}  // namespace treatd::internal

#endif  // TREATD_COMMON_POLICY_ENGINE_XXH3_H_
