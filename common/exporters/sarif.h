// SARIF 2.1.0 with treatd's decisions. Two uses:
//   - WriteDecisions(kSarif, ...) writes a new log with one result per
//     finding (exporter.h);
//   - AnnotateSarif() takes the SARIF document a scanner wrote, which
//     treatctl imported with common/importers, and adds each decision to the
//     result it came from, so code-scanning UIs show treatment, priority and
//     deadlines next to the scanner's own result.
// docs/exporters.md lists the properties and the level mapping.
//
// Pure functions of their input, thread-safe.
#ifndef TREATD_COMMON_EXPORTERS_SARIF_H_
#define TREATD_COMMON_EXPORTERS_SARIF_H_

#include <cstddef>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/exporters/exporter.h"
#include "nlohmann/json.hpp"

namespace treatd::exporters {

// What AnnotateSarif() did.
struct SarifAnnotationStats {
  // Results the importer mapped to findings.
  size_t results = 0;
  // Of those, results that received a decision.
  size_t annotated = 0;
};

// The SARIF `level` for a decision: "error" for MITIGATE_THEN_REMEDIATE
// and for REMEDIATE/MITIGATE whose priority rank is 1..
// options.sarif_error_max_priority_rank; "note" for ACCEPT; "warning"
// otherwise, including results that are errors (undecided findings still
// need a look).
absl::string_view SarifLevelFor(const v1::DecisionResult& result,
                                const ExportOptions& options);

// The property bag describing a decision: treatment, priority,
// priority_rank, mitigate_by, remediate_by, review_by (RFC 3339, only when
// set), matched_rule, exception, residual_risk, decision_id, finding_id;
// for an error result: finding_id and error.
nlohmann::ordered_json SarifDecisionProperties(const DecidedFinding& decided);

// Adds the decisions to `sarif_document` and writes the result to `out`.
// Results are matched to decisions by finding id: the document is imported
// again with importers::ImportFindings(kSarif), which gives every result
// the same id it gave when the findings were decided, and a decision
// applies to the result whose finding id equals its result's finding_id
// (or, after DeduplicateFindings(), any id its finding lists in the
// "dedup.merged_ids" attribute). Each matched result gets the keys of
// SarifDecisionProperties() added to its `properties` (a key the scanner
// already wrote under the same name is replaced); the rest of the document
// is written back unchanged, key order kept. Returns the counts,
// INVALID_ARGUMENT when the document is not SARIF the importer reads,
// UNAVAILABLE when the stream failed.
absl::StatusOr<SarifAnnotationStats> AnnotateSarif(
    absl::string_view sarif_document,
    absl::Span<const DecidedFinding> decisions, std::ostream* out);

}  // namespace treatd::exporters

#endif  // TREATD_COMMON_EXPORTERS_SARIF_H_
