#include "server/request_id.h"

#include <cstdint>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

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
  const uint64_t high = absl::Uniform<uint64_t>(gen);
  const uint64_t low = absl::Uniform<uint64_t>(gen);
  return absl::StrCat(absl::Hex(high, absl::kZeroPad16),
                      absl::Hex(low, absl::kZeroPad16));
}

}  // namespace treatd
