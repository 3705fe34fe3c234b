#include "common/intel/epss_feed.h"

#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/intel/intel_test_util.h"

namespace treatd::intel {
namespace {

using ::testing::HasSubstr;
using testing::ShippedEpssPath;
using testing::WriteScratchFile;

constexpr absl::string_view kMeta =
    "#model_version:v2023.03.01,score_date:2024-01-13T00:00:00+0000\n";

std::shared_ptr<const EpssFeed> MustParse(absl::string_view csv) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed =
      EpssFeed::Parse(csv, "test.csv");
  EXPECT_TRUE(feed.ok()) << feed.status();
  return feed.ok() ? *feed : nullptr;
}

CveId Cve(absl::string_view text) { return *CveId::Parse(text); }

// Counts data rows the simple way: every non-blank line after the first two.
size_t CountDataLines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  size_t n = 0;
  for (int i = 0; std::getline(in, line); ++i) {
    if (i >= 2 && !line.empty()) ++n;
  }
  return n;
}

TEST(EpssFeedTest, LoadsShippedSample) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed =
      EpssFeed::LoadFile(ShippedEpssPath());
  ASSERT_TRUE(feed.ok()) << feed.status();
  const EpssFeed& epss = **feed;
  EXPECT_EQ(epss.size(), 4820u);
  EXPECT_EQ(epss.size(), CountDataLines(ShippedEpssPath()));
  EXPECT_EQ(epss.malformed().count(), 0) << epss.malformed().ToString();
  EXPECT_EQ(epss.model_version(), "v2023.03.01");
  EXPECT_EQ(epss.score_date(),
            absl::FromCivil(absl::CivilDay(2024, 1, 13), absl::UTCTimeZone()));
  EXPECT_EQ(epss.description(), "FIRST EPSS v2023.03.01 (2024-01-13)");
  EXPECT_EQ(epss.source(), ShippedEpssPath());
  EXPECT_GT(epss.MemoryBytes(), 4820u * 16);

  std::optional<EpssScore> log4shell = epss.Find(Cve("CVE-2021-44228"));
  ASSERT_TRUE(log4shell.has_value());
  EXPECT_DOUBLE_EQ(log4shell->score, 0.97466);
  EXPECT_DOUBLE_EQ(log4shell->percentile, 0.99957);
  std::optional<EpssScore> first = epss.Find(Cve("CVE-1999-0001"));
  ASSERT_TRUE(first.has_value());
  EXPECT_DOUBLE_EQ(first->score, 0.01167);
  EXPECT_DOUBLE_EQ(first->percentile, 0.83393);
  EXPECT_FALSE(epss.Find(Cve("CVE-2024-3094")).has_value());
}

TEST(EpssFeedTest, ReportsMalformedRowsWithLineNumbers) {
  const std::string csv =
      absl::StrCat(kMeta,
                   "cve,epss,percentile\n"    // line 2
                   "CVE-2020-0001,0.5,0.9\n"  // line 3
                   "CVE-2020-0002,abc,0.9\n"  // line 4: bad score
                   "not-a-cve,0.1,0.2\n"      // line 5: bad id
                   "CVE-2020-0003,0.1\n"      // line 6: too few fields
                   "CVE-2020-0004,1.5,0.2\n"  // line 7: score out of range
                   "CVE-2020-0005,0.1,nan\n"  // line 8: percentile not a number
                   "CVE-2020-0006,\"0.25\",0.3\n"  // line 9: quoted, fine
                   "CVE-2020-0007,\"0.1,0.2\n"     // line 10: unbalanced quote
                   "CVE-2020-0001,0.7,0.95\n"  // line 11: duplicate of line 3
                   "CVE-2020-0008,0.00042,0.05736\n");  // line 12
  std::shared_ptr<const EpssFeed> feed = MustParse(csv);
  ASSERT_NE(feed, nullptr);
  EXPECT_EQ(feed->size(), 3u);
  EXPECT_EQ(feed->malformed().count(), 7);
  std::vector<std::string> locations;
  for (const FeedIssue& issue : feed->malformed().detailed()) {
    locations.push_back(issue.location);
  }
  EXPECT_THAT(locations,
              ::testing::ElementsAre("line 4", "line 5", "line 6", "line 7",
                                     "line 8", "line 10", "line 11"));
  EXPECT_THAT(feed->malformed().detailed()[0].message, HasSubstr("abc"));
  EXPECT_THAT(feed->malformed().detailed()[6].message,
              HasSubstr("duplicate of line 3"));
  // The first of two rows for one CVE wins.
  EXPECT_DOUBLE_EQ(feed->Find(Cve("CVE-2020-0001"))->score, 0.5);
  EXPECT_DOUBLE_EQ(feed->Find(Cve("CVE-2020-0006"))->score, 0.25);
  EXPECT_DOUBLE_EQ(feed->Find(Cve("CVE-2020-0008"))->percentile, 0.05736);
  EXPECT_FALSE(feed->Find(Cve("CVE-2020-0002")).has_value());
}

