// CveId: a CVE identifier ("CVE-2024-3094") packed into one 64-bit key, so the
// feeds can store hundreds of thousands of ids in flat sorted arrays and
// compare them with one integer comparison. A value type; thread-compatible.
#ifndef TREATD_COMMON_INTEL_CVE_ID_H_
#define TREATD_COMMON_INTEL_CVE_ID_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace treatd::intel {

class CveId {
 public:
  // Parses "CVE-YYYY-NNNN..." (the prefix in any case, a four-digit year from
  // 1999, a sequence number of 4 to 9 digits with no padding zeros beyond
  // four digits, as the CVE syntax requires). Returns nullopt for anything
  // else, including surrounding whitespace, so every accepted text maps to
  // exactly one key and back.
  static std::optional<CveId> Parse(absl::string_view text);

  // Rebuilds an id from key(); the key must come from key().
  static CveId FromKey(uint64_t key) { return CveId(key); }

  // Year in the high 32 bits, sequence number in the low 32: ordering by key
  // orders by year, then by number.
  uint64_t key() const { return key_; }
  int year() const { return static_cast<int>(key_ >> 32); }
  uint32_t number() const { return static_cast<uint32_t>(key_); }

  // The canonical text, e.g. "CVE-2021-0001" (numbers padded to 4 digits).
  std::string ToString() const;

  friend bool operator==(CveId a, CveId b) { return a.key_ == b.key_; }
  friend bool operator!=(CveId a, CveId b) { return a.key_ != b.key_; }
  friend bool operator<(CveId a, CveId b) { return a.key_ < b.key_; }

 private:
  explicit CveId(uint64_t key) : key_(key) {}

  uint64_t key_;
};

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_CVE_ID_H_
