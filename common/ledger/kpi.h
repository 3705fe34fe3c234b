// Ledger KPIs: time to remediate / mitigate, SLA compliance, age, recurrence,
// mitigation debt and residual risk, grouped by priority, kind and owner.
// docs/ledger.md gives the exact formulas; the comments here are summaries.
//
// ComputeKpis (KpiBuilder) is a pure function of the episode rows and the
// query: the same rows and the same as_of/window give the same report (no
// clock is read).
// The stores select the rows (indexed SQL) and this file does the arithmetic,
// so SQLite and PostgreSQL agree to the last digit. The stores return the
// episodes in different orders, so every floating-point figure is computed
// from values whose order does not matter (sorted durations and risks,
// integer microsecond sums).
#ifndef TREATD_COMMON_LEDGER_KPI_H_
#define TREATD_COMMON_LEDGER_KPI_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::ledger {

enum class KpiGroupBy { kPriority, kKind, kOwner };

struct KpiQuery {
  absl::Time as_of = absl::InfinitePast();       // required
  absl::Duration window = absl::Hours(24 * 90);  // (as_of - window, as_of]
  std::vector<KpiGroupBy> group_by;              // empty: one "all" row
  // A remediation counts as recurred when the finding is reopened within
  // this long after it (and by as_of).
  absl::Duration recurrence_within = absl::Hours(24 * 30);
};

// Statistics of durations in days. mean/median/p90 are over completed
// durations only (nullopt when there are none); km_median is the
// Kaplan–Meier median that also counts still-open episodes as censored
// (nullopt when survival never drops to 0.5: "not reached").
struct DurationStats {
  int64_t count = 0;     // completed durations
  int64_t censored = 0;  // still-open episodes counted by Kaplan–Meier
  std::optional<double> mean_days;
  std::optional<double> median_days;
  std::optional<double> p90_days;
  std::optional<double> km_median_days;
};

struct KpiRow {
  // Group values, "" for dimensions not grouped by. priority is the
  // priority name ("" when a finding has none), kind the FindingKind name.
  std::string priority;
  std::string kind;
  std::string owner;

  DurationStats time_to_remediate;
  DurationStats time_to_mitigate;
  int64_t remediated_in_window = 0;
  int64_t remediated_on_time = 0;
  int64_t open_past_due = 0;
  // on_time / (remediated_in_window + open_past_due); nullopt when 0/0.
  std::optional<double> sla_compliance;
  int64_t open = 0;  // open, mitigated or accepted at as_of
  // Age of open episodes at as_of, whole days: 0-30, 31-60, 61-90, >90.
  int64_t age_0_30 = 0;
  int64_t age_31_60 = 0;
  int64_t age_61_90 = 0;
  int64_t age_over_90 = 0;
  int64_t recurred = 0;  // of remediated_in_window, reopened within R
  std::optional<double> recurrence_rate;  // recurred / remediated_in_window
  int64_t mitigation_debt = 0;  // mitigated/accepted, review_by < as_of
  // Sum of (as_of - review_by), summed exactly in microseconds, in days.
  double mitigation_debt_days = 0;
  // Over open episodes, summed in ascending order (so the figure does not
  // depend on the order the store returns them in).
  double residual_risk_sum = 0;
  std::optional<double> residual_risk_mean;
};

struct KpiReport {
  absl::Time as_of;
  absl::Duration window;
  absl::Duration recurrence_within;
  std::vector<KpiGroupBy> group_by;
  std::vector<KpiRow> rows;  // sorted by (priority, kind, owner)
  KpiRow total;              // every episode, ungrouped
};

// One episode of one finding as the KPI arithmetic needs it. Times are
// microseconds since the Unix epoch; 0 = absent.
struct EpisodeRow {
  std::string priority;
  v1::FindingKind kind = v1::FINDING_KIND_UNSPECIFIED;
  std::string owner;
  int64_t opened_us = 0;
  int64_t mitigated_us = 0;
  int64_t accepted_us = 0;
  int64_t closed_us = 0;
  bool closed_remediated = false;  // closed as remediated (not as FP)
  int64_t remediate_by_us = 0;
  int64_t review_by_us = 0;
  int64_t reopened_us = 0;
  double residual_risk = 0;
};

// Checks a query: INVALID_ARGUMENT when as_of is unset or window or
// recurrence_within is not positive.
absl::Status ValidateKpiQuery(const KpiQuery& query);

// Accumulates episodes one at a time (any order; rows not relevant to the
// window are ignored), so a store can stream a million rows without holding
// them: memory grows with the groups and two doubles per relevant episode
// (the medians need the durations). Not thread-safe.
class KpiBuilder {
 public:
  // `query` must be valid (ValidateKpiQuery).
  explicit KpiBuilder(const KpiQuery& query);
  ~KpiBuilder();
  KpiBuilder(const KpiBuilder&) = delete;
  KpiBuilder& operator=(const KpiBuilder&) = delete;

  void Add(const EpisodeRow& episode);
  // The report; the builder is spent afterwards.
  KpiReport Finish();

 private:
  struct Groups;
  const KpiQuery query_;
  std::unique_ptr<Groups> groups_;
};

// The report over `episodes`: a KpiBuilder fed with every row. Errors as
// ValidateKpiQuery.
absl::StatusOr<KpiReport> ComputeKpis(const KpiQuery& query,
                                      const std::vector<EpisodeRow>& episodes);

// Whether two reports have the same rows with exactly the same figures
// (doubles compared with ==: the stores promise identical values, not
// close ones). as_of, window and group_by are not compared.
bool SameFigures(const KpiReport& a, const KpiReport& b);

// "priority", "kind", "owner".
const char* KpiGroupByName(KpiGroupBy group_by);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_KPI_H_
