// The streaming formats (JSONL, CSV, table) and format names.
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/exporters/decision_csv.h"
#include "common/exporters/exporter.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/common/exporters/sample_decisions.h"

namespace treatd::exporters {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::SampleDecisions;

std::string Write(ExportFormat format, const SampleDecisions& samples,
                  const ExportOptions& options = {}) {
  std::ostringstream out;
  absl::Status status =
      WriteDecisions(format, samples.Decided(), options, &out);
  EXPECT_TRUE(status.ok()) << status;
  return out.str();
}

std::string Stream(ExportFormat format, const SampleDecisions& samples,
                   const ExportOptions& options = {}) {
  std::ostringstream out;
  absl::StatusOr<std::unique_ptr<DecisionWriter>> writer =
      NewDecisionWriter(format, options, &out);
  EXPECT_TRUE(writer.ok()) << writer.status();
  for (const DecidedFinding& decided : samples.Decided()) {
    EXPECT_TRUE((*writer)->Write(decided).ok());
  }
  EXPECT_TRUE((*writer)->Finish().ok());
  return out.str();
}

TEST(ExportFormatTest, ParsesNamesCaseInsensitively) {
  EXPECT_EQ(*ParseExportFormat("table"), ExportFormat::kTable);
  EXPECT_EQ(*ParseExportFormat("JSONL"), ExportFormat::kJsonl);
  EXPECT_EQ(*ParseExportFormat("csv"), ExportFormat::kCsv);
  EXPECT_EQ(*ParseExportFormat("OpenVEX"), ExportFormat::kOpenVex);
  EXPECT_EQ(*ParseExportFormat("sarif"), ExportFormat::kSarif);
  for (ExportFormat format :
       {ExportFormat::kTable, ExportFormat::kJsonl, ExportFormat::kCsv,
        ExportFormat::kOpenVex, ExportFormat::kSarif}) {
    EXPECT_EQ(*ParseExportFormat(ExportFormatName(format)), format);
  }
  absl::StatusOr<ExportFormat> bad = ParseExportFormat("xml");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(),
              HasSubstr("table, jsonl, csv, openvex, sarif"));
}

