// The ledger's KPIs as one self-contained HTML page for people: charts
// (inline SVG drawn here, no script, no stylesheet or font from the network)
// with the tables behind them. `treatctl ledger report --html FILE` writes
// it; anything that holds KpiReports can.
//
// Charts: time to remediate by priority (median and p90 over remediated
// findings next to the Kaplan–Meier median that counts still-open findings
// as censored), SLA compliance per period, open findings by age bucket,
// mitigation debt, recurrence and residual risk by owner.
//
// Every string that comes from the ledger (owners, priorities, the source
// description) is HTML-escaped (common/text/escape.h) before it reaches the
// page, in text and in attributes alike.
//
// Stateless functions; thread-safe. No gRPC.
#ifndef TREATD_CLIENT_REPORT_KPI_HTML_H_
#define TREATD_CLIENT_REPORT_KPI_HTML_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/kpi.h"
#include "common/ledger/ledger.h"

namespace treatd::report {

// What the page shows. by_priority and by_owner share as_of, window and
// recurrence_within; periods are consecutive windows ending at as_of.
struct KpiReportData {
  std::string source;  // where the figures come from, e.g. "sqlite:/x.db"
  absl::Time generated_at = absl::InfinitePast();
  ledger::KpiReport by_priority;  // grouped by priority
  ledger::KpiReport by_owner;     // grouped by owner
  // One ungrouped report per period, oldest first; its window is the
  // period. The SLA chart plots total.sla_compliance of each.
  std::vector<ledger::KpiReport> periods;
};

struct ReportOptions {
  absl::Time as_of = absl::InfinitePast();       // required
  absl::Duration window = absl::Hours(24 * 90);  // of the main figures
  absl::Duration recurrence_within = absl::Hours(24 * 30);
  int periods = 12;                              // 1..120
  absl::Duration period = absl::Hours(24 * 30);  // of the SLA series
};

// Computes the figures the page needs from `ledger`: two grouped reports
// at as_of and one per period. INVALID_ARGUMENT for bad options (naming
// the option and the allowed range); otherwise the ledger's error.
absl::StatusOr<KpiReportData> CollectKpiReport(const ledger::Ledger& ledger,
                                               const ReportOptions& options,
                                               std::string source);

// The page. Deterministic for the same data (no clock is read).
std::string RenderKpiHtml(const KpiReportData& data);

// The ids of the charts RenderKpiHtml draws, in page order (each is the id
// of an <svg> element; tests look for their marks).
const std::vector<std::string>& KpiChartIds();

}  // namespace treatd::report

#endif  // TREATD_CLIENT_REPORT_KPI_HTML_H_
