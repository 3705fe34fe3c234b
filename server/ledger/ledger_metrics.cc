#include "server/ledger/ledger_metrics.h"

#include <cstdint>
#include <utility>

#include "absl/time/clock.h"
#include "server/metrics/metrics.h"

namespace treatd {
namespace {

prometheus::MetricFamily Family(const char* name, const char* help,
                                prometheus::MetricType type) {
  return prometheus::MetricFamily{name, help, type, {}};
}

// A family of one unlabelled counter.
prometheus::MetricFamily Counter(const char* name, const char* help,
                                 int64_t value) {
  prometheus::MetricFamily family =
      Family(name, help, prometheus::MetricType::Counter);
  family.metric.push_back(CounterValue(static_cast<double>(value)));
  return family;
}

}  // namespace

std::vector<prometheus::MetricFamily> LedgerCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  const absl::StatusOr<ledger::LedgerGauges> gauges =
      ledger_->Gauges(absl::Now());
  prometheus::MetricFamily up =
      Family("treatd_ledger_up", "1 when the ledger answered the gauges' query",
             prometheus::MetricType::Gauge);
  up.metric.push_back(GaugeValue(gauges.ok() ? 1 : 0));
  families.push_back(std::move(up));
  if (gauges.ok()) {
    prometheus::MetricFamily findings =
        Family("treatd_ledger_findings",
               "Findings by condition: open (open, mitigated, accepted), "
               "overdue (past remediate_by), mitigation_debt (mitigated or "
               "accepted past review_by)",
               prometheus::MetricType::Gauge);
    findings.metric.push_back(
        GaugeValue(static_cast<double>(gauges->open), {{"state", "open"}}));
    findings.metric.push_back(GaugeValue(static_cast<double>(gauges->overdue),
                                         {{"state", "overdue"}}));
    findings.metric.push_back(
        GaugeValue(static_cast<double>(gauges->mitigation_debt),
                   {{"state", "mitigation_debt"}}));
    families.push_back(std::move(findings));
    prometheus::MetricFamily events =
        Family("treatd_ledger_events", "Events in the ledger (last sequence)",
               prometheus::MetricType::Gauge);
    events.metric.push_back(GaugeValue(static_cast<double>(gauges->events)));
    families.push_back(std::move(events));
  }
  if (recorder_ != nullptr) {
    const RecorderCounts counts = recorder_->Counts();
    prometheus::MetricFamily recorded =
        Family("treatd_ledger_decisions_recorded_total",
               "Decisions durable in the ledger before they were answered",
               prometheus::MetricType::Counter);
    recorded.metric.push_back(
        CounterValue(static_cast<double>(counts.recorded)));
    families.push_back(std::move(recorded));
    prometheus::MetricFamily unrecorded =
        Family("treatd_ledger_decisions_unrecorded_total",
               "Decisions not recorded, by reason: database_down_answered "
               "(answered anyway, --ledger-down answer-and-count), "
               "database_down_refused (answered UNAVAILABLE), rejected (not "
               "recordable; answered as an error)",
               prometheus::MetricType::Counter);
    unrecorded.metric.push_back(
        CounterValue(static_cast<double>(counts.unrecorded),
                     {{"reason", "database_down_answered"}}));
    unrecorded.metric.push_back(
        CounterValue(static_cast<double>(counts.refused),
                     {{"reason", "database_down_refused"}}));
    unrecorded.metric.push_back(CounterValue(
        static_cast<double>(counts.rejected), {{"reason", "rejected"}}));
    families.push_back(std::move(unrecorded));
    prometheus::MetricFamily commits =
        Family("treatd_ledger_commits_total",
               "Hand-overs of decisions to the ledger: one per group of "
               "batch or stream calls, one per unary Decide",
               prometheus::MetricType::Counter);
    commits.metric.push_back(CounterValue(static_cast<double>(counts.commits)));
    families.push_back(std::move(commits));
  }
  // What group commit achieves: events per transaction and transactions
  // per sync (the costs that are paid per group, not per decision).
  const ledger::LedgerStats stats = ledger_->Stats();
  families.push_back(Counter(
      "treatd_ledger_transactions_total",
      "Ledger write transactions committed by this process", stats.commits));
  families.push_back(
      Counter("treatd_ledger_events_written_total",
              "Events this process wrote to the ledger (retries recognised by "
              "their idempotency key excluded)",
              stats.events));
  families.push_back(Counter(
      "treatd_ledger_syncs_total",
      "fdatasync calls that made committed transactions durable (SQLite, "
      "--ledger-sqlite-sync full)",
      stats.syncs));
  if (sweep_ != nullptr) {
    const SweepCounts counts = sweep_->Counts();
    prometheus::MetricFamily runs =
        Family("treatd_ledger_sweep_runs_total",
               "Revisit sweep runs this replica made holding the lease",
               prometheus::MetricType::Counter);
    runs.metric.push_back(CounterValue(static_cast<double>(counts.runs)));
    families.push_back(std::move(runs));
    prometheus::MetricFamily decided =
        Family("treatd_ledger_sweep_decisions_total",
               "Findings the sweep decided again and recorded, by reason",
               prometheus::MetricType::Counter);
    decided.metric.push_back(CounterValue(
        static_cast<double>(counts.review_due), {{"reason", "review_due"}}));
    decided.metric.push_back(
        CounterValue(static_cast<double>(counts.feed_changed),
                     {{"reason", "feeds_changed"}}));
    families.push_back(std::move(decided));
    prometheus::MetricFamily notices =
        Family("treatd_ledger_sweep_notices_total",
               "review_due and overdue events the sweep recorded (once per "
               "finding and date), by type",
               prometheus::MetricType::Counter);
    notices.metric.push_back(
        CounterValue(static_cast<double>(counts.review_due_notices),
                     {{"type", "review_due"}}));
    notices.metric.push_back(CounterValue(
        static_cast<double>(counts.overdue_notices), {{"type", "overdue"}}));
    families.push_back(std::move(notices));
    prometheus::MetricFamily skipped =
        Family("treatd_ledger_sweep_skipped_total",
               "Findings the sweep could not decide again (no snapshot, policy "
               "error, forbidden transition)",
               prometheus::MetricType::Counter);
    skipped.metric.push_back(CounterValue(static_cast<double>(counts.skipped)));
    families.push_back(std::move(skipped));
    prometheus::MetricFamily failed =
        Family("treatd_ledger_sweep_failed_runs_total",
               "Sweep runs that failed (database unavailable)",
               prometheus::MetricType::Counter);
    failed.metric.push_back(
        CounterValue(static_cast<double>(counts.failed_runs)));
    families.push_back(std::move(failed));
  }
  return families;
}

}  // namespace treatd
