// Building a CompiledPolicy: from YAML text or a file, through the loader
// and the compiler (policy_compiler.cc). Evaluation starts in evaluate.cc.
#include "common/policy/engine/compiled_policy.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/digest/sha256.h"
#include "common/io/read_file.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/engine/policy_compiler.h"
#include "common/policy/loader/yaml_proto.h"
#include "common/status/status_macros.h"

namespace treatd {

CompiledPolicy::CompiledPolicy(std::unique_ptr<CompiledPolicyImpl> impl)
    : impl_(std::move(impl)) {}

CompiledPolicy::~CompiledPolicy() = default;

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> CompiledPolicy::Compile(
    absl::string_view yaml, absl::string_view filename,
    std::vector<v1::PolicyIssue>* issues) {
  std::vector<v1::PolicyIssue> found;
  v1::Policy policy;
  SourceMap source_map;
  // The loader's problems and the compiler's are reported together, so the
  // compiler runs even when the YAML had errors.
  (void)YamlToMessage(yaml, filename, &policy, &source_map, &found);
  auto impl = CompilePolicy(policy, source_map, filename, &found);
  std::vector<v1::PolicyIssue> errors;
  for (const auto& issue : found) {
    if (issue.severity() == v1::ISSUE_SEVERITY_ERROR) errors.push_back(issue);
  }
  if (issues != nullptr)
    issues->insert(issues->end(), found.begin(), found.end());
  if (!errors.empty() || !impl.ok()) {
    return absl::InvalidArgumentError(errors.empty()
                                          ? std::string(impl.status().message())
                                          : FormatIssues(errors));
  }
  (*impl)->ref.set_name(policy.name());
  (*impl)->ref.set_version(policy.version());
  (*impl)->ref.set_digest(absl::StrCat("sha256:", Sha256Hex(yaml)));
  return std::shared_ptr<const CompiledPolicy>(
      new CompiledPolicy(*std::move(impl)));
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
CompiledPolicy::CompileFile(const std::string& path,
                            std::vector<v1::PolicyIssue>* issues) {
  TREATD_ASSIGN_OR_RETURN(std::string yaml, ReadFileToString(path, "policy"));
  return Compile(yaml, path, issues);
}

EvaluationMemo::EvaluationMemo() : data_(std::make_unique<Data>()) {}

EvaluationMemo::~EvaluationMemo() = default;

absl::string_view EvaluationMemo::core_key() const { return data_->core_key; }

std::string CompiledPolicy::DescribeCoreKey() const {
  const CoreProjection& projection = impl_->core_projection;
  return projection.enabled ? projection.Describe() : std::string();
}

const v1::PolicyRef& CompiledPolicy::ref() const { return impl_->ref; }

const v1::Policy& CompiledPolicy::policy() const { return impl_->policy; }

}  // namespace treatd
