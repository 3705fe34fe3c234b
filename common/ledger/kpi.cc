#include "common/ledger/kpi.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "common/expr/runtime/value.h"

namespace treatd::ledger {
namespace {

constexpr double kMicrosPerDay = 86400.0 * 1e6;
constexpr int64_t kMicrosPerWholeDay = int64_t{86400} * 1000000;

double Days(int64_t micros) {
  return static_cast<double>(micros) / kMicrosPerDay;
}

// Sample quantile with linear interpolation between closest ranks
// (Hyndman–Fan type 7, numpy's default). `sorted` is ascending, non-empty.
double Quantile(const std::vector<double>& sorted, double p) {
  double h = (static_cast<double>(sorted.size()) - 1) * p;
  size_t lo = static_cast<size_t>(std::floor(h));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// Kaplan–Meier median: the smallest event time t with S(t) <= 0.5, where
// S(t) = prod over event times t_i <= t of (1 - d_i / n_i), d_i events at
// t_i and n_i durations >= t_i (censored at t_i still at risk). nullopt when
// S never reaches 0.5.
std::optional<double> KaplanMeierMedian(std::vector<double> events,
                                        std::vector<double> censored) {
  std::vector<std::pair<double, bool>> all;  // (time, is_event)
  for (double t : events) all.emplace_back(t, true);
  for (double t : censored) all.emplace_back(t, false);
  std::sort(all.begin(), all.end());
  double survival = 1.0;
  size_t at_risk = all.size();
  size_t i = 0;
  while (i < all.size()) {
    const double t = all[i].first;
    size_t deaths = 0, leaving = 0;
    while (i < all.size() && all[i].first == t) {
      if (all[i].second) ++deaths;
      ++leaving;
      ++i;
    }
    if (deaths > 0) {
      survival *= 1.0 - static_cast<double>(deaths) / at_risk;
      if (survival <= 0.5) return t;
    }
    at_risk -= leaving;
  }
  return std::nullopt;
}

// Durations of one group, collected before the statistics are taken.
struct Samples {
  std::vector<double> remediate;           // completed, days
  std::vector<double> remediate_censored;  // still open at as_of
  std::vector<double> mitigate;
  std::vector<double> mitigate_censored;
};

DurationStats Stats(std::vector<double> done, std::vector<double> censored) {
  DurationStats stats;
  stats.count = static_cast<int64_t>(done.size());
  stats.censored = static_cast<int64_t>(censored.size());
  if (!done.empty()) {
    std::sort(done.begin(), done.end());
    double sum = 0;
    for (double d : done) sum += d;
    stats.mean_days = sum / static_cast<double>(done.size());
    stats.median_days = Quantile(done, 0.5);
    stats.p90_days = Quantile(done, 0.9);
  }
  stats.km_median_days =
      KaplanMeierMedian(std::move(done), std::move(censored));
  return stats;
}

std::optional<double> Ratio(int64_t numerator, int64_t denominator) {
  if (denominator == 0) return std::nullopt;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

std::string KindName(v1::FindingKind kind) {
  return absl::AsciiStrToLower(
      expr::EnumShortName(v1::FindingKind_descriptor(), kind));
}

// Adds one episode to a group's counters and samples.
void AddEpisode(const KpiQuery& q, const EpisodeRow& e, KpiRow& row,
                Samples& s) {
  const int64_t as_of = absl::ToUnixMicros(q.as_of);
  const int64_t start = absl::ToUnixMicros(q.as_of - q.window);
  const int64_t within = absl::ToInt64Microseconds(q.recurrence_within);

  const bool closed = e.closed_us != 0 && e.closed_us <= as_of;
  const bool open = !closed;
  const bool remediated_in_window =
      e.closed_remediated && e.closed_us > start && e.closed_us <= as_of;
  const bool mitigated_by_as_of =
      e.mitigated_us != 0 && e.mitigated_us <= as_of;
  const bool accepted = e.accepted_us != 0 && e.accepted_us <= as_of;

  if (remediated_in_window) {
    ++row.remediated_in_window;
    s.remediate.push_back(Days(e.closed_us - e.opened_us));
    if (e.remediate_by_us == 0 || e.closed_us <= e.remediate_by_us) {
      ++row.remediated_on_time;
    }
    if (e.reopened_us != 0 && e.reopened_us <= as_of &&
        e.reopened_us - e.closed_us <= within) {
      ++row.recurred;
    }
  }
  if (mitigated_by_as_of && e.mitigated_us > start) {
    s.mitigate.push_back(Days(e.mitigated_us - e.opened_us));
  }
  if (!open) return;

  ++row.open;
  s.remediate_censored.push_back(Days(as_of - e.opened_us));
  if (!mitigated_by_as_of) {
    s.mitigate_censored.push_back(Days(as_of - e.opened_us));
  }
  if (!accepted && e.remediate_by_us != 0 && e.remediate_by_us < as_of) {
    ++row.open_past_due;
  }
  const int64_t age_days = (as_of - e.opened_us) / kMicrosPerWholeDay;
  if (age_days <= 30) {
    ++row.age_0_30;
  } else if (age_days <= 60) {
    ++row.age_31_60;
  } else if (age_days <= 90) {
    ++row.age_61_90;
  } else {
    ++row.age_over_90;
  }
  if ((mitigated_by_as_of || accepted) && e.review_by_us != 0 &&
      e.review_by_us < as_of) {
    ++row.mitigation_debt;
    row.mitigation_debt_days += Days(as_of - e.review_by_us);
  }
  row.residual_risk_sum += e.residual_risk;
}

void FinishRow(Samples& s, KpiRow& row) {
  row.time_to_remediate =
      Stats(std::move(s.remediate), std::move(s.remediate_censored));
  row.time_to_mitigate =
      Stats(std::move(s.mitigate), std::move(s.mitigate_censored));
  row.sla_compliance = Ratio(row.remediated_on_time,
                             row.remediated_in_window + row.open_past_due);
  row.recurrence_rate = Ratio(row.recurred, row.remediated_in_window);
  if (row.open > 0) {
    row.residual_risk_mean =
        row.residual_risk_sum / static_cast<double>(row.open);
  }
}

}  // namespace

absl::Status ValidateKpiQuery(const KpiQuery& query) {
  if (query.as_of == absl::InfinitePast() ||
      query.as_of == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("as_of: unset; required");
  }
  if (query.window <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("window: must be positive");
  }
  if (query.recurrence_within <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("recurrence_within: must be positive");
  }
  return absl::OkStatus();
}

struct KpiBuilder::Groups {
  using Key = std::tuple<std::string, std::string, std::string>;
  std::map<Key, std::pair<KpiRow, Samples>> by_key;
  KpiRow total;
  Samples total_samples;
  bool by_priority = false, by_kind = false, by_owner = false;
  int64_t as_of_us = 0, start_us = 0;
};

KpiBuilder::KpiBuilder(const KpiQuery& query)
    : query_(query), groups_(std::make_unique<Groups>()) {
  auto grouped = [&query](KpiGroupBy g) {
    return std::find(query.group_by.begin(), query.group_by.end(), g) !=
           query.group_by.end();
  };
  groups_->by_priority = grouped(KpiGroupBy::kPriority);
  groups_->by_kind = grouped(KpiGroupBy::kKind);
  groups_->by_owner = grouped(KpiGroupBy::kOwner);
  groups_->as_of_us = absl::ToUnixMicros(query.as_of);
  groups_->start_us = absl::ToUnixMicros(query.as_of - query.window);
}

KpiBuilder::~KpiBuilder() = default;

void KpiBuilder::Add(const EpisodeRow& e) {
  Groups& g = *groups_;
  // Not relevant to this window: opened later, or closed before it.
  if (e.opened_us > g.as_of_us ||
      (e.closed_us != 0 && e.closed_us <= g.start_us)) {
    return;
  }
  AddEpisode(query_, e, g.total, g.total_samples);
  if (query_.group_by.empty()) return;
  Groups::Key key{g.by_priority ? e.priority : "",
                  g.by_kind ? KindName(e.kind) : "", g.by_owner ? e.owner : ""};
  auto& [row, samples] = g.by_key[std::move(key)];
  AddEpisode(query_, e, row, samples);
}

KpiReport KpiBuilder::Finish() {
  Groups& g = *groups_;
  KpiReport report;
  report.as_of = query_.as_of;
  report.window = query_.window;
  report.recurrence_within = query_.recurrence_within;
  report.group_by = query_.group_by;
  for (auto& [key, group] : g.by_key) {
    auto& [row, samples] = group;
    std::tie(row.priority, row.kind, row.owner) = key;
    FinishRow(samples, row);
    report.rows.push_back(std::move(row));
  }
  FinishRow(g.total_samples, g.total);
  report.total = std::move(g.total);
  return report;
}

absl::StatusOr<KpiReport> ComputeKpis(const KpiQuery& query,
                                      const std::vector<EpisodeRow>& episodes) {
  absl::Status valid = ValidateKpiQuery(query);
  if (!valid.ok()) return valid;
  KpiBuilder builder(query);
  for (const EpisodeRow& e : episodes) builder.Add(e);
  return builder.Finish();
}

const char* KpiGroupByName(KpiGroupBy group_by) {
  switch (group_by) {
    case KpiGroupBy::kPriority:
      return "priority";
    case KpiGroupBy::kKind:
      return "kind";
    case KpiGroupBy::kOwner:
      return "owner";
  }
  return "unknown";
}

}  // namespace treatd::ledger
