#include "common/exporters/exporter.h"

#include <memory>
#include <ostream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/exporters/decision_fields.h"
#include "common/exporters/document_writers.h"
#include "common/status/status_macros.h"

namespace treatd::exporters {
namespace {

constexpr struct {
  absl::string_view name;
  ExportFormat format;
} kFormats[] = {{"table", ExportFormat::kTable},
                {"jsonl", ExportFormat::kJsonl},
                {"csv", ExportFormat::kCsv},
                {"openvex", ExportFormat::kOpenVex},
                {"sarif", ExportFormat::kSarif}};

}  // namespace

absl::StatusOr<ExportFormat> ParseExportFormat(absl::string_view name) {
  std::string lower = absl::AsciiStrToLower(name);
  for (const auto& entry : kFormats) {
    if (entry.name == lower) return entry.format;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown output format \"", name,
                   "\"; expected one of: table, jsonl, csv, openvex, sarif"));
}

absl::string_view ExportFormatName(ExportFormat format) {
  for (const auto& entry : kFormats) {
    if (entry.format == format) return entry.name;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<DecisionWriter>> NewDecisionWriter(
    ExportFormat format, const ExportOptions& options, std::ostream* out) {
  switch (format) {
    case ExportFormat::kTable:
      return internal::NewTableWriter(
          options,
          options.table_fit_rows > 0
              ? static_cast<size_t>(options.table_fit_rows)
              : 1,
          out);
    case ExportFormat::kJsonl:
      return internal::NewJsonlWriter(out);
    case ExportFormat::kCsv:
      return internal::NewCsvWriter(out);
    case ExportFormat::kOpenVex:
    case ExportFormat::kSarif:
      break;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(ExportFormatName(format),
                   " is a whole document, not a row stream; use "
                   "WriteDecisions()"));
}

absl::Status WriteDecisions(ExportFormat format,
                            absl::Span<const DecidedFinding> decisions,
                            const ExportOptions& options, std::ostream* out) {
  for (size_t i = 0; i < decisions.size(); ++i) {
    TREATD_RETURN_IF_ERROR(internal::CheckDecided(decisions[i], i));
  }
  std::unique_ptr<DecisionWriter> writer;
  switch (format) {
    case ExportFormat::kOpenVex:
      return internal::WriteOpenVex(decisions, options, out);
    case ExportFormat::kSarif:
      return internal::WriteSarif(decisions, options, out);
    case ExportFormat::kTable:
      // Everything is in memory already: fit the widths to all rows.
      writer = internal::NewTableWriter(
          options, decisions.empty() ? 1 : decisions.size(), out);
      break;
    case ExportFormat::kJsonl:
    case ExportFormat::kCsv: {
      TREATD_ASSIGN_OR_RETURN(writer, NewDecisionWriter(format, options, out));
      break;
    }
  }
  for (const DecidedFinding& decided : decisions) {
    TREATD_RETURN_IF_ERROR(writer->Write(decided));
  }
  return writer->Finish();
}

}  // namespace treatd::exporters
