// The engine's XXH3 (common/policy/engine/xxh3.h) must give libxxhash's
// values at every length, through each code path of XXH3 (0-16, 17-128,
// 129-240 bytes, and the long inputs the AVX2 build speeds up), whichever
// build the CPU selects and, where the CPU has AVX2, from the AVX2 build
// called directly.
#include "common/policy/engine/xxh3.h"

#include <cstdint>
#include <random>
#include <string>

#include "gtest/gtest.h"
#include "xxhash.h"

namespace treatd::internal {
namespace {

std::string RandomBytes(size_t n, std::mt19937_64& rng) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// The dispatch takes the AVX2 build exactly where the CPU has AVX2.
TEST(Xxh3Test, UsesAvx2WhereTheCpuHasIt) {
#ifdef TREATD_XXH3_AVX2
  __builtin_cpu_init();
  EXPECT_EQ(Xxh3UsesAvx2(), __builtin_cpu_supports("avx2") != 0);
#else
  EXPECT_FALSE(Xxh3UsesAvx2());
#endif
}

TEST(Xxh3Test, EqualsLibxxhashAtEveryLength) {
  std::mt19937_64 rng(15);
  const bool avx2 = Xxh3UsesAvx2();
  int compared = 0;
  for (size_t n = 0; n <= 5000; n += (n < 1100 ? 1 : 37)) {
    const std::string s = RandomBytes(n, rng);
    // At an odd offset too: the hash reads unaligned.
    const std::string padded = "x" + s;
    for (const char* p : {s.data(), padded.data() + 1}) {
      const XXH128_hash_t want = XXH3_128bits(p, n);
      const Xxh3Hash128 got = Xxh3_128(p, n);
      ASSERT_EQ(got.low64, want.low64) << n;
      ASSERT_EQ(got.high64, want.high64) << n;
      ASSERT_EQ(Xxh3_64(p, n), XXH3_64bits(p, n)) << n;
#ifdef TREATD_XXH3_AVX2
      if (avx2) {
        const Xxh3Hash128 direct = Xxh3_128Avx2(p, n);
        ASSERT_EQ(direct.low64, want.low64) << n;
        ASSERT_EQ(direct.high64, want.high64) << n;
        ASSERT_EQ(Xxh3_64Avx2(p, n), XXH3_64bits(p, n)) << n;
      }
#endif
      ++compared;
    }
  }
  // A long input, several of XXH3's 1 KB blocks and a partial one.
  const std::string big = RandomBytes(100003, rng);
  const XXH128_hash_t want = XXH3_128bits(big.data(), big.size());
  EXPECT_EQ(Xxh3_128(big.data(), big.size()).high64, want.high64);
  EXPECT_EQ(Xxh3_128(big.data(), big.size()).low64, want.low64);
  EXPECT_GT(compared, 2000);
}

}  // namespace
}  // namespace treatd::internal
