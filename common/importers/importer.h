// Scanner importers: turn the documents real scanners and vendors write
// (Trivy JSON, Grype JSON, SARIF 2.1.0, CycloneDX BOM/VEX, OpenVEX 0.2,
// CSAF 2.0 advisories and VEX) into
// treatd.v1.Finding messages a policy can decide on. docs/importers.md has
// the field mapping of every format, the attribute keys and the detection
// rules.
//
// Importing is a pure function of the document: the same bytes always give
// the same findings in the same order with the same ids, so later stages
// (asset context, de-duplication, the decision ledger) can key on them. All
// functions are stateless and thread-safe; nothing is shared between calls.
//
// Errors: a document that is not JSON, or whose shape no importer knows, is
// rejected with INVALID_ARGUMENT naming the JSON path of the problem. Inside
// an accepted document, an entry that cannot be mapped (a finding without an
// id, a field of the wrong type) is skipped and listed in
// ImportResult::skipped with its path; the rest are still imported.
#ifndef TREATD_COMMON_IMPORTERS_IMPORTER_H_
#define TREATD_COMMON_IMPORTERS_IMPORTER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::importers {

// The document formats the importers understand.
enum class ScannerFormat {
  // Detect the format from the document's content (DetectFormat()).
  kAuto,
  // Trivy JSON: SchemaVersion 2 report, or the legacy top-level list.
  kTrivy,
  // Grype JSON (`grype -o json`).
  kGrype,
  // SARIF 2.1.0 from any tool.
  kSarif,
  // CycloneDX 1.4 or later BOM or VEX with a `vulnerabilities` section.
  kCycloneDx,
  // OpenVEX 0.2 document.
  kOpenVex,
  // CSAF 2.0 document (security advisory or VEX profile).
  kCsaf,
};

// A problem with one part of a document, located by JSON path.
struct ImportIssue {
  // Where the problem is, e.g. "$.Results[2].Vulnerabilities[5].CVSS".
  std::string json_path;
  // What is wrong, for a person to read.
  std::string message;
};

// What an import produced.
struct ImportResult {
  // The format the document was read as (never kAuto).
  ScannerFormat format = ScannerFormat::kAuto;
  // One finding per reported problem, in document order.
  std::vector<v1::Finding> findings;
  // Entries that could not be mapped and were left out.
  std::vector<ImportIssue> skipped;
  // Optional facts that were ignored on findings that were imported (for
  // example an unparseable date); the finding is imported without them.
  std::vector<ImportIssue> warnings;
};

// Knobs for ImportFindings(). The defaults suit the server's finding limits.
struct ImportOptions {
  // The format to read the document as; kAuto detects it from the content.
  ScannerFormat format = ScannerFormat::kAuto;
  // Longest title, description or attribute value kept, in bytes; longer
  // text is cut at a UTF-8 character boundary. Scanners write descriptions
  // of several kilobytes; the default matches FindingLimits.
  size_t max_text_bytes = 4096;
};

// Imports every finding in `document`. Returns the findings, or
// INVALID_ARGUMENT when the document is not JSON, is of no known format
// (with kAuto) or does not have the shape of `options.format`; the message
// starts with the JSON path of the problem ("$" for the whole document).
absl::StatusOr<ImportResult> ImportFindings(absl::string_view document,
                                            const ImportOptions& options = {});

// Shorthand for ImportFindings() with only the format set.
absl::StatusOr<ImportResult> ImportFindings(absl::string_view document,
                                            ScannerFormat format);

// Returns the format of `document` from its content (never kAuto), or
// INVALID_ARGUMENT when it is not JSON or matches no known format.
absl::StatusOr<ScannerFormat> DetectFormat(absl::string_view document);

// Parses a format name as a user types it on a command line ("auto",
// "trivy", "grype", "sarif", "cyclonedx", "openvex", "csaf";
// case-insensitive).
// Returns INVALID_ARGUMENT listing the accepted names otherwise.
absl::StatusOr<ScannerFormat> ParseScannerFormat(absl::string_view name);

// The lower-case name of `format`, as ParseScannerFormat() accepts it.
absl::string_view ScannerFormatName(ScannerFormat format);

}  // namespace treatd::importers

#endif  // TREATD_COMMON_IMPORTERS_IMPORTER_H_
