// ToProtoTime writes what the Timestamp contract asks for (seconds rounded
// toward the infinite past, nanos in [0, 1e9)), held to the plain
// formula (ToUnixSeconds, then the nanoseconds after it) over the edges of
// the Timestamp range, instants before the epoch, sub-nanosecond times
// and random instants.
#include "common/time/proto_time.h"

#include <cstdint>
#include <random>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

void ExpectPlainFormula(absl::Time t) {
  google::protobuf::Timestamp got;
  ToProtoTime(t, &got);
  const int64_t seconds = absl::ToUnixSeconds(t);
  const int64_t nanos =
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds));
  EXPECT_EQ(got.seconds(), seconds) << t;
  EXPECT_EQ(got.nanos(), nanos) << t;
  EXPECT_GE(got.nanos(), 0) << t;
  EXPECT_LT(got.nanos(), 1000000000) << t;
}

TEST(ProtoTimeTest, ToProtoTimeRoundsTowardThePast) {
  google::protobuf::Timestamp ts;
  ToProtoTime(absl::FromUnixSeconds(-1) + absl::Nanoseconds(1), &ts);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 1);
  ToProtoTime(absl::UnixEpoch() - absl::Nanoseconds(1) / 4, &ts);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999999999);
}

TEST(ProtoTimeTest, ToProtoTimeEqualsThePlainFormula) {
  std::vector<absl::Time> times = {
      absl::UnixEpoch(),
      absl::FromUnixSeconds(kMinProtoTimestampSeconds),
      absl::FromUnixSeconds(kMaxProtoTimestampSeconds) +
          absl::Nanoseconds(999999999),
      ClampToProtoTimeRange(absl::InfiniteFuture()),
      ClampToProtoTimeRange(absl::InfinitePast()),
      absl::FromUnixSeconds(1796083200),
  };
  for (const absl::Duration d :
       {absl::Nanoseconds(1), absl::Nanoseconds(1) / 4,
        absl::Nanoseconds(999999999),
        absl::Seconds(1) - absl::Nanoseconds(1) / 4, absl::Hours(24) * 365}) {
    times.push_back(absl::UnixEpoch() + d);
    times.push_back(absl::UnixEpoch() - d);
  }
  std::mt19937_64 random(15);
  std::uniform_int_distribution<int64_t> seconds(kMinProtoTimestampSeconds,
                                                 kMaxProtoTimestampSeconds);
  std::uniform_int_distribution<int64_t> quarters(0, 4000000000 - 1);
  for (int i = 0; i < 20000; ++i) {
    times.push_back(absl::FromUnixSeconds(seconds(random)) +
                    absl::Nanoseconds(1) / 4 * quarters(random));
  }
  for (const absl::Time t : times) ExpectPlainFormula(t);
}

}  // namespace
}  // namespace treatd
