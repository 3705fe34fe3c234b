// Text forms of durations and timestamps used in policy documents and
// expressions: "90s", "15m", "72h", "14d", "2w", "1d12h"; RFC 3339 or
// YYYY-MM-DD; and google.protobuf.Timestamp as protobuf writes it.
// Stateless, thread-safe.
#ifndef TREATD_COMMON_TIME_TIME_TEXT_H_
#define TREATD_COMMON_TIME_TIME_TEXT_H_

#include <cstddef>
#include <cstdint>
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
// plain date ("2026-12-31", midnight UTC). INVALID_ARGUMENT otherwise. The
// forms scanners write are read without absl::ParseTime (the importers
// parse timestamps with this too).
absl::StatusOr<absl::Time> ParseTimestampText(absl::string_view text);

// The most bytes FormatProtoTimestampText writes.
inline constexpr size_t kMaxProtoTimestampTextSize = 30;

// Writes the Timestamp (`seconds`, `nanos`) as protobuf's
// TimeUtil::ToString and its JSON mapping do,
// "YYYY-MM-DDThh:mm:ss[.fff|.ffffff|.fffffffff]Z", to `out` (room for
// kMaxProtoTimestampTextSize bytes) and returns its length; 0, writing
// nothing, when the Timestamp is outside 0001..9999 or its nanos outside
// [0, 1e9) (protobuf then writes "InvalidTime" or fails). protobuf formats
// with StringPrintf: 3,300 instructions a timestamp (callgrind of treatctl
// decide's CSV output, issue 15).
size_t FormatProtoTimestampText(int64_t seconds, int32_t nanos, char* out);

}  // namespace treatd

#endif  // TREATD_COMMON_TIME_TIME_TEXT_H_
