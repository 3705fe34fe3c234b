// OpenVEX 0.2: one statement per decided vulnerability finding.
#include <ostream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/digest/sha256.h"
#include "common/exporters/decision_fields.h"
#include "common/exporters/document_writers.h"
#include "common/exporters/openvex.h"
#include "nlohmann/json.hpp"

namespace treatd::exporters {
namespace internal {
namespace {

using Json = nlohmann::ordered_json;

// Percent-encodes what may not appear in a URN's specific string.
std::string UrnEscape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || absl::StrContains("-._~:/@+", c)) {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%",
                      absl::AsciiStrToUpper(
                          absl::BytesToHexString(absl::string_view(&c, 1))));
    }
  }
  return out;
}

// The product a statement is about: the asset, with the package's purl as
// its subcomponent; the purl alone when there is no asset.
Json Product(const v1::Finding& finding, absl::string_view finding_id) {
  const std::string asset = AssetLabel(finding);
  const std::string& purl = finding.package().purl();
  std::string asset_iri;
  if (!asset.empty()) {
    asset_iri = absl::StartsWith(asset, "pkg:")
                    ? asset
                    : absl::StrCat("urn:treatd:asset:", UrnEscape(asset));
  }
  Json product = Json::object();
  if (!asset_iri.empty()) {
    product["@id"] = asset_iri;
    if (!purl.empty() && purl != asset_iri) {
      product["subcomponents"] = Json::array({Json{{"@id", purl}}});
    }
  } else if (!purl.empty()) {
    product["@id"] = purl;
  } else {
    product["@id"] = absl::StrCat("urn:treatd:finding:", UrnEscape(finding_id));
  }
  return product;
}

// The FULL controls' descriptions, for the impact statement.
std::string FullControlsText(const v1::Finding& finding) {
  std::vector<std::string> parts;
  for (const v1::CompensatingControl& control :
       finding.compensating_controls()) {
    if (control.effectiveness() != v1::CONTROL_EFFECTIVENESS_FULL) continue;
    std::string type = absl::AsciiStrToLower(absl::StripPrefix(
        v1::ControlType_Name(control.type()), "CONTROL_TYPE_"));
    std::string text = control.description().empty()
                           ? type
                           : absl::StrCat(type, ": ", control.description());
    if (!control.reference().empty()) {
      absl::StrAppend(&text, " (", control.reference(), ")");
    }
    parts.push_back(std::move(text));
  }
  return absl::StrJoin(parts, "; ");
}

// "REMEDIATE (priority P2): Upgrade openssl 3.0.1 → 3.0.7. Remediate by
// 2026-01-15T00:00:00Z."
std::string ActionStatement(const v1::Decision& decision) {
  std::string text = TreatmentName(decision.treatment());
  if (!decision.priority().empty()) {
    absl::StrAppend(&text, " (priority ", decision.priority(), ")");
  }
  std::string actions = ActionsText(decision);
  if (!actions.empty()) absl::StrAppend(&text, ": ", actions);
  absl::StrAppend(&text, ".");
  for (const auto& [label, time] : {std::pair<const char*, std::string>{
                                        "Mitigate by", MitigateBy(decision)},
                                    {"Remediate by", RemediateBy(decision)},
                                    {"Review by", ReviewBy(decision)}}) {
    if (!time.empty()) absl::StrAppend(&text, " ", label, " ", time, ".");
  }
  if (!decision.exception().id().empty() && decision.exception().applied()) {
    absl::StrAppend(&text, " Risk exception ", decision.exception().id(),
                    " applies.");
  }
  return text;
}

