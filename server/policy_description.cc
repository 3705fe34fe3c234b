#include "server/policy_description.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/digest/sha256.h"
#include "common/policy/loader/yaml_proto.h"
#include "common/time/proto_time.h"

namespace treatd {

void DescribePolicy(const ActivePolicy& active, v1::GetPolicyResponse* out) {
  const v1::Policy& policy = active.policy->policy();
  *out->mutable_policy() = active.policy->ref();
  out->set_description(policy.description());
  out->set_source(active.source);
  ToProtoTime(active.loaded_at, out->mutable_loaded_at());
  for (const v1::Rule& rule : policy.rules()) {
    v1::RuleSummary* summary = out->add_rules();
    summary->set_id(rule.id());
    summary->set_description(rule.description());
    summary->set_treatment(rule.treatment());
    summary->set_when(rule.when());
  }
  for (const v1::Priority& priority : policy.priorities()) {
    out->add_priorities(priority.name());
  }
  for (const v1::DecisionTable& table : policy.tables()) {
    out->add_tables(table.name());
  }
  for (const v1::PolicyException& exception : policy.exceptions()) {
    out->add_exceptions(exception.id());
  }
}

void CheckPolicyDocument(absl::string_view content, absl::string_view filename,
                         v1::ValidatePolicyResponse* out) {
  const absl::string_view name = filename.empty() ? "policy.yaml" : filename;
  std::vector<v1::PolicyIssue> issues;
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> compiled =
      CompiledPolicy::Compile(content, name, &issues);
  out->set_valid(compiled.ok());
  if (compiled.ok()) {
    *out->mutable_policy() = (*compiled)->ref();
  } else {
    // Expression or reference errors still leave a well-formed document
    // whose name and version help the caller tell which policy failed.
    v1::Policy parsed;
    std::vector<v1::PolicyIssue> parse_issues;
    if (YamlToMessage(content, name, &parsed, nullptr, &parse_issues).ok()) {
      out->mutable_policy()->set_name(parsed.name());
      out->mutable_policy()->set_version(parsed.version());
      out->mutable_policy()->set_digest(
          absl::StrCat("sha256:", Sha256Hex(content)));
    }
    if (issues.empty()) {
      // The compiler promises issues with every failure; keep its message if
      // it ever does not, so the caller is never told "invalid" with no why.
      v1::PolicyIssue* issue = out->add_issues();
      issue->set_severity(v1::ISSUE_SEVERITY_ERROR);
      issue->set_file(std::string(name));
      issue->set_message(std::string(compiled.status().message()));
    }
  }
  for (v1::PolicyIssue& issue : issues) *out->add_issues() = std::move(issue);
}

}  // namespace treatd
