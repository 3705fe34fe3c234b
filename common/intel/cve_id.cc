#include "common/intel/cve_id.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace treatd::intel {
namespace {

constexpr int kMinYear = 1999;  // The first CVE year.
constexpr size_t kMinDigits = 4;
constexpr size_t kMaxDigits = 9;  // Fits in 32 bits with room to spare.

bool AllDigits(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return !text.empty();
}

uint64_t ToNumber(absl::string_view digits) {
  uint64_t value = 0;
  for (char c : digits) value = value * 10 + static_cast<uint64_t>(c - '0');
  return value;
}

}  // namespace

std::optional<CveId> CveId::Parse(absl::string_view text) {
  // "CVE-" + 4-digit year + "-" + at least 4 digits.
  if (text.size() < 4 + 4 + 1 + kMinDigits) return std::nullopt;
  if (!absl::EqualsIgnoreCase(text.substr(0, 4), "CVE-")) return std::nullopt;
  absl::string_view year_text = text.substr(4, 4);
  if (!AllDigits(year_text) || text[8] != '-') return std::nullopt;
  absl::string_view number_text = text.substr(9);
  if (number_text.size() < kMinDigits || number_text.size() > kMaxDigits ||
      !AllDigits(number_text)) {
    return std::nullopt;
  }
  // "CVE-2021-00001" is not a valid spelling of "CVE-2021-0001"; rejecting
  // it keeps the text <-> key mapping one-to-one.
  if (number_text.size() > kMinDigits && number_text[0] == '0') {
    return std::nullopt;
  }
  const uint64_t year = ToNumber(year_text);
  if (year < kMinYear) return std::nullopt;
  return CveId((year << 32) | ToNumber(number_text));
}

std::string CveId::ToString() const {
  // StrCat with padded numbers: StrFormat costs about 1,000 instructions
  // here, and every enriched finding formats its CVE ids.
  return absl::StrCat("CVE-", absl::Dec(year(), absl::kZeroPad4), "-",
                      absl::Dec(number(), absl::kZeroPad4));
}

}  // namespace treatd::intel
