// Where a treatctl run writes its decisions: stdout or a file (-o), in one
// of the exporters' formats (common/exporters), or as the input SARIF
// document annotated with the decisions (--annotate-sarif).
//
// Table, JSONL and CSV stream: each decision is written as it arrives and
// nothing is kept. OpenVEX, SARIF and the annotated SARIF are whole
// documents: every finding and result is kept until Finish().
//
// A file output is written to "FILE.tmp-PID" and renamed over FILE by
// Finish(), so a failed run never leaves a half-written file and the
// output may name an input (annotating a SARIF file in place). A path that
// exists and is not a regular file (/dev/null, a FIFO) is written directly.
//
// Not thread-safe: one thread writes.
#ifndef TREATD_CLIENT_TREATCTL_DECISION_OUTPUT_H_
#define TREATD_CLIENT_TREATCTL_DECISION_OUTPUT_H_

#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/exporters/exporter.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

struct DecisionOutputOptions {
  exporters::ExportFormat format = exporters::ExportFormat::kTable;
  // Write the SARIF input annotated instead of `format`.
  bool annotate_sarif = false;
  // The output file; stdout when empty or "-".
  std::string path;
  exporters::ExportOptions export_options;
};

class DecisionOutput {
 public:
  // Opens the output (the temporary file for a path). NOT_FOUND when the
  // file cannot be created. `stdout_stream` is borrowed.
  static absl::StatusOr<std::unique_ptr<DecisionOutput>> Open(
      const DecisionOutputOptions& options, std::ostream* stdout_stream);
  // Removes the temporary file unless Finish() succeeded.
  ~DecisionOutput();
  DecisionOutput(const DecisionOutput&) = delete;
  DecisionOutput& operator=(const DecisionOutput&) = delete;

  // Writes (or keeps, for documents) one decision. `finding` may be null.
  // UNAVAILABLE when the output failed.
  absl::Status Write(const v1::Finding* finding,
                     const v1::DecisionResult& result);

  // Whether the output is JSON Lines or CSV, which WriteFromWire() writes.
  bool WritesFromWire() const {
    return !IsDocument() &&
           (options_.format == exporters::ExportFormat::kJsonl ||
            options_.format == exporters::ExportFormat::kCsv);
  }
  // Whether the output reads more of a finding than its id and
  // vulnerability.cve_id: the fields a CSV row reads
  // (FindingInput::set_identity_only's `labels`).
  bool ReadsFindingLabels() const {
    return options_.format == exporters::ExportFormat::kCsv;
  }
  // Write() for JSON Lines or CSV, of the DecisionResult whose wire bytes
  // are `result` (with `index` in place of their own when set), written
  // from the bytes: JSON Lines by json::AppendDecisionResultJsonFromWire,
  // CSV from what json::ReadDecisionResultNotesFromWire reads; the same
  // line or row as Write() of the parsed result. `*notes` receives at
  // least the fields those functions note. UNAVAILABLE when the output
  // failed; INVALID_ARGUMENT as Write(); INTERNAL when the bytes do not
  // parse.
  absl::Status WriteFromWire(const v1::Finding* finding,
                             absl::string_view result,
                             std::optional<int32_t> index,
                             v1::DecisionResult* notes);

  // Ends the output: writes the document (annotating `sarif_document` with
  // --annotate-sarif), flushes, and renames the file into place. Returns a
  // line for the summary in `note` (e.g. how many SARIF results were
  // annotated), possibly empty.
  absl::Status Finish(const std::string& sarif_document, std::string* note);

 private:
  DecisionOutput(const DecisionOutputOptions& options, std::ostream* out)
      : options_(options), out_(out) {}

  bool IsDocument() const {
    return options_.annotate_sarif ||
           options_.format == exporters::ExportFormat::kOpenVex ||
           options_.format == exporters::ExportFormat::kSarif;
  }

  const DecisionOutputOptions options_;
  std::ostream* out_;
  std::ofstream file_;
  std::string temp_path_;
  bool finished_ = false;
  std::unique_ptr<exporters::DecisionWriter> writer_;
  // Kept for document formats.
  std::vector<v1::Finding> findings_;
  std::vector<bool> has_finding_;
  std::vector<v1::DecisionResult> results_;
  // The line WriteFromWire() writes (reused).
  std::string line_;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_DECISION_OUTPUT_H_
