// Grype JSON (`grype -o json`): one finding per matches[] entry.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/importers/format_importers.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

constexpr absl::string_view kSource = "grype";

// What every match of the report shares.
struct ReportContext {
  std::string asset_name;
  v1::AssetType asset_type = v1::ASSET_TYPE_UNSPECIFIED;
  std::string source_type;
  const ReportTimestamp* timestamp = nullptr;  // descriptor.timestamp
};

// grype's fix.state → Fix.availability; "unknown" or "" says nothing.
v1::FixAvailability FixFromState(absl::string_view state) {
  if (state == "fixed") return v1::FIX_AVAILABILITY_AVAILABLE;
  if (state == "not-fixed") return v1::FIX_AVAILABILITY_NOT_AVAILABLE;
  if (state == "wont-fix") return v1::FIX_AVAILABILITY_WONT_FIX;
  return v1::FIX_AVAILABILITY_UNSPECIFIED;
}

// Package ecosystem for a grype artifact type, used when there is no PURL.
std::string EcosystemFromArtifactType(absl::string_view type) {
  if (type == "python") return "pypi";
  if (type == "java-archive" || type == "jenkins-plugin") return "maven";
  if (type == "go-module") return "go";
  if (type == "rust-crate") return "cargo";
  if (type == "dotnet") return "nuget";
  if (type == "php-composer") return "composer";
  if (type == "binary") return "generic";
  return std::string(type);
}

// Adds the ratings of a cvss[] array; `default_source` (the record's
// namespace) stands in when a rating names no source. The candidates view
// the document and `default_source`.
absl::Status AddCvss(const JsonNode& array, absl::string_view default_source,
                     std::vector<CvssCandidate>* candidates) {
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> ratings, array.OptionalArray());
  for (const JsonNode& rating : ratings) {
    TREATD_RETURN_IF_ERROR(rating.ExpectObject());
    const JsonMembers fields(rating);
    CvssCandidate candidate;
    TREATD_ASSIGN_OR_RETURN(candidate.source,
                            fields["source"].OptionalStringView());
    if (candidate.source.empty()) candidate.source = default_source;
    TREATD_ASSIGN_OR_RETURN(candidate.version,
                            fields["version"].OptionalStringView());
    TREATD_ASSIGN_OR_RETURN(candidate.vector,
                            fields["vector"].OptionalStringView());
    TREATD_ASSIGN_OR_RETURN(candidate.score,
                            fields["metrics"]["baseScore"].OptionalNumber());
    candidates->push_back(candidate);
  }
  return absl::OkStatus();
}

// Returns the element of `array` whose "cve" is `cve`, else the first, else
// a missing node.
absl::StatusOr<JsonNode> EntryForCve(const JsonNode& array,
                                     absl::string_view cve) {
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> entries, array.OptionalArray());
  if (entries.empty()) return array[0];
  for (const JsonNode& entry : entries) {
    TREATD_RETURN_IF_ERROR(entry.ExpectObject());
    TREATD_ASSIGN_OR_RETURN(absl::string_view entry_cve,
                            entry["cve"].OptionalStringView());
    if (entry_cve == cve) return entry;
  }
  return entries.front();
}

absl::Status SetEpss(const JsonNode& array, absl::string_view cve,
                     ImportContext& context, v1::Vulnerability* vulnerability) {
  TREATD_ASSIGN_OR_RETURN(JsonNode entry, EntryForCve(array, cve));
  if (entry.IsMissing()) return absl::OkStatus();
  TREATD_ASSIGN_OR_RETURN(std::optional<double> score,
                          entry["epss"].OptionalNumber());
  TREATD_ASSIGN_OR_RETURN(std::optional<double> percentile,
                          entry["percentile"].OptionalNumber());
  v1::Epss& epss = *vulnerability->mutable_epss();
  if (score.has_value()) epss.set_score(*score);
  if (percentile.has_value()) epss.set_percentile(*percentile);
  SetTimestampOrWarn(entry["date"], context, epss.mutable_score_date());
  return absl::OkStatus();
}

