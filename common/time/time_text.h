// Text forms of durations and timestamps used in policy documents and
// expressions: "90s", "15m", "72h", "14d", "2w", "1d12h"; RFC 3339 or
// YYYY-MM-DD. Stateless, thread-safe.
#ifndef TREATD_COMMON_TIME_TIME_TEXT_H_
#define TREATD_COMMON_TIME_TIME_TEXT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace treatd {

// Parses a non-negative duration made of <number><unit> parts, units
// w (7 days), d (24 hours), h, m, s, ms; numbers may have a fraction
// ("1.5h"). Returns INVALID_ARGUMENT naming the allowed forms otherwise.
absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text);

// Formats a duration in the largest exact units: "3d", "36h", "1d12h",
// "90s", "0s". Negative durations get a leading "-".
std::string FormatDurationText(absl::Duration d);

// Parses RFC 3339 ("2026-12-31T00:00:00Z", with offset or fraction) or a
// plain date ("2026-12-31", midnight UTC). INVALID_ARGUMENT otherwise.
absl::StatusOr<absl::Time> ParseTimestampText(absl::string_view text);

}  // namespace treatd

#endif  // TREATD_COMMON_TIME_TIME_TEXT_H_
