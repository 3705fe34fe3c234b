#include "common/policy/pipeline/decide_item.h"

#include <cstdint>
#include <string>

namespace treatd {
namespace {

// Validates, then runs `decide(decision)`; see DecideInto.
template <typename Decide>
void ValidateAndDecideInto(const v1::Finding& finding,
                           const FindingLimits& limits,
                           absl::string_view field_prefix, const Decide& decide,
                           v1::DecisionResult* result) {
  result->set_finding_id(finding.id());
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      ValidateFinding(finding, limits, field_prefix, &violations);
  if (status.ok()) status = decide(result->mutable_decision());
  if (status.ok()) return;
  SetItemError(status, result);  // Replaces the partial decision.
  result->mutable_error()->mutable_field_violations()->Swap(&violations);
}

}  // namespace

absl::Status DecideFinding(
    const DecisionPipeline& pipeline, const v1::Finding& finding,
    const EvalOptions& options, const FindingLimits& limits,
    absl::string_view field_prefix, v1::Decision* decision,
    google::protobuf::RepeatedPtrField<v1::FieldViolation>* violations) {
  absl::Status valid =
      ValidateFinding(finding, limits, field_prefix, violations);
  if (!valid.ok()) return valid;
  return pipeline.Decide(finding, options, decision);
}

void SetItemError(const absl::Status& status, v1::DecisionResult* result) {
  v1::ItemError* error = result->mutable_error();
  error->set_code(static_cast<int32_t>(status.code()));
  error->set_message(std::string(status.message()));
}

void DecideInto(const DecisionPipeline& pipeline, const v1::Finding& finding,
                const EvalOptions& options, const FindingLimits& limits,
                absl::string_view field_prefix, v1::DecisionResult* result) {
  ValidateAndDecideInto(
      finding, limits, field_prefix,
      [&](v1::Decision* decision) {
        return pipeline.Decide(finding, options, decision);
      },
      result);
}

void DecideInto(const CompiledPolicy& policy, const v1::Finding& finding,
                const EvalOptions& options, const FindingLimits& limits,
                absl::string_view field_prefix, v1::DecisionResult* result) {
  ValidateAndDecideInto(
      finding, limits, field_prefix,
      [&](v1::Decision* decision) {
        return policy.Evaluate(finding, options, decision);
      },
      result);
}

}  // namespace treatd
