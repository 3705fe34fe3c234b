// The ledger on the wire: conversions between the ledger library's values
// (common/ledger) and the treatd.v1 LedgerService messages, and the request
// checks that go with them. The server's handlers and treatctl both use
// these, so a field is spelled and checked in one place. No gRPC.
//
// Stateless functions; thread-safe.
#ifndef TREATD_COMMON_LEDGER_WIRE_LEDGER_WIRE_H_
#define TREATD_COMMON_LEDGER_WIRE_LEDGER_WIRE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/event.h"
#include "common/ledger/kpi.h"
#include "common/ledger/query.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/ledger_service.pb.h"

namespace treatd::ledger {

// The kDecision (or, with `sweep`, kSweepDecision) event recording that
// `decision` answered `finding`: the identity key, the decision's
// evaluation time, its id as the idempotency key (so a retried call with
// the same as_of is recorded once) and the facts the ledger keeps. With
// `snapshot`, the serialized finding rides along so the revisit sweep can
// decide it again. INVALID_ARGUMENT when the finding has no identity
// (FindingIdentityKey's message, which names the field to set).
absl::StatusOr<Event> DecisionEvent(const v1::Finding& finding,
                                    const v1::Decision& decision, bool snapshot,
                                    bool sweep = false);
// The same event written into `event`, which must be default-constructed
// (e.g. just added to a batch's vector): an event holds some twenty
// strings, and each move of it costs about as much as copying the short
// ones. On error `event` is left partly written.
absl::Status DecisionEventInto(const v1::Finding& finding,
                               const v1::Decision& decision, bool snapshot,
                               bool sweep, Event* event);

// The outcome event `request` reports. `now` fills an unset occurred_at.
// INVALID_ARGUMENT (naming the field) for a missing or unknown outcome,
// neither or both of identity_key and finding, a finding without identity,
// a bad timestamp, ACCEPTED without `until`, `until` (an acceptance's end,
// a mitigation's review date) not after occurred_at or on another outcome.
// Dates against the finding's history (future, before first seen) are the
// ledger's check.
absl::StatusOr<Event> OutcomeEvent(const v1::ReportOutcomeRequest& request,
                                   absl::Time now);

// The idempotency key of an outcome reported without a time and without
// a key (its occurred_at is the server's clock, so the content-derived key
// would differ on every retry): "outcome:g<G>:" + 32 hex digits of the
// SHA-256 of what was reported apart from the time (finding, kind, actor,
// control, evidence, note, until). G is the sequence number of the
// finding's latest event, in `history` (its events in sequence order,
// Ledger::GetFinding), that is neither a report of this same content nor a
// decision, sweep decision or review_due/overdue notice that kept the
// state: a retry gets the first report's key and is recorded once, also
// with decisions in between; any other event between them (another
// outcome report, even one that kept the state, a state change) makes a
// later identical report a new event.
std::string UndatedOutcomeKey(const Event& report,
                              const std::vector<Event>& history);

// The scan `request` reports; `now` fills an unset scanned_at.
// INVALID_ARGUMENT naming the field for a missing scope, a bad timestamp,
// an unknown kind or a finding without identity.
absl::StatusOr<ScanObservation> ScanFromProto(
    const v1::ObserveScanRequest& request, absl::Time now);

// The filter and page of `request`; `now` is the as_of when unset.
// INVALID_ARGUMENT naming the field for an unknown state or kind, a bad
// timestamp, an asset not spelled "id=..." or "name=..." or a negative
// page size (one above the maximum is lowered to it by the ledger).
absl::StatusOr<FindingFilter> FilterFromProto(
    const v1::ListFindingsRequest& request, absl::Time now);

// The KPI query of `request`; `now` is the as_of when unset.
// INVALID_ARGUMENT naming the field for a bad timestamp or duration or an
// unknown grouping.
absl::StatusOr<KpiQuery> KpiQueryFromProto(const v1::GetKpisRequest& request,
                                           absl::Time now);

v1::FindingState StateToProto(FindingState state);
// nullopt for FINDING_STATE_UNSPECIFIED or an unknown number.
std::optional<FindingState> StateFromProto(v1::FindingState state);
v1::LedgerEventType KindToProto(EventKind kind);

void EventToProto(const Event& event, v1::LedgerEvent* out);
// `as_of` decides the overdue and review_due flags.
void FindingToProto(const FindingRecord& finding, absl::Time as_of,
                    v1::LedgerFinding* out);
void KpiRowToProto(const KpiRow& row, v1::Kpis* out);
void KpiReportToProto(const KpiReport& report, v1::GetKpisResponse* out);
void VerifyToProto(const VerifyReport& report, v1::VerifyLedgerResponse* out);

// Whether `finding` is open or mitigated past its remediation deadline, and
// mitigated or accepted at or past its review date, at `as_of` (the same
// rules as FindingFilter's overdue and review_due).
bool IsOverdue(const FindingRecord& finding, absl::Time as_of);
bool IsReviewDue(const FindingRecord& finding, absl::Time as_of);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_WIRE_LEDGER_WIRE_H_
