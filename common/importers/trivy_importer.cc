// Trivy JSON: the SchemaVersion 2 report (Results[] with Vulnerabilities[],
// Misconfigurations[] and Secrets[]) and the legacy top-level list of
// results written before schema 2.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/importers/format_importers.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

constexpr absl::string_view kSource = "trivy";

// What every finding of the report shares.
struct ReportContext {
  std::string asset_name;
  v1::AssetType asset_type = v1::ASSET_TYPE_UNSPECIFIED;
  std::string artifact_type;
  // CreatedAt; null in the legacy format.
  const ReportTimestamp* created_at = nullptr;
  // A resource of a Kubernetes cluster report (all empty otherwise).
  std::string cluster;
  std::string k8s_namespace;
  std::string k8s_kind;
  std::string k8s_name;
};

// What every finding of one Results[] entry shares.
struct ResultContext {
  std::string target;
  std::string result_class;
  std::string type;
};

v1::AssetType AssetTypeFromArtifactType(absl::string_view type) {
  if (type == "container_image") return v1::ASSET_TYPE_CONTAINER_IMAGE;
  if (type == "repository") return v1::ASSET_TYPE_REPOSITORY;
  if (type == "vm") return v1::ASSET_TYPE_HOST;
  if (type == "aws_account" || type == "azure_account") {
    return v1::ASSET_TYPE_CLOUD_RESOURCE;
  }
  return v1::ASSET_TYPE_UNSPECIFIED;
}

// The package ecosystem for a Trivy result Type (an OS family for os-pkgs,
// a lock-file or binary type for lang-pkgs), used when a vulnerability has no
// PURL.
std::string EcosystemFromResultType(absl::string_view type) {
  static const auto* const kEcosystems =
      new absl::flat_hash_map<std::string, std::string>({
          {"alpine", "apk"},
          {"wolfi", "apk"},
          {"chainguard", "apk"},
          {"debian", "deb"},
          {"ubuntu", "deb"},
          {"redhat", "rpm"},
          {"centos", "rpm"},
          {"rocky", "rpm"},
          {"alma", "rpm"},
          {"amazon", "rpm"},
          {"oracle", "rpm"},
          {"fedora", "rpm"},
          {"photon", "rpm"},
          {"suse linux enterprise server", "rpm"},
          {"opensuse.leap", "rpm"},
          {"cbl-mariner", "rpm"},
          {"azurelinux", "rpm"},
          {"jar", "maven"},
          {"pom", "maven"},
          {"gradle", "maven"},
          {"sbt", "maven"},
          {"npm", "npm"},
          {"yarn", "npm"},
          {"pnpm", "npm"},
          {"node-pkg", "npm"},
          {"bun", "npm"},
          {"pip", "pypi"},
          {"pipenv", "pypi"},
          {"poetry", "pypi"},
          {"uv", "pypi"},
          {"python-pkg", "pypi"},
          {"gomod", "go"},
          {"gobinary", "go"},
          {"cargo", "cargo"},
          {"rust-binary", "cargo"},
          {"composer", "composer"},
          {"composer-vendor", "composer"},
          {"bundler", "gem"},
          {"gemspec", "gem"},
          {"nuget", "nuget"},
          {"dotnet-core", "nuget"},
          {"packages-props", "nuget"},
          {"conan", "conan"},
          {"pub", "pub"},
          {"hex", "hex"},
          {"swift", "swift"},
          {"cocoapods", "cocoapods"},
      });
  auto it = kEcosystems->find(absl::AsciiStrToLower(type));
  return it == kEcosystems->end() ? std::string() : it->second;
}

// Trivy's Status → Fix.availability. Without a Status (older Trivy), a
// FixedVersion means a fix exists and its absence means none does yet.
v1::FixAvailability FixFromStatus(absl::string_view status,
                                  bool has_fixed_version) {
  if (status == "fixed") return v1::FIX_AVAILABILITY_AVAILABLE;
  if (status == "will_not_fix" || status == "end_of_life") {
    return v1::FIX_AVAILABILITY_WONT_FIX;
  }
  if (status == "affected" || status == "fix_deferred") {
    return v1::FIX_AVAILABILITY_NOT_AVAILABLE;
  }
  if (status.empty()) {
    return has_fixed_version ? v1::FIX_AVAILABILITY_AVAILABLE
                             : v1::FIX_AVAILABILITY_NOT_AVAILABLE;
  }
  return v1::FIX_AVAILABILITY_UNSPECIFIED;
}

