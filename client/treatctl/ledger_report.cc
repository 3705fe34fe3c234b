#include "client/treatctl/ledger_report.h"

#include <fstream>
#include <memory>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/report/kpi_html.h"
#include "client/treatctl/treatctl.h"
#include "common/ledger/ledger.h"
#include "common/time/time_text.h"

namespace treatd {
namespace {

int Fail(const absl::Status& status, std::ostream& err, int code) {
  err << "treatctl ledger report: " << status.message() << "\n";
  return code;
}

absl::StatusOr<absl::Duration> PositiveDuration(const std::string& text,
                                                const char* flag) {
  absl::StatusOr<absl::Duration> d = ParseDurationText(text);
  if (!d.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", d.status().message()));
  }
  if (*d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": must be positive, e.g. 30d"));
  }
  return d;
}

}  // namespace

CLI::App* AddLedgerReportCommand(CLI::App* ledger, LedgerReportFlags* flags) {
  CLI::App* report = ledger->add_subcommand(
      "report",
      "Write the KPIs as one self-contained HTML page with charts (opens the "
      "ledger database; no server needed)");
  CLI::Option* file =
      report->add_option("--ledger", flags->ledger_file, "SQLite ledger file");
  CLI::Option* postgres =
      report
          ->add_option("--ledger-postgres", flags->ledger_postgres,
                       "PostgreSQL ledger (postgresql:// URL or libpq "
                       "conninfo)")
          ->excludes(file);
  file->excludes(postgres);
  report->add_option("--html", flags->html, "Write the page to this file")
      ->required();
  report->add_option("--as-of", flags->as_of,
                     "Compute as of this time (RFC 3339 or YYYY-MM-DD; "
                     "default: now)");
  report->add_option("--window", flags->window, "Window ending at as-of")
      ->capture_default_str();
  report
      ->add_option("--recurrence", flags->recurrence,
                   "A remediation reopened within this long is a recurrence")
      ->capture_default_str();
  report
      ->add_option("--period", flags->period,
                   "Length of each period of the SLA-over-time chart")
      ->capture_default_str();
  report
      ->add_option("--periods", flags->periods,
                   "Number of periods of the SLA-over-time chart")
      ->check(CLI::Range(1, 120))
      ->capture_default_str();
  return report;
}

int RunLedgerReport(const LedgerReportFlags& flags, std::ostream& out,
                    std::ostream& err) {
  if (flags.ledger_file.empty() == flags.ledger_postgres.empty()) {
    return Fail(
        absl::InvalidArgumentError("name the ledger: --ledger FILE (SQLite) or "
                                   "--ledger-postgres URL"),
        err, kExitUsage);
  }
  report::ReportOptions options;
  options.as_of = absl::Now();
  if (!flags.as_of.empty()) {
    absl::StatusOr<absl::Time> as_of = ParseTimestampText(flags.as_of);
    if (!as_of.ok()) {
      return Fail(absl::InvalidArgumentError(
                      absl::StrCat("--as-of: ", as_of.status().message())),
                  err, kExitUsage);
    }
    options.as_of = *as_of;
  }
  for (const auto& [text, flag, field] :
       {std::make_tuple(&flags.window, "--window", &options.window),
        std::make_tuple(&flags.recurrence, "--recurrence",
                        &options.recurrence_within),
        std::make_tuple(&flags.period, "--period", &options.period)}) {
    absl::StatusOr<absl::Duration> d = PositiveDuration(*text, flag);
    if (!d.ok()) return Fail(d.status(), err, kExitUsage);
    *field = *d;
  }
  options.periods = flags.periods;

  ledger::LedgerOptions ledger_options;
  std::string source;
  if (!flags.ledger_file.empty()) {
    // Open would create a missing file; a report of nothing is a mistake.
    if (!std::ifstream(flags.ledger_file).good()) {
      return Fail(absl::NotFoundError(absl::StrCat(
                      "--ledger: no ledger file at ", flags.ledger_file)),
                  err, kExitUsage);
    }
    ledger_options.url = flags.ledger_file;
    source = absl::StrCat("sqlite:", flags.ledger_file);
  } else {
    ledger_options.url =
        absl::StartsWith(flags.ledger_postgres, "postgres")
            ? flags.ledger_postgres
            : absl::StrCat("postgresql:", flags.ledger_postgres);
    // Never print the password a URL may carry.
    source = "postgresql";
  }
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened =
      ledger::Ledger::Open(std::move(ledger_options));
  if (!opened.ok()) return Fail(opened.status(), err, kExitRpcFailure);
  absl::StatusOr<report::KpiReportData> data =
      report::CollectKpiReport(**opened, options, source);
  if (!data.ok()) {
    return Fail(data.status(), err,
                data.status().code() == absl::StatusCode::kInvalidArgument
                    ? kExitUsage
                    : kExitRpcFailure);
  }
  data->generated_at = absl::Now();
  const std::string html = report::RenderKpiHtml(*data);
  std::ofstream file(flags.html, std::ios::binary | std::ios::trunc);
  file << html;
  file.close();
  if (!file) {
    return Fail(absl::UnavailableError(
                    absl::StrCat("--html: cannot write ", flags.html)),
                err, kExitFailures);
  }
  const ledger::KpiRow& total = data->by_priority.total;
  out << "wrote " << flags.html << " (" << html.size()
      << " bytes): " << total.open << " open, " << total.open_past_due
      << " past due, " << total.mitigation_debt << " past review, "
      << data->by_priority.rows.size() << " priorities, "
      << data->by_owner.rows.size() << " owners, " << data->periods.size()
      << " periods\n";
  return kExitOk;
}

}  // namespace treatd
