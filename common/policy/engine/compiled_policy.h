// CompiledPolicy: a treatment policy loaded from YAML, type-checked against
// treatd.v1.Finding and compiled once, ready to decide findings.
//
// Thread safety: a CompiledPolicy is immutable after Compile() returns.
// Evaluate() is const, takes no locks and may be called from any number of
// threads at once. Servers hold the active policy in a
// std::shared_ptr<const CompiledPolicy> that readers copy and a reloader
// swaps; an evaluation keeps its policy alive for as long as it runs.
//
// This library never links gRPC.
#ifndef TREATD_COMMON_POLICY_ENGINE_COMPILED_POLICY_H_
#define TREATD_COMMON_POLICY_ENGINE_COMPILED_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/policy.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// Options of one evaluation.
struct EvalOptions {
  // The evaluation time: `now` in expressions, the start of SLA clocks for
  // findings without first_seen, the reference for exception expiry.
  absl::Time as_of;
  // When true, Decision.trace lists every rule tried and why it did or did
  // not match.
  bool trace = false;
  // The threat-intel context the policy reads as `intel.stale`,
  // `intel.kev_age` and `intel.epss_age`, set by whoever enriched the
  // finding (intel::EnrichFinding's freshness report). The defaults mean
  // "no feeds": not stale, ages zero.
  bool intel_stale = false;
  absl::Duration intel_kev_age = absl::ZeroDuration();
  absl::Duration intel_epss_age = absl::ZeroDuration();
  // Which fields of the decision to build (treatment_service.proto's
  // DecisionView): BASIC leaves out, and does not compute, the actions,
  // reasons, deadline sources, table inputs and the
  // exception's details; the pipeline also leaves out intel and revisit
  // conditions. UNSPECIFIED means FULL.
  v1::DecisionView view = v1::DECISION_VIEW_FULL;

  // Whether the engine may reuse the decision core (rule, priority,
  // matching exceptions, risk, table outcomes) of an earlier finding with
  // the same projection: the facts the policy's rules, exceptions, risk
  // and tables read (see docs/performance.md). The decision is the same
  // byte for byte either way; false runs every expression, for tests and
  // benchmarks that compare the two. Ignored with `trace`, which needs
  // every rule's condition run and explained.
  bool use_core_cache = true;

  // True when the view asks for the whole decision.
  bool full() const { return view != v1::DECISION_VIEW_BASIC; }
};

// What the rules and exceptions alone decide for a finding: the part of a
// decision that says which treatment applies and why, without deadlines,
// actions, reasons, risk, table outcomes or id.
struct TreatmentOutcome {
  v1::Treatment treatment = v1::TREATMENT_UNSPECIFIED;
  // The priority's name (valid while the policy lives) and 1-based rank.
  absl::string_view priority;
  int priority_rank = 0;
  // The rule that matched, or "default"; valid while the policy lives.
  absl::string_view matched_rule;
  v1::MatchKind match_kind = v1::MATCH_KIND_UNSPECIFIED;
};

// Facts a caller may change between deciding a finding and deciding a
// variation of it (the revisit analysis does), as bits.
enum FactBits : uint32_t {
  kFactFixAvailability = 1u << 0,  // fix.availability
  kFactKevListed = 1u << 1,        // vulnerability.kev.listed
  kFactEpssScore = 1u << 2,        // vulnerability.epss.score
  kFactExposure = 1u << 3,         // asset.exposure
  kFactAsOf = 1u << 4,             // EvalOptions.as_of (`now`)
  kAllFacts = ~0u,
};

// The lets, tables and risk scores an Evaluate() computed while choosing
// the rule, kept so that DecideTreatment() on a variation of the same
// finding reuses those that do not depend on the changed facts. Valid
// while that finding lives unchanged. Reusable: Evaluate() overwrites it.
// Not thread-safe; one per thread.
class EvaluationMemo {
 public:
  EvaluationMemo();
  ~EvaluationMemo();
  EvaluationMemo(const EvaluationMemo&) = delete;
  EvaluationMemo& operator=(const EvaluationMemo&) = delete;