// Reads a severity word; an unknown word is a warning, not a broken entry.
absl::Status SetSeverity(const JsonNode& node, ImportContext& context,
                         v1::Finding* finding) {
  TREATD_ASSIGN_OR_RETURN(std::string word, node.OptionalString());
  std::optional<v1::Severity> severity = SeverityFromWord(word);
  if (severity.has_value()) {
    finding->set_severity(*severity);
  } else {
    context.Warn(node.Error(absl::StrCat("unknown severity \"", word, "\"")));
  }
  return absl::OkStatus();
}

// The asset every finding of `result` is on.
absl::string_view AssetName(const ReportContext& report,
                            const ResultContext& result) {
  return report.asset_name.empty() ? result.target : report.asset_name;
}

// Fills the parts every Trivy finding has.
void SetCommon(const ReportContext& report, const ResultContext& result,
               ImportContext& context, v1::Finding* finding) {
  finding->set_source(std::string(kSource));
  const absl::string_view asset = AssetName(report, result);
  finding->mutable_asset()->set_name(asset.data(), asset.size());
  finding->mutable_asset()->set_type(report.asset_type);
  if (report.created_at != nullptr) {
    report.created_at->Set(context, finding->mutable_last_seen());
  }
  SetAttribute(kAttrTarget, result.target, finding);
  SetAttribute("trivy.class", result.result_class, finding);
  SetAttribute("trivy.type", result.type, finding);
  SetAttribute("trivy.artifact_type", report.artifact_type, finding);
  SetAttribute("k8s.cluster", report.cluster, finding);
  SetAttribute("k8s.namespace", report.k8s_namespace, finding);
  SetAttribute("k8s.kind", report.k8s_kind, finding);
  SetAttribute("k8s.name", report.k8s_name, finding);
}

absl::Status AddCvss(const JsonNode& cvss_map,
                     std::vector<CvssCandidate>* candidates) {
  if (cvss_map.IsMissing()) return absl::OkStatus();
  TREATD_RETURN_IF_ERROR(cvss_map.ExpectObject());
  const JsonMembers sources(cvss_map);
  for (absl::string_view source : cvss_map.MemberNames()) {
    JsonNode entry = sources[source];
    TREATD_RETURN_IF_ERROR(entry.ExpectObject());
    const JsonMembers fields(entry);
    // Trivy writes one pair of fields per CVSS generation.
    struct Generation {
      absl::string_view vector_key;
      absl::string_view score_key;
      absl::string_view fallback_version;
    };
    static constexpr Generation kGenerations[] = {
        {"V3Vector", "V3Score", "3"},
        {"V40Vector", "V40Score", "4.0"},
        {"V2Vector", "V2Score", "2.0"},
    };
    for (const auto& [vector_key, score_key, fallback_version] : kGenerations) {
      TREATD_ASSIGN_OR_RETURN(absl::string_view vector,
                              fields[vector_key].OptionalStringView());
      TREATD_ASSIGN_OR_RETURN(std::optional<double> score,
                              fields[score_key].OptionalNumber());
      if (vector.empty() && !score.has_value()) continue;
      const absl::string_view version = CvssVersionFromVector(vector);
      candidates->push_back({source,
                             version.empty() ? fallback_version : version,
                             score, vector});
    }
  }
  return absl::OkStatus();
}

