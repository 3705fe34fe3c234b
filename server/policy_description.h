// Policy descriptions for GetPolicy and ValidatePolicy, in absl and proto
// types only (no gRPC).
//
// Stateless functions; thread-safe as long as their arguments are not
// mutated concurrently.
#ifndef TREATD_SERVER_POLICY_DESCRIPTION_H_
#define TREATD_SERVER_POLICY_DESCRIPTION_H_

#include "absl/strings/string_view.h"
#include "common/policy/engine/compiled_policy.h"
#include "server/policy_store.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// Describes `active` for GetPolicy.
void DescribePolicy(const ActivePolicy& active, v1::GetPolicyResponse* out);

// Compiles `content` without activating it and reports every issue, and the
// policy's name, version and digest whenever the document parsed.
// `filename` names the document in issue positions ("policy.yaml" when
// empty).
void CheckPolicyDocument(absl::string_view content, absl::string_view filename,
                         v1::ValidatePolicyResponse* out);

}  // namespace treatd

#endif  // TREATD_SERVER_POLICY_DESCRIPTION_H_