TEST(EpssFeedTest, HandlesCrlfBlankLinesAndMissingFinalNewline) {
  std::shared_ptr<const EpssFeed> feed = MustParse(
      "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\r\n"
      "cve,epss,percentile\r\n"
      "\r\n"
      "CVE-2021-9999,0.1,0.2\r\n"
      "\n"
      "CVE-2021-10000,0.3,0.4");
  ASSERT_NE(feed, nullptr);
  EXPECT_EQ(feed->size(), 2u);
  EXPECT_EQ(feed->malformed().count(), 0) << feed->malformed().ToString();
  EXPECT_EQ(feed->model_version(), "v2025.03.14");
  EXPECT_DOUBLE_EQ(feed->Find(Cve("CVE-2021-9999"))->score, 0.1);
  EXPECT_DOUBLE_EQ(feed->Find(Cve("CVE-2021-10000"))->percentile, 0.4);
}

TEST(EpssFeedTest, FindsColumnsByHeaderName) {
  std::shared_ptr<const EpssFeed> feed =
      MustParse(absl::StrCat(kMeta,
                             "percentile,cve,epss\n"
                             "0.75,CVE-2022-1234,0.125\n"));
  ASSERT_NE(feed, nullptr);
  std::optional<EpssScore> score = feed->Find(Cve("CVE-2022-1234"));
  ASSERT_TRUE(score.has_value());
  EXPECT_DOUBLE_EQ(score->score, 0.125);
  EXPECT_DOUBLE_EQ(score->percentile, 0.75);
}

TEST(EpssFeedTest, AcceptsHeaderOnlyFile) {
  std::shared_ptr<const EpssFeed> feed =
      MustParse(absl::StrCat(kMeta, "cve,epss,percentile\n"));
  ASSERT_NE(feed, nullptr);
  EXPECT_EQ(feed->size(), 0u);
}

TEST(EpssFeedTest, CountsEveryMalformedRowButKeepsDetailsBounded) {
  std::string csv = absl::StrCat(kMeta, "cve,epss,percentile\n");
  for (int i = 0; i < 500; ++i) absl::StrAppend(&csv, "junk,1,1\n");
  absl::StrAppend(&csv, "CVE-2023-1111,0.1,0.2\n");
  std::shared_ptr<const EpssFeed> feed = MustParse(csv);
  ASSERT_NE(feed, nullptr);
  EXPECT_EQ(feed->size(), 1u);
  EXPECT_EQ(feed->malformed().count(), 500);
  EXPECT_EQ(feed->malformed().detailed().size(), FeedIssues::kMaxDetailed);
  EXPECT_THAT(feed->malformed().ToString(), HasSubstr("and 400 more"));
}

TEST(EpssFeedTest, RejectsMissingFile) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed =
      EpssFeed::LoadFile(absl::StrCat(::testing::TempDir(), "/no-such.csv"));
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kNotFound);
}

TEST(EpssFeedTest, RejectsEmptyFile) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed =
      EpssFeed::LoadFile(WriteScratchFile("empty.csv", ""));
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(EpssFeedTest, RejectsMissingMetadataLine) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed =
      EpssFeed::Parse("cve,epss,percentile\nCVE-2020-0001,0.5,0.9\n", "x.csv");
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(feed.status().message(), HasSubstr("x.csv:1:"));
}

TEST(EpssFeedTest, RejectsMetadataWithoutScoreDate) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed = EpssFeed::Parse(
      "#model_version:v2023.03.01\ncve,epss,percentile\n", "x.csv");
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(feed.status().message(), HasSubstr("score_date"));
}

TEST(EpssFeedTest, RejectsMissingHeader) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed =
      EpssFeed::Parse(absl::StrCat(kMeta, "CVE-2020-0001,0.5,0.9\n"), "x.csv");
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(feed.status().message(), HasSubstr("x.csv:2:"));
  EXPECT_THAT(feed.status().message(), HasSubstr("header"));
}

TEST(EpssFeedTest, RejectsFileWithNoUsableRow) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed = EpssFeed::Parse(
      absl::StrCat(kMeta, "cve,epss,percentile\na,b,c\nd,e,f\n"), "x.csv");
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(feed.status().message(), HasSubstr("line 3"));
}

TEST(EpssFeedTest, RejectsJsonGivenAsCsv) {
  absl::StatusOr<std::shared_ptr<const EpssFeed>> feed =
      EpssFeed::LoadFile(testing::ShippedKevPath());
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace treatd::intel
