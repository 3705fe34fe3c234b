// The streaming formats: JSONL, CSV and the text table.
#include <algorithm>
#include <array>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/csv/csv.h"
#include "common/exporters/decision_csv.h"
#include "common/exporters/decision_fields.h"
#include "common/exporters/document_writers.h"
#include "common/json/decision_json_writer.h"
#include "common/status/status_macros.h"
#include "common/time/proto_time.h"
#include "google/protobuf/util/json_util.h"

namespace treatd::exporters::internal {
namespace {

class JsonlWriter : public DecisionWriter {
 public:
  explicit JsonlWriter(std::ostream* out) : out_(out) {}

  absl::Status Write(const DecidedFinding& decided) override {
    TREATD_RETURN_IF_ERROR(CheckDecided(decided, index_++));
    line_.clear();
    // protobuf's JSON mapping, written without its descriptor walk.
    const absl::Status status =
        json::AppendDecisionResultJson(*decided.result, &line_);
    if (!status.ok()) {
      // Only what protobuf's printer fails on fails here; the message is
      // the one its status gave ("CODE:message").
      return absl::InvalidArgumentError(absl::StrCat(
          "decision for finding \"", FindingIdOf(decided),
          "\" cannot be written as JSON: ",
          absl::StatusCodeToString(status.code()), ":", status.message()));
    }
    line_.push_back('\n');
    out_->write(line_.data(), static_cast<std::streamsize>(line_.size()));
    return StreamStatus(*out_);
  }

  absl::Status Finish() override {
    out_->flush();
    return StreamStatus(*out_);
  }

 private:
  std::ostream* out_;
  size_t index_ = 0;
  std::string line_;
};

class CsvDecisionWriter : public DecisionWriter {
 public:
  explicit CsvDecisionWriter(std::ostream* out) : out_(out), csv_(out) {}

  absl::Status Write(const DecidedFinding& decided) override {
    TREATD_RETURN_IF_ERROR(CheckDecided(decided, index_++));
    TREATD_RETURN_IF_ERROR(WriteHeaderOnce());
    // Views of the record's cells: copying them into strings again was a
    // third of the row (callgrind, issue 15).
    const DecisionCsvRecord record = ToDecisionCsvRecord(decided);
    const auto cells = DecisionCsvCellViews(record, &reasons_);
    return csv_.WriteRecordViews(cells);
  }

  absl::Status Finish() override {
    // An export of nothing is still a valid file with its header.
    TREATD_RETURN_IF_ERROR(WriteHeaderOnce());
    out_->flush();
    return StreamStatus(*out_);
  }

 private:
  absl::Status WriteHeaderOnce() {
    if (header_written_) return absl::OkStatus();
    header_written_ = true;
    std::vector<std::string> header(kDecisionCsvColumns.begin(),
                                    kDecisionCsvColumns.end());
    return csv_.WriteRecord(header);
  }

  std::ostream* out_;
  csv::CsvWriter csv_;
  size_t index_ = 0;
  bool header_written_ = false;
  // The joined reasons of the row being written (reused).
  std::string reasons_;
};

// Number of UTF-8 code points in `text` (continuation bytes not counted).
// Every code point counts as one display column; wide CJK characters and
// combining marks are not special-cased.
size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++width;
  }
  return width;
}

// `text` cut to at most `width` code points, the last one replaced by "…"
// when something was cut.
std::string Truncate(absl::string_view text, size_t width) {
  if (DisplayWidth(text) <= width) return std::string(text);
  if (width == 0) return "";
  size_t kept = 0;
  size_t end = 0;
  while (end < text.size()) {
    size_t next = end + 1;
    while (next < text.size() &&
           (static_cast<unsigned char>(text[next]) & 0xC0) == 0x80) {
      ++next;
    }
    if (kept + 1 == width) break;
    ++kept;
    end = next;
  }
  return absl::StrCat(text.substr(0, end), "…");
}

// Control characters would break the row; a table cell is one line.
std::string OneLine(absl::string_view text) {
  std::string line(text);
  for (char& c : line) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return line;
}

std::string TableTime(const std::string& rfc3339,
                      const google::protobuf::Timestamp& timestamp) {
  if (rfc3339.empty()) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%MZ", FromProtoTime(timestamp),
                          absl::UTCTimeZone());
}

constexpr std::array<absl::string_view, 10> kTableHeader = {
    "FINDING",  "ID",          "PACKAGE",      "ASSET",     "TREATMENT",
    "PRIORITY", "MITIGATE BY", "REMEDIATE BY", "REVIEW BY", "RULE / ERROR"};
using TableRow = std::array<std::string, kTableHeader.size()>;

