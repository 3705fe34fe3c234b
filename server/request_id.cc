#include "server/request_id.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"

namespace treatd {
namespace {

bool IsRequestIdChar(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

}  // namespace

std::string RequestIdFrom(absl::string_view header) {
  bool valid = !header.empty() && header.size() <= 128;
  for (char c : header) valid = valid && IsRequestIdChar(c);
  if (valid) return std::string(header);
  thread_local absl::InsecureBitGen gen;
  // Written digit by digit into one string (StrCat of two padded Hex
  // pieces cost about 300 instructions more, on every call without an id).
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = absl::Uniform<uint64_t>(gen);
    for (int i = 16 * half + 15; i >= 16 * half; --i) {
      id[i] = kDigits[bits & 0xf];
      bits >>= 4;
    }
  }
  return id;
}

}  // namespace treatd
