// Conversions between absl::Time and google.protobuf.Timestamp, the one
// place treatd does them. Inline: the decision path converts several times
// per finding. Stateless, thread-safe.
#ifndef TREATD_COMMON_TIME_PROTO_TIME_H_
#define TREATD_COMMON_TIME_PROTO_TIME_H_

#include <cstdint>
#include <ctime>

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd {

// The range google/protobuf/timestamp.proto allows: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59Z, in seconds since the Unix epoch.
inline constexpr int64_t kMinProtoTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxProtoTimestampSeconds = 253402300799;

// The instant `t` names. Does not check the Timestamp's range.
inline absl::Time FromProtoTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// Writes `t` into `*out`, nanos in [0, 1e9) as the proto requires (an
// instant before the epoch has negative seconds and positive nanos).
// One call into Abseil: ToTimespec rounds toward the infinite past, so
// tv_sec is ToUnixSeconds(t) and tv_nsec the nanoseconds after it (time_t
// is 64 bits on every platform treatd builds for), where ToUnixSeconds,
// a subtraction and ToInt64Nanoseconds cost three.
inline void ToProtoTime(absl::Time t, google::protobuf::Timestamp* out) {
  static_assert(sizeof(time_t) == sizeof(int64_t), "time_t holds seconds");
  const timespec ts = absl::ToTimespec(t);
  out->set_seconds(ts.tv_sec);
  out->set_nanos(static_cast<int32_t>(ts.tv_nsec));
}

// `t` moved into the Timestamp range (infinite times too): the last
// nanosecond of 9999 for anything later, the first instant of year 1 for
// anything earlier. For instants computed from data, such as deadlines.
inline absl::Time ClampToProtoTimeRange(absl::Time t) {
  const absl::Time min = absl::FromUnixSeconds(kMinProtoTimestampSeconds);
  // Computed once: Time's operator+ is not inline.
  static const absl::Time max =
      absl::FromUnixSeconds(kMaxProtoTimestampSeconds) +
      absl::Nanoseconds(999999999);
  return t < min ? min : (t > max ? max : t);
}

// google.protobuf.Duration to and from absl::Duration, as FromProtoTime and
// ToProtoTime do for Timestamp.
inline absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

inline void ToProtoDuration(absl::Duration d, google::protobuf::Duration* out) {
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
}

}  // namespace treatd

#endif  // TREATD_COMMON_TIME_PROTO_TIME_H_