absl::Status SetKev(const JsonNode& array, absl::string_view cve,
                    ImportContext& context, v1::Vulnerability* vulnerability) {
  TREATD_ASSIGN_OR_RETURN(JsonNode entry, EntryForCve(array, cve));
  if (entry.IsMissing()) return absl::OkStatus();
  v1::Kev& kev = *vulnerability->mutable_kev();
  kev.set_listed(true);
  SetTimestampOrWarn(entry["dateAdded"], context, kev.mutable_date_added());
  SetTimestampOrWarn(entry["dueDate"], context, kev.mutable_due_date());
  TREATD_ASSIGN_OR_RETURN(
      absl::string_view ransomware,
      entry["knownRansomwareCampaignUse"].OptionalStringView());
  kev.set_known_ransomware_use(absl::EqualsIgnoreCase(ransomware, "Known"));
  TREATD_ASSIGN_OR_RETURN(absl::string_view action,
                          entry["requiredAction"].OptionalStringView());
  kev.set_required_action(action.data(), action.size());
  return absl::OkStatus();
}

// Maps one match; `primary_id` gets its CVE id (else the match's id) and
// `key` its identity, views into the document and `report`.
absl::StatusOr<v1::Finding> MapMatch(const JsonNode& match,
                                     const ReportContext& report,
                                     ImportContext& context,
                                     absl::string_view* primary_id,
                                     std::vector<absl::string_view>* key) {
  TREATD_RETURN_IF_ERROR(match.ExpectObject());
  const JsonMembers match_fields(match);
  const JsonNode vuln_node = match_fields["vulnerability"];
  TREATD_RETURN_IF_ERROR(vuln_node.ExpectObject());
  const JsonMembers vuln(vuln_node);
  const JsonNode artifact_node = match_fields["artifact"];
  TREATD_RETURN_IF_ERROR(artifact_node.ExpectObject());
  const JsonMembers artifact(artifact_node);

  v1::Finding finding;
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.set_source(std::string(kSource));
  finding.mutable_asset()->set_name(report.asset_name);
  finding.mutable_asset()->set_type(report.asset_type);
  if (report.timestamp != nullptr) {
    report.timestamp->Set(context, finding.mutable_last_seen());
  }
  SetAttribute("grype.source_type", report.source_type, &finding);
  v1::Vulnerability& vulnerability = *finding.mutable_vulnerability();
  v1::Package& package = *finding.mutable_package();

  // The match's own record (e.g. a GHSA advisory) and the related records
  // (typically the CVE at NVD) together name every id and rating.
  // Views into the document: copied once, into the finding.
  TREATD_ASSIGN_OR_RETURN(absl::string_view id,
                          vuln["id"].RequiredStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view namespace_name,
                          vuln["namespace"].OptionalStringView());
  absl::InlinedVector<absl::string_view, 4> ids = {id};
  std::vector<CvssCandidate> candidates;
  TREATD_RETURN_IF_ERROR(AddCvss(vuln["cvss"], namespace_name, &candidates));
  TREATD_ASSIGN_OR_RETURN(absl::string_view description,
                          vuln["description"].OptionalStringView());
  TREATD_ASSIGN_OR_RETURN(
      std::vector<JsonNode> related,
      match_fields["relatedVulnerabilities"].OptionalArray());
  for (const JsonNode& record : related) {
    TREATD_RETURN_IF_ERROR(record.ExpectObject());
    const JsonMembers record_fields(record);
    TREATD_ASSIGN_OR_RETURN(absl::string_view related_id,
                            record_fields["id"].RequiredStringView());
    ids.push_back(related_id);
    TREATD_ASSIGN_OR_RETURN(absl::string_view related_namespace,
                            record_fields["namespace"].OptionalStringView());
    TREATD_RETURN_IF_ERROR(
        AddCvss(record_fields["cvss"], related_namespace, &candidates));
    if (description.empty()) {
      TREATD_ASSIGN_OR_RETURN(
          description, record_fields["description"].OptionalStringView());
    }
  }
  absl::string_view cve = id;
  for (absl::string_view candidate : ids) {
    if (IsCveId(candidate)) {
      cve = candidate;
      break;
    }
  }
  vulnerability.set_cve_id(cve.data(), cve.size());
  for (absl::string_view alias : ids) {
    if (alias != cve) AddUnique(alias, vulnerability.mutable_aliases());
  }
  if (const CvssCandidate* best = PreferredCvss(candidates)) {
    SetCvss(*best, vulnerability.mutable_cvss());
    SetAttribute(kAttrCvssSource, best->source, &finding);
  }
  TREATD_RETURN_IF_ERROR(SetEpss(vuln["epss"], cve, context, &vulnerability));
  TREATD_RETURN_IF_ERROR(
      SetKev(vuln["knownExploited"], cve, context, &vulnerability));
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> cwes,
                          vuln["cwes"].OptionalArray());
  for (const JsonNode& cwe : cwes) {
    TREATD_ASSIGN_OR_RETURN(absl::string_view cwe_id,
                            cwe["cwe"].OptionalStringView());
    AddUnique(NormalizeCweId(cwe_id), vulnerability.mutable_cwe_ids());
  }

  JsonNode severity_node = vuln["severity"];
  TREATD_ASSIGN_OR_RETURN(absl::string_view severity_word,
                          severity_node.OptionalStringView());
  std::optional<v1::Severity> severity = SeverityFromWord(severity_word);
  if (severity.has_value()) {
    finding.set_severity(*severity);
  } else {
    context.Warn(severity_node.Error(
        absl::StrCat("unknown severity \"", severity_word, "\"")));
  }

  TREATD_ASSIGN_OR_RETURN(std::vector<absl::string_view> fixed_versions,
                          vuln["fix"]["versions"].OptionalStringViewArray());
  for (absl::string_view version : fixed_versions) {
    AddUnique(version, package.mutable_fixed_versions());
  }
  TREATD_ASSIGN_OR_RETURN(absl::string_view fix_state,
                          vuln["fix"]["state"].OptionalStringView());
  finding.mutable_fix()->set_availability(FixFromState(fix_state));
  SetAttribute(kAttrFixState, fix_state, &finding);

  TREATD_ASSIGN_OR_RETURN(absl::string_view name,
                          artifact["name"].RequiredStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view version,
                          artifact["version"].OptionalStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view type,
                          artifact["type"].OptionalStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view purl,
                          artifact["purl"].OptionalStringView());
  package.set_name(name.data(), name.size());
  package.set_installed_version(version.data(), version.size());
  package.set_purl(purl.data(), purl.size());
  std::optional<std::string> purl_ecosystem = EcosystemFromPackageUrl(purl);
  package.set_ecosystem(purl_ecosystem.has_value()
                            ? *std::move(purl_ecosystem)
                            : EcosystemFromArtifactType(type));
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> locations,
                          artifact["locations"].OptionalArray());
  absl::string_view location;
  if (!locations.empty()) {
    TREATD_ASSIGN_OR_RETURN(location,
                            locations[0]["path"].OptionalStringView());
  }
  SetAttribute(kAttrLocation, location, &finding);
  SetAttribute(kAttrTarget, location, &finding);

  finding.set_title(DefaultTitle(id, name, version));
  finding.set_description(description.data(), description.size());
  TREATD_ASSIGN_OR_RETURN(absl::string_view data_source,
                          vuln["dataSource"].OptionalStringView());
  SetAttribute(kAttrPrimaryUrl, data_source, &finding);
  SetAttribute("grype.namespace", namespace_name, &finding);
  TREATD_ASSIGN_OR_RETURN(std::optional<double> risk,
                          vuln["risk"].OptionalNumber());
  if (risk.has_value())
    SetAttribute("grype.risk", absl::StrCat(*risk), &finding);

  *primary_id = cve;
  *key = {id, name, version, purl, location, report.asset_name};
  return finding;
}

}  // namespace

