#include "server/request_checks.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/time/proto_time.h"

namespace treatd {

absl::StatusOr<absl::Time> ResolveAsOf(bool has_as_of,
                                       const google::protobuf::Timestamp& as_of,
                                       absl::Time now,
                                       absl::string_view field) {
  if (!has_as_of) return now;
  if (as_of.seconds() < kMinProtoTimestampSeconds ||
      as_of.seconds() > kMaxProtoTimestampSeconds || as_of.nanos() < 0 ||
      as_of.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ": must be a valid timestamp between 0001-01-01T00:00:00Z and "
        "9999-12-31T23:59:59Z, got seconds=",
        as_of.seconds(), " nanos=", as_of.nanos()));
  }
  return FromProtoTime(as_of);
}

}  // namespace treatd
