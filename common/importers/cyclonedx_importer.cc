// CycloneDX 1.4 and later BOMs and VEX documents: one finding per
// vulnerabilities[] entry and affected component (affects[].ref), with the
// component resolved by bom-ref.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/importers/format_importers.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

// What every vulnerability of the BOM shares.
struct BomContext {
  std::string source;
  std::string asset_name;
  v1::AssetType asset_type = v1::ASSET_TYPE_UNSPECIFIED;
  absl::flat_hash_map<std::string, JsonNode> components_by_ref;
  std::optional<JsonNode> timestamp;
  // For VEX statements: serialNumber and the first author, manufacturer or
  // supplier named in metadata.
  std::string serial_number;
  std::string author;
};

v1::AssetType AssetTypeFromComponentType(absl::string_view type) {
  if (type == "container") return v1::ASSET_TYPE_CONTAINER_IMAGE;
  if (type == "application" || type == "framework" || type == "library") {
    return v1::ASSET_TYPE_APPLICATION;
  }
  if (type == "operating-system" || type == "platform") {
    return v1::ASSET_TYPE_HOST;
  }
  return v1::ASSET_TYPE_UNSPECIFIED;
}

// The CVSS version a rating method names, or nullopt when the method is not
// CVSS (OWASP, SSVC, other).
std::optional<absl::string_view> VersionFromMethod(absl::string_view method) {
  if (method == "CVSSv31") return "3.1";
  if (method == "CVSSv3") return "3.0";
  if (method == "CVSSv4" || method == "CVSSv40") return "4.0";
  if (method == "CVSSv2") return "2.0";
  return std::nullopt;
}

// CycloneDX analysis.state as a VEX status, so one policy condition on
// `vex.status` covers every format; nullopt for an unknown state.
std::optional<v1::VexStatus> VexStatusFromState(absl::string_view state) {
  if (state == "resolved" || state == "resolved_with_pedigree") {
    return v1::VEX_STATUS_FIXED;
  }
  if (state == "exploitable") return v1::VEX_STATUS_AFFECTED;
  if (state == "in_triage") return v1::VEX_STATUS_UNDER_INVESTIGATION;
  if (state == "false_positive" || state == "not_affected") {
    return v1::VEX_STATUS_NOT_AFFECTED;
  }
  return std::nullopt;
}

// The author of the BOM's statements: metadata.authors[0], else the
// manufacturer (1.6: manufacturer, earlier: manufacture), else the supplier.
absl::StatusOr<std::string> BomAuthor(const JsonNode& metadata) {
  TREATD_ASSIGN_OR_RETURN(std::string author,
                          metadata["authors"][0]["name"].OptionalString());
  for (const char* key : {"manufacturer", "manufacture", "supplier"}) {
    if (!author.empty()) break;
    TREATD_ASSIGN_OR_RETURN(author, metadata[key]["name"].OptionalString());
  }
  return author;
}

// Indexes components (nested ones too) by bom-ref.
absl::Status IndexComponents(const JsonNode& components, BomContext& bom) {
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> list,
                          components.OptionalArray());
  for (const JsonNode& component : list) {
    TREATD_RETURN_IF_ERROR(component.ExpectObject());
    TREATD_ASSIGN_OR_RETURN(std::string ref,
                            component["bom-ref"].OptionalString());
    if (!ref.empty()) bom.components_by_ref.try_emplace(ref, component);
    TREATD_RETURN_IF_ERROR(IndexComponents(component["components"], bom));
  }
  return absl::OkStatus();
}

// The name of the tool that wrote the BOM: metadata.tools is a list in 1.4
// and an object with components/services from 1.5 on.
absl::StatusOr<std::string> ToolName(const JsonNode& tools) {
  JsonNode first = tools.IsArray() ? tools[0] : tools["components"][0];
  return first["name"].OptionalString();
}