  // Bytes that identify what the decision core of the finding last
  // evaluated into this memo depends on: the policy's process-wide id and
  // every fact its rules, priority expressions, exceptions, risk scores
  // and tables can read (but `now`, which is not in it). Empty when that
  // evaluation did not go through the core cache (EvalOptions::
  // use_core_cache off, a trace, a thread without a cache, a bypass).
  // Two findings with equal non-empty keys, decided at the same as_of with
  // the same intel options, have the same DecideTreatment() outcome, and
  // so do their variations that change one fact the same way (the key
  // holds every fact Choose() reads, so a variation's key follows from the
  // finding's and the change). The revisit analysis keys its memo on it.
  absl::string_view core_key() const;

  // The engine's view (compiled_policy_impl.h).
  struct Data;
  Data& data() { return *data_; }
  const Data& data() const { return *data_; }

 private:
  std::unique_ptr<Data> data_;
};

class CompiledPolicyImpl;  // Defined in compiled_policy.cc.

class CompiledPolicy {
 public:
  // Parses `yaml` (a treatd.v1.Policy document), checks every expression
  // against the Finding schema and compiles it. `filename` is used in issue
  // positions only.
  //
  // On success returns the policy; warnings, if any, are appended to
  // `issues` when it is non-null. On failure returns INVALID_ARGUMENT whose
  // message lists every error as "file:line:col: [element] message", one per
  // line, and appends every issue (errors and warnings) to `issues`.
  static absl::StatusOr<std::shared_ptr<const CompiledPolicy>> Compile(
      absl::string_view yaml, absl::string_view filename,
      std::vector<v1::PolicyIssue>* issues = nullptr);

  // Reads `path` and calls Compile(). NOT_FOUND / PERMISSION_DENIED when the
  // file cannot be read, FAILED_PRECONDITION for a directory, another code
  // from errno (common/io/read_file.h) for other read errors.
  static absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompileFile(
      const std::string& path, std::vector<v1::PolicyIssue>* issues = nullptr);

  ~CompiledPolicy();
  CompiledPolicy(const CompiledPolicy&) = delete;
  CompiledPolicy& operator=(const CompiledPolicy&) = delete;

  // Decides `finding`, writing the decision into `*decision` (which is
  // cleared first): the whole decision, or the fields of options.view. The
  // finding must have passed ValidateFinding(); the engine does not
  // re-validate. Returns OK, or INTERNAL when the policy cannot decide (e.g. a
  // table with no matching row and no default); the message names the rule or
  // table, and `*decision` is left empty (Clear()). Deterministic: the same
  // finding, policy and options give the same decision, byte for byte.
  //
  // When `memo` is not null it receives the values computed while choosing
  // the rule, for DecideTreatment().
  absl::Status Evaluate(const v1::Finding& finding, const EvalOptions& options,
                        v1::Decision* decision,
                        EvaluationMemo* memo = nullptr) const;

  // Decides only the treatment of `finding`: the same rule, exception,
  // treatment and priority Evaluate() would choose, at a fraction of its
  // cost. For callers that decide many variations of one finding (the
  // revisit analysis). Same preconditions and errors as Evaluate(), except
  // that errors of later steps (deadlines, tables) are not detected.
  //
  // With `base`, filled by Evaluate() of a finding that differs from this
  // one only in the facts `changed` names (FactBits; the rest of the
  // finding and options equal), values that do not depend on those facts
  // are taken from `base` instead of being computed again.
  absl::Status DecideTreatment(const v1::Finding& finding,
                               const EvalOptions& options,
                               TreatmentOutcome* outcome,
                               const EvaluationMemo* base = nullptr,
                               uint32_t changed = kAllFacts) const;

  // The facts the engine keys reused decision cores on (EvalOptions::
  // use_core_cache), e.g. "kind, asset.exposure, vulnerability.cve_id (== 2
  // constants), now"; empty when this policy's cores are not reused (its
  // rules read the finding's id).
  std::string DescribeCoreKey() const;

  // Name, version and "sha256:<hex>" digest of the source document.
  const v1::PolicyRef& ref() const;
  // The policy document as loaded.
  const v1::Policy& policy() const;

 private:
  explicit CompiledPolicy(std::unique_ptr<CompiledPolicyImpl> impl);
  std::unique_ptr<CompiledPolicyImpl> impl_;
};

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_ENGINE_COMPILED_POLICY_H_