TEST(ExportFormatTest, DocumentFormatsHaveNoRowWriter) {
  std::ostringstream out;
  EXPECT_EQ(NewDecisionWriter(ExportFormat::kOpenVex, {}, &out).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NewDecisionWriter(ExportFormat::kSarif, {}, &out).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExportFormatTest, RejectsEntryWithoutResult) {
  std::ostringstream out;
  v1::Finding finding;
  std::vector<DecidedFinding> decided = {{&finding, nullptr}};
  for (ExportFormat format :
       {ExportFormat::kTable, ExportFormat::kJsonl, ExportFormat::kCsv,
        ExportFormat::kOpenVex, ExportFormat::kSarif}) {
    EXPECT_EQ(WriteDecisions(format, decided, {}, &out).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(JsonlExporterTest, EachLineParsesBackIntoTheSameDecisionResult) {
  SampleDecisions samples;
  std::string text = Write(ExportFormat::kJsonl, samples);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  ASSERT_EQ(lines.size(), samples.size() + 1);  // Trailing newline.
  EXPECT_EQ(lines.back(), "");
  for (size_t i = 0; i < samples.size(); ++i) {
    v1::DecisionResult parsed;
    auto status =
        google::protobuf::util::JsonStringToMessage(lines[i], &parsed);
    ASSERT_TRUE(status.ok()) << status.ToString() << ": " << lines[i];
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
        parsed, samples.result(i)))
        << lines[i];
  }
}

TEST(JsonlExporterTest, StreamingWriterMatchesWholeExport) {
  SampleDecisions samples;
  EXPECT_EQ(Stream(ExportFormat::kJsonl, samples),
            Write(ExportFormat::kJsonl, samples));
}

TEST(CsvExporterTest, HeaderHasTheDocumentedColumns) {
  SampleDecisions samples;
  std::string text = Write(ExportFormat::kCsv, samples);
  EXPECT_EQ(text.substr(0, text.find("\r\n")),
            "finding_id,kind,cve,package,installed_version,asset,treatment,"
            "priority,mitigate_by,remediate_by,review_by,matched_rule,"
            "exception,residual_risk,reasons,error");
}

TEST(CsvExporterTest, RoundTripsThroughTheReader) {
  SampleDecisions samples;
  std::string text = Write(ExportFormat::kCsv, samples);
  absl::StatusOr<std::vector<DecisionCsvRecord>> records =
      ReadDecisionCsv(text, "decisions.csv");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), samples.size());
  std::vector<DecidedFinding> decided = samples.Decided();
  for (size_t i = 0; i < decided.size(); ++i) {
    EXPECT_TRUE((*records)[i] == ToDecisionCsvRecord(decided[i])) << i;
  }
  // Commas, quotes, line breaks and non-ASCII survive unchanged.
  const DecisionCsvRecord& odd = (*records)[7];
  EXPECT_EQ(odd.finding_id, "odd,id \"7\"");
  EXPECT_EQ(odd.package, "weird,pkg \"quoted\"");
  EXPECT_EQ(odd.installed_version, "1.0\r\n2.0");
  EXPECT_EQ(odd.asset, "café-server");
  EXPECT_EQ(odd.matched_rule, "rule,with,commas");
  EXPECT_EQ(odd.exception, "EX-1 (expired)");
  EXPECT_EQ(odd.remediate_by, "2026-02-01T12:30:00.250Z");
  EXPECT_EQ(odd.residual_risk, "3.25");
  EXPECT_THAT(odd.reasons,
              ElementsAre("first, with \"quotes\"", "second — ünïcødé 日本"));

  const DecisionCsvRecord& mtr = (*records)[1];
  EXPECT_EQ(mtr.kind, "vulnerability");
  EXPECT_EQ(mtr.cve, "CVE-2024-3094");
  EXPECT_EQ(mtr.treatment, "MITIGATE_THEN_REMEDIATE");
  EXPECT_EQ(mtr.mitigate_by, "2026-01-01T04:00:00Z");
  EXPECT_EQ(mtr.review_by, "");

  const DecisionCsvRecord& error = (*records)[5];
  EXPECT_EQ(error.treatment, "");
  EXPECT_EQ(error.residual_risk, "");
  EXPECT_EQ(error.error, "INVALID_ARGUMENT: finding.kind is required");
}

TEST(CsvExporterTest, StreamingWriterMatchesWholeExportAndEmptyHasHeader) {
  SampleDecisions samples;
  EXPECT_EQ(Stream(ExportFormat::kCsv, samples),
            Write(ExportFormat::kCsv, samples));
  std::ostringstream out;
  ASSERT_TRUE(WriteDecisions(ExportFormat::kCsv, {}, {}, &out).ok());
  absl::StatusOr<std::vector<DecisionCsvRecord>> records =
      ReadDecisionCsv(out.str());
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_TRUE(records->empty());
  EXPECT_THAT(out.str(), ::testing::StartsWith("finding_id,"));
}

TEST(CsvExporterTest, ReaderRejectsMissingColumnsAndRaggedRows) {
  absl::StatusOr<std::vector<DecisionCsvRecord>> missing =
      ReadDecisionCsv("finding_id,kind\r\nx,y\r\n", "d.csv");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("d.csv:1: header lacks column \"cve\""));

  SampleDecisions samples;
  std::string text = Write(ExportFormat::kCsv, samples);
  text += "only,three,cells\r\n";
  absl::StatusOr<std::vector<DecisionCsvRecord>> ragged =
      ReadDecisionCsv(text, "d.csv");
  EXPECT_EQ(ragged.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ragged.status().message(), HasSubstr("3 cells, the header has"));
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// Display width in code points, as the table counts.
size_t Width(const std::string& text) {
  size_t width = 0;
  for (char c : text) width += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return width;
}

