// What-if comparison of two policies over the same findings: how many
// decisions change, grouped by (treatment, priority) transition, which
// findings moved, and the remediation workload per deadline bucket under
// each policy. Shared by the server's Simulate RPC and `treatctl policy
// diff`; no gRPC.
//
// SimulationBuilder is thread-compatible (one thread at a time); Simulate()
// is stateless and safe to call concurrently with const pipelines.
#ifndef TREATD_COMMON_POLICY_SIMULATE_SIMULATE_H_
#define TREATD_COMMON_POLICY_SIMULATE_SIMULATE_H_

#include <map>
#include <string>
#include <tuple>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "common/validation/finding_validator.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/simulation.pb.h"

namespace treatd {

// True when the two decisions differ in treatment or priority: what
// "changed" means in reports and "diverged" in shadow evaluation.
bool DecisionsDiffer(const v1::Decision& a, const v1::Decision& b);

// Adds `decision` (evaluated at `as_of`) to its deadline bucket.
void CountWorkload(const v1::Decision& decision, absl::Time as_of,
                   v1::DeadlineWorkload* workload);

class SimulationBuilder {
 public:
  // Lists at most `max_moved` moved findings (all are counted).
  explicit SimulationBuilder(int max_moved) : max_moved_(max_moved) {}

  // Adds one finding's decisions; either may be null when that policy could
  // not decide it (the finding then counts as an error).
  void Add(const std::string& finding_id, const v1::Decision* baseline,
           const v1::Decision* candidate, absl::Time as_of);

  // The report so far; transitions largest first (ties in key order).
  v1::SimulationReport Finish() const;

 private:
  using Key = std::tuple<int, std::string, int, std::string>;
  const int max_moved_;
  v1::SimulationReport report_;
  std::map<Key, int> transitions_;
};

// Validates every finding (with `limits`) and decides it under both
// pipelines at `options`, then compares. Findings that fail validation or
// that either policy cannot decide count as errors.
v1::SimulationReport Simulate(const DecisionPipeline& baseline,
                              const DecisionPipeline& candidate,
                              absl::Span<const v1::Finding* const> findings,
                              const EvalOptions& options,
                              const FindingLimits& limits, int max_moved);

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_SIMULATE_SIMULATE_H_
