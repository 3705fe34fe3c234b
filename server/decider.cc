#include "server/decider.h"

#include <openssl/sha.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/policy/loader/yaml_proto.h"

namespace treatd {
namespace {

// The range google/protobuf/timestamp.proto allows.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

std::string Sha256Digest(absl::string_view content) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(content.data()), content.size(),
         digest);
  return absl::StrCat(
      "sha256:", absl::BytesToHexString(absl::string_view(
                     reinterpret_cast<const char*>(digest), sizeof(digest))));
}

}  // namespace

absl::StatusOr<absl::Time> ResolveAsOf(bool has_as_of,
                                       const google::protobuf::Timestamp& as_of,
                                       absl::Time now,
                                       absl::string_view field) {
  if (!has_as_of) return now;
  if (as_of.seconds() < kMinTimestampSeconds ||
      as_of.seconds() > kMaxTimestampSeconds || as_of.nanos() < 0 ||
      as_of.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ": must be a valid timestamp between 0001-01-01T00:00:00Z and "
        "9999-12-31T23:59:59Z, got seconds=",
        as_of.seconds(), " nanos=", as_of.nanos()));
  }
  return absl::FromUnixSeconds(as_of.seconds()) +
         absl::Nanoseconds(as_of.nanos());
}

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
  result->set_finding_id(finding.id());
  google::protobuf::RepeatedPtrField<v1::FieldViolation> violations;
  absl::Status status =
      DecideFinding(pipeline, finding, options, limits, field_prefix,
                    result->mutable_decision(), &violations);
  if (status.ok()) return;
  SetItemError(status, result);  // Replaces the partial decision.
  result->mutable_error()->mutable_field_violations()->Swap(&violations);
}

void DescribePolicy(const ActivePolicy& active, v1::GetPolicyResponse* out) {
  const v1::Policy& policy = active.policy->policy();
  *out->mutable_policy() = active.policy->ref();
  out->set_description(policy.description());
  out->set_source(active.source);
  ToProto(active.loaded_at, out->mutable_loaded_at());
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
      out->mutable_policy()->set_digest(Sha256Digest(content));
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