// Maps one vulnerability; `id` gets its VulnerabilityID and `key` its
// identity, views into the document and `report` / `result`.
absl::StatusOr<v1::Finding> MapVulnerability(
    const JsonNode& entry, const ReportContext& report,
    const ResultContext& result, ImportContext& context,
    absl::string_view* id_out, std::vector<absl::string_view>* key) {
  TREATD_RETURN_IF_ERROR(entry.ExpectObject());
  const JsonMembers fields(entry);
  v1::Finding finding;
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  SetCommon(report, result, context, &finding);
  v1::Vulnerability& vulnerability = *finding.mutable_vulnerability();
  v1::Package& package = *finding.mutable_package();

  TREATD_ASSIGN_OR_RETURN(absl::string_view id,
                          fields["VulnerabilityID"].RequiredStringView());
  vulnerability.set_cve_id(id.data(), id.size());
  TREATD_ASSIGN_OR_RETURN(std::vector<absl::string_view> vendor_ids,
                          fields["VendorIDs"].OptionalStringViewArray());
  for (absl::string_view alias : vendor_ids) {
    if (alias != id) AddUnique(alias, vulnerability.mutable_aliases());
  }

  // Views into the document: copied once, into the finding.
  TREATD_ASSIGN_OR_RETURN(absl::string_view name,
                          fields["PkgName"].OptionalStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view installed,
                          fields["InstalledVersion"].OptionalStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view fixed,
                          fields["FixedVersion"].OptionalStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view purl,
                          fields["PkgIdentifier"]["PURL"].OptionalStringView());
  TREATD_ASSIGN_OR_RETURN(absl::string_view pkg_path,
                          fields["PkgPath"].OptionalStringView());
  package.set_name(name.data(), name.size());
  package.set_installed_version(installed.data(), installed.size());
  package.set_purl(purl.data(), purl.size());
  for (absl::string_view version :
       absl::StrSplit(fixed, ',', absl::SkipWhitespace())) {
    AddUnique(absl::StripAsciiWhitespace(version),
              package.mutable_fixed_versions());
  }
  std::optional<std::string> purl_ecosystem = EcosystemFromPackageUrl(purl);
  package.set_ecosystem(purl_ecosystem.has_value()
                            ? *std::move(purl_ecosystem)
                            : EcosystemFromResultType(result.type));

  TREATD_ASSIGN_OR_RETURN(absl::string_view status,
                          fields["Status"].OptionalStringView());
  finding.mutable_fix()->set_availability(
      FixFromStatus(status, package.fixed_versions_size() > 0));
  SetAttribute(kAttrFixState, status, &finding);

  TREATD_RETURN_IF_ERROR(SetSeverity(fields["Severity"], context, &finding));
  TREATD_ASSIGN_OR_RETURN(absl::string_view severity_source,
                          fields["SeveritySource"].OptionalStringView());
  SetAttribute("severity.source", severity_source, &finding);

  std::vector<CvssCandidate> candidates;
  TREATD_RETURN_IF_ERROR(AddCvss(fields["CVSS"], &candidates));
  if (const CvssCandidate* best = PreferredCvss(candidates)) {
    SetCvss(*best, vulnerability.mutable_cvss());
    SetAttribute(kAttrCvssSource, best->source, &finding);
  }

  TREATD_ASSIGN_OR_RETURN(std::vector<absl::string_view> cwes,
                          fields["CweIDs"].OptionalStringViewArray());
  for (absl::string_view cwe : cwes) {
    AddUnique(NormalizeCweId(cwe), vulnerability.mutable_cwe_ids());
  }
  TREATD_ASSIGN_OR_RETURN(absl::string_view title,
                          fields["Title"].OptionalStringView());
  if (title.empty()) {
    finding.set_title(DefaultTitle(id, name, installed));
  } else {
    finding.set_title(title.data(), title.size());
  }
  TREATD_ASSIGN_OR_RETURN(absl::string_view description,
                          fields["Description"].OptionalStringView());
  finding.set_description(description.data(), description.size());
  TREATD_ASSIGN_OR_RETURN(absl::string_view url,
                          fields["PrimaryURL"].OptionalStringView());
  SetAttribute(kAttrPrimaryUrl, url, &finding);
  SetAttribute(kAttrLocation, pkg_path, &finding);
  TREATD_ASSIGN_OR_RETURN(absl::string_view diff_id,
                          fields["Layer"]["DiffID"].OptionalStringView());
  SetAttribute("trivy.layer_diff_id", diff_id, &finding);
  SetTimestampOrWarn(fields["PublishedDate"], context,
                     vulnerability.mutable_published());

  *id_out = id;
  *key = {name,         installed, purl, pkg_path, AssetName(report, result),
          result.target};
  return finding;
}

