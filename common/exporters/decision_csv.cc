#include "common/exporters/decision_csv.h"

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/exporters/decision_fields.h"
#include "common/status/status_macros.h"

namespace treatd::exporters {
namespace {

// Pointers to the string members of a record in column order; reasons is
// handled apart because it is a list.
// `Record` is DecisionCsvRecord or const DecisionCsvRecord.
template <typename Record>
auto Fields(Record& r) {
  using Pointer = decltype(&r.finding_id);
  return std::array<Pointer, kDecisionCsvColumns.size()>{
      &r.finding_id,        &r.kind,          &r.cve,       &r.package,
      &r.installed_version, &r.asset,         &r.treatment, &r.priority,
      &r.mitigate_by,       &r.remediate_by,  &r.review_by, &r.matched_rule,
      &r.exception,         &r.residual_risk, nullptr,      &r.error};
}

constexpr size_t kReasonsColumn = 14;

}  // namespace

bool DecisionCsvRecord::operator==(const DecisionCsvRecord& other) const {
  return DecisionCsvCells(*this) == DecisionCsvCells(other);
}

DecisionCsvRecord ToDecisionCsvRecord(const DecidedFinding& decided) {
  const v1::Finding& finding = internal::FindingOf(decided);
  DecisionCsvRecord record;
  record.finding_id = internal::FindingIdOf(decided);
  record.kind = internal::KindName(finding.kind());
  record.cve = internal::VulnerabilityId(finding);
  record.package = finding.package().name();
  record.installed_version = finding.package().installed_version();
  record.asset = internal::AssetLabel(finding);
  if (decided.result->has_error()) {
    record.error = internal::ErrorText(decided.result->error());
    return record;
  }
  const v1::Decision& decision = decided.result->decision();
  record.treatment = internal::TreatmentName(decision.treatment());
  record.priority = decision.priority();
  record.mitigate_by = internal::MitigateBy(decision);
  record.remediate_by = internal::RemediateBy(decision);
  record.review_by = internal::ReviewBy(decision);
  record.matched_rule = decision.matched_rule();
  record.exception = internal::ExceptionText(decision);
  if (decided.result->has_decision()) {
    record.residual_risk = internal::FormatScore(decision.residual_risk());
  }
  record.reasons.assign(decision.reasons().begin(), decision.reasons().end());
  return record;
}

std::array<absl::string_view, kDecisionCsvColumns.size()> DecisionCsvCellViews(
    const DecisionCsvRecord& record, std::string* reasons) {
  std::array<absl::string_view, kDecisionCsvColumns.size()> cells;
  auto fields = Fields(record);
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i == kReasonsColumn) {
      reasons->clear();
      for (size_t r = 0; r < record.reasons.size(); ++r) {
        if (r > 0) reasons->push_back('\n');
        reasons->append(record.reasons[r]);
      }
      cells[i] = *reasons;
    } else {
      cells[i] = *fields[i];
    }
  }
  return cells;
}

std::vector<std::string> DecisionCsvCells(const DecisionCsvRecord& record) {
  std::vector<std::string> cells;
  cells.reserve(kDecisionCsvColumns.size());
  auto fields = Fields(record);
  for (size_t i = 0; i < fields.size(); ++i) {
    cells.push_back(i == kReasonsColumn ? absl::StrJoin(record.reasons, "\n")
                                        : *fields[i]);
  }
  return cells;
}

absl::Status DecisionCsvReader::ReadHeader() {
  TREATD_ASSIGN_OR_RETURN(bool has_header, reader_.ReadRecord(&cells_));
  if (!has_header) {
    return absl::InvalidArgumentError(absl::StrCat(
        reader_.filename(), ": empty file, expected a header row"));
  }
  header_size_ = cells_.size();
  for (size_t column = 0; column < kDecisionCsvColumns.size(); ++column) {
    auto it =
        std::find(cells_.begin(), cells_.end(), kDecisionCsvColumns[column]);
    if (it == cells_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          reader_.filename(), ":", reader_.record_line(),
          ": header lacks column \"", kDecisionCsvColumns[column],
          "\"; expected ", absl::StrJoin(kDecisionCsvColumns, ",")));
    }
    positions_[column] = static_cast<size_t>(it - cells_.begin());
  }
  header_read_ = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> DecisionCsvReader::Next(DecisionCsvRecord* record) {
  if (!header_read_) TREATD_RETURN_IF_ERROR(ReadHeader());
  TREATD_ASSIGN_OR_RETURN(bool has_record, reader_.ReadRecord(&cells_));
  if (!has_record) return false;
  if (cells_.size() != header_size_) {
    return absl::InvalidArgumentError(absl::StrCat(
        reader_.filename(), ":", reader_.record_line(), ": record has ",
        cells_.size(), " cells, the header has ", header_size_));
  }
  *record = DecisionCsvRecord();
  auto fields = Fields(*record);
  for (size_t column = 0; column < fields.size(); ++column) {
    std::string& cell = cells_[positions_[column]];
    if (column == kReasonsColumn) {
      if (!cell.empty()) record->reasons = absl::StrSplit(cell, '\n');
    } else {
      *fields[column] = std::move(cell);
    }
  }
  return true;
}

absl::StatusOr<std::vector<DecisionCsvRecord>> ReadDecisionCsv(
    absl::string_view text, absl::string_view filename) {
  std::istringstream in{std::string(text)};
  DecisionCsvReader reader(&in, filename);
  std::vector<DecisionCsvRecord> records;
  DecisionCsvRecord record;
  while (true) {
    TREATD_ASSIGN_OR_RETURN(bool more, reader.Next(&record));
    if (!more) break;
    records.push_back(std::move(record));
  }
  return records;
}

}  // namespace treatd::exporters