absl::Status SetPackage(const JsonNode& component, absl::string_view ref,
                        v1::Package* package) {
  std::string purl;
  if (!component.IsMissing()) {
    TREATD_ASSIGN_OR_RETURN(std::string name,
                            component["name"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(std::string group,
                            component["group"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(std::string version,
                            component["version"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(purl, component["purl"].OptionalString());
    package->set_name(group.empty() || !ParsePackageUrl(purl).has_value()
                          ? name
                          : PackageNameFromPurl(*ParsePackageUrl(purl)));
    package->set_installed_version(version);
  } else {
    purl = std::string(ref);  // A ref outside this BOM may still be a purl.
  }
  std::optional<PackageUrl> parsed = ParsePackageUrl(purl);
  if (parsed.has_value()) {
    package->set_purl(purl);
    package->set_ecosystem(EcosystemFromPurlType(parsed->type));
    if (package->name().empty())
      package->set_name(PackageNameFromPurl(*parsed));
    if (package->installed_version().empty()) {
      package->set_installed_version(parsed->version);
    }
  }
  return absl::OkStatus();
}

// Maps what one vulnerabilities[] entry says, apart from the affected
// component, into `finding`.
absl::Status MapVulnerability(const JsonNode& entry, const BomContext& bom,
                              ImportContext& context, v1::Finding* finding,
                              std::string* id) {
  TREATD_RETURN_IF_ERROR(entry.ExpectObject());
  finding->set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding->set_source(bom.source);
  finding->mutable_asset()->set_name(bom.asset_name);
  finding->mutable_asset()->set_type(bom.asset_type);
  if (bom.timestamp.has_value()) {
    SetTimestampOrWarn(*bom.timestamp, context, finding->mutable_last_seen());
  }
  v1::Vulnerability& vulnerability = *finding->mutable_vulnerability();

  TREATD_ASSIGN_OR_RETURN(*id, entry["id"].RequiredString());
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> references,
                          entry["references"].OptionalArray());
  std::vector<std::string> ids = {*id};
  for (const JsonNode& reference : references) {
    TREATD_ASSIGN_OR_RETURN(std::string alias,
                            reference["id"].RequiredString());
    ids.push_back(alias);
  }
  std::string cve = *id;
  for (const std::string& candidate : ids) {
    if (IsCveId(candidate)) {
      cve = candidate;
      break;
    }
  }
  vulnerability.set_cve_id(cve);
  for (const std::string& alias : ids) {
    if (alias != cve) AddUnique(alias, vulnerability.mutable_aliases());
  }

  // Ratings: CVSS ones compete for Finding.vulnerability.cvss; the severity
  // is the chosen rating's, else the first rating that states one.
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> ratings,
                          entry["ratings"].OptionalArray());
  std::vector<CvssCandidate> candidates;
  std::vector<std::string> candidate_severities;
  std::string first_severity;
  for (const JsonNode& rating : ratings) {
    TREATD_RETURN_IF_ERROR(rating.ExpectObject());
    TREATD_ASSIGN_OR_RETURN(std::string method,
                            rating["method"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(std::string severity,
                            rating["severity"].OptionalString());
    if (first_severity.empty()) first_severity = severity;
    std::optional<absl::string_view> version = VersionFromMethod(method);
    if (!version.has_value()) continue;
    CvssCandidate candidate;
    candidate.version = *version;
    TREATD_ASSIGN_OR_RETURN(candidate.source,
                            rating["source"]["name"].OptionalStringView());
    TREATD_ASSIGN_OR_RETURN(candidate.score, rating["score"].OptionalNumber());
    TREATD_ASSIGN_OR_RETURN(candidate.vector,
                            rating["vector"].OptionalStringView());
    candidates.push_back(std::move(candidate));
    candidate_severities.push_back(severity);
  }
  std::string severity_word = first_severity;
  if (const CvssCandidate* best = PreferredCvss(candidates)) {
    SetCvss(*best, vulnerability.mutable_cvss());
    SetAttribute(kAttrCvssSource, best->source, finding);
    const std::string& best_severity =
        candidate_severities[best - candidates.data()];
    if (!best_severity.empty()) severity_word = best_severity;
  }
  std::optional<v1::Severity> severity = SeverityFromWord(severity_word);
  if (severity.has_value()) {
    finding->set_severity(*severity);
  } else {
    context.Warn(entry["ratings"].Error(
        absl::StrCat("unknown severity \"", severity_word, "\"")));
  }

  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> cwes,
                          entry["cwes"].OptionalArray());
  for (const JsonNode& cwe : cwes) {
    TREATD_ASSIGN_OR_RETURN(std::optional<double> number, cwe.OptionalNumber());
    if (number.has_value()) {
      AddUnique(absl::StrCat("CWE-", static_cast<int64_t>(*number)),
                vulnerability.mutable_cwe_ids());
    }
  }

  TREATD_ASSIGN_OR_RETURN(std::string description,
                          entry["description"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::string detail, entry["detail"].OptionalString());
  finding->set_description(description.empty() ? detail : description);
  TREATD_ASSIGN_OR_RETURN(std::string recommendation,
                          entry["recommendation"].OptionalString());
  SetAttribute("recommendation", recommendation, finding);
  TREATD_ASSIGN_OR_RETURN(std::string source_url,
                          entry["source"]["url"].OptionalString());
  SetAttribute(kAttrPrimaryUrl, source_url, finding);
  SetTimestampOrWarn(entry["published"], context,
                     vulnerability.mutable_published());

  // The VEX part: the analysis of whether the product is affected.
  JsonNode analysis = entry["analysis"];
  TREATD_ASSIGN_OR_RETURN(std::string state,
                          analysis["state"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::string justification,
                          analysis["justification"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::vector<std::string> responses,
                          analysis["response"].OptionalStringArray());
  TREATD_ASSIGN_OR_RETURN(std::string analysis_detail,
                          analysis["detail"].OptionalString());
  SetAttribute("cyclonedx.analysis.state", state, finding);
  SetAttribute("cyclonedx.analysis.response", absl::StrJoin(responses, ","),
               finding);
  if (!state.empty()) {
    std::optional<v1::VexStatus> vex_status = VexStatusFromState(state);
    if (!vex_status.has_value()) {
      context.Warn(analysis["state"].Error(absl::StrCat(
          "unknown analysis state \"", state,
          "\": expected resolved, resolved_with_pedigree, exploitable, "
          "in_triage, false_positive or not_affected")));
    } else {
      v1::Vex& vex = *finding->mutable_vex();
      vex.set_status(*vex_status);
      SetVexJustification(justification, analysis["justification"], context,
                          &vex);
      // The detail explains a not-affected verdict; otherwise it is a note.
      if (*vex_status == v1::VEX_STATUS_NOT_AFFECTED) {
        vex.set_impact_statement(analysis_detail);
      } else {
        vex.set_status_notes(analysis_detail);
      }
      TREATD_ASSIGN_OR_RETURN(std::string workaround,
                              entry["workaround"].OptionalString());
      vex.set_action_statement(recommendation);
      vex.set_mitigation_statement(workaround);
      JsonNode updated = analysis["lastUpdated"];
      SetVexTimestamp(!updated.IsMissing()
                          ? updated
                          : (!analysis["firstIssued"].IsMissing()
                                 ? analysis["firstIssued"]
                                 : bom.timestamp.value_or(JsonNode::Missing(
                                       "$.metadata.timestamp"))),
                      context, &vex);
      vex.set_document_id(bom.serial_number);
      vex.set_author(bom.author);
    }
  }

  v1::FixAvailability availability = v1::FIX_AVAILABILITY_UNSPECIFIED;
  if (state == "resolved" || state == "resolved_with_pedigree") {
    availability = v1::FIX_AVAILABILITY_AVAILABLE;
  }
  for (const std::string& response : responses) {
    if (response == "update" || response == "rollback") {
      availability = v1::FIX_AVAILABILITY_AVAILABLE;
    } else if (response == "will_not_fix" &&
               availability == v1::FIX_AVAILABILITY_UNSPECIFIED) {
      availability = v1::FIX_AVAILABILITY_WONT_FIX;
    } else if (response == "can_not_fix" &&
               availability == v1::FIX_AVAILABILITY_UNSPECIFIED) {
      availability = v1::FIX_AVAILABILITY_NOT_AVAILABLE;
    }
  }
  finding->mutable_fix()->set_availability(availability);
  return absl::OkStatus();
}

}  // namespace

absl::Status ImportCycloneDx(const JsonNode& root, ImportContext& context) {
  TREATD_RETURN_IF_ERROR(root.ExpectObject());
  TREATD_ASSIGN_OR_RETURN(std::string bom_format,
                          root["bomFormat"].RequiredString());
  if (bom_format != "CycloneDX") {
    return root["bomFormat"].Error(
        absl::StrCat("expected \"CycloneDX\", got \"", bom_format, "\""));
  }
  BomContext bom;
  JsonNode metadata = root["metadata"];
  TREATD_ASSIGN_OR_RETURN(std::string tool, ToolName(metadata["tools"]));
  bom.source = tool.empty() ? "cyclonedx" : absl::AsciiStrToLower(tool);
  JsonNode subject = metadata["component"];
  TREATD_ASSIGN_OR_RETURN(bom.asset_name, subject["name"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::string subject_type,
                          subject["type"].OptionalString());
  bom.asset_type = AssetTypeFromComponentType(subject_type);
  TREATD_ASSIGN_OR_RETURN(std::string subject_ref,
                          subject["bom-ref"].OptionalString());
  if (!subject_ref.empty())
    bom.components_by_ref.try_emplace(subject_ref, subject);
  TREATD_RETURN_IF_ERROR(IndexComponents(root["components"], bom));
  JsonNode timestamp = metadata["timestamp"];
  if (!timestamp.IsMissing()) bom.timestamp = timestamp;
  TREATD_ASSIGN_OR_RETURN(bom.serial_number,
                          root["serialNumber"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(bom.author, BomAuthor(metadata));

  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> vulnerabilities,
                          root["vulnerabilities"].OptionalArray());
  for (const JsonNode& entry : vulnerabilities) {
    v1::Finding base;
    std::string id;
    absl::Status status = MapVulnerability(entry, bom, context, &base, &id);
    if (!status.ok()) {
      context.Skip(status);
      continue;
    }
    absl::StatusOr<std::vector<JsonNode>> affects =
        entry["affects"].OptionalArray();
    if (!affects.ok()) {
      context.Skip(affects.status());
      continue;
    }
    if (affects->empty()) {
      // A vulnerability of the BOM's subject as a whole.
      base.set_title(id);
      std::string cve = base.vulnerability().cve_id();
      context.AddFinding(std::move(base), cve, {id, bom.asset_name},
                         entry.path());
      continue;
    }
    for (const JsonNode& affected : *affects) {
      v1::Finding finding = base;
      absl::StatusOr<std::string> ref = affected["ref"].RequiredString();
      if (!ref.ok()) {
        context.Skip(ref.status());
        continue;
      }
      auto component = bom.components_by_ref.find(*ref);
      absl::Status package_status =
          SetPackage(component == bom.components_by_ref.end()
                         ? JsonNode::Missing(affected["ref"].path())
                         : component->second,
                     *ref, finding.mutable_package());
      if (!package_status.ok()) {
        context.Skip(package_status);
        continue;
      }
      SetAttribute(kAttrTarget, *ref, &finding);
      // Copies: `finding` is moved into AddFinding with the identity.
      v1::Package package = finding.package();
      finding.set_title(
          DefaultTitle(id, package.name(), package.installed_version()));
      std::string cve = finding.vulnerability().cve_id();
      context.AddFinding(std::move(finding), cve,
                         {id, *ref, package.name(), package.installed_version(),
                          package.purl(), bom.asset_name},
                         affected.path());
    }
  }
  return absl::OkStatus();
}

}  // namespace treatd::importers