TEST(TableExporterTest, AlignsColumnsAndShowsDecisionsAndErrors) {
  SampleDecisions samples;
  std::vector<std::string> lines = Lines(Write(ExportFormat::kTable, samples));
  ASSERT_EQ(lines.size(), samples.size() + 2);  // Header and rule.
  EXPECT_THAT(lines[0], ::testing::StartsWith("FINDING"));
  EXPECT_THAT(lines[0], HasSubstr("TREATMENT"));
  // Every column starts at the same offset on every row.
  size_t treatment_column =
      Width(lines[0].substr(0, lines[0].find("TREATMENT")));
  for (size_t i = 2; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].find('\n'), std::string::npos);
  }
  auto column_text = [&](size_t row) {
    // Walk code points to the TREATMENT column.
    const std::string& line = lines[row];
    size_t seen = 0;
    size_t byte = 0;
    while (byte < line.size() && seen < treatment_column) {
      if ((static_cast<unsigned char>(line[byte]) & 0xC0) != 0x80) ++seen;
      ++byte;
      while (byte < line.size() &&
             (static_cast<unsigned char>(line[byte]) & 0xC0) == 0x80) {
        ++byte;
      }
    }
    return line.substr(byte, line.find(' ', byte) - byte);
  };
  EXPECT_EQ(column_text(2), "REMEDIATE");
  EXPECT_EQ(column_text(3), "MITIGATE_THEN_REMEDIATE");
  EXPECT_EQ(column_text(4), "ACCEPT");
  EXPECT_EQ(column_text(7), "ERROR");
  EXPECT_THAT(lines[7],
              HasSubstr("INVALID_ARGUMENT: finding.kind is required"));
  EXPECT_THAT(lines[3], HasSubstr("2026-01-01 04:00Z"));
  EXPECT_THAT(lines[9], HasSubstr("rule,with,commas [EX-1 (expired)]"));
  // The version cell "1.0\r\n2.0" stays on one line.
  EXPECT_THAT(lines[9], HasSubstr("weird,pkg \"quoted\"@1.0  2.0"));
}

TEST(TableExporterTest, TruncatesLongCellsWithEllipsis) {
  SampleDecisions samples;
  samples.finding(0).set_id(std::string(100, 'x'));
  samples.result(0).set_finding_id(std::string(100, 'x'));
  ExportOptions options;
  options.table_max_cell_width = 12;
  std::vector<std::string> lines =
      Lines(Write(ExportFormat::kTable, samples, options));
  EXPECT_THAT(lines[2], ::testing::StartsWith(std::string(11, 'x') + "…  "));
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find(std::string(12, 'x')), std::string::npos);
  }
  // Non-ASCII cells are cut on character boundaries.
  samples.finding(0).set_id("");
  samples.result(0).set_finding_id("ünïcødé-ünïcødé-ünïcødé");
  lines = Lines(Write(ExportFormat::kTable, samples, options));
  EXPECT_THAT(lines[2], ::testing::StartsWith("ünïcødé-ünï…  "));
}

TEST(TableExporterTest, StreamingWriterFitsWidthsToFirstRows) {
  SampleDecisions samples;
  ExportOptions options;
  options.table_fit_rows = 1;
  std::vector<std::string> lines =
      Lines(Stream(ExportFormat::kTable, samples, options));
  ASSERT_EQ(lines.size(), samples.size() + 2);
  // Widths come from row 0 only ("trivy:CVE-2023-0464:1", 21 wide), so the
  // longer ids of later rows are cut to that width.
  EXPECT_THAT(lines[3], ::testing::StartsWith("grype:CVE-2024-3094:2  "));
  EXPECT_THAT(lines[4], ::testing::StartsWith("trivy:CVE-2021-44228…  "));
  // With every row buffered the same row is not cut.
  lines = Lines(Write(ExportFormat::kTable, samples, options));
  EXPECT_THAT(lines[4], ::testing::StartsWith("trivy:CVE-2021-44228:3"));
}

}  // namespace
}  // namespace treatd::exporters
