#include "common/time/time_text.h"

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

}  // namespace
}  // namespace treatd
