// `treatctl ledger report --html FILE`: the ledger's KPIs as one
// self-contained HTML page (client/report/kpi_html.h). It opens the ledger
// database itself (a SQLite file or a PostgreSQL URL, read-only use), so it
// needs no running server. Not thread-safe: one command at a time.
#ifndef TREATD_CLIENT_TREATCTL_LEDGER_REPORT_H_
#define TREATD_CLIENT_TREATCTL_LEDGER_REPORT_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"

namespace treatd {

struct LedgerReportFlags {
  std::string ledger_file;      // SQLite ledger file
  std::string ledger_postgres;  // PostgreSQL URL or conninfo
  std::string html;             // output file
  std::string as_of;            // default: now
  std::string window = "90d";
  std::string recurrence = "30d";
  std::string period = "30d";
  int periods = 12;
};

// Adds `report` under `ledger` (the `treatctl ledger` command); returns it.
CLI::App* AddLedgerReportCommand(CLI::App* ledger, LedgerReportFlags* flags);

// Writes the page. Returns kExitOk; kExitUsage for bad flags or a missing
// ledger file; kExitRpcFailure when the ledger cannot be opened or read;
// kExitFailures when the file cannot be written. Prints a one-line summary
// (file, size, figures) to `out`, errors to `err`.
int RunLedgerReport(const LedgerReportFlags& flags, std::ostream& out,
                    std::ostream& err);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_LEDGER_REPORT_H_
