// One KPI scenario with fixed timestamps, as episode rows (for the pure
// arithmetic) and as ledger events (for the stores), and the figures it must
// give — computed by hand in the comments of ExpectScenarioFigures, not by
// the code under test.
//
// Times are days relative to as_of = 2026-07-01T00:00:00Z; the window is 90
// days, so it starts at day -90; recurrences count within 30 days.
//
//   ep  prio kind      owner   opened  outcome                 due   other
//   E1  p1   vuln      team-a  -60     remediated -50           -45
//   E2  p1   vuln      team-a  -40     remediated -10           -20   reopened
//   -5 E10 p1   vuln      team-a  -5      (E2 reopened) open       +25   risk 4
//   E3  p1   vuln      team-a  -100    mitigated -95, open      -70   review
//   -10, risk 2 E4  p2   misconfig team-b  -20     mitigated -15, open      +10
//   review +30, risk 1 E5  p2   misconfig team-b  -80     remediated -2 -30 E6
//   p2   vuln      team-b  -70     accepted -60 until -5    -40   risk 3 E7  p1
//   vuln      team-a  -200    remediated -150 (before the window) E8  p3   vuln
//   team-c  -35     false positive -30 E9  p1   vuln      team-a  +5 (after
//   as_of)
#ifndef TREATD_TESTS_COMMON_LEDGER_KPI_SCENARIO_H_
#define TREATD_TESTS_COMMON_LEDGER_KPI_SCENARIO_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/ledger/event.h"
#include "common/ledger/kpi.h"
#include "gtest/gtest.h"

