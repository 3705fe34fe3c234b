#include "common/time/time_text.h"

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/time/proto_time.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

TEST(ParseDurationTextTest, AcceptsEveryUnitAndCombinations) {
  EXPECT_EQ(*ParseDurationText("90s"), absl::Seconds(90));
  EXPECT_EQ(*ParseDurationText("15m"), absl::Minutes(15));
  EXPECT_EQ(*ParseDurationText("72h"), absl::Hours(72));
  EXPECT_EQ(*ParseDurationText("14d"), absl::Hours(14 * 24));
  EXPECT_EQ(*ParseDurationText("2w"), absl::Hours(14 * 24));
  EXPECT_EQ(*ParseDurationText("1d12h"), absl::Hours(36));
  EXPECT_EQ(*ParseDurationText("1.5h"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationText("250ms"), absl::Milliseconds(250));
}

TEST(ParseDurationTextTest, RejectsMissingUnitsAndUnknownUnits) {
  for (const char* bad : {"", "14", "d", "3 days", "5y", "-3d", "1d-2h"}) {
    absl::StatusOr<absl::Duration> d = ParseDurationText(bad);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_NE(ParseDurationText("5y").status().message().find("units w, d, h"),
            std::string::npos);
}

TEST(FormatDurationTextTest, UsesLargestExactUnits) {
  EXPECT_EQ(FormatDurationText(absl::Hours(72)), "3d");
  EXPECT_EQ(FormatDurationText(absl::Hours(36)), "1d12h");
  EXPECT_EQ(FormatDurationText(absl::Seconds(90)), "1m30s");
  EXPECT_EQ(FormatDurationText(absl::ZeroDuration()), "0s");
  EXPECT_EQ(FormatDurationText(-absl::Hours(24)), "-1d");
}

TEST(ParseTimestampTextTest, AcceptsRfc3339AndPlainDates) {
  EXPECT_EQ(*ParseTimestampText("2026-12-31T00:00:00Z"),
            absl::FromUnixSeconds(1798675200));
  EXPECT_EQ(*ParseTimestampText("2026-12-31"),
            absl::FromUnixSeconds(1798675200));
  EXPECT_EQ(*ParseTimestampText("2026-12-31T02:00:00+02:00"),
            absl::FromUnixSeconds(1798675200));
  EXPECT_FALSE(ParseTimestampText("31/12/2026").ok());
  EXPECT_FALSE(ParseTimestampText("2026-13-01").ok());
}

// protobuf's TimeUtil::ToString is the oracle: every edge of the range,
// leap days, each fraction width, and random instants of the whole range.
TEST(FormatProtoTimestampTextTest, WritesWhatProtobufWrites) {
  std::vector<std::pair<int64_t, int32_t>> times = {
      {0, 0},
      {-1, 999999999},
      {kMinProtoTimestampSeconds, 0},
      {kMaxProtoTimestampSeconds, 999999999},
      {951782400, 0},    // 2000-02-29
      {4107456000, 0},   // 2100-02-28
      {-2203891200, 1},  // 1900-02-28
      {1796083200, 1000},
      {1796083200, 1000000},
      {1796083200, 120000000},
      {1796083200, 123456789},
      {68169600, 999000}};
  std::mt19937_64 rng(15);
  std::uniform_int_distribution<int64_t> seconds(kMinProtoTimestampSeconds,
                                                 kMaxProtoTimestampSeconds);
  std::uniform_int_distribution<int32_t> nanos(0, 999999999);
  for (int i = 0; i < 20000; ++i) {
    const int32_t n = nanos(rng);
    times.emplace_back(seconds(rng), i % 4 == 0   ? 0
                                     : i % 4 == 1 ? n / 1000000 * 1000000
                                     : i % 4 == 2 ? n / 1000 * 1000
                                                  : n);
  }
  for (const auto& [s, n] : times) {
    google::protobuf::Timestamp t;
    t.set_seconds(s);
    t.set_nanos(n);
    char text[kMaxProtoTimestampTextSize];
    const size_t size = FormatProtoTimestampText(s, n, text);
    ASSERT_EQ(std::string(text, size),
              google::protobuf::util::TimeUtil::ToString(t))
        << s << "." << n;
  }
}

TEST(FormatProtoTimestampTextTest, WritesNothingOutsideTheRange) {
  char text[kMaxProtoTimestampTextSize];
  EXPECT_EQ(FormatProtoTimestampText(kMinProtoTimestampSeconds - 1, 0, text),
            0u);
  EXPECT_EQ(FormatProtoTimestampText(kMaxProtoTimestampSeconds + 1, 0, text),
            0u);
  EXPECT_EQ(FormatProtoTimestampText(0, -1, text), 0u);
  EXPECT_EQ(FormatProtoTimestampText(0, 1000000000, text), 0u);
}

}  // namespace
}  // namespace treatd
