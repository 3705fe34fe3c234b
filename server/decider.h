// The work behind each TreatmentService method, in absl types only: request
// checks, finding validation, evaluation and policy descriptions. The gRPC
// handlers in treatment_service.h are thin wrappers over these functions, so
// a faster transport (async/callback API) can reuse them unchanged.
//
// Stateless functions; thread-safe as long as their arguments are not
// mutated concurrently.
#ifndef TREATD_SERVER_DECIDER_H_
#define TREATD_SERVER_DECIDER_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "common/validation/finding_validator.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/policy_store.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// The evaluation time of a request: `as_of` when the request set it
// (`has_as_of`), else `now`. INVALID_ARGUMENT naming `field` when `as_of`
// is outside the range google.protobuf.Timestamp allows.
absl::StatusOr<absl::Time> ResolveAsOf(bool has_as_of,
                                       const google::protobuf::Timestamp& as_of,
                                       absl::Time now,
                                       absl::string_view field = "as_of");

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

// Sets `result` to an ItemError carrying `status` (which must not be OK).
void SetItemError(const absl::Status& status, v1::DecisionResult* result);

// Describes `active` for GetPolicy.
void DescribePolicy(const ActivePolicy& active, v1::GetPolicyResponse* out);

// Compiles `content` without activating it and reports every issue, and the
// policy's name, version and digest whenever the document parsed.
// `filename` names the document in issue positions ("policy.yaml" when
// empty).
void CheckPolicyDocument(absl::string_view content, absl::string_view filename,
                         v1::ValidatePolicyResponse* out);

}  // namespace treatd

#endif  // TREATD_SERVER_DECIDER_H_