namespace treatd::ledger::testing {

inline absl::Time ScenarioAsOf() {
  return absl::FromCivil(absl::CivilDay(2026, 7, 1), absl::UTCTimeZone());
}
inline absl::Time Day(int d) { return ScenarioAsOf() + absl::Hours(24 * d); }
inline int64_t DayUs(int d) { return absl::ToUnixMicros(Day(d)); }

inline KpiQuery ScenarioQuery(std::vector<KpiGroupBy> group_by) {
  KpiQuery q;
  q.as_of = ScenarioAsOf();
  q.window = absl::Hours(24 * 90);
  q.recurrence_within = absl::Hours(24 * 30);
  q.group_by = std::move(group_by);
  return q;
}

inline std::vector<EpisodeRow> ScenarioEpisodes() {
  auto row = [](std::string prio, v1::FindingKind kind, std::string owner,
                int opened) {
    EpisodeRow e;
    e.priority = std::move(prio);
    e.kind = kind;
    e.owner = std::move(owner);
    e.opened_us = DayUs(opened);
    return e;
  };
  const auto vuln = v1::FINDING_KIND_VULNERABILITY;
  const auto misconfig = v1::FINDING_KIND_MISCONFIGURATION;
  std::vector<EpisodeRow> rows;
  EpisodeRow e1 = row("p1", vuln, "team-a", -60);
  e1.closed_us = DayUs(-50), e1.closed_remediated = true;
  e1.remediate_by_us = DayUs(-45);
  rows.push_back(e1);
  EpisodeRow e2 = row("p1", vuln, "team-a", -40);
  e2.closed_us = DayUs(-10), e2.closed_remediated = true;
  e2.remediate_by_us = DayUs(-20), e2.reopened_us = DayUs(-5);
  rows.push_back(e2);
  EpisodeRow e10 = row("p1", vuln, "team-a", -5);
  e10.remediate_by_us = DayUs(25), e10.residual_risk = 4;
  rows.push_back(e10);
  EpisodeRow e3 = row("p1", vuln, "team-a", -100);
  e3.mitigated_us = DayUs(-95), e3.remediate_by_us = DayUs(-70);
  e3.review_by_us = DayUs(-10), e3.residual_risk = 2;
  rows.push_back(e3);
  EpisodeRow e4 = row("p2", misconfig, "team-b", -20);
  e4.mitigated_us = DayUs(-15), e4.remediate_by_us = DayUs(10);
  e4.review_by_us = DayUs(30), e4.residual_risk = 1;
  rows.push_back(e4);
  EpisodeRow e5 = row("p2", misconfig, "team-b", -80);
  e5.closed_us = DayUs(-2), e5.closed_remediated = true;
  e5.remediate_by_us = DayUs(-30);
  rows.push_back(e5);
  EpisodeRow e6 = row("p2", vuln, "team-b", -70);
  e6.accepted_us = DayUs(-60), e6.review_by_us = DayUs(-5);
  e6.remediate_by_us = DayUs(-40), e6.residual_risk = 3;
  rows.push_back(e6);
  EpisodeRow e7 = row("p1", vuln, "team-a", -200);
  e7.closed_us = DayUs(-150), e7.closed_remediated = true;
  rows.push_back(e7);
  EpisodeRow e8 = row("p3", vuln, "team-c", -35);
  e8.closed_us = DayUs(-30);
  rows.push_back(e8);
  rows.push_back(row("p1", vuln, "team-a", 5));
  return rows;
}

// The same history as ledger events, in the order they happened.
inline std::vector<Event> ScenarioEvents() {
  std::vector<Event> events;
  auto decide = [&events](const std::string& key, int at, std::string prio,
                          v1::FindingKind kind, std::string owner, int due,
                          double risk, std::optional<int> review) {
    Event e;
    e.kind = EventKind::kDecision;
    e.finding_key = key;
    e.occurred_at = Day(at);
    e.decision.decision_id = key + "@" + std::to_string(at);
    e.decision.treatment = v1::TREATMENT_REMEDIATE;
    e.decision.priority = std::move(prio);
    e.decision.kind = kind;
    e.decision.owner = std::move(owner);
    e.decision.asset = "id=" + key;
    e.decision.remediate_by = Day(due);
    e.decision.residual_risk = risk;
    if (review.has_value()) e.decision.review_by = Day(*review);
    events.push_back(std::move(e));
  };
  auto outcome = [&events](const std::string& key, EventKind kind, int at,
                           std::optional<int> until = std::nullopt) {
    Event e;
    e.kind = kind;
    e.finding_key = key;
    e.occurred_at = Day(at);
    e.actor = "tester";
    if (until.has_value()) e.until = Day(*until);
    events.push_back(std::move(e));
  };
  const auto vuln = v1::FINDING_KIND_VULNERABILITY;
  const auto misconfig = v1::FINDING_KIND_MISCONFIGURATION;
  decide("E7", -200, "p1", vuln, "team-a", -170, 0, {});
  outcome("E7", EventKind::kRemediated, -150);
  decide("E3", -100, "p1", vuln, "team-a", -70, 2, -10);
  outcome("E3", EventKind::kMitigated, -95);
  decide("E5", -80, "p2", misconfig, "team-b", -30, 0, {});
  decide("E6", -70, "p2", vuln, "team-b", -40, 3, {});
  decide("E1", -60, "p1", vuln, "team-a", -45, 0, {});
  outcome("E6", EventKind::kAccepted, -60, -5);
  outcome("E1", EventKind::kRemediated, -50);
  decide("E2", -40, "p1", vuln, "team-a", -20, 0, {});
  decide("E8", -35, "p3", vuln, "team-c", 0, 0, {});
  outcome("E8", EventKind::kFalsePositive, -30);
  decide("E4", -20, "p2", misconfig, "team-b", 10, 1, 30);
  outcome("E4", EventKind::kMitigated, -15);
  outcome("E2", EventKind::kRemediated, -10);
  decide("E2", -5, "p1", vuln, "team-a", 25, 4, {});  // seen again: reopens
  outcome("E5", EventKind::kRemediated, -2);
  decide("E9", 5, "p1", vuln, "team-a", 40, 9, {});
  return events;
}

inline void ExpectDuration(const DurationStats& s, int64_t count,
                           int64_t censored, std::optional<double> mean,
                           std::optional<double> median,
                           std::optional<double> p90,
                           std::optional<double> km) {
  EXPECT_EQ(s.count, count);
  EXPECT_EQ(s.censored, censored);
  auto near = [](std::optional<double> got, std::optional<double> want,
                 const char* what) {
    ASSERT_EQ(got.has_value(), want.has_value()) << what;
    if (want.has_value()) {
      EXPECT_NEAR(*got, *want, 1e-9) << what;
    }
  };
  near(s.mean_days, mean, "mean");
  near(s.median_days, median, "median");
  near(s.p90_days, p90, "p90");
  near(s.km_median_days, km, "km_median");
}

// Expected figures, by hand. Grouped by priority.
inline void ExpectScenarioFigures(const KpiReport& report) {
  const KpiRow& t = report.total;
  // Remediated in (-90, 0]: E1 (10 d), E2 (30 d), E5 (78 d); E7 is before.
  // mean 118/3; median 30; p90 type 7: h = 2*0.9 = 1.8 -> 30 + 0.8*48.
  // KM: events 10, 30, 78; censored (open at as_of, by age) E10 5, E4 20,
  // E6 70, E3 100. At risk 7: t=5 c (6 left); t=10 S=5/6; t=20 c;
  // t=30 S=5/6*3/4=0.625; t=70 c; t=78 S=0.625*1/2=0.3125 <= 0.5 -> 78.
  ExpectDuration(t.time_to_remediate, 3, 4, 118.0 / 3, 30, 68.4, 78);
  // Mitigated in the window: E4 (5 d); E3 at -95 is before it. Censored:
  // open and not mitigated: E6 (70), E10 (5). KM: t=5 one event of 3 at
  // risk, S=2/3; never <= 0.5 -> not reached.
  ExpectDuration(t.time_to_mitigate, 1, 2, 5, 5, 5, std::nullopt);
  EXPECT_EQ(t.remediated_in_window, 3);
  EXPECT_EQ(t.remediated_on_time, 1);  // E1 (-50 <= -45)
  EXPECT_EQ(t.open_past_due, 1);       // E3; E6 is accepted
  ASSERT_TRUE(t.sla_compliance.has_value());
  EXPECT_DOUBLE_EQ(*t.sla_compliance, 1.0 / 4);
  EXPECT_EQ(t.open, 4);      // E3, E4, E6, E10
  EXPECT_EQ(t.age_0_30, 2);  // E10 5, E4 20
  EXPECT_EQ(t.age_31_60, 0);
  EXPECT_EQ(t.age_61_90, 1);    // E6 70
  EXPECT_EQ(t.age_over_90, 1);  // E3 100
  EXPECT_EQ(t.recurred, 1);     // E2: reopened 5 days after remediation
  ASSERT_TRUE(t.recurrence_rate.has_value());
  EXPECT_DOUBLE_EQ(*t.recurrence_rate, 1.0 / 3);
  EXPECT_EQ(t.mitigation_debt, 2);  // E3 (review -10), E6 (until -5)
  EXPECT_DOUBLE_EQ(t.mitigation_debt_days, 15);
  EXPECT_DOUBLE_EQ(t.residual_risk_sum, 10);  // 2 + 1 + 3 + 4
  ASSERT_TRUE(t.residual_risk_mean.has_value());
  EXPECT_DOUBLE_EQ(*t.residual_risk_mean, 2.5);

  ASSERT_EQ(report.rows.size(), 3u);
  const KpiRow& p1 = report.rows[0];
  EXPECT_EQ(p1.priority, "p1");
  EXPECT_EQ(p1.kind, "");
  // E1 10, E2 30; censored E10 5, E3 100. KM: t=5 c; t=10 S=2/3;
  // t=30 S=2/3*1/2=1/3 -> 30. p90 = 10 + 0.9*20.
  ExpectDuration(p1.time_to_remediate, 2, 2, 20, 20, 28, 30);
  EXPECT_EQ(p1.open_past_due, 1);
  EXPECT_DOUBLE_EQ(*p1.sla_compliance, 1.0 / 3);
  EXPECT_DOUBLE_EQ(*p1.recurrence_rate, 0.5);
  EXPECT_EQ(p1.mitigation_debt, 1);
  EXPECT_DOUBLE_EQ(p1.mitigation_debt_days, 10);
  EXPECT_DOUBLE_EQ(p1.residual_risk_sum, 6);
  EXPECT_DOUBLE_EQ(*p1.residual_risk_mean, 3);

  const KpiRow& p2 = report.rows[1];
  EXPECT_EQ(p2.priority, "p2");
  // E5 78; censored E4 20, E6 70: t=20 c, t=70 c, t=78 S=0 -> 78.
  ExpectDuration(p2.time_to_remediate, 1, 2, 78, 78, 78, 78);
  EXPECT_EQ(p2.remediated_on_time, 0);
  EXPECT_EQ(p2.open_past_due, 0);
  EXPECT_DOUBLE_EQ(*p2.sla_compliance, 0);  // 0 / (1 + 0)
  EXPECT_EQ(p2.mitigation_debt, 1);
  EXPECT_DOUBLE_EQ(p2.mitigation_debt_days, 5);
  EXPECT_DOUBLE_EQ(*p2.residual_risk_mean, 2);  // (1 + 3) / 2

  const KpiRow& p3 = report.rows[2];  // only E8, a false positive
  EXPECT_EQ(p3.priority, "p3");
  EXPECT_EQ(p3.open, 0);
  EXPECT_EQ(p3.remediated_in_window, 0);
  EXPECT_FALSE(p3.sla_compliance.has_value());
  EXPECT_FALSE(p3.residual_risk_mean.has_value());
}

}  // namespace treatd::ledger::testing

#endif  // TREATD_TESTS_COMMON_LEDGER_KPI_SCENARIO_H_