TableRow ToTableRow(const DecidedFinding& decided) {
  const v1::Finding& finding = FindingOf(decided);
  TableRow row;
  row[0] = FindingIdOf(decided);
  row[1] = RuleIdOf(finding);
  row[2] = finding.package().name();
  if (!finding.package().installed_version().empty()) {
    absl::StrAppend(&row[2], "@", finding.package().installed_version());
  }
  row[3] = AssetLabel(finding);
  if (decided.result->has_error()) {
    row[4] = "ERROR";
    row[5] = row[6] = row[7] = row[8] = "-";
    row[9] = ErrorText(decided.result->error());
  } else {
    const v1::Decision& decision = decided.result->decision();
    row[4] = TreatmentName(decision.treatment());
    row[5] = decision.priority();
    row[6] = TableTime(MitigateBy(decision), decision.mitigate_by());
    row[7] = TableTime(RemediateBy(decision), decision.remediate_by());
    row[8] = TableTime(ReviewBy(decision), decision.review_by());
    row[9] = decision.matched_rule();
    std::string exception = ExceptionText(decision);
    if (!exception.empty()) absl::StrAppend(&row[9], " [", exception, "]");
  }
  for (std::string& cell : row) {
    cell = OneLine(cell);
    if (cell.empty()) cell = "-";
  }
  return row;
}

// Buffers the first rows to fit the column widths, then streams.
class TableWriter : public DecisionWriter {
 public:
  TableWriter(const ExportOptions& options, size_t fit_rows, std::ostream* out)
      : out_(out),
        fit_rows_(std::max<size_t>(fit_rows, 1)),
        max_width_(
            static_cast<size_t>(std::max(options.table_max_cell_width, 2))) {}

  absl::Status Write(const DecidedFinding& decided) override {
    TREATD_RETURN_IF_ERROR(CheckDecided(decided, index_++));
    TableRow row = ToTableRow(decided);
    if (!widths_fixed_) {
      pending_.push_back(std::move(row));
      if (pending_.size() >= fit_rows_) return Flush();
      return absl::OkStatus();
    }
    PrintRow(row);
    return StreamStatus(*out_);
  }

  absl::Status Finish() override {
    if (!widths_fixed_) TREATD_RETURN_IF_ERROR(Flush());
    out_->flush();
    return StreamStatus(*out_);
  }

 private:
  absl::Status Flush() {
    for (size_t i = 0; i < kTableHeader.size(); ++i) {
      widths_[i] = DisplayWidth(kTableHeader[i]);
      for (const TableRow& row : pending_) {
        widths_[i] = std::max(widths_[i], DisplayWidth(row[i]));
      }
      widths_[i] = std::min(widths_[i], max_width_);
    }
    widths_fixed_ = true;
    TableRow header;
    TableRow rule;
    for (size_t i = 0; i < kTableHeader.size(); ++i) {
      header[i] = std::string(kTableHeader[i]);
      rule[i] = std::string(widths_[i], '-');
    }
    PrintRow(header);
    PrintRow(rule);
    for (const TableRow& row : pending_) PrintRow(row);
    pending_.clear();
    pending_.shrink_to_fit();
    return StreamStatus(*out_);
  }

  void PrintRow(const TableRow& row) {
    line_.clear();
    for (size_t i = 0; i < row.size(); ++i) {
      // The last column (rule or error message) has nothing to its right
      // to stay aligned with, so it is shown whole.
      if (i + 1 == row.size()) {
        line_ += row[i];
        break;
      }
      std::string cell = Truncate(row[i], widths_[i]);
      line_ += cell;
      line_.append(widths_[i] - DisplayWidth(cell) + 2, ' ');
    }
    *out_ << line_ << '\n';
  }

  std::ostream* out_;
  const size_t fit_rows_;
  const size_t max_width_;
  size_t index_ = 0;
  bool widths_fixed_ = false;
  std::array<size_t, kTableHeader.size()> widths_{};
  std::vector<TableRow> pending_;
  std::string line_;
};

}  // namespace

absl::Status StreamStatus(const std::ostream& out) {
  if (out.fail()) return absl::UnavailableError("output stream failed");
  return absl::OkStatus();
}

std::unique_ptr<DecisionWriter> NewJsonlWriter(std::ostream* out) {
  return std::make_unique<JsonlWriter>(out);
}

std::unique_ptr<DecisionWriter> NewCsvWriter(std::ostream* out) {
  return std::make_unique<CsvDecisionWriter>(out);
}

std::unique_ptr<DecisionWriter> NewTableWriter(const ExportOptions& options,
                                               size_t fit_rows,
                                               std::ostream* out) {
  return std::make_unique<TableWriter>(options, fit_rows, out);
}

}  // namespace treatd::exporters::internal
