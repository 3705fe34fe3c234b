#include "client/treatctl/result_printer.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"

namespace treatd {
namespace {

constexpr char kRowFormat[] = "%-24s %-23s %-8s %-17s %-17s %-17s %s\n";

std::string Deadline(bool set, const google::protobuf::Timestamp& time) {
  if (!set) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%MZ",
                          absl::FromUnixSeconds(time.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view name) {
  if (name == "table") return OutputFormat::kTable;
  if (name == "jsonl") return OutputFormat::kJsonl;
  return absl::InvalidArgumentError(
      absl::StrCat("--format: must be table or jsonl, got ", name));
}

ResultPrinter::ResultPrinter(OutputFormat format, std::ostream* out)
    : format_(format), out_(out) {}

void ResultPrinter::Print(const v1::DecisionResult& result) {
  if (result.has_error()) {
    ++failed_;
  } else {
    ++decided_;
  }
  if (format_ == OutputFormat::kTable) {
    PrintTableRow(result);
    return;
  }
  line_.clear();
  const auto status =
      google::protobuf::util::MessageToJsonString(result, &line_);
  if (!status.ok()) {
    // Only invalid UTF-8 in a string field can fail here; say so in-line
    // rather than dropping the result.
    line_ = absl::StrCat(R"({"findingId":"?","error":{"code":13,"message":)",
                         R"("cannot print this result as JSON"}})");
  }
  *out_ << line_ << '\n';
}

void ResultPrinter::PrintTableRow(const v1::DecisionResult& result) {
  if (!header_printed_) {
    *out_ << absl::StrFormat(kRowFormat, "ID", "TREATMENT", "PRIORITY",
                             "REMEDIATE BY", "MITIGATE BY", "REVIEW BY",
                             "RULE");
    header_printed_ = true;
  }
  const std::string id =
      result.finding_id().empty() ? "(no id)" : result.finding_id();
  if (result.has_error()) {
    const absl::StatusCode code =
        static_cast<absl::StatusCode>(result.error().code());
    *out_ << absl::StrFormat("%-24s %-23s %s: %s\n", id, "ERROR",
                             absl::StatusCodeToString(code),
                             result.error().message());
    return;
  }
  const v1::Decision& decision = result.decision();
  absl::string_view treatment = v1::Treatment_Name(decision.treatment());
  absl::ConsumePrefix(&treatment, "TREATMENT_");
  std::string rule = decision.matched_rule();
  if (decision.has_exception() && decision.exception().applied()) {
    absl::StrAppend(&rule, " (exception ", decision.exception().id(), ")");
  }
  *out_ << absl::StrFormat(
      kRowFormat, id, treatment, decision.priority(),
      Deadline(decision.has_remediate_by(), decision.remediate_by()),
      Deadline(decision.has_mitigate_by(), decision.mitigate_by()),
      Deadline(decision.has_review_by(), decision.review_by()), rule);
}

}  // namespace treatd
