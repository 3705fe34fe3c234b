#include "common/intel/kev_feed.h"

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/intel/intel_test_util.h"

namespace treatd::intel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ShippedKevPath;
using testing::WriteScratchFile;

CveId Cve(absl::string_view text) { return *CveId::Parse(text); }

// A catalog around the given "vulnerabilities" array body.
std::string Catalog(absl::string_view entries) {
  return absl::StrCat(
      R"({"title": "CISA Catalog of Known Exploited Vulnerabilities",
          "catalogVersion": "2025.01.02",
          "dateReleased": "2025-01-02T10:00:00.000Z",
          "vulnerabilities": [)",
      entries, "]}");
}

std::string Entry(absl::string_view cve, absl::string_view added,
                  absl::string_view due, absl::string_view ransomware) {
  return absl::StrCat(R"({"cveID": ")", cve, R"(", "dateAdded": ")", added,
                      R"(", "dueDate": ")", due,
                      R"(", "knownRansomwareCampaignUse": ")", ransomware,
                      R"(", "requiredAction": "Apply updates.",
                          "vendorProject": "V", "product": "P",
                          "vulnerabilityName": "N"})");
}

TEST(KevFeedTest, LoadsShippedCatalog) {
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed =
      KevFeed::LoadFile(ShippedKevPath());
  ASSERT_TRUE(feed.ok()) << feed.status();
  const KevFeed& kev = **feed;
  EXPECT_EQ(kev.size(), 1404u);
  EXPECT_EQ(kev.declared_count(), 1404);
  EXPECT_EQ(kev.malformed().count(), 0) << kev.malformed().ToString();
  EXPECT_EQ(kev.catalog_version(), "2025.08.25");
  EXPECT_EQ(kev.description(), "CISA KEV 2025.08.25");
  EXPECT_EQ(kev.date_released(),
            absl::FromCivil(absl::CivilSecond(2025, 8, 25, 17, 4, 19),
                            absl::UTCTimeZone()) +
                absl::Microseconds(979600));
  EXPECT_EQ(kev.source(), ShippedKevPath());

  const KevEntry* git = kev.Find(Cve("CVE-2025-48384"));
  ASSERT_NE(git, nullptr);
  EXPECT_EQ(git->date_added, absl::CivilDay(2025, 8, 25));
  EXPECT_EQ(git->due_date, absl::CivilDay(2025, 9, 15));
  EXPECT_FALSE(git->known_ransomware_use);
  EXPECT_EQ(git->vendor_project, "Git");
  EXPECT_EQ(git->product, "Git");
  EXPECT_EQ(git->vulnerability_name, "Git Link Following Vulnerability");
  EXPECT_THAT(git->required_action,
              HasSubstr("Apply mitigations per vendor instructions"));

  const KevEntry* citrix = kev.Find(Cve("CVE-2023-4966"));
  ASSERT_NE(citrix, nullptr);
  EXPECT_TRUE(citrix->known_ransomware_use);
  EXPECT_EQ(citrix->due_date, absl::CivilDay(2023, 11, 8));
  // Seven-digit sequence numbers are found too.
  EXPECT_NE(kev.Find(Cve("CVE-2017-1000253")), nullptr);
  EXPECT_EQ(kev.Find(Cve("CVE-2024-3094")), nullptr);
}

