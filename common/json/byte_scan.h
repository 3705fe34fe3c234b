// Byte tests on eight bytes at a time (SWAR), for the scanners of JSON text
// that skip long runs of ordinary bytes: treatctl's findings framer and the
// DecisionResult writer's string escaping. Each answers "is there any such
// byte among the eight" exactly (the classic zero-byte tests: a borrow may
// mark a byte above a match too, never a word without one).
//
// Stateless and thread-safe.
#ifndef TREATD_COMMON_JSON_BYTE_SCAN_H_
#define TREATD_COMMON_JSON_BYTE_SCAN_H_

#include <cstdint>
#include <cstring>

namespace treatd::json {

inline constexpr uint64_t kByteOnes = 0x0101010101010101ULL;
inline constexpr uint64_t kByteHighs = 0x8080808080808080ULL;

// The eight bytes at `p` as one word (native byte order; the tests below
// do not care which byte is which).
inline uint64_t LoadWord(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Nonzero when one of the bytes of `v` is `byte`.
inline uint64_t MatchByte(uint64_t v, unsigned char byte) {
  const uint64_t x = v ^ (kByteOnes * byte);
  return (x - kByteOnes) & ~x & kByteHighs;
}

// Nonzero when one of the bytes of `v` is below `bound` (at most 0x80).
inline uint64_t MatchBelow(uint64_t v, unsigned char bound) {
  return (v - kByteOnes * bound) & ~v & kByteHighs;
}

// Nonzero when one of the bytes of `v` is 0x80 or above.
inline uint64_t MatchHigh(uint64_t v) { return v & kByteHighs; }

}  // namespace treatd::json

#endif  // TREATD_COMMON_JSON_BYTE_SCAN_H_
