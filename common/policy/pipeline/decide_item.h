// One finding of a request decided into its answer: validated first (step 1
// of docs/policy-language.md), then decided, with a bad or undecidable
// finding turned into the item's own error. The server's Decide,
// BatchDecide and StreamDecide and treatctl's offline `policy eval` and
// `policy test` all answer this way, so they answer alike.
//
// Stateless functions; thread-safe as long as their arguments are not
// mutated concurrently (pipelines and policies are immutable).
#ifndef TREATD_COMMON_POLICY_PIPELINE_DECIDE_ITEM_H_
#define TREATD_COMMON_POLICY_PIPELINE_DECIDE_ITEM_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "common/validation/finding_validator.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// Validates `finding` (field paths start with `field_prefix`) and, when it
// is valid, decides it with `pipeline` (enrichment, policy, revisit
// conditions). Returns the decision status: OK, the
// validation error (INVALID_ARGUMENT / RESOURCE_EXHAUSTED) or the engine's
// error. On error, `violations` (may be null) receives the offending fields.
absl::Status DecideFinding(
    const DecisionPipeline& pipeline, const v1::Finding& finding,
    const EvalOptions& options, const FindingLimits& limits,
    absl::string_view field_prefix, v1::Decision* decision,
    google::protobuf::RepeatedPtrField<v1::FieldViolation>* violations);

// Like DecideFinding, but writes the outcome into `result` (finding id and a
// decision or an ItemError). Never fails: errors become the item's error.
void DecideInto(const DecisionPipeline& pipeline, const v1::Finding& finding,
                const EvalOptions& options, const FindingLimits& limits,
                absl::string_view field_prefix, v1::DecisionResult* result);

// As above with `policy` alone: no feed enrichment, no revisit conditions
// (`treatctl policy test`, whose cases state their facts).
void DecideInto(const CompiledPolicy& policy, const v1::Finding& finding,
                const EvalOptions& options, const FindingLimits& limits,
                absl::string_view field_prefix, v1::DecisionResult* result);

// Sets `result` to an ItemError carrying `status` (which must not be OK).
void SetItemError(const absl::Status& status, v1::DecisionResult* result);

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_PIPELINE_DECIDE_ITEM_H_
