#include "common/exporters/decision_fields.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/text/treatment_name.h"
#include "common/time/proto_time.h"
#include "common/time/time_text.h"
#include "google/protobuf/util/time_util.h"

namespace treatd::exporters::internal {
namespace {

// The enum value name without its prefix: TREATMENT_REMEDIATE → REMEDIATE.
template <typename Enum>
std::string ShortName(const google::protobuf::EnumDescriptor* descriptor,
                      Enum value, absl::string_view prefix) {
  const google::protobuf::EnumValueDescriptor* value_descriptor =
      descriptor->FindValueByNumber(static_cast<int>(value));
  if (value_descriptor == nullptr || value_descriptor->number() == 0) {
    return "";
  }
  return std::string(absl::StripPrefix(value_descriptor->name(), prefix));
}

}  // namespace

absl::Status CheckDecided(const DecidedFinding& decided, size_t index) {
  if (decided.result == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("decisions[", index, "] has no DecisionResult"));
  }
  return absl::OkStatus();
}

const v1::Finding& FindingOf(const DecidedFinding& decided) {
  return decided.finding != nullptr ? *decided.finding
                                    : v1::Finding::default_instance();
}

std::string FindingIdOf(const DecidedFinding& decided) {
  if (decided.result != nullptr && !decided.result->finding_id().empty()) {
    return decided.result->finding_id();
  }
  return FindingOf(decided).id();
}

std::string TreatmentName(v1::Treatment treatment) {
  // An empty cell, not "UNSPECIFIED", for a decision without a treatment.
  if (treatment == v1::TREATMENT_UNSPECIFIED) return "";
  return std::string(treatd::TreatmentName(treatment));
}

std::string KindName(v1::FindingKind kind) {
  return absl::AsciiStrToLower(
      ShortName(v1::FindingKind_descriptor(), kind, "FINDING_KIND_"));
}

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  char text[kMaxProtoTimestampTextSize];
  const size_t n =
      FormatProtoTimestampText(timestamp.seconds(), timestamp.nanos(), text);
  // Out of range: protobuf's own text for it.
  if (n == 0) return google::protobuf::util::TimeUtil::ToString(timestamp);
  return std::string(text, n);
}

std::string MitigateBy(const v1::Decision& decision) {
  return decision.has_mitigate_by() ? FormatTimestamp(decision.mitigate_by())
                                    : "";
}

std::string RemediateBy(const v1::Decision& decision) {
  return decision.has_remediate_by() ? FormatTimestamp(decision.remediate_by())
                                     : "";
}

std::string ReviewBy(const v1::Decision& decision) {
  return decision.has_review_by() ? FormatTimestamp(decision.review_by()) : "";
}

std::string Rfc3339(absl::Time time) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", time, absl::UTCTimeZone());
}

std::string VulnerabilityId(const v1::Finding& finding) {
  if (!finding.vulnerability().cve_id().empty()) {
    return finding.vulnerability().cve_id();
  }
  for (const std::string& alias : finding.vulnerability().aliases()) {
    if (!alias.empty()) return alias;
  }
  return "";
}

std::string RuleIdOf(const v1::Finding& finding) {
  for (const std::string* candidate :
       {&finding.vulnerability().cve_id(),
        &finding.misconfiguration().check_id(), &finding.secret().secret_type(),
        &finding.malware().family()}) {
    if (!candidate->empty()) return *candidate;
  }
  std::string id = VulnerabilityId(finding);
  if (!id.empty()) return id;
  std::string kind = KindName(finding.kind());
  return kind.empty() ? "finding" : kind;
}

std::string AssetLabel(const v1::Finding& finding) {
  return finding.asset().id().empty() ? finding.asset().name()
                                      : finding.asset().id();
}

std::string ErrorText(const v1::ItemError& error) {
  return absl::StrCat(
      absl::StatusCodeToString(static_cast<absl::StatusCode>(error.code())),
      ": ", error.message());
}

std::string ActionsText(const v1::Decision& decision) {
  return absl::StrJoin(
      decision.actions(), "; ", [](std::string* out, const v1::Action& action) {
        out->append(action.text().empty() ? action.id() : action.text());
      });
}

std::string ExceptionText(const v1::Decision& decision) {
  if (decision.exception().id().empty()) return "";
  return decision.exception().applied()
             ? decision.exception().id()
             : absl::StrCat(decision.exception().id(), " (expired)");
}

std::string FormatScore(double score) { return absl::StrCat(score); }

absl::Time DocumentTime(absl::Span<const DecidedFinding> decisions,
                        const ExportOptions& options) {
  if (options.timestamp != absl::InfinitePast()) return options.timestamp;
  absl::Time latest = absl::InfinitePast();
  for (const DecidedFinding& decided : decisions) {
    if (decided.result == nullptr || !decided.result->has_decision()) continue;
    if (!decided.result->decision().has_evaluated_at()) continue;
    const auto& evaluated = decided.result->decision().evaluated_at();
    absl::Time time = FromProtoTime(evaluated);
    if (time > latest) latest = time;
  }
  return latest;
}

}  // namespace treatd::exporters::internal
