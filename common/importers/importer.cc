#include "common/importers/importer.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/importers/format_importers.h"
#include "common/importers/import_util.h"
#include "common/importers/json_access.h"
#include "common/status/status_macros.h"

namespace treatd::importers {
namespace {

bool HasMember(const JsonNode& object, const char* key) {
  return object[key].Exists();
}

bool IsStringMember(const JsonNode& object, const char* key) {
  return object[key].IsString();
}

bool IsArrayMember(const JsonNode& object, const char* key) {
  return object[key].IsArray();
}

// The detection rules of docs/importers.md, most specific marker first.
absl::StatusOr<ScannerFormat> DetectParsed(const JsonNode& document) {
  if (document.IsArray()) {
    // Trivy before schema 2 wrote a bare list of results.
    if (document[0].IsObject() && HasMember(document[0], "Target")) {
      return ScannerFormat::kTrivy;
    }
    return JsonPathError(
        "$",
        "unrecognized document: a top-level array is only accepted as "
        "a legacy Trivy report (a list of objects with \"Target\")");
  }
  if (!document.IsObject()) {
    return JsonPathError(
        "$", absl::StrCat("unrecognized document: expected an object, got ",
                          document.TypeName()));
  }
  if (HasMember(document, "document") &&
      IsStringMember(document["document"], "csaf_version")) {
    return ScannerFormat::kCsaf;
  }
  if (IsStringMember(document, "bomFormat") &&
      document["bomFormat"].StringView() == "CycloneDX") {
    return ScannerFormat::kCycloneDx;
  }
  if (IsStringMember(document, "@context") &&
      absl::StartsWith(document["@context"].StringView(),
                       "https://openvex.dev/ns")) {
    return ScannerFormat::kOpenVex;
  }
  if (IsArrayMember(document, "runs") &&
      ((IsStringMember(document, "$schema") &&
        absl::StrContains(
            absl::AsciiStrToLower(document["$schema"].StringView()),
            "sarif")) ||
       (IsStringMember(document, "version") &&
        absl::StartsWith(document["version"].StringView(), "2.1")))) {
    return ScannerFormat::kSarif;
  }
  if (IsArrayMember(document, "matches")) return ScannerFormat::kGrype;
  if (IsTrivyClusterReport(document)) return ScannerFormat::kTrivy;
  if (HasMember(document, "SchemaVersion") &&
      (HasMember(document, "Results") || HasMember(document, "ArtifactName"))) {
    return ScannerFormat::kTrivy;
  }
  return JsonPathError(
      "$",
      "unrecognized document: not Trivy (SchemaVersion + Results), Grype "
      "(matches), SARIF ($schema or version 2.1.0 + runs), CycloneDX "
      "(bomFormat), OpenVEX (@context https://openvex.dev/ns/...), CSAF "
      "(document.csaf_version) or a Trivy Kubernetes report (ClusterName + "
      "Vulnerabilities or Misconfigurations)");
}

}  // namespace

absl::StatusOr<ImportResult> ImportFindings(absl::string_view document,
                                            const ImportOptions& options) {
  TREATD_ASSIGN_OR_RETURN(std::unique_ptr<JsonDocument> parsed,
                          ParseJsonDocument(document));
  const JsonNode root = parsed->Root();
  ScannerFormat format = options.format;
  if (format == ScannerFormat::kAuto) {
    TREATD_ASSIGN_OR_RETURN(format, DetectParsed(root));
  }
  ImportResult result;
  ImportContext context(format, options, &result);
  switch (format) {
    case ScannerFormat::kTrivy:
      TREATD_RETURN_IF_ERROR(ImportTrivy(root, context));
      break;
    case ScannerFormat::kGrype:
      TREATD_RETURN_IF_ERROR(ImportGrype(root, context));
      break;
    case ScannerFormat::kSarif:
      TREATD_RETURN_IF_ERROR(ImportSarif(root, context));
      break;
    case ScannerFormat::kCycloneDx:
      TREATD_RETURN_IF_ERROR(ImportCycloneDx(root, context));
      break;
    case ScannerFormat::kOpenVex:
      TREATD_RETURN_IF_ERROR(ImportOpenVex(root, context));
      break;
    case ScannerFormat::kCsaf:
      TREATD_RETURN_IF_ERROR(ImportCsaf(root, context));
      break;
    case ScannerFormat::kAuto:
      return absl::InternalError("format detection returned kAuto");
  }
  return result;
}

absl::StatusOr<ImportResult> ImportFindings(absl::string_view document,
                                            ScannerFormat format) {
  ImportOptions options;
  options.format = format;
  return ImportFindings(document, options);
}

absl::StatusOr<ScannerFormat> DetectFormat(absl::string_view document) {
  TREATD_ASSIGN_OR_RETURN(std::unique_ptr<JsonDocument> parsed,
                          ParseJsonDocument(document));
  return DetectParsed(parsed->Root());
}

absl::StatusOr<ScannerFormat> ParseScannerFormat(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (ScannerFormat format :
       {ScannerFormat::kAuto, ScannerFormat::kTrivy, ScannerFormat::kGrype,
        ScannerFormat::kSarif, ScannerFormat::kCycloneDx,
        ScannerFormat::kOpenVex, ScannerFormat::kCsaf}) {
    if (lower == ScannerFormatName(format)) return format;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scanner format \"", name,
                   "\": expected auto, trivy, grype, sarif, cyclonedx, "
                   "openvex or csaf"));
}

absl::string_view ScannerFormatName(ScannerFormat format) {
  switch (format) {
    case ScannerFormat::kAuto:
      return "auto";
    case ScannerFormat::kTrivy:
      return "trivy";
    case ScannerFormat::kGrype:
      return "grype";
    case ScannerFormat::kSarif:
      return "sarif";
    case ScannerFormat::kCycloneDx:
      return "cyclonedx";
    case ScannerFormat::kOpenVex:
      return "openvex";
    case ScannerFormat::kCsaf:
      return "csaf";
  }
  return "unknown";
}

std::string DefaultTitle(absl::string_view id, absl::string_view package,
                         absl::string_view version) {
  if (package.empty()) return std::string(id);
  if (version.empty()) return absl::StrCat(id, " in ", package);
  return absl::StrCat(id, " in ", package, " ", version);
}

}  // namespace treatd::importers
