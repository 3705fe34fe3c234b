// Writes the report tests' made-up ledger history into a SQLite file:
//   kpi_report_fixture OUT.db [--hostile] [--findings N]
// The Chromium render test (chromium_render_test.py) runs it, then
// `treatctl ledger report` on the file.
#include <cstdlib>
#include <iostream>
#include <string>

#include "tests/client/report/ledger_history.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr
        << "usage: kpi_report_fixture OUT.db [--hostile] [--findings N]\n";
    return 2;
  }
  treatd::report::testing::HistoryOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--hostile") {
      options.hostile_owners = true;
    } else if (arg == "--findings" && i + 1 < argc) {
      options.findings = std::atoi(argv[++i]);
    } else {
      std::cerr << "kpi_report_fixture: unknown argument " << arg << "\n";
      return 2;
    }
  }
  const absl::Status written = treatd::report::testing::WriteHistoryLedger(
      std::string("sqlite:") + argv[1], options);
  if (!written.ok()) {
    std::cerr << "kpi_report_fixture: " << written << "\n";
    return 1;
  }
  return 0;
}
