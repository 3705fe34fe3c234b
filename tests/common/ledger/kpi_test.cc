#include "common/ledger/kpi.h"

#include <algorithm>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
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

// The stores return episodes in different orders (SQLite by index, PostgreSQL
// as its scan delivers them), so every figure must come out bit-identical in
// any order: risks that are not binary fractions and overdue times that are
// not whole days make a naive running sum order-dependent.
TEST(ComputeKpisTest, NoFigureDependsOnTheOrderOfTheEpisodes) {
  std::vector<EpisodeRow> episodes;
  std::mt19937_64 rng(7);
  auto us = [&rng](int max_days) {
    return static_cast<int64_t>(rng() % (int64_t{86400000000} * max_days));
  };
  for (int i = 0; i < 600; ++i) {
    EpisodeRow e;
    e.priority = absl::StrCat("p", 1 + i % 3);
    e.kind = i % 2 ? v1::FINDING_KIND_VULNERABILITY
                   : v1::FINDING_KIND_MISCONFIGURATION;
    e.owner = absl::StrCat("team-", i % 5);
    e.opened_us = testing::DayUs(-200) + us(190);
    e.remediate_by_us = e.opened_us + us(60);
    e.residual_risk = 0.1 * (i % 13) + 0.01 * i + 1e-7 * (rng() % 1000);
    switch (i % 4) {
      case 0:  // remediated, some in the window
        e.closed_us = e.opened_us + us(100);
        e.closed_remediated = true;
        break;
      case 1:  // mitigated, review passed
        e.mitigated_us = e.opened_us + us(5);
        e.review_by_us = e.mitigated_us + us(20);
        break;
      case 2:  // accepted
        e.accepted_us = e.opened_us + us(3);
        e.review_by_us = e.accepted_us + us(30);
        break;
      default:  // open
        break;
    }
    episodes.push_back(std::move(e));
  }
  for (const auto& group_by :
       std::vector<std::vector<KpiGroupBy>>{{}, {KpiGroupBy::kOwner}}) {
    const KpiQuery query = ScenarioQuery(group_by);
    absl::StatusOr<KpiReport> forward = ComputeKpis(query, episodes);
    std::vector<EpisodeRow> other = episodes;
    std::reverse(other.begin(), other.end());
    absl::StatusOr<KpiReport> reversed = ComputeKpis(query, other);
    std::shuffle(other.begin(), other.end(), rng);
    absl::StatusOr<KpiReport> shuffled = ComputeKpis(query, other);
    ASSERT_TRUE(forward.ok() && reversed.ok() && shuffled.ok());
    EXPECT_GT(forward->total.mitigation_debt, 100);
    EXPECT_GT(forward->total.open, 300);
    EXPECT_TRUE(SameFigures(*forward, *reversed));
    EXPECT_TRUE(SameFigures(*forward, *shuffled));
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
