// Decision exporters: write what treatd decided about a set of findings in
// the formats pipelines and their tools read — a text table for people,
// JSONL (protobuf JSON mapping of DecisionResult), CSV with stable columns,
// an OpenVEX 0.2 document and SARIF 2.1.0 with the decision in each result's
// properties. docs/exporters.md documents every format, column and rule.
//
// Output is a pure function of the input and the options: ordering follows
// the input, and no wall-clock time is read (timestamps come from the
// options or from the decisions themselves), so the same decisions always
// give the same bytes.
//
// Thread-safety: the free functions are stateless and thread-safe. A
// DecisionWriter is for one output stream and one thread at a time.
#ifndef TREATD_COMMON_EXPORTERS_EXPORTER_H_
#define TREATD_COMMON_EXPORTERS_EXPORTER_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::exporters {

// The output formats.
enum class ExportFormat {
  // Fixed columns for a terminal, widths fitted, long cells cut with "…".
  kTable,
  // One DecisionResult per line in the protobuf JSON mapping.
  kJsonl,
  // RFC 4180 CSV with the columns in kDecisionCsvColumns.
  kCsv,
  // One OpenVEX 0.2 document.
  kOpenVex,
  // One SARIF 2.1.0 log with one result per finding.
  kSarif,
};

// A finding together with the answer the service gave for it. Exporters
// read the finding for what the decision does not repeat (package, CVE,
// asset, controls). Both are borrowed and must outlive the call that
// receives them. `result` is required; `finding` may be null when only the
// result is known (the finding's columns are then empty).
struct DecidedFinding {
  const v1::Finding* finding = nullptr;
  const v1::DecisionResult* result = nullptr;
};

// Knobs shared by all formats. The defaults write complete, deterministic
// output; OpenVEX needs a timestamp (see `timestamp`).
struct ExportOptions {
  // The time the document was produced: OpenVEX `timestamp` (and the
  // statements' when a decision has no evaluated_at), SARIF
  // `invocations[0].endTimeUtc`. When unset, the latest `evaluated_at`
  // of the decisions is used; OpenVEX fails with INVALID_ARGUMENT if there
  // is none either. Never the wall clock, so output is reproducible.
  absl::Time timestamp = absl::InfinitePast();

  // OpenVEX `author`.
  std::string author = "treatd";
  // OpenVEX `@id`. When empty: "urn:treatd:vex:sha256:<digest>", the
  // SHA-256 of the document's statements, so the id names the content.
  std::string document_id;
  // OpenVEX `version` (bumped by callers who reissue a document).
  int document_version = 1;
  // A statement is `not_affected` (justification
  // inline_mitigations_already_exist) only when the finding has a
  // compensating control of FULL effectiveness AND the decision is ACCEPT or
  // MITIGATE AND its residual risk is strictly below this threshold. The
  // default matches the shipped policy's accept-low-residual-risk rule.
  double not_affected_max_residual_risk = 3.0;

  // SARIF `tool.driver.name` and `version`.
  std::string tool_name = "treatd";
  std::string tool_version;
  // SARIF level "error" for decisions whose priority rank is at most this
  // (1 = only the most urgent priority), and for every
  // MITIGATE_THEN_REMEDIATE; see docs/exporters.md for the full mapping.
  int sarif_error_max_priority_rank = 1;

  // Table: widths are fitted to the first `table_fit_rows` rows (all rows
  // for WriteDecisions with kTable when 0); later rows reuse those widths.
  // A cell never gets wider than `table_max_cell_width` display columns,
  // except the last (rule, or the error message), which is shown whole.
  int table_fit_rows = 1000;
  int table_max_cell_width = 40;
};

// Parses a format name as a user types it: "table", "jsonl", "csv",
// "openvex", "sarif" (case-insensitive). Returns INVALID_ARGUMENT listing
// the accepted names otherwise.
absl::StatusOr<ExportFormat> ParseExportFormat(absl::string_view name);

// The lower-case name of `format`, as ParseExportFormat() accepts it.
absl::string_view ExportFormatName(ExportFormat format);

// Writes a format row by row so that a million decisions never sit in memory
// at once. Call Write() for each decision, then Finish() once. Created by
// NewDecisionWriter(); not thread-safe.
class DecisionWriter {
 public:
  virtual ~DecisionWriter() = default;

  // Writes (or, for the table's first rows, buffers) one decision. Returns
  // OK; INVALID_ARGUMENT when `decided` lacks its result; UNAVAILABLE when
  // the stream failed. The DecidedFinding's objects need only live for the
  // duration of the call.
  virtual absl::Status Write(const DecidedFinding& decided) = 0;

  // Flushes what is buffered and ends the output. Returns OK or
  // UNAVAILABLE. Write() must not be called afterwards.
  virtual absl::Status Finish() = 0;
};

// Returns a streaming writer for kTable, kJsonl or kCsv writing to `out`
// (borrowed; must outlive the writer). kOpenVex and kSarif are whole
// documents: they return INVALID_ARGUMENT, use WriteDecisions().
absl::StatusOr<std::unique_ptr<DecisionWriter>> NewDecisionWriter(
    ExportFormat format, const ExportOptions& options, std::ostream* out);

// Writes all of `decisions` in `format` to `out`, in input order. Returns
// OK; INVALID_ARGUMENT when an entry lacks its result (null pointers) or,
// for OpenVEX, when no timestamp is known; UNAVAILABLE when the stream
// failed.
absl::Status WriteDecisions(ExportFormat format,
                            absl::Span<const DecidedFinding> decisions,
                            const ExportOptions& options, std::ostream* out);

}  // namespace treatd::exporters

#endif  // TREATD_COMMON_EXPORTERS_EXPORTER_H_