absl::Status ImportGrype(const JsonNode& root, ImportContext& context) {
  TREATD_RETURN_IF_ERROR(root.ExpectObject());
  const JsonNode match_list = root["matches"];
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> matches,
                          match_list.RequiredArray());
  ReportContext report;
  JsonNode source = root["source"];
  TREATD_ASSIGN_OR_RETURN(report.source_type, source["type"].OptionalString());
  JsonNode target = source["target"];
  if (target.IsString()) {
    // Directory and file scans name the path directly.
    TREATD_ASSIGN_OR_RETURN(report.asset_name, target.OptionalString());
  } else {
    TREATD_ASSIGN_OR_RETURN(report.asset_name,
                            target["userInput"].OptionalString());
  }
  if (report.source_type == "image") {
    report.asset_type = v1::ASSET_TYPE_CONTAINER_IMAGE;
  }
  const ReportTimestamp timestamp(root["descriptor"]["timestamp"]);
  report.timestamp = &timestamp;

  const JsonElementPaths match_paths(match_list);
  context.Reserve(matches.size());
  absl::string_view primary_id;
  std::vector<absl::string_view> key;
  for (size_t i = 0; i < matches.size(); ++i) {
    absl::StatusOr<v1::Finding> finding =
        MapMatch(matches[i], report, context, &primary_id, &key);
    if (!finding.ok()) {
      context.Skip(finding.status());
      continue;
    }
    context.AddFinding(*std::move(finding), primary_id, key, match_paths[i]);
  }
  return absl::OkStatus();
}

}  // namespace treatd::importers
