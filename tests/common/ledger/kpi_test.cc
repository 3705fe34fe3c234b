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

// Over thousands of durations the report sorts them with a radix sort
// (common/ledger/kpi.cc); its mean, quantiles and sums must be exactly
// those of std::sort's order, computed here by the documented formulas.
TEST(ComputeKpisTest, LargeSamplesGiveTheFiguresOfASortedList) {
  const KpiQuery query = ScenarioQuery({});
  const int64_t as_of = absl::ToUnixMicros(query.as_of);
  std::mt19937_64 rng(11);
  std::vector<EpisodeRow> episodes;
  std::vector<double> remediate, risks;
  for (int i = 0; i < 20000; ++i) {
    EpisodeRow e;
    e.priority = "p1";
    e.kind = v1::FINDING_KIND_VULNERABILITY;
    e.opened_us = as_of - static_cast<int64_t>(rng() % 86400000000000);
    e.residual_risk = static_cast<double>(rng() % 100000) / 7.0;
    if (i % 3 != 0) {  // remediated in the window, a few equal durations
      const int64_t took =
          i % 50 == 0 ? 86400000000
                      : static_cast<int64_t>(rng() % 1000) * 3600000000;
      e.opened_us = as_of - 86400000000 * 5 - took;
      e.closed_us = e.opened_us + took;
      e.closed_remediated = true;
      remediate.push_back(static_cast<double>(took) / (86400.0 * 1e6));
    } else {
      risks.push_back(e.residual_risk);
    }
    episodes.push_back(std::move(e));
  }
  absl::StatusOr<KpiReport> report = ComputeKpis(query, episodes);
  ASSERT_TRUE(report.ok()) << report.status();
  std::sort(remediate.begin(), remediate.end());
  std::sort(risks.begin(), risks.end());
  double sum = 0;
  for (double d : remediate) sum += d;
  auto quantile = [&remediate](double p) {
    const double h = (static_cast<double>(remediate.size()) - 1) * p;
    const size_t lo = static_cast<size_t>(h);
    return remediate[lo] +
           (h - static_cast<double>(lo)) * (remediate[lo + 1] - remediate[lo]);
  };
  double risk_sum = 0;
  for (double r : risks) risk_sum += r;
  const DurationStats& ttr = report->total.time_to_remediate;
  ASSERT_EQ(ttr.count, static_cast<int64_t>(remediate.size()));
  EXPECT_EQ(ttr.mean_days, sum / static_cast<double>(remediate.size()));
  EXPECT_EQ(ttr.median_days, quantile(0.5));
  EXPECT_EQ(ttr.p90_days, quantile(0.9));
  EXPECT_EQ(report->total.residual_risk_sum, risk_sum);
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
