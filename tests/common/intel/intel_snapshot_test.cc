#include "common/intel/intel_snapshot.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/intel/intel_test_util.h"

namespace treatd::intel {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ShippedEpssPath;
using testing::ShippedKevPath;
using testing::WriteScratchFile;

TEST(IntelSnapshotTest, LoadsShippedFeeds) {
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> snapshot =
      IntelSnapshot::Load({ShippedKevPath(), ShippedEpssPath()});
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  const IntelSnapshot& intel = **snapshot;
  ASSERT_NE(intel.kev(), nullptr);
  ASSERT_NE(intel.epss(), nullptr);
  EXPECT_EQ(intel.kev()->size(), 1404u);
  EXPECT_EQ(intel.epss()->size(), 4820u);
  EXPECT_THAT(intel.FeedVersions(),
              ElementsAre("CISA KEV 2025.08.25",
                          "FIRST EPSS v2023.03.01 (2024-01-13)"));
  EXPECT_NE(intel.FindKev("CVE-2025-48384"), nullptr);
  EXPECT_EQ(intel.FindKev("CVE-2015-0235"), nullptr);
  EXPECT_EQ(intel.FindKev("not a cve"), nullptr);
  ASSERT_TRUE(intel.FindEpss("CVE-2015-0235").has_value());
  EXPECT_DOUBLE_EQ(intel.FindEpss("CVE-2015-0235")->score, 0.97536);
  EXPECT_GE(intel.created_at(), intel.kev()->loaded_at());
  EXPECT_GE(intel.created_at(), intel.epss()->loaded_at());
  EXPECT_THAT(intel.Summary(), HasSubstr("CISA KEV 2025.08.25: 1404 entries"));
  EXPECT_THAT(intel.Summary(), HasSubstr("4820 entries, 0 malformed"));
  EXPECT_EQ(intel.MemoryBytes(), sizeof(IntelSnapshot) +
                                     intel.kev()->MemoryBytes() +
                                     intel.epss()->MemoryBytes());
}

TEST(IntelSnapshotTest, LoadsOneFeedAlone) {
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> snapshot =
      IntelSnapshot::Load({"", ShippedEpssPath()});
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ((*snapshot)->kev(), nullptr);
  EXPECT_EQ((*snapshot)->FindKev("CVE-2025-48384"), nullptr);
  EXPECT_TRUE((*snapshot)->FindEpss("CVE-2021-44228").has_value());
}

TEST(IntelSnapshotTest, FailsWholesaleWhenAFeedFails) {
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> missing =
      IntelSnapshot::Load(
          {ShippedKevPath(), absl::StrCat(::testing::TempDir(), "/nope.csv")});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("EPSS feed: "));

  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> bad_json =
      IntelSnapshot::Load(
          {WriteScratchFile("snapshot-bad.json", "<html>"), ShippedEpssPath()});
  EXPECT_EQ(bad_json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_json.status().message(), HasSubstr("KEV feed: "));
}

TEST(IntelSnapshotTest, RejectsNoFeeds) {
  EXPECT_EQ(IntelSnapshot::Load({}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IntelSnapshot::Create(nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IntelSnapshotTest, SharesFeedsWithASuccessor) {
  // A reload in which only EPSS changed keeps the previous KEV feed object.
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> old_snapshot =
      IntelSnapshot::Load({ShippedKevPath(), ShippedEpssPath()});
  ASSERT_TRUE(old_snapshot.ok()) << old_snapshot.status();
  absl::StatusOr<std::shared_ptr<const EpssFeed>> new_epss = EpssFeed::Parse(
      "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\n"
      "cve,epss,percentile\nCVE-2025-48384,0.5,0.9\n",
      "new.csv");
  ASSERT_TRUE(new_epss.ok()) << new_epss.status();
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> next =
      IntelSnapshot::Create((*old_snapshot)->shared_kev(), *new_epss);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ((*next)->kev(), (*old_snapshot)->kev());
  EXPECT_EQ((*next)->epss()->model_version(), "v2025.03.14");
  // The old snapshot is untouched.
  EXPECT_EQ((*old_snapshot)->epss()->model_version(), "v2023.03.01");
}

TEST(IntelSnapshotTest, ServesConcurrentReaders) {
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> snapshot =
      IntelSnapshot::Load({ShippedKevPath(), ShippedEpssPath()});
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  std::shared_ptr<const IntelSnapshot> shared = *snapshot;
  std::vector<std::thread> readers;
  std::vector<int> hits(4, 0);
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([shared, &hits, t] {
      for (int i = 0; i < 2000; ++i) {
        if (shared->FindKev("CVE-2021-44228") != nullptr &&
            shared->FindEpss("CVE-2021-44228").has_value()) {
          ++hits[t];
        }
      }
    });
  }
  for (std::thread& reader : readers) reader.join();
  EXPECT_THAT(hits, ElementsAre(2000, 2000, 2000, 2000));
}

}  // namespace
}  // namespace treatd::intel
