#include "common/ledger/kpi.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "common/expr/runtime/value.h"

namespace treatd::ledger {
namespace {

constexpr double kMicrosPerDay = 86400.0 * 1e6;
constexpr int64_t kMicrosPerWholeDay = int64_t{86400} * 1000000;

double Days(int64_t micros) {
  return static_cast<double>(micros) / kMicrosPerDay;
}

// The same for a sum of durations (exact in 128 bits, rounded once).
double Days(absl::int128 micros) {
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

// Sorts `values` ascending, as std::sort would: the same sequence of
// doubles (NaN never occurs here; -0.0 sorts before +0.0, which changes no
// sum or quantile). A KPI query sorts a million durations or more, where
// std::sort took a fifth of the whole query after the last row arrived;
// an LSD radix sort on the doubles' bits, 16 bits a pass, passes whose
// digit is the same for every value skipped (the exponent of durations of
// similar size), takes a few milliseconds.
void SortAscending(std::vector<double>& values) {
  const size_t n = values.size();
  if (n < 4096) {
    std::sort(values.begin(), values.end());
    return;
  }
  // Bits whose unsigned order is the doubles' order: flip the sign bit of
  // non-negatives, every bit of negatives.
  std::vector<uint64_t> keys(n), scratch(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t bits;
    std::memcpy(&bits, &values[i], sizeof(bits));
    keys[i] = (bits >> 63) != 0 ? ~bits : bits | (uint64_t{1} << 63);
  }
  constexpr int kBits = 16;
  constexpr size_t kBuckets = size_t{1} << kBits;
  std::vector<size_t> counts(kBuckets);
  for (int shift = 0; shift < 64; shift += kBits) {
    std::fill(counts.begin(), counts.end(), 0);
    for (uint64_t key : keys) ++counts[(key >> shift) & (kBuckets - 1)];
    if (counts[(keys[0] >> shift) & (kBuckets - 1)] == n) continue;
    size_t offset = 0;
    for (size_t& count : counts) {
      const size_t c = count;
      count = offset;
      offset += c;
    }
    for (uint64_t key : keys) {
      scratch[counts[(key >> shift) & (kBuckets - 1)]++] = key;
    }
    keys.swap(scratch);
  }
  for (size_t i = 0; i < n; ++i) {
    const uint64_t key = keys[i];
    const uint64_t bits = (key >> 63) != 0 ? key & ~(uint64_t{1} << 63) : ~key;
    std::memcpy(&values[i], &bits, sizeof(bits));
  }
}

// Kaplan–Meier median: the smallest event time t with S(t) <= 0.5, where
// S(t) = prod over event times t_i <= t of (1 - d_i / n_i), d_i events at
// t_i and n_i durations >= t_i (censored at t_i still at risk). nullopt when
// S never reaches 0.5. `events` and `censored` are ascending; they are
// walked together rather than sorted into one list (a KPI query over a
// million findings has as many durations).
std::optional<double> KaplanMeierMedian(const std::vector<double>& events,
                                        const std::vector<double>& censored) {
  double survival = 1.0;
  size_t at_risk = events.size() + censored.size();
  size_t i = 0, j = 0;
  while (i < events.size()) {
    const double t = events[i];
    // Censored before t leave the risk set without an event.
    while (j < censored.size() && censored[j] < t) {
      --at_risk;
      ++j;
    }
    size_t deaths = 0;
    while (i < events.size() && events[i] == t) {
      ++deaths;
      ++i;
    }
    survival *= 1.0 - static_cast<double>(deaths) / at_risk;
    if (survival <= 0.5) return t;
    // Those censored at t were at risk at t; now they leave too.
    at_risk -= deaths;
    while (j < censored.size() && censored[j] == t) {
      --at_risk;
      ++j;
    }
  }
  return std::nullopt;
}

// Values of one group collected before the statistics and sums are taken:
// durations in days, risks of open episodes, days overdue in microseconds.
struct Samples {
  std::vector<double> remediate;           // completed, days
  std::vector<double> remediate_censored;  // still open at as_of
  std::vector<double> mitigate;
  std::vector<double> mitigate_censored;
  std::vector<double> residual_risk;  // open episodes
  absl::int128 debt_us = 0;           // sum of (as_of - review_by)
};

DurationStats Stats(std::vector<double> done, std::vector<double> censored) {
  DurationStats stats;
  stats.count = static_cast<int64_t>(done.size());
  stats.censored = static_cast<int64_t>(censored.size());
  SortAscending(done);
  SortAscending(censored);
  if (!done.empty()) {
    double sum = 0;
    for (double d : done) sum += d;
    stats.mean_days = sum / static_cast<double>(done.size());
    stats.median_days = Quantile(done, 0.5);
    stats.p90_days = Quantile(done, 0.9);
  }
  stats.km_median_days = KaplanMeierMedian(done, censored);
  return stats;
}

std::optional<double> Ratio(int64_t numerator, int64_t denominator) {
  if (denominator == 0) return std::nullopt;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

// "vulnerability" for FINDING_KIND_VULNERABILITY. Names are looked up once:
// this runs for every episode of a KPI query.
const std::string& KindName(v1::FindingKind kind) {
  static const auto* const names = [] {
    auto* out = new std::vector<std::string>;
    for (int k = 0; k <= v1::FindingKind_MAX; ++k) {
      out->push_back(absl::AsciiStrToLower(
          expr::EnumShortName(v1::FindingKind_descriptor(), k)));
    }
    return out;
  }();
  static const std::string unknown = "unknown";
  return kind >= 0 && kind < static_cast<int>(names->size()) ? (*names)[kind]
                                                             : unknown;
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
    s.debt_us += as_of - e.review_by_us;
  }
  s.residual_risk.push_back(e.residual_risk);
}

void FinishRow(Samples& s, KpiRow& row) {
  // Summed in ascending order: the same doubles whatever order the store
  // returned the episodes in.
  SortAscending(s.residual_risk);
  row.residual_risk_sum = 0;
  for (double risk : s.residual_risk) row.residual_risk_sum += risk;
  row.mitigation_debt_days = Days(s.debt_us);
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

// Groups are found by a hash lookup on views of the episode's strings, so
// adding an episode allocates nothing once its group exists (a KPI query
// adds every open episode, a million over a large ledger).
struct KpiBuilder::Groups {
  struct Group {
    std::string priority;
    int kind = kNoKind;
    std::string owner;
    KpiRow row;
    Samples samples;
  };
  // A group's identity; the views point into a Group (or, for a lookup,
  // into the episode being added).
  struct Key {
    absl::string_view priority;
    int kind;
    absl::string_view owner;
    bool operator==(const Key& o) const {
      return kind == o.kind && priority == o.priority && owner == o.owner;
    }
    template <typename H>
    friend H AbslHashValue(H h, const Key& k) {
      return H::combine(std::move(h), k.priority, k.kind, k.owner);
    }
  };
  // `kind` of a group not grouped by kind.
  static constexpr int kNoKind = -1;

  std::deque<Group> groups;  // stable addresses for the keys' views
  absl::flat_hash_map<Key, Group*> by_key;
  KpiRow total;
  Samples total_samples;
  bool by_priority = false, by_kind = false, by_owner = false;
  int64_t as_of_us = 0, start_us = 0;

  Group& Find(absl::string_view priority, v1::FindingKind finding_kind,
              absl::string_view owner) {
    static const absl::string_view kNone;
    int kind = kNoKind;
    if (by_kind) {
      // Kinds this build does not know share the one "unknown" group.
      kind = finding_kind >= 0 && finding_kind <= v1::FindingKind_MAX
                 ? static_cast<int>(finding_kind)
                 : v1::FindingKind_MAX + 1;
    }
    const Key key{by_priority ? priority : kNone, kind,
                  by_owner ? owner : kNone};
    auto it = by_key.find(key);
    if (it != by_key.end()) return *it->second;
    Group& group = groups.emplace_back();
    group.priority = std::string(key.priority);
    group.kind = key.kind;
    group.owner = std::string(key.owner);
    by_key.emplace(Key{group.priority, group.kind, group.owner}, &group);
    return group;
  }
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
  Groups::Group& group = g.Find(e.priority, e.kind, e.owner);
  AddEpisode(query_, e, group.row, group.samples);
}

KpiReport KpiBuilder::Finish() {
  Groups& g = *groups_;
  KpiReport report;
  report.as_of = query_.as_of;
  report.window = query_.window;
  report.recurrence_within = query_.recurrence_within;
  report.group_by = query_.group_by;
  for (Groups::Group& group : g.groups) {
    KpiRow& row = group.row;
    row.priority = std::move(group.priority);
    row.kind = group.kind == Groups::kNoKind
                   ? ""
                   : KindName(static_cast<v1::FindingKind>(group.kind));
    row.owner = std::move(group.owner);
    FinishRow(group.samples, row);
    report.rows.push_back(std::move(row));
  }
  std::sort(report.rows.begin(), report.rows.end(),
            [](const KpiRow& a, const KpiRow& b) {
              return std::tie(a.priority, a.kind, a.owner) <
                     std::tie(b.priority, b.kind, b.owner);
            });
  g.by_key.clear();
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

namespace {

bool SameRow(const KpiRow& a, const KpiRow& b) {
  auto same = [](const DurationStats& x, const DurationStats& y) {
    return x.count == y.count && x.censored == y.censored &&
           x.mean_days == y.mean_days && x.median_days == y.median_days &&
           x.p90_days == y.p90_days && x.km_median_days == y.km_median_days;
  };
  return a.priority == b.priority && a.kind == b.kind && a.owner == b.owner &&
         same(a.time_to_remediate, b.time_to_remediate) &&
         same(a.time_to_mitigate, b.time_to_mitigate) &&
         a.remediated_in_window == b.remediated_in_window &&
         a.remediated_on_time == b.remediated_on_time &&
         a.open_past_due == b.open_past_due &&
         a.sla_compliance == b.sla_compliance && a.open == b.open &&
         a.age_0_30 == b.age_0_30 && a.age_31_60 == b.age_31_60 &&
         a.age_61_90 == b.age_61_90 && a.age_over_90 == b.age_over_90 &&
         a.recurred == b.recurred && a.recurrence_rate == b.recurrence_rate &&
         a.mitigation_debt == b.mitigation_debt &&
         a.mitigation_debt_days == b.mitigation_debt_days &&
         a.residual_risk_sum == b.residual_risk_sum &&
         a.residual_risk_mean == b.residual_risk_mean;
}
}  // namespace

bool SameFigures(const KpiReport& a, const KpiReport& b) {
  if (a.rows.size() != b.rows.size() || !SameRow(a.total, b.total)) {
    return false;
  }
  for (size_t i = 0; i < a.rows.size(); ++i) {
    if (!SameRow(a.rows[i], b.rows[i])) return false;
  }
  return true;
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