absl::StatusOr<v1::Finding> MapMisconfiguration(const JsonNode& entry,
                                                const ReportContext& report,
                                                const ResultContext& result,
                                                ImportContext& context,
                                                std::vector<std::string>* key,
                                                std::string* check_id) {
  TREATD_RETURN_IF_ERROR(entry.ExpectObject());
  const JsonMembers fields(entry);
  v1::Finding finding;
  finding.set_kind(v1::FINDING_KIND_MISCONFIGURATION);
  SetCommon(report, result, context, &finding);
  v1::Misconfiguration& misconfiguration = *finding.mutable_misconfiguration();

  TREATD_ASSIGN_OR_RETURN(std::string avd_id, fields["AVDID"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(std::string id, fields["ID"].OptionalString());
  *check_id = avd_id.empty() ? id : avd_id;
  if (check_id->empty()) {
    return entry.Error("misconfiguration has neither \"AVDID\" nor \"ID\"");
  }
  misconfiguration.set_check_id(*check_id);
  if (!id.empty() && id != *check_id)
    SetAttribute("trivy.check_id", id, &finding);

  JsonNode cause = fields["CauseMetadata"];
  TREATD_ASSIGN_OR_RETURN(std::string resource,
                          cause["Resource"].OptionalString());
  misconfiguration.set_resource(resource.empty() ? result.target : resource);
  TREATD_ASSIGN_OR_RETURN(std::optional<double> start_line,
                          cause["StartLine"].OptionalNumber());
  std::string location = result.target;
  if (start_line.has_value() && *start_line > 0) {
    absl::StrAppend(&location, ":", static_cast<int64_t>(*start_line));
  }
  SetAttribute(kAttrLocation, location, &finding);
  TREATD_ASSIGN_OR_RETURN(std::string provider,
                          cause["Provider"].OptionalString());
  SetAttribute("trivy.provider", provider, &finding);
  TREATD_ASSIGN_OR_RETURN(std::string service,
                          cause["Service"].OptionalString());
  SetAttribute("trivy.service", service, &finding);

  TREATD_RETURN_IF_ERROR(SetSeverity(fields["Severity"], context, &finding));
  TREATD_ASSIGN_OR_RETURN(std::string title, fields["Title"].OptionalString());
  finding.set_title(title.empty() ? *check_id : title);
  TREATD_ASSIGN_OR_RETURN(std::string description,
                          fields["Description"].OptionalString());
  finding.set_description(std::move(description));
  TREATD_ASSIGN_OR_RETURN(std::string message,
                          fields["Message"].OptionalString());
  SetAttribute("trivy.message", message, &finding);
  TREATD_ASSIGN_OR_RETURN(std::string resolution,
                          fields["Resolution"].OptionalString());
  SetAttribute("remediation", resolution, &finding);
  // A configuration can always be changed; Trivy states how when it knows.
  if (!resolution.empty()) {
    finding.mutable_fix()->set_availability(v1::FIX_AVAILABILITY_AVAILABLE);
  }
  TREATD_ASSIGN_OR_RETURN(std::string type, fields["Type"].OptionalString());
  SetAttribute("trivy.misconfiguration_type", type, &finding);
  TREATD_ASSIGN_OR_RETURN(std::string url,
                          fields["PrimaryURL"].OptionalString());
  SetAttribute(kAttrPrimaryUrl, url, &finding);

  *key = {misconfiguration.resource(), location, finding.asset().name()};
  return finding;
}

absl::StatusOr<v1::Finding> MapSecret(const JsonNode& entry,
                                      const ReportContext& report,
                                      const ResultContext& result,
                                      ImportContext& context,
                                      std::vector<std::string>* key,
                                      std::string* rule_id) {
  TREATD_RETURN_IF_ERROR(entry.ExpectObject());
  const JsonMembers fields(entry);
  v1::Finding finding;
  finding.set_kind(v1::FINDING_KIND_EXPOSED_SECRET);
  SetCommon(report, result, context, &finding);
  TREATD_ASSIGN_OR_RETURN(*rule_id, fields["RuleID"].RequiredString());
  v1::Secret& secret = *finding.mutable_secret();
  secret.set_secret_type(*rule_id);
  TREATD_ASSIGN_OR_RETURN(std::optional<double> start_line,
                          fields["StartLine"].OptionalNumber());
  std::string location = result.target;
  if (start_line.has_value() && *start_line > 0) {
    absl::StrAppend(&location, ":", static_cast<int64_t>(*start_line));
  }
  secret.set_location(location);
  SetAttribute(kAttrLocation, location, &finding);
  TREATD_RETURN_IF_ERROR(SetSeverity(fields["Severity"], context, &finding));
  TREATD_ASSIGN_OR_RETURN(std::string title, fields["Title"].OptionalString());
  finding.set_title(title.empty() ? *rule_id : title);
  TREATD_ASSIGN_OR_RETURN(std::string category,
                          fields["Category"].OptionalString());
  SetAttribute("secret.category", category, &finding);
  *key = {location, finding.asset().name()};
  return finding;
}

// Imports the findings of one Results[] entry; a broken entry inside it is
// skipped, a result that is not an object is an error for the caller.
absl::Status ImportResultEntry(const JsonNode& node,
                               const ReportContext& report,
                               ImportContext& context) {
  TREATD_RETURN_IF_ERROR(node.ExpectObject());
  ResultContext result;
  TREATD_ASSIGN_OR_RETURN(result.target, node["Target"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(result.result_class, node["Class"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(result.type, node["Type"].OptionalString());
  const JsonNode vulnerability_list = node["Vulnerabilities"];
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> vulnerabilities,
                          vulnerability_list.OptionalArray());
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> misconfigurations,
                          node["Misconfigurations"].OptionalArray());
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> secrets,
                          node["Secrets"].OptionalArray());

  absl::string_view id;
  std::vector<absl::string_view> key;
  const JsonElementPaths vulnerability_paths(vulnerability_list);
  context.Reserve(vulnerabilities.size());
  for (size_t i = 0; i < vulnerabilities.size(); ++i) {
    absl::StatusOr<v1::Finding> finding = MapVulnerability(
        vulnerabilities[i], report, result, context, &id, &key);
    if (!finding.ok()) {
      context.Skip(finding.status());
      continue;
    }
    context.AddFinding(*std::move(finding), id, key, vulnerability_paths[i]);
  }
  for (const JsonNode& entry : misconfigurations) {
    // Passed and excepted checks (--include-non-failures) are not findings.
    absl::StatusOr<std::string> status = entry["Status"].OptionalString();
    if (status.ok() && !status->empty() && *status != "FAIL") continue;
    std::vector<std::string> key;
    std::string check_id;
    absl::StatusOr<v1::Finding> finding =
        MapMisconfiguration(entry, report, result, context, &key, &check_id);
    if (!finding.ok()) {
      context.Skip(finding.status());
      continue;
    }
    context.AddFinding(*std::move(finding), check_id, {key.begin(), key.end()},
                       entry.path());
  }
  for (const JsonNode& entry : secrets) {
    std::vector<std::string> key;
    std::string rule_id;
    absl::StatusOr<v1::Finding> finding =
        MapSecret(entry, report, result, context, &key, &rule_id);
    if (!finding.ok()) {
      context.Skip(finding.status());
      continue;
    }
    context.AddFinding(*std::move(finding), rule_id, {key.begin(), key.end()},
                       entry.path());
  }
  return absl::OkStatus();
}

// Kinds whose pods run containers; a finding on one is on a running
// workload. Other kinds (Service, Role, ConfigMap...) are cluster objects.
bool IsWorkloadKind(absl::string_view kind) {
  return kind == "Pod" || kind == "Deployment" || kind == "StatefulSet" ||
         kind == "DaemonSet" || kind == "ReplicaSet" || kind == "Job" ||
         kind == "CronJob" || kind == "ReplicationController";
}

// One resource of a cluster report: {Namespace, Kind, Name, Results[]}.
absl::Status ImportClusterResource(const JsonNode& resource,
                                   const std::string& cluster,
                                   ImportContext& context) {
  TREATD_RETURN_IF_ERROR(resource.ExpectObject());
  ReportContext report;
  report.cluster = cluster;
  TREATD_ASSIGN_OR_RETURN(report.k8s_namespace,
                          resource["Namespace"].OptionalString());
  TREATD_ASSIGN_OR_RETURN(report.k8s_kind, resource["Kind"].RequiredString());
  TREATD_ASSIGN_OR_RETURN(report.k8s_name, resource["Name"].RequiredString());
  // One asset per workload: "namespace/Kind/name" (cluster-scoped
  // resources have no namespace).
  report.asset_name = report.k8s_namespace.empty()
                          ? absl::StrCat(report.k8s_kind, "/", report.k8s_name)
                          : absl::StrCat(report.k8s_namespace, "/",
                                         report.k8s_kind, "/", report.k8s_name);
  report.asset_type = IsWorkloadKind(report.k8s_kind)
                          ? v1::ASSET_TYPE_CONTAINER
                          : v1::ASSET_TYPE_CLOUD_RESOURCE;
  report.artifact_type = "kubernetes";
  TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> results,
                          resource["Results"].OptionalArray());
  for (const JsonNode& result : results) {
    absl::Status status = ImportResultEntry(result, report, context);
    if (!status.ok()) context.Skip(status);
  }
  return absl::OkStatus();
}

// `trivy k8s --format json`: {ClusterName, Vulnerabilities[],
// Misconfigurations[]}, each a list of resources with their own Results[].
absl::Status ImportTrivyCluster(const JsonNode& root, ImportContext& context) {
  TREATD_ASSIGN_OR_RETURN(std::string cluster,
                          root["ClusterName"].OptionalString());
  for (const char* section : {"Vulnerabilities", "Misconfigurations"}) {
    TREATD_ASSIGN_OR_RETURN(std::vector<JsonNode> resources,
                            root[section].OptionalArray());
    for (const JsonNode& resource : resources) {
      absl::Status status = ImportClusterResource(resource, cluster, context);
      if (!status.ok()) context.Skip(status);
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool IsTrivyClusterReport(const JsonNode& document) {
  if (!document["ClusterName"].IsString()) return false;
  for (const char* section : {"Vulnerabilities", "Misconfigurations"}) {
    const JsonNode list = document[section];
    if (list.IsArray() || (list.Exists() && list.IsMissing())) return true;
  }
  return false;
}

absl::Status ImportTrivy(const JsonNode& root, ImportContext& context) {
  if (IsTrivyClusterReport(root)) {
    return ImportTrivyCluster(root, context);
  }
  ReportContext report;
  std::vector<JsonNode> results;
  const ReportTimestamp created_at(root["CreatedAt"]);
  if (root.IsArray()) {
    TREATD_ASSIGN_OR_RETURN(results, root.OptionalArray());
  } else {
    TREATD_RETURN_IF_ERROR(root.ExpectObject());
    TREATD_ASSIGN_OR_RETURN(report.asset_name,
                            root["ArtifactName"].OptionalString());
    TREATD_ASSIGN_OR_RETURN(report.artifact_type,
                            root["ArtifactType"].OptionalString());
    report.asset_type = AssetTypeFromArtifactType(report.artifact_type);
    report.created_at = &created_at;
    TREATD_ASSIGN_OR_RETURN(results, root["Results"].OptionalArray());
    if (root["Results"].IsMissing() && root["SchemaVersion"].IsMissing()) {
      return root.Error(
          "not a Trivy report: expected \"SchemaVersion\" and \"Results\"");
    }
  }
  for (const JsonNode& result : results) {
    absl::Status status = ImportResultEntry(result, report, context);
    if (!status.ok()) context.Skip(status);
  }
  return absl::OkStatus();
}

}  // namespace treatd::importers
