// The decision CSV format: its stable columns, the row one decision becomes,
// and a reader that turns such a file back into records (for tests, and
// for tools that post-process an export). docs/exporters.md describes each
// column.
//
// Pure functions are thread-safe; a DecisionCsvReader is for one stream
// and one thread.
#ifndef TREATD_COMMON_EXPORTERS_DECISION_CSV_H_
#define TREATD_COMMON_EXPORTERS_DECISION_CSV_H_

#include <array>
#include <istream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/csv/csv.h"
#include "common/exporters/exporter.h"

namespace treatd::exporters {

// The header row, in order. New columns are only ever appended.
inline constexpr std::array<absl::string_view, 16> kDecisionCsvColumns = {
    "finding_id",        "kind",          "cve",       "package",
    "installed_version", "asset",         "treatment", "priority",
    "mitigate_by",       "remediate_by",  "review_by", "matched_rule",
    "exception",         "residual_risk", "reasons",   "error"};

// One row of the decision CSV, by column.
struct DecisionCsvRecord {
  std::string finding_id;
  std::string kind;
  std::string cve;
  std::string package;
  std::string installed_version;
  std::string asset;
  std::string treatment;
  std::string priority;
  std::string mitigate_by;
  std::string remediate_by;
  std::string review_by;
  std::string matched_rule;
  std::string exception;
  std::string residual_risk;
  // The decision's reasons, one per element (joined by "\n" in the cell).
  std::vector<std::string> reasons;
  std::string error;

  bool operator==(const DecisionCsvRecord& other) const;
};

// The record one decision becomes. `decided.result` must be non-null.
DecisionCsvRecord ToDecisionCsvRecord(const DecidedFinding& decided);

// The cells of `record` in kDecisionCsvColumns order.
std::vector<std::string> DecisionCsvCells(const DecisionCsvRecord& record);
// The same cells as views into `record`, the reasons cell into `*reasons`
// (which receives them joined): no copy of the other cells.
std::array<absl::string_view, kDecisionCsvColumns.size()> DecisionCsvCellViews(
    const DecisionCsvRecord& record, std::string* reasons);

// Reads a decision CSV record by record. The first record must be the
// header; columns are looked up by name, so a file with extra columns
// (appended by a newer version) still reads.
class DecisionCsvReader {
 public:
  // `in` is borrowed and must outlive the reader; `filename` labels errors.
  DecisionCsvReader(std::istream* in, absl::string_view filename)
      : reader_(in, filename) {}

  // Reads the next record into `record`. Returns true when one was read,
  // false at end of input; INVALID_ARGUMENT with file:line for malformed
  // CSV, a header that lacks a column, or a row whose cell count differs
  // from the header's.
  absl::StatusOr<bool> Next(DecisionCsvRecord* record);

 private:
  absl::Status ReadHeader();

  csv::CsvReader reader_;
  bool header_read_ = false;
  size_t header_size_ = 0;
  std::array<size_t, kDecisionCsvColumns.size()> positions_{};
  std::vector<std::string> cells_;
};

// Reads a whole decision CSV document. Errors as DecisionCsvReader::Next().
absl::StatusOr<std::vector<DecisionCsvRecord>> ReadDecisionCsv(
    absl::string_view text, absl::string_view filename = "<csv>");

}  // namespace treatd::exporters

#endif  // TREATD_COMMON_EXPORTERS_DECISION_CSV_H_
