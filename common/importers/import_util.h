// Helpers shared by the per-format importers: the per-document import
// context (stable finding ids, skipped entries, warnings), CVSS selection,
// severity words, package URLs, timestamps and identifier recognition.
// Internal to common/importers; callers use importer.h.
//
// Free functions are pure and thread-safe. An ImportContext belongs to one
// import call and is not thread-safe.
#ifndef TREATD_COMMON_IMPORTERS_IMPORT_UTIL_H_
#define TREATD_COMMON_IMPORTERS_IMPORT_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/importers/importer.h"
#include "common/importers/json_access.h"
#include "google/protobuf/timestamp.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::importers {

// Attribute keys shared by several formats (docs/importers.md lists all).
inline constexpr absl::string_view kAttrFormat = "import.format";
inline constexpr absl::string_view kAttrJsonPath = "import.json_path";
inline constexpr absl::string_view kAttrTarget = "import.target";
inline constexpr absl::string_view kAttrCvssSource = "cvss.source";
inline constexpr absl::string_view kAttrFixState = "fix.state";
inline constexpr absl::string_view kAttrPrimaryUrl = "primary_url";
inline constexpr absl::string_view kAttrLocation = "location";

// Collects the output of one import: findings with stable, unique ids,
// skipped entries and warnings.
class ImportContext {
 public:
  // Appends to `result`, which must outlive the context.
  ImportContext(ScannerFormat format, const ImportOptions& options,
                ImportResult* result);

  ImportContext(const ImportContext&) = delete;
  ImportContext& operator=(const ImportContext&) = delete;

  // Adds `finding`, read from the entry at `entry_path`. Its id becomes
  // "<source>:<primary id>:<16 hex digits>", the hex digits a SHA-256 of
  // `identity` (the facts that make the finding distinct: vulnerability or
  // check id, package, target, location). The same identity always gives the
  // same id; a repeat within one document gets "~2", "~3", ... appended so
  // ids stay unique within the result. Long text is cut to
  // ImportOptions::max_text_bytes.
  // `finding` is moved into the result last, so `primary_id` and `identity`
  // may view strings of it.
  // `entry_path` becomes the import.json_path attribute (moved, not
  // copied).
  void AddFinding(v1::Finding&& finding, absl::string_view primary_id,
                  const std::vector<absl::string_view>& identity,
                  std::string entry_path);

  // Makes room for `count` more findings, at most 4,096 at once: a large
  // report's findings are then moved rarely as the result grows, and a
  // list of entries that are not findings does not reserve ~300 bytes for
  // each of its 2-byte elements.
  void Reserve(size_t count);

  // Records that the entry in `status` (a JsonPathError) was skipped.
  void Skip(const absl::Status& status);
  // Records a fact ignored on an imported finding.
  void Warn(const absl::Status& status);

 private:
  ScannerFormat format_;
  size_t max_text_bytes_;
  ImportResult* result_;  // Not owned.
  // The identity key of the finding being added, its storage kept.
  std::string key_;
  // The first finding (an index into result_->findings) of each 8-byte
  // digest prefix an id ends with. Equal ids share the prefix, so a finding
  // whose prefix is new has a new id; only repeats (and, astronomically
  // rarely, colliding prefixes) count their ids exactly, in id_uses_. A
  // large report's ids are then neither copied nor hashed as strings.
  absl::flat_hash_map<uint64_t, size_t> first_with_prefix_;
  absl::flat_hash_map<std::string, int> id_uses_;
};

// One CVSS rating as a document states it. The views point into the
// document (or at literals or strings of the import) and must outlive the
// candidate: the importers read several ratings per finding and keep one,
// so none is copied before it is chosen.
struct CvssCandidate {
  // Who rated it, e.g. "nvd", "redhat", "nvd@nist.gov"; may be empty.
  absl::string_view source;
  // "2.0", "3.0", "3.1", "4.0", or empty when unknown.
  absl::string_view version;
  std::optional<double> score;
  absl::string_view vector;
};

// Returns the rating a policy should see, or nullptr when `candidates` is
// empty. Preference: NVD v3.1, v3.0, v4.0; then any other source's v3.1,
// v3.0, v4.0; then other versions (v2 last), NVD first. Ratings with a score
// beat ratings without; ties keep document order.
const CvssCandidate* PreferredCvss(
    const std::vector<CvssCandidate>& candidates);

// Copies `candidate` into `cvss`; the version falls back to the vector's.
void SetCvss(const CvssCandidate& candidate, v1::Cvss* cvss);

// Returns the CVSS version a vector string declares ("CVSS:3.1/..." gives
// "3.1"; a v2 vector with "Au:" gives "2.0"), or "" when unknown. The view
// points into `vector` or at a literal.
absl::string_view CvssVersionFromVector(absl::string_view vector);

// Maps a scanner's severity word (any case): critical, high, medium or
// moderate, low, negligible/info/informational/none → INFO, unknown or
// empty → UNSPECIFIED. Returns nullopt for words it does not know.
std::optional<v1::Severity> SeverityFromWord(absl::string_view word);

