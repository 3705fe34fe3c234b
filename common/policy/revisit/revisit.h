// RevisitAnalyzer: derives the revisit conditions of a MITIGATE or ACCEPT
// decision, i.e. the changes of facts that would alter its treatment, so an
// orchestrator can re-submit the finding when one of them happens.
//
// The conditions come from the policy itself rather than from a fixed list
// of rules: the finding is decided again with one fact changed at a time
// (fix available, CVE listed in KEV, each other asset exposure, and the
// EPSS score raised to each threshold the policy compares the score with,
// lowest first) and every change that alters the treatment becomes a
// condition. Exception expiry and the review date are added from the
// decision. Cost: one extra evaluation per flipped fact, about 3 + (number
// of exposure values) + (EPSS thresholds above the current score) for
// MITIGATE/ACCEPT decisions only; none for other treatments.
//
// A finding with a VEX statement is also decided with the statement
// revised to each other status (not_affected, affected, fixed,
// under_investigation); a finding whose statement is still under
// investigation gets these conditions whatever its treatment, and at least
// one saying to decide again once the final status is known.
//
// Immutable after Create(): AddConditions() is const and safe to call from
// any number of threads.
#ifndef TREATD_COMMON_POLICY_REVISIT_REVISIT_H_
#define TREATD_COMMON_POLICY_REVISIT_REVISIT_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/policy/engine/compiled_policy.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {

// An EPSS score the policy compares `vulnerability.epss.score` against.
struct EpssThreshold {
  double value = 0;
  // True when reaching `value` is enough (`>=`, `<`); false when the score
  // must exceed it (`>`, `<=`, `==`, `!=`).
  bool inclusive = true;

  friend bool operator==(const EpssThreshold& a, const EpssThreshold& b) {
    return a.value == b.value && a.inclusive == b.inclusive;
  }
};

class RevisitAnalyzer {
 public:
  // Scans every expression of `policy` (lets, table inputs, risk, rules,
  // exceptions, action conditions) for EPSS score thresholds. `policy` must
  // not be null and is shared, not copied. Fails only with INTERNAL when an
  // expression of the compiled policy does not parse (a bug).
  static absl::StatusOr<std::shared_ptr<const RevisitAnalyzer>> Create(
      std::shared_ptr<const CompiledPolicy> policy);

  RevisitAnalyzer(const RevisitAnalyzer&) = delete;
  RevisitAnalyzer& operator=(const RevisitAnalyzer&) = delete;

  // The EPSS thresholds found, ascending, without duplicates.
  const std::vector<EpssThreshold>& epss_thresholds() const {
    return epss_thresholds_;
  }

  // When `decision` (decided by this analyzer's policy from `finding` at
  // `options`) is MITIGATE or ACCEPT, or the finding's VEX status is
  // under investigation, appends its revisit conditions to
  // decision->revisit_conditions; otherwise does nothing. Returns the
  // engine's error if a re-evaluation fails; conditions found before the
  // error stay. `base` (optional), filled when `decision` was evaluated,
  // lets each variation reuse what does not depend on the changed fact.
  //
  // When `base` carries a core key (EvaluationMemo::core_key()), the
  // variations' outcomes are kept per thread under that key, the as_of,
  // the decision's treatment and exception, and the finding's facts that
  // choose which variations are tried; a later finding with the same key
  // replays them and builds only the conditions' texts (which quote the
  // finding). The conditions are the same either way.
  absl::Status AddConditions(const v1::Finding& finding,
                             const EvalOptions& options, v1::Decision* decision,
                             const EvaluationMemo* base = nullptr) const;

  // Analyses by this thread that replayed a kept one, for tests and
  // benchmarks.
  static uint64_t ThreadReplays();

 private:
  RevisitAnalyzer(std::shared_ptr<const CompiledPolicy> policy,
                  std::vector<EpssThreshold> thresholds);

  // Constant after construction.
  const std::shared_ptr<const CompiledPolicy> policy_;
  const std::vector<EpssThreshold> epss_thresholds_;
};

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_REVISIT_REVISIT_H_
