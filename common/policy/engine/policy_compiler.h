// Validates a parsed Policy and compiles it into a CompiledPolicyImpl:
// structure (ids, required fields, references, durations), every
// expression (type-checked against treatd.v1.Finding), decision tables and
// templates, and cycles between lets, tables and risk scores. Every problem
// is reported, each with its file position, element id and document path.
//
// The work is split by job: policy_compiler_internal.h lists the files.
//
// Thread safety: CompilePolicy() is reentrant; each call has its own
// compiler.
#ifndef TREATD_COMMON_POLICY_ENGINE_POLICY_COMPILER_H_
#define TREATD_COMMON_POLICY_ENGINE_POLICY_COMPILER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/loader/yaml_proto.h"
#include "treatd/v1/policy.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// Compiles `policy` (already converted from YAML; `source_map` gives node
// positions, `filename` names the file in issues). Appends every error and
// warning to `issues`. Returns the compiled policy when no error was found,
// otherwise INVALID_ARGUMENT (the issues say what is wrong).
absl::StatusOr<std::unique_ptr<CompiledPolicyImpl>> CompilePolicy(
    const v1::Policy& policy, const SourceMap& source_map,
    absl::string_view filename, std::vector<v1::PolicyIssue>* issues);

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_ENGINE_POLICY_COMPILER_H_