Json Statement(const DecidedFinding& decided, const ExportOptions& options,
               absl::Time document_time) {
  const v1::Finding& finding = FindingOf(decided);
  const std::string name = VulnerabilityId(finding);
  Json vulnerability = {{"name", name}};
  Json aliases = Json::array();
  for (const std::string& alias : finding.vulnerability().aliases()) {
    if (!alias.empty() && alias != name) aliases.push_back(alias);
  }
  if (!aliases.empty()) vulnerability["aliases"] = std::move(aliases);

  Json statement = Json::object();
  statement["vulnerability"] = std::move(vulnerability);
  const v1::DecisionResult& result = *decided.result;
  statement["timestamp"] =
      result.has_decision() && result.decision().has_evaluated_at()
          ? FormatTimestamp(result.decision().evaluated_at())
          : Rfc3339(document_time);
  statement["products"] = Json::array({Product(finding, FindingIdOf(decided))});

  VexStatus status = VexStatusFor(decided, options);
  statement["status"] = std::string(VexStatusName(status));
  if (status == VexStatus::kUnderInvestigation) {
    statement["status_notes"] =
        result.has_error() ? absl::StrCat("treatd could not decide: ",
                                          ErrorText(result.error()))
                           : "treatd reached no treatment for this finding";
    return statement;
  }
  const v1::Decision& decision = result.decision();
  if (status == VexStatus::kNotAffected) {
    statement["justification"] = "inline_mitigations_already_exist";
    statement["impact_statement"] = absl::StrCat(
        "Existing compensating controls block exploitation: ",
        FullControlsText(finding), ". treatd decided ",
        TreatmentName(decision.treatment()), " (rule ", decision.matched_rule(),
        ") with residual risk ", FormatScore(decision.residual_risk()), ".");
    if (!decision.reasons().empty()) {
      statement["status_notes"] = absl::StrJoin(decision.reasons(), "; ");
    }
    return statement;
  }
  statement["action_statement"] = ActionStatement(decision);
  if (!decision.reasons().empty()) {
    statement["status_notes"] = absl::StrJoin(decision.reasons(), "; ");
  }
  return statement;
}

}  // namespace

absl::Status WriteOpenVex(absl::Span<const DecidedFinding> decisions,
                          const ExportOptions& options, std::ostream* out) {
  const absl::Time document_time = DocumentTime(decisions, options);
  if (document_time == absl::InfinitePast()) {
    return absl::InvalidArgumentError(
        "OpenVEX needs a document timestamp: set ExportOptions.timestamp "
        "(no decision carries evaluated_at)");
  }
  Json statements = Json::array();
  for (const DecidedFinding& decided : decisions) {
    // VEX speaks about vulnerabilities only: misconfigurations, secrets and
    // malware without a vulnerability id have no statement to make.
    if (VulnerabilityId(FindingOf(decided)).empty()) continue;
    statements.push_back(Statement(decided, options, document_time));
  }
  std::string id = options.document_id;
  if (id.empty()) {
    id = absl::StrCat("urn:treatd:vex:sha256:",
                      Sha256Hex(statements.dump(
                          -1, ' ', false, Json::error_handler_t::replace)));
  }
  Json document = Json::object();
  document["@context"] = "https://openvex.dev/ns/v0.2.0";
  document["@id"] = id;
  document["author"] = options.author;
  document["timestamp"] = Rfc3339(document_time);
  document["version"] = options.document_version;
  document["tooling"] =
      options.tool_version.empty()
          ? options.tool_name
          : absl::StrCat(options.tool_name, " ", options.tool_version);
  document["statements"] = std::move(statements);
  *out << document.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
  out->flush();
  return StreamStatus(*out);
}

}  // namespace internal

VexStatus VexStatusFor(const DecidedFinding& decided,
                       const ExportOptions& options) {
  if (decided.result == nullptr || !decided.result->has_decision()) {
    return VexStatus::kUnderInvestigation;
  }
  const v1::Decision& decision = decided.result->decision();
  switch (decision.treatment()) {
    case v1::TREATMENT_ACCEPT:
    case v1::TREATMENT_MITIGATE: {
      bool full_control = false;
      for (const v1::CompensatingControl& control :
           internal::FindingOf(decided).compensating_controls()) {
        if (control.effectiveness() == v1::CONTROL_EFFECTIVENESS_FULL) {
          full_control = true;
        }
      }
      if (full_control &&
          decision.residual_risk() < options.not_affected_max_residual_risk) {
        return VexStatus::kNotAffected;
      }
      return VexStatus::kAffected;
    }
    case v1::TREATMENT_REMEDIATE:
    case v1::TREATMENT_MITIGATE_THEN_REMEDIATE:
      return VexStatus::kAffected;
    default:
      return VexStatus::kUnderInvestigation;
  }
}

absl::string_view VexStatusName(VexStatus status) {
  switch (status) {
    case VexStatus::kNotAffected:
      return "not_affected";
    case VexStatus::kAffected:
      return "affected";
    case VexStatus::kFixed:
      return "fixed";
    case VexStatus::kUnderInvestigation:
      return "under_investigation";
  }
  return "under_investigation";
}

}  // namespace treatd::exporters
