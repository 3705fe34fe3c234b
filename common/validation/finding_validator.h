// Validation of findings before they reach the engine: required fields,
// ranges, enum values and size limits. Stateless and thread-safe.
#ifndef TREATD_COMMON_VALIDATION_FINDING_VALIDATOR_H_
#define TREATD_COMMON_VALIDATION_FINDING_VALIDATOR_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// Size limits applied to every finding.
struct FindingLimits {
  // Longest accepted string field, in bytes.
  size_t max_string_bytes = 4096;
  // Most entries in any repeated or map field.
  size_t max_repeated = 256;
};

// Checks `finding`. Returns OK, or INVALID_ARGUMENT (a missing or malformed
// field, e.g. CVSS outside 0..10 or NaN, EPSS outside 0..1, an enum number
// that names no value) or RESOURCE_EXHAUSTED (a string or list over
// `limits`). The status message names every offending field path, prefixed
// with `prefix` (e.g. "finding" or "findings[3]"), says what is wrong and
// what is allowed. When `violations` is non-null each problem is also
// appended there.
absl::Status ValidateFinding(
    const v1::Finding& finding, const FindingLimits& limits,
    absl::string_view prefix = "finding",
    google::protobuf::RepeatedPtrField<v1::FieldViolation>* violations =
        nullptr);

namespace finding_validator_internal {

// How the schema of Finding (and the messages it contains) differs from the
// fields ValidateFinding's fast path checks with generated accessors; empty
// when they agree. While not empty every finding takes the slower
// reflection walk. For tests.
std::vector<std::string> FastPathSchemaMismatches();

// Whether the fast path alone accepts `finding`: false when it sees a
// problem, and when it is disabled (FastPathSchemaMismatches() not empty).
// For the differential tests against ValidateByReflection().
bool FastPathAccepts(const v1::Finding& finding, const FindingLimits& limits);

// ValidateFinding() without the fast path: the reflection walk's verdict,
// with the same codes, messages and `violations`. For tests.
absl::Status ValidateByReflection(
    const v1::Finding& finding, const FindingLimits& limits,
    absl::string_view prefix = "finding",
    google::protobuf::RepeatedPtrField<v1::FieldViolation>* violations =
        nullptr);

}  // namespace finding_validator_internal

}  // namespace treatd

#endif  // TREATD_COMMON_VALIDATION_FINDING_VALIDATOR_H_
