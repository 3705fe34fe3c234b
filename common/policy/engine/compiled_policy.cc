#include "common/policy/engine/compiled_policy.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/engine/digest.h"
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
  TREATD_ASSIGN_OR_RETURN(std::string digest, Sha256Hex({yaml}));
  (*impl)->ref.set_name(policy.name());
  (*impl)->ref.set_version(policy.version());
  (*impl)->ref.set_digest(absl::StrCat("sha256:", digest));
  return std::shared_ptr<const CompiledPolicy>(
      new CompiledPolicy(*std::move(impl)));
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>>
CompiledPolicy::CompileFile(const std::string& path,
                            std::vector<v1::PolicyIssue>* issues) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int err = errno;
    const std::string message =
        absl::StrCat("cannot read policy ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES || err == EPERM)
      return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  std::string yaml;
  char buffer[1 << 14];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) {
    yaml.append(buffer, n);
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) {
    return absl::UnavailableError(absl::StrCat("error reading policy ", path));
  }
  return Compile(yaml, path, issues);
}

absl::Status CompiledPolicy::Evaluate(const v1::Finding& finding,
                                      const EvalOptions& options,
                                      v1::Decision* decision,
                                      EvaluationMemo* memo) const {
  return impl_->Evaluate(finding, options, decision, memo);
}

absl::Status CompiledPolicy::DecideTreatment(const v1::Finding& finding,
                                             const EvalOptions& options,
                                             TreatmentOutcome* outcome,
                                             const EvaluationMemo* base,
                                             uint32_t changed) const {
  return impl_->DecideTreatment(finding, options, outcome, base, changed);
}

EvaluationMemo::EvaluationMemo() : data_(std::make_unique<Data>()) {}

EvaluationMemo::~EvaluationMemo() = default;

const v1::PolicyRef& CompiledPolicy::ref() const { return impl_->ref; }

const v1::Policy& CompiledPolicy::policy() const { return impl_->policy; }

}  // namespace treatd
