// Whether a string is all ASCII, eight bytes at a time: the fast path of
// writers that take ASCII text as it is and check anything else as UTF-8
// (the JSON writer, the ledger's canonical encoding).
#ifndef TREATD_COMMON_TEXT_ASCII_H_
#define TREATD_COMMON_TEXT_ASCII_H_

#include <cstdint>
#include <cstring>

#include "absl/strings/string_view.h"

namespace treatd {

// True when no byte of `text` is 0x80 or more.
inline bool IsAscii(absl::string_view text) {
  const char* p = text.data();
  const char* const end = p + text.size();
  uint64_t high = 0;
  for (; end - p >= 8; p += 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    high |= word;
  }
  for (; p < end; ++p) high |= static_cast<unsigned char>(*p);
  return (high & 0x8080808080808080ULL) == 0;
}

}  // namespace treatd

#endif  // TREATD_COMMON_TEXT_ASCII_H_