// The CVSS v3 qualitative rating of a score: 0 → INFO, <4 → LOW, <7 →
// MEDIUM, <9 → HIGH, otherwise CRITICAL.
v1::Severity SeverityFromScore(double score);

// The parts of a package URL (purl), percent-decoded.
struct PackageUrl {
  std::string type;
  std::string name_space;
  std::string name;
  std::string version;
};

// Parses "pkg:type/namespace/name@version?qualifiers#subpath". Returns
// nullopt when `purl` is not a package URL.
std::optional<PackageUrl> ParsePackageUrl(absl::string_view purl);

// The Finding.package.ecosystem for a purl type: the type itself, except
// "golang" → "go".
std::string EcosystemFromPurlType(absl::string_view purl_type);

// EcosystemFromPurlType() of ParsePackageUrl(purl)->type, nullopt when
// `purl` is not a package URL, without decoding the other parts (the
// scanner importers need only the ecosystem, once per finding).
std::optional<std::string> EcosystemFromPackageUrl(absl::string_view purl);

// The package name a person would use: "namespace/name" for npm scopes and
// Go modules, "group:artifact" for Maven, the bare name otherwise.
std::string PackageNameFromPurl(const PackageUrl& purl);

// Parses an RFC 3339 time ("2021-08-25T12:20:30.000000005Z",
// "2023-07-17T18:28:47-06:00") or a date ("2025-06-18", taken as midnight
// UTC) into `out`. Returns false, leaving `out` alone, otherwise.
bool ParseTimestamp(absl::string_view text, google::protobuf::Timestamp* out);

// Sets `*out` from the string at `node` when it is a valid timestamp; a
// wrong type or an unparseable value is reported through `context` as a
// warning and leaves `out` unset.
void SetTimestampOrWarn(const JsonNode& node, ImportContext& context,
                        google::protobuf::Timestamp* out);

// True for "CVE-<year>-<digits>" (case-insensitive).
bool IsCveId(absl::string_view id);

// Returns the first CVE id ("CVE-2019-1549") or GHSA id
// ("GHSA-57j2-w4cx-62h2") inside `text`, upper-cased as the advisory
// databases write CVE ids, or "" when there is none.
std::string FindVulnerabilityId(absl::string_view text);

// Normalises a CWE reference ("CWE-79", "cwe-079", "79", or the SARIF tag
// "external/cwe/cwe-079") to "CWE-79"; returns "" for anything else
// (e.g. "NVD-CWE-Other").
std::string NormalizeCweId(absl::string_view text);

// Appends `value` to `field` unless it is empty or already present.
void AddUnique(absl::string_view value,
               google::protobuf::RepeatedPtrField<std::string>* field);

// The VexStatus of an OpenVEX or CSAF status word ("not_affected",
// "affected", "fixed", "under_investigation"), or nullopt for any other.
std::optional<v1::VexStatus> VexStatusFromWord(absl::string_view word);

// The VexJustification of a justification label as OpenVEX, CSAF flags
// (the same five labels) or CycloneDX (code_not_present,
// code_not_reachable, requires_*, protected_*) write it; nullopt for an
// unknown label. CycloneDX labels map to the nearest OpenVEX one:
// code_not_present → vulnerable_code_not_present, code_not_reachable →
// vulnerable_code_not_in_execute_path, requires_dependency →
// component_not_present, requires_configuration / requires_environment →
// vulnerable_code_cannot_be_controlled_by_adversary, protected_* →
// inline_mitigations_already_exist.
std::optional<v1::VexJustification> VexJustificationFromLabel(
    absl::string_view label);

// Sets vex.justification and vex.justification_label from `label` (empty:
// nothing). An unknown label is kept as the label only, and reported
// through `context` as a warning at `node`.
void SetVexJustification(absl::string_view label, const JsonNode& node,
                         ImportContext& context, v1::Vex* vex);

// Sets vex.timestamp from the string at `node` like SetTimestampOrWarn(),
// leaving it absent (has_timestamp() false) when `node` is missing or bad.
void SetVexTimestamp(const JsonNode& node, ImportContext& context,
                     v1::Vex* vex);

// A time every finding of a report carries (Trivy's CreatedAt, Grype's
// descriptor.timestamp), read once instead of once per finding: Set() gives
// `out` what SetTimestampOrWarn(node, context, out) would, its warning
// included. Holds `node`, whose document must outlive it.
class ReportTimestamp {
 public:
  explicit ReportTimestamp(const JsonNode& node);

  void Set(ImportContext& context, google::protobuf::Timestamp* out) const;

 private:
  JsonNode node_;
  // False when reading `node_` warns: Set() then reads it each time, for
  // the warning.
  bool clean_ = true;
  std::optional<google::protobuf::Timestamp> time_;
};

// Sets attribute `key` to `value` unless `value` is empty.
void SetAttribute(absl::string_view key, absl::string_view value,
                  v1::Finding* finding);

}  // namespace treatd::importers

#endif  // TREATD_COMMON_IMPORTERS_IMPORT_UTIL_H_
