#include "common/ledger/kpi.h"

#include "gtest/gtest.h"
#include "tests/common/ledger/kpi_scenario.h"

namespace treatd::ledger {
namespace {

using testing::ScenarioEpisodes;
using testing::ScenarioQuery;

TEST(ComputeKpisTest, ScenarioGivesTheHandComputedFigures) {
  absl::StatusOr<KpiReport> report =
      ComputeKpis(ScenarioQuery({KpiGroupBy::kPriority}), ScenarioEpisodes());
  ASSERT_TRUE(report.ok()) << report.status();
  testing::ExpectScenarioFigures(*report);
}

TEST(ComputeKpisTest, GroupsByEveryRequestedDimension) {
  absl::StatusOr<KpiReport> report =
      ComputeKpis(ScenarioQuery({KpiGroupBy::kKind, KpiGroupBy::kOwner}),
                  ScenarioEpisodes());
  ASSERT_TRUE(report.ok()) << report.status();
  // (misconfiguration, team-b): E4, E5; (vulnerability, team-a): E1, E2,
  // E3, E10; (vulnerability, team-b): E6; (vulnerability, team-c): E8.
  ASSERT_EQ(report->rows.size(), 4u);
  EXPECT_EQ(report->rows[0].kind, "misconfiguration");
  EXPECT_EQ(report->rows[0].owner, "team-b");
  EXPECT_EQ(report->rows[0].priority, "");
  EXPECT_EQ(report->rows[0].remediated_in_window, 1);
  EXPECT_EQ(report->rows[1].kind, "vulnerability");
  EXPECT_EQ(report->rows[1].owner, "team-a");
  EXPECT_EQ(report->rows[1].open, 2);
}

TEST(ComputeKpisTest, SameInputSameReport) {
  auto a = ComputeKpis(ScenarioQuery({KpiGroupBy::kOwner}), ScenarioEpisodes());
  std::vector<EpisodeRow> reversed = ScenarioEpisodes();
  std::reverse(reversed.begin(), reversed.end());
  auto b = ComputeKpis(ScenarioQuery({KpiGroupBy::kOwner}), reversed);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->rows.size(), b->rows.size());
  for (size_t i = 0; i < a->rows.size(); ++i) {
    EXPECT_EQ(a->rows[i].owner, b->rows[i].owner);
    EXPECT_EQ(a->rows[i].time_to_remediate.km_median_days,
              b->rows[i].time_to_remediate.km_median_days);
    EXPECT_EQ(a->rows[i].residual_risk_sum, b->rows[i].residual_risk_sum);
  }
}

TEST(ComputeKpisTest, RejectsAQueryWithoutAsOfOrWindow) {
  KpiQuery q = ScenarioQuery({});
  q.as_of = absl::InfinitePast();
  EXPECT_EQ(ComputeKpis(q, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  q = ScenarioQuery({});
  q.window = absl::ZeroDuration();
  EXPECT_EQ(ComputeKpis(q, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ComputeKpisTest, KaplanMeierCountsOpenFindingsThatAMeanIgnores) {
  // Two fast fixes and three old open findings: the mean over closed ones
  // says 1 day; Kaplan–Meier never reaches 50 % remediated.
  std::vector<EpisodeRow> rows(5);
  for (int i = 0; i < 5; ++i) rows[i].opened_us = testing::DayUs(-60);
  for (int i = 0; i < 2; ++i) {
    rows[i].closed_us = testing::DayUs(-59);
    rows[i].closed_remediated = true;
  }
  auto report = ComputeKpis(ScenarioQuery({}), rows);
  ASSERT_TRUE(report.ok());
  EXPECT_DOUBLE_EQ(*report->total.time_to_remediate.mean_days, 1);
  EXPECT_FALSE(report->total.time_to_remediate.km_median_days.has_value());
}

}  // namespace
}  // namespace treatd::ledger