TEST(KevFeedTest, ReportsMalformedEntriesWithJsonPaths) {
  const std::string json = Catalog(absl::StrCat(
      Entry("CVE-2024-0001", "2024-01-01", "2024-01-22", "Known"), ",",
      Entry("CVE-2024-02", "2024-01-01", "2024-01-22", "Unknown"), ",",
      Entry("CVE-2024-0003", "2024-13-01", "2024-01-22", "Unknown"), ",",
      Entry("CVE-2024-0004", "2024-01-01", "2024-02-30", "Unknown"), ",",
      Entry("CVE-2024-0005", "2024-01-01", "2024-01-22", "Maybe"), ",",
      R"("not an object",)",
      R"({"cveID": "CVE-2024-0007", "dateAdded": "2024-01-01"},)",
      R"({"cveID": 42},)",
      Entry("CVE-2024-0009", "2024-01-05", "2024-01-26", "Unknown"), ",",
      Entry("CVE-2024-0001", "2024-02-01", "2024-02-22", "Unknown")));
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed =
      KevFeed::Parse(json, "kev.json");
  ASSERT_TRUE(feed.ok()) << feed.status();
  const KevFeed& kev = **feed;
  EXPECT_EQ(kev.size(), 2u);
  EXPECT_EQ(kev.malformed().count(), 8) << kev.malformed().ToString();
  std::vector<std::string> locations;
  for (const FeedIssue& issue : kev.malformed().detailed()) {
    locations.push_back(issue.location);
  }
  EXPECT_THAT(
      locations,
      ElementsAre("vulnerabilities[1].cveID", "vulnerabilities[2].dateAdded",
                  "vulnerabilities[3].dueDate",
                  "vulnerabilities[4].knownRansomwareCampaignUse",
                  "vulnerabilities[5]", "vulnerabilities[6].dueDate",
                  "vulnerabilities[7].cveID",
                  "vulnerabilities[cveID=CVE-2024-0001]"));
  EXPECT_THAT(kev.malformed().detailed()[2].message,
              HasSubstr("CVE-2024-0004"));
  EXPECT_THAT(kev.malformed().detailed()[5].message, HasSubstr("missing"));

  // The first of two entries for one CVE wins.
  const KevEntry* first = kev.Find(Cve("CVE-2024-0001"));
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->due_date, absl::CivilDay(2024, 1, 22));
  EXPECT_TRUE(first->known_ransomware_use);
  EXPECT_NE(kev.Find(Cve("CVE-2024-0009")), nullptr);
  EXPECT_EQ(kev.Find(Cve("CVE-2024-0005")), nullptr);
}

TEST(KevFeedTest, ReportsCountMismatch) {
  const std::string json = absl::StrCat(
      R"({"catalogVersion": "1", "dateReleased": "2025-01-02T10:00:00Z",
          "count": 3, "vulnerabilities": [)",
      Entry("CVE-2024-0001", "2024-01-01", "2024-01-22", "Known"), "]}");
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed =
      KevFeed::Parse(json, "kev.json");
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ((*feed)->size(), 1u);
  ASSERT_EQ((*feed)->malformed().count(), 1);
  EXPECT_EQ((*feed)->malformed().detailed()[0].location, "count");
}

TEST(KevFeedTest, RejectsMissingFile) {
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed =
      KevFeed::LoadFile(absl::StrCat(::testing::TempDir(), "/no-such.json"));
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(feed.status().message(), HasSubstr("no-such.json"));
}

TEST(KevFeedTest, RejectsDirectory) {
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed =
      KevFeed::LoadFile(::testing::TempDir());
  EXPECT_FALSE(feed.ok());
}

TEST(KevFeedTest, RejectsTextThatIsNotJson) {
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed = KevFeed::LoadFile(
      WriteScratchFile("kev-truncated.json", R"({"catalogVersion": "1", )"));
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(feed.status().message(), HasSubstr("invalid JSON"));
  EXPECT_FALSE(KevFeed::LoadFile(testing::ShippedEpssPath()).ok());
}

TEST(KevFeedTest, RejectsJsonThatIsNotACatalog) {
  EXPECT_EQ(KevFeed::Parse("[1, 2, 3]", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KevFeed::Parse(R"({"catalogVersion": "1",
                               "dateReleased": "2025-01-02T10:00:00Z"})",
                           "x")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::shared_ptr<const KevFeed>> no_date =
      KevFeed::Parse(R"({"catalogVersion": "1", "vulnerabilities": []})", "x");
  EXPECT_EQ(no_date.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_date.status().message(), HasSubstr("dateReleased"));
  absl::StatusOr<std::shared_ptr<const KevFeed>> no_version = KevFeed::Parse(
      R"({"dateReleased": "2025-01-02T10:00:00Z", "vulnerabilities": []})",
      "x");
  EXPECT_THAT(no_version.status().message(), HasSubstr("catalogVersion"));
}

TEST(KevFeedTest, RejectsCatalogWithNoUsableEntry) {
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed =
      KevFeed::Parse(Catalog(R"({"cveID": "x"}, {"cveID": "y"})"), "x");
  EXPECT_EQ(feed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(feed.status().message(), HasSubstr("vulnerabilities[0].cveID"));
}

TEST(KevFeedTest, AcceptsEmptyCatalog) {
  absl::StatusOr<std::shared_ptr<const KevFeed>> feed =
      KevFeed::Parse(Catalog(""), "x");
  ASSERT_TRUE(feed.ok()) << feed.status();
  EXPECT_EQ((*feed)->size(), 0u);
}

}  // namespace
}  // namespace treatd::intel
