#include "common/policy/simulate/simulate.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/time/proto_time.h"

namespace treatd {

bool DecisionsDiffer(const v1::Decision& a, const v1::Decision& b) {
  return a.treatment() != b.treatment() || a.priority() != b.priority();
}

void CountWorkload(const v1::Decision& decision, absl::Time as_of,
                   v1::DeadlineWorkload* workload) {
  if (!decision.has_remediate_by()) {
    workload->set_no_remediation_deadline(workload->no_remediation_deadline() +
                                          1);
    return;
  }
  const absl::Time due = FromProtoTime(decision.remediate_by());
  const absl::Duration left = due - as_of;
  if (left <= absl::Hours(24 * 3)) {
    workload->set_within_3_days(workload->within_3_days() + 1);
  } else if (left <= absl::Hours(24 * 14)) {
    workload->set_within_14_days(workload->within_14_days() + 1);
  } else if (left <= absl::Hours(24 * 60)) {
    workload->set_within_60_days(workload->within_60_days() + 1);
  } else {
    workload->set_beyond_60_days(workload->beyond_60_days() + 1);
  }
}

void SimulationBuilder::Add(const std::string& finding_id,
                            const v1::Decision* baseline,
                            const v1::Decision* candidate, absl::Time as_of) {
  report_.set_findings(report_.findings() + 1);
  if (baseline == nullptr || candidate == nullptr) {
    report_.set_errors(report_.errors() + 1);
    return;
  }
  CountWorkload(*baseline, as_of, report_.mutable_baseline_workload());
  CountWorkload(*candidate, as_of, report_.mutable_candidate_workload());
  if (!DecisionsDiffer(*baseline, *candidate)) {
    report_.set_unchanged(report_.unchanged() + 1);
    return;
  }
  report_.set_changed(report_.changed() + 1);
  ++transitions_[Key(baseline->treatment(), baseline->priority(),
                     candidate->treatment(), candidate->priority())];
  if (report_.moved_size() >= max_moved_) {
    report_.set_moved_truncated(true);
    return;
  }
  v1::MovedFinding* moved = report_.add_moved();
  moved->set_finding_id(finding_id);
  moved->set_from_treatment(baseline->treatment());
  moved->set_from_priority(baseline->priority());
  moved->set_from_rule(baseline->matched_rule());
  moved->set_to_treatment(candidate->treatment());
  moved->set_to_priority(candidate->priority());
  moved->set_to_rule(candidate->matched_rule());
}

v1::SimulationReport SimulationBuilder::Finish() const {
  v1::SimulationReport report = report_;
  std::vector<std::pair<Key, int>> sorted(transitions_.begin(),
                                          transitions_.end());
  std::stable_sort(
      sorted.begin(), sorted.end(),
      [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [key, count] : sorted) {
    v1::TreatmentTransition* t = report.add_transitions();
    t->set_from_treatment(static_cast<v1::Treatment>(std::get<0>(key)));
    t->set_from_priority(std::get<1>(key));
    t->set_to_treatment(static_cast<v1::Treatment>(std::get<2>(key)));
    t->set_to_priority(std::get<3>(key));
    t->set_count(count);
  }
  return report;
}

v1::SimulationReport Simulate(const DecisionPipeline& baseline,
                              const DecisionPipeline& candidate,
                              absl::Span<const v1::Finding* const> findings,
                              const EvalOptions& options,
                              const FindingLimits& limits, int max_moved) {
  SimulationBuilder builder(max_moved);
  v1::Decision a;
  v1::Decision b;
  for (const v1::Finding* f : findings) {
    const v1::Finding& finding = *f;
    const bool valid =
        ValidateFinding(finding, limits, "finding", nullptr).ok();
    const bool a_ok = valid && baseline.Decide(finding, options, &a).ok();
    const bool b_ok = valid && candidate.Decide(finding, options, &b).ok();
    builder.Add(finding.id(), a_ok ? &a : nullptr, b_ok ? &b : nullptr,
                options.as_of);
  }
  return builder.Finish();
}

}  // namespace treatd
