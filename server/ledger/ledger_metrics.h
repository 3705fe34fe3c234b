// The ledger's Prometheus metrics, computed at scrape time:
//   treatd_ledger_findings{state="open|overdue|mitigation_debt"}  gauge
//       open: open, mitigated or accepted; overdue: open or mitigated past
//       remediate_by; mitigation_debt: mitigated or accepted past review_by
//   treatd_ledger_events                                 gauge (last seq)
//   treatd_ledger_decisions_recorded_total               counter
//   treatd_ledger_decisions_unrecorded_total{reason}     counter
//       reason: database_down_answered (--ledger-down answer-and-count),
//       database_down_refused (fail-closed: answered UNAVAILABLE),
//       rejected (not recordable, e.g. no identity: an item error)
//   treatd_ledger_commits_total                          counter
//       hand-overs to the ledger (a group of batch calls, a unary Decide)
//   treatd_ledger_transactions_total                     counter
//   treatd_ledger_events_written_total                   counter
//   treatd_ledger_syncs_total                            counter
//       this process's write transactions, the events they wrote and the
//       fdatasyncs that made them durable: events per transaction and
//       transactions per sync are what group commit achieves
//   treatd_ledger_sweep_runs_total                       counter
//   treatd_ledger_sweep_decisions_total{reason="review_due|feeds_changed"}
//   treatd_ledger_sweep_skipped_total                    counter
//   treatd_ledger_up                                     gauge (0 when the
//       gauges' query failed)
//
// Thread-safe: Collect runs on the metrics server's threads and only reads.
#ifndef TREATD_SERVER_LEDGER_LEDGER_METRICS_H_
#define TREATD_SERVER_LEDGER_LEDGER_METRICS_H_

#include <vector>

#include "common/ledger/ledger.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"
#include "server/ledger/decision_recorder.h"
#include "server/ledger/revisit_sweep.h"

namespace treatd {

class LedgerCollector : public prometheus::Collectable {
 public:
  // None owned; all must outlive the collector. `sweep` may be null.
  LedgerCollector(const ledger::Ledger* ledger,
                  const DecisionRecorder* recorder, const RevisitSweep* sweep)
      : ledger_(ledger), recorder_(recorder), sweep_(sweep) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const ledger::Ledger* const ledger_;
  const DecisionRecorder* const recorder_;
  const RevisitSweep* const sweep_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_LEDGER_LEDGER_METRICS_H_
