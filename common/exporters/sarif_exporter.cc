// SARIF 2.1.0: a new log of decisions, or decisions added to a scanner's log.
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/exporters/decision_fields.h"
#include "common/exporters/document_writers.h"
#include "common/exporters/sarif.h"
#include "common/finding/attributes.h"
#include "common/importers/importer.h"
#include "common/status/status_macros.h"
#include "re2/re2.h"

namespace treatd::exporters {
namespace {

using Json = nlohmann::ordered_json;

constexpr absl::string_view kSarifSchema =
    "https://json.schemastore.org/sarif-2.1.0.json";
// The importer records where each finding came from (docs/importers.md).
constexpr absl::string_view kImportJsonPath = "import.json_path";

std::string MessageText(const DecidedFinding& decided) {
  const v1::Finding& finding = internal::FindingOf(decided);
  std::string subject =
      finding.title().empty() ? internal::RuleIdOf(finding) : finding.title();
  const v1::DecisionResult& result = *decided.result;
  if (result.has_error()) {
    return absl::StrCat(subject, ": treatd could not decide (",
                        internal::ErrorText(result.error()), ")");
  }
  const v1::Decision& decision = result.decision();
  std::string text = absl::StrCat(
      subject, ": ", internal::TreatmentName(decision.treatment()));
  if (!decision.priority().empty()) {
    absl::StrAppend(&text, " (priority ", decision.priority(), ")");
  }
  std::string actions = internal::ActionsText(decision);
  if (!actions.empty()) absl::StrAppend(&text, ": ", actions);
  absl::StrAppend(&text, ".");
  for (const auto& [label, time] :
       {std::pair<const char*, std::string>{"Mitigate by",
                                            internal::MitigateBy(decision)},
        {"Remediate by", internal::RemediateBy(decision)},
        {"Review by", internal::ReviewBy(decision)}}) {
    if (!time.empty()) absl::StrAppend(&text, " ", label, " ", time, ".");
  }
  return text;
}

// Where the finding is: the package URL, else the asset.
std::string LocationUri(const v1::Finding& finding) {
  if (!finding.package().purl().empty()) return finding.package().purl();
  if (!finding.asset().name().empty()) return finding.asset().name();
  return finding.asset().id();
}

}  // namespace

absl::string_view SarifLevelFor(const v1::DecisionResult& result,
                                const ExportOptions& options) {
  if (!result.has_decision()) return "warning";
  const v1::Decision& decision = result.decision();
  switch (decision.treatment()) {
    case v1::TREATMENT_MITIGATE_THEN_REMEDIATE:
      return "error";
    case v1::TREATMENT_REMEDIATE:
    case v1::TREATMENT_MITIGATE:
      return decision.priority_rank() >= 1 &&
                     decision.priority_rank() <=
                         options.sarif_error_max_priority_rank
                 ? "error"
                 : "warning";
    case v1::TREATMENT_ACCEPT:
      return "note";
    default:
      return "warning";
  }
}

Json SarifDecisionProperties(const DecidedFinding& decided) {
  Json properties = Json::object();
  properties["finding_id"] = internal::FindingIdOf(decided);
  const v1::DecisionResult& result = *decided.result;
  if (result.has_error()) {
    properties["error"] = internal::ErrorText(result.error());
    return properties;
  }
  const v1::Decision& decision = result.decision();
  properties["treatment"] = internal::TreatmentName(decision.treatment());
  properties["priority"] = decision.priority();
  properties["priority_rank"] = decision.priority_rank();
  for (const auto& [key, time] :
       {std::pair<const char*, std::string>{"mitigate_by",
                                            internal::MitigateBy(decision)},
        {"remediate_by", internal::RemediateBy(decision)},
        {"review_by", internal::ReviewBy(decision)}}) {
    if (!time.empty()) properties[key] = time;
  }
  properties["matched_rule"] = decision.matched_rule();
  std::string exception = internal::ExceptionText(decision);
  if (!exception.empty()) properties["exception"] = exception;
  properties["residual_risk"] = decision.residual_risk();
  properties["decision_id"] = decision.decision_id();
  return properties;
}

namespace internal {

absl::Status WriteSarif(absl::Span<const DecidedFinding> decisions,
                        const ExportOptions& options, std::ostream* out) {
  Json rules = Json::array();
  absl::flat_hash_map<std::string, size_t> rule_index;
  Json results = Json::array();
  for (const DecidedFinding& decided : decisions) {
    const v1::Finding& finding = FindingOf(decided);
    std::string rule_id = RuleIdOf(finding);
    auto [it, inserted] = rule_index.try_emplace(rule_id, rules.size());
    if (inserted) {
      Json rule = {{"id", rule_id}};
      if (!finding.title().empty()) {
        rule["shortDescription"] = {{"text", finding.title()}};
      }
      rules.push_back(std::move(rule));
    }
    Json result = Json::object();
    result["ruleId"] = rule_id;
    result["ruleIndex"] = it->second;
    result["level"] = std::string(SarifLevelFor(*decided.result, options));
    result["message"] = {{"text", MessageText(decided)}};
    std::string uri = LocationUri(finding);
    if (!uri.empty()) {
      result["locations"] = Json::array(
          {{{"physicalLocation", {{"artifactLocation", {{"uri", uri}}}}}}});
    }
    result["properties"] = SarifDecisionProperties(decided);
    results.push_back(std::move(result));
  }
  Json driver = {{"name", options.tool_name}};
  if (!options.tool_version.empty()) driver["version"] = options.tool_version;
  driver["rules"] = std::move(rules);
  Json run = Json::object();
  run["tool"] = {{"driver", std::move(driver)}};
  absl::Time time = DocumentTime(decisions, options);
  if (time != absl::InfinitePast()) {
    run["invocations"] = Json::array(
        {{{"executionSuccessful", true}, {"endTimeUtc", Rfc3339(time)}}});
  }
  run["results"] = std::move(results);
  Json log = Json::object();
  log["$schema"] = std::string(kSarifSchema);
  log["version"] = "2.1.0";
  log["runs"] = Json::array({std::move(run)});
  *out << log.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
  out->flush();
  return StreamStatus(*out);
}

}  // namespace internal

absl::StatusOr<SarifAnnotationStats> AnnotateSarif(
    absl::string_view sarif_document,
    absl::Span<const DecidedFinding> decisions, std::ostream* out) {
  for (size_t i = 0; i < decisions.size(); ++i) {
    TREATD_RETURN_IF_ERROR(internal::CheckDecided(decisions[i], i));
  }
  Json document = Json::parse(sarif_document.begin(), sarif_document.end(),
                              nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return absl::InvalidArgumentError("$: SARIF document is not valid JSON");
  }
  TREATD_ASSIGN_OR_RETURN(
      importers::ImportResult imported,
      importers::ImportFindings(sarif_document,
                                importers::ScannerFormat::kSarif));

  absl::flat_hash_map<std::string, const DecidedFinding*> by_id;
  for (const DecidedFinding& decided : decisions) {
    by_id.try_emplace(internal::FindingIdOf(decided), &decided);
    const v1::Finding& finding = internal::FindingOf(decided);
    auto merged = finding.attributes().find(std::string(kAttrMergedIds));
    if (merged == finding.attributes().end()) continue;
    for (absl::string_view id :
         absl::StrSplit(merged->second, ',', absl::SkipEmpty())) {
      by_id.try_emplace(std::string(id), &decided);
    }
  }

  static const LazyRE2 kResultPath = {R"(\$\.runs\[(\d+)\]\.results\[(\d+)\])"};
  SarifAnnotationStats stats;
  for (const v1::Finding& finding : imported.findings) {
    auto path = finding.attributes().find(std::string(kImportJsonPath));
    size_t run_index = 0;
    size_t result_index = 0;
    if (path == finding.attributes().end() ||
        !RE2::FullMatch(path->second, *kResultPath, &run_index,
                        &result_index)) {
      return absl::InternalError(
          absl::StrCat("the SARIF importer gave finding ", finding.id(),
                       " no result path (attribute ", kImportJsonPath, ")"));
    }
    ++stats.results;
    auto decided = by_id.find(finding.id());
    if (decided == by_id.end()) continue;
    Json& result = document["runs"][run_index]["results"][result_index];
    Json& properties = result["properties"];
    if (!properties.is_object()) properties = Json::object();
    Json annotation = SarifDecisionProperties(*decided->second);
    for (auto& [key, value] : annotation.items()) {
      properties[key] = std::move(value);
    }
    ++stats.annotated;
  }
  *out << document.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
  out->flush();
  TREATD_RETURN_IF_ERROR(internal::StreamStatus(*out));
  return stats;
}

}  // namespace treatd::exporters
