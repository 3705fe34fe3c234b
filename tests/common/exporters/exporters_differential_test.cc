// The CSV and JSONL exporters against the decisions they came from: random
// findings (fixed seeds; strings with commas, quotes, line breaks,
// backslashes, UTF-8) decided by the shipped policy, plus per-item errors,
// are exported, the output is parsed back (CSV with the RFC 4180 reader,
// JSONL into DecisionResult) and every cell or message is compared with
// what docs/exporters.md says it holds, computed here from the decision
// itself rather than by the exporter's own helpers.
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/csv/csv.h"
#include "common/exporters/decision_csv.h"
#include "common/exporters/exporter.h"
#include "common/io/read_file.h"
#include "common/policy/engine/compiled_policy.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/common/random_finding.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::exporters {
namespace {

using google::protobuf::util::TimeUtil;

struct Sample {
  std::vector<v1::Finding> findings;
  std::vector<v1::DecisionResult> results;
  std::vector<DecidedFinding> Decided() const {
    std::vector<DecidedFinding> out;
    for (size_t i = 0; i < results.size(); ++i) {
      out.push_back({&findings[i], &results[i]});
    }
    return out;
  }
};

// `n` random findings decided by policies/default.yaml; every seventh is a
// per-item error instead, and some decisions get hostile rule, priority and
// reason texts (a policy author writes those).
Sample MakeSample(uint32_t seed, int n) {
  static const std::shared_ptr<const CompiledPolicy> policy = [] {
    absl::StatusOr<std::string> yaml = ReadFileToString(
        absl::StrCat(TREATD_SOURCE_DIR, "/policies/default.yaml"));
    EXPECT_TRUE(yaml.ok()) << yaml.status();
    auto compiled = CompiledPolicy::Compile(*yaml, "default.yaml");
    EXPECT_TRUE(compiled.ok()) << compiled.status();
    return *compiled;
  }();
  testing::RandomFindingOptions options;
  options.set_percent = 50;
  testing::RandomFindings random(seed, options);
  Sample sample;
  sample.findings.reserve(n);
  sample.results.reserve(n);
  for (int i = 0; i < n; ++i) {
    sample.findings.push_back(random.Next());
    const v1::Finding& finding = sample.findings.back();
    v1::DecisionResult& result = sample.results.emplace_back();
    result.set_finding_id(random.Chance(80) ? finding.id() : "");
    result.set_index(i);
    if (i % 7 == 3) {
      result.mutable_error()->set_code(3 + random.Uniform(10));
      result.mutable_error()->set_message(random.Word());
      continue;
    }
    EvalOptions eval;
    eval.as_of = absl::FromUnixSeconds(1796083200);
    v1::Decision* decision = result.mutable_decision();
    const absl::Status status = policy->Evaluate(finding, eval, decision);
    EXPECT_TRUE(status.ok()) << status << finding.ShortDebugString();
    if (random.Chance(30)) {
      decision->set_matched_rule(random.Word());
      decision->set_priority(random.Word());
      decision->add_reasons(random.Word());
      decision->mutable_exception()->set_id(random.Word());
      decision->mutable_exception()->set_applied(random.Chance(50));
      decision->set_residual_risk(random.Uniform(100000) / 7.0);
    }
  }
  return sample;
}

std::string Export(ExportFormat format, const Sample& sample) {
  std::ostringstream out;
  const std::vector<DecidedFinding> decided = sample.Decided();
  const absl::Status status =
      WriteDecisions(format, decided, ExportOptions(), &out);
  EXPECT_TRUE(status.ok()) << status;
  return out.str();
}

std::string EnumSuffix(const google::protobuf::EnumDescriptor* type, int number,
                       absl::string_view prefix) {
  const auto* value = type->FindValueByNumber(number);
  if (value == nullptr || number == 0) return "";
  return std::string(absl::StripPrefix(value->name(), prefix));
}

// A timestamp cell: empty when unset, else RFC 3339 naming the same
// instant.
void ExpectTimeCell(const std::string& cell, bool has,
                    const google::protobuf::Timestamp& expected,
                    const std::string& what) {
  if (!has) {
    EXPECT_EQ(cell, "") << what;
    return;
  }
  google::protobuf::Timestamp parsed;
  ASSERT_TRUE(TimeUtil::FromString(cell, &parsed)) << what << ": " << cell;
  EXPECT_EQ(parsed.seconds(), expected.seconds()) << what;
  EXPECT_EQ(parsed.nanos(), expected.nanos()) << what;
}

TEST(ExportersDifferentialTest, CsvCellsHoldWhatTheDecisionsSay) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const Sample sample = MakeSample(seed, 60);
    const std::string csv = Export(ExportFormat::kCsv, sample);
    // Parse with the plain RFC 4180 reader: cells as written, no decision
    // knowledge.
    std::istringstream in(csv);
    csv::CsvReader reader(&in, "export.csv");
    std::vector<std::string> header, cells;
    ASSERT_TRUE(*reader.ReadRecord(&header));
    ASSERT_EQ(header.size(), kDecisionCsvColumns.size());
    for (size_t i = 0; i < header.size(); ++i) {
      EXPECT_EQ(header[i], kDecisionCsvColumns[i]);
    }
    auto col = [&](absl::string_view name) -> const std::string& {
      for (size_t i = 0; i < header.size(); ++i) {
        if (header[i] == name) return cells[i];
      }
      ADD_FAILURE() << "no column " << name;
      return cells[0];
    };
    for (size_t row = 0; row < sample.results.size(); ++row) {
      SCOPED_TRACE(absl::StrCat("seed ", seed, " row ", row));
      absl::StatusOr<bool> read = reader.ReadRecord(&cells);
      ASSERT_TRUE(read.ok()) << read.status();
      ASSERT_TRUE(*read);
      ASSERT_EQ(cells.size(), header.size());
      const v1::Finding& f = sample.findings[row];
      const v1::DecisionResult& r = sample.results[row];
      EXPECT_EQ(col("finding_id"),
                r.finding_id().empty() ? f.id() : r.finding_id());
      EXPECT_EQ(col("kind"),
                absl::AsciiStrToLower(EnumSuffix(v1::FindingKind_descriptor(),
                                                 f.kind(), "FINDING_KIND_")));
      std::string cve = f.vulnerability().cve_id();
      for (const std::string& alias : f.vulnerability().aliases()) {
        if (cve.empty()) cve = alias;
      }
      EXPECT_EQ(col("cve"), cve);
      EXPECT_EQ(col("package"), f.package().name());
      EXPECT_EQ(col("installed_version"), f.package().installed_version());
      EXPECT_EQ(col("asset"),
                f.asset().id().empty() ? f.asset().name() : f.asset().id());
      if (r.has_error()) {
        EXPECT_EQ(col("treatment"), "");
        EXPECT_EQ(col("residual_risk"), "");
        EXPECT_EQ(
            col("error"),
            absl::StrCat(absl::StatusCodeToString(
                             static_cast<absl::StatusCode>(r.error().code())),
                         ": ", r.error().message()));
        continue;
      }
      const v1::Decision& d = r.decision();
      EXPECT_EQ(col("treatment"), EnumSuffix(v1::Treatment_descriptor(),
                                             d.treatment(), "TREATMENT_"));
      EXPECT_EQ(col("priority"), d.priority());
      EXPECT_EQ(col("matched_rule"), d.matched_rule());
      ExpectTimeCell(col("mitigate_by"), d.has_mitigate_by(), d.mitigate_by(),
                     "mitigate_by");
      ExpectTimeCell(col("remediate_by"), d.has_remediate_by(),
                     d.remediate_by(), "remediate_by");
      ExpectTimeCell(col("review_by"), d.has_review_by(), d.review_by(),
                     "review_by");
      EXPECT_EQ(
          col("exception"),
          d.exception().id().empty()
              ? ""
              : absl::StrCat(d.exception().id(),
                             d.exception().applied() ? "" : " (expired)"));
      // Scores are written with six significant digits.
      double risk = 0;
      ASSERT_TRUE(absl::SimpleAtod(col("residual_risk"), &risk))
          << col("residual_risk");
      EXPECT_NEAR(risk, d.residual_risk(),
                  std::max(1e-5 * std::fabs(d.residual_risk()), 1e-12));
      EXPECT_EQ(col("reasons"), absl::StrJoin(d.reasons(), "\n"));
      EXPECT_EQ(col("error"), "");
    }
    absl::StatusOr<bool> end = reader.ReadRecord(&cells);
    ASSERT_TRUE(end.ok());
    EXPECT_FALSE(*end) << "rows after the last decision";
    // The typed reader agrees with the plain one, row for row.
    absl::StatusOr<std::vector<DecisionCsvRecord>> records =
        ReadDecisionCsv(csv);
    ASSERT_TRUE(records.ok()) << records.status();
    ASSERT_EQ(records->size(), sample.results.size());
    const std::vector<DecidedFinding> decided = sample.Decided();
    for (size_t i = 0; i < decided.size(); ++i) {
      EXPECT_EQ(DecisionCsvCells((*records)[i]),
                DecisionCsvCells(ToDecisionCsvRecord(decided[i])))
          << "row " << i;
    }
  }
}

TEST(ExportersDifferentialTest, JsonlLinesParseBackToTheSameResults) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  for (uint32_t seed = 100; seed < 120; ++seed) {
    const Sample sample = MakeSample(seed, 60);
    const std::string jsonl = Export(ExportFormat::kJsonl, sample);
    std::vector<absl::string_view> lines =
        absl::StrSplit(jsonl, '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), sample.results.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      v1::DecisionResult parsed;
      const auto status = google::protobuf::util::JsonStringToMessage(
          std::string(lines[i]), &parsed);
      ASSERT_TRUE(status.ok()) << status << "\n" << lines[i];
      google::protobuf::util::MessageDifferencer differencer;
      differencer.set_field_comparator(&comparator);
      std::string diff;
      differencer.ReportDifferencesToString(&diff);
      EXPECT_TRUE(differencer.Compare(sample.results[i], parsed))
          << "seed " << seed << " line " << i << ": " << diff;
    }
  }
}

}  // namespace
}  // namespace treatd::exporters
