// DecisionPipeline: everything that decides a finding, as one immutable
// snapshot: the compiled policy, the revisit analyzer derived from it, and
// the threat-intel feeds (optional) with the settings for using them.
// Deciding runs: enrich a copy of the finding from the feeds (facts the
// caller sent win unless `feed_wins`), evaluate the policy with the feeds'
// freshness visible as `intel.*`, record which facts came from which feed,
// then add revisit conditions to MITIGATE/ACCEPT decisions.
//
// Used by the server (one pipeline per active snapshot, swapped whole on
// reload) and by `treatctl policy eval`/`policy diff` offline.
//
// Immutable after Create(): Decide() is const and safe to call from any
// number of threads. Holders keep it in a std::shared_ptr<const ...>.
#ifndef TREATD_COMMON_POLICY_PIPELINE_DECISION_PIPELINE_H_
#define TREATD_COMMON_POLICY_PIPELINE_DECISION_PIPELINE_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/revisit/revisit.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {

// How the feeds are used.
struct IntelSettings {
  // A feed entry replaces facts the caller sent (see intel::EnrichOptions).
  bool feed_wins = false;
  // Feeds older than this are stale; zero means no limit.
  absl::Duration max_age = absl::ZeroDuration();
};

class DecisionPipeline {
 public:
  // `policy` must not be null; `intel` may be (no enrichment: findings are
  // decided as sent and decisions carry no IntelRef). INVALID_ARGUMENT for
  // a null policy; INTERNAL if the revisit analysis fails (a bug).
  static absl::StatusOr<std::shared_ptr<const DecisionPipeline>> Create(
      std::shared_ptr<const CompiledPolicy> policy,
      std::shared_ptr<const intel::IntelSnapshot> intel,
      IntelSettings settings);

  DecisionPipeline(const DecisionPipeline&) = delete;
  DecisionPipeline& operator=(const DecisionPipeline&) = delete;

  // Decides `finding` (which must have passed ValidateFinding) into
  // `*decision`; under options.view BASIC without intel and revisit
  // conditions (and what the engine leaves out). Returns the engine's status
  // (OK, or INTERNAL when the policy cannot decide, the revisit analysis
  // included); on error `*decision` is left empty.
  absl::Status Decide(const v1::Finding& finding, const EvalOptions& options,
                      v1::Decision* decision) const;

  const CompiledPolicy& policy() const { return *policy_; }
  const std::shared_ptr<const CompiledPolicy>& shared_policy() const {
    return policy_;
  }
  // The feeds, or nullptr.
  const std::shared_ptr<const intel::IntelSnapshot>& intel() const {
    return intel_;
  }
  const IntelSettings& settings() const { return settings_; }
  const RevisitAnalyzer& revisit() const { return *revisit_; }

 private:
  DecisionPipeline(std::shared_ptr<const CompiledPolicy> policy,
                   std::shared_ptr<const RevisitAnalyzer> revisit,
                   std::shared_ptr<const intel::IntelSnapshot> intel,
                   IntelSettings settings);

  // Constant after construction.
  const std::shared_ptr<const CompiledPolicy> policy_;
  const std::shared_ptr<const RevisitAnalyzer> revisit_;
  const std::shared_ptr<const intel::IntelSnapshot> intel_;
  const IntelSettings settings_;
};

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_PIPELINE_DECISION_PIPELINE_H_
