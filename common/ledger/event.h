// The ledger's vocabulary: lifecycle states, event kinds and the event
// record itself. Plain values, no behaviour beyond naming; copy and move
// freely across threads.
#ifndef TREATD_COMMON_LEDGER_EVENT_H_
#define TREATD_COMMON_LEDGER_EVENT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::ledger {

// Where a finding stands. Stored as these numbers; never renumber.
enum class FindingState : int {
  kOpen = 1,
  kMitigated = 2,
  kRemediated = 3,
  kAccepted = 4,
  kFalsePositive = 5,
};

// What an event records. Stored as these numbers; never renumber.
enum class EventKind : int {
  // A Decide/BatchDecide/StreamDecide answer. Creates the finding when it is
  // unknown; on a remediated finding it reopens it (a recurrence).
  kDecision = 1,
  // Outcome reports.
  kMitigated = 2,      // mitigated at `occurred_at` with `control` by `actor`
  kRemediated = 3,     // remediated at `occurred_at`, `evidence`
  kAccepted = 4,       // accepted until `until` by `actor` (the approver)
  kFalsePositive = 5,  // declared a false positive by `actor`
  // Derived from a complete scan of `scope` (see ScanObservation).
  kScanRemediated = 6,  // absent from the scan: remediated, validated
  kReopened = 7,        // remediated and seen again: a recurrence
  // The revisit sweep decided the finding again with the current policy.
  kSweepDecision = 8,
  // Notices the revisit sweep writes when a date passes; they change
  // nothing on the finding. `until` is the date that passed, `occurred_at`
  // when the sweep saw it. One per finding, episode and date (idempotency
  // key "review-due:..." / "overdue:...", see revisit_sweep.h).
  kReviewDue = 9,  // mitigated or accepted and review_by has come
  kOverdue = 10,   // open or mitigated and remediate_by has passed
};

// Lower-case names used in docs, exports and page tokens: "open",
// "mitigated", "remediated", "accepted", "false_positive".
absl::string_view FindingStateName(FindingState state);
// The inverse; nullopt for an unknown name.
std::optional<FindingState> ParseFindingState(absl::string_view name);
// "decision", "mitigated", "remediated", "accepted", "false_positive",
// "scan_remediated", "reopened", "sweep_decision", "review_due", "overdue".
absl::string_view EventKindName(EventKind kind);
std::optional<EventKind> ParseEventKind(absl::string_view name);

// What a decision (or a sweep re-decision) said about a finding.
struct DecisionFacts {
  std::string decision_id;
  v1::Treatment treatment = v1::TREATMENT_UNSPECIFIED;
  std::string priority;   // policy priority name, e.g. "p1"
  int priority_rank = 0;  // 1 = most urgent, as in v1::Decision
  std::string rule;       // matched rule id (or "default")
  std::optional<absl::Time> mitigate_by;
  std::optional<absl::Time> remediate_by;  // the SLA due date
  std::optional<absl::Time> review_by;     // when a mitigation/acceptance
                                           // must be revisited
  double residual_risk = 0;
  std::string policy_digest;  // "sha256:<hex>" of the policy that decided
  // Facts about the finding, kept on its current state.
  v1::FindingKind kind = v1::FINDING_KIND_UNSPECIFIED;
  std::string owner;          // asset owner (team)
  std::string asset;          // asset key: AssetKey() of the finding
  std::string vulnerability;  // canonical vulnerability id, or ""
  // The finding's own first_seen: the SLA clock starts there. Absent: the
  // decision's occurred_at when the finding is new.
  std::optional<absl::Time> first_seen;
  // Optional serialized v1::Finding, kept so the revisit sweep can decide
  // the finding again; stored when the finding is new or the decision
  // changed its facts. Not part of the hash chain.
  std::string finding_snapshot;
  // Instead of finding_snapshot: the finding, serialized by the ledger only
  // if it stores the snapshot (most decisions re-decide an unchanged
  // finding and store none, so serializing each on the caller's thread was
  // wasted). Not owned: must stay valid until the Append that carries the
  // event returns (DecisionRecorder::RecordAsync: until its callback runs).
  // Ignored when finding_snapshot is set.
  const v1::Finding* snapshot_source = nullptr;
};

// One ledger event. The caller fills the "reported" part; the ledger fills
// the "assigned" part when it records the event.
struct Event {
  // --- reported by the caller ---
  EventKind kind = EventKind::kDecision;
  // FindingIdentityKey() of the finding. Required.
  std::string finding_key;
  // When it happened (decision: evaluated_at; outcome: the reported time).
  // Required. Outcomes may not lie in the future (beyond the ledger's clock
  // skew allowance) nor before the finding was first seen.
  absl::Time occurred_at = absl::InfinitePast();
  // Retries carry the same key and are recorded once. Empty: the ledger
  // derives one from the event's content, so a byte-identical report is
  // recorded once too. At most 200 bytes.
  std::string idempotency_key;
  std::string actor;     // who reported, mitigated, approved; "" allowed
  std::string note;      // free text (reason, ticket)
  std::string control;   // kMitigated: the control in place, e.g. "waf"
  std::string evidence;  // kRemediated: what proves it (PR, package version)
  // kAccepted: acceptance expiry (required); kMitigated: review date
  // (optional); kReviewDue / kOverdue: the date that passed.
  std::optional<absl::Time> until;
  std::string scope;       // kScanRemediated / kReopened from a scan: the scope
  DecisionFacts decision;  // kDecision / kSweepDecision only

  // --- assigned by the ledger when recorded ---
  int64_t seq = 0;  // 1, 2, 3, ... without gaps, in chain order
  absl::Time recorded_at = absl::InfinitePast();
  std::optional<FindingState> state_before;  // nullopt: the finding was new
  FindingState state_after = FindingState::kOpen;
  bool recurrence = false;  // this event reopened a remediated finding
  std::string prev_hash;    // hex SHA-256 of the previous event ("0"*64 first)
  std::string hash;         // hex SHA-256(prev_hash, canonical encoding)
};

// A complete scan of one scope (an asset key: an image, a host) at a time.
// Recording it compares the scope's findings in the ledger with the keys the
// scan saw:
//   - open, mitigated or accepted findings of the scope absent from
//     `present_keys` -> kScanRemediated (remediated, validated by re-scan);
//   - remediated findings present again -> kReopened (a recurrence);
//   - present keys unknown to the ledger are counted, not created (a
//     decision creates a finding).
// `kinds` limits the comparison to findings of those kinds (a vulnerability
// scanner says nothing about secrets); empty = every kind.
struct ScanObservation {
  std::string scope;
  absl::Time scanned_at = absl::InfinitePast();
  std::vector<std::string> present_keys;
  std::vector<v1::FindingKind> kinds;
  std::string scanner;          // becomes the events' actor
  std::string idempotency_key;  // the same scan twice is applied once
};

// The idempotency key of a decision event: "decision:t<T>:<decision_id>"
// ("sweep:t<T>:<decision_id>" with `sweep`), T the evaluation time in
// microseconds since the Unix epoch, zero-padded to 16 digits. The decision
// id already depends on that time (it hashes the policy, as_of and the
// finding), so two decisions have the same key exactly when they have the
// same id; the time in front only orders the keys. Keys that grow with time
// land at the end of the events' unique key index, so a commit dirties a
// page or two of it; keys led by a hash would dirty a random page per event
// once the index outgrows the transaction (docs/performance.md).
std::string DecisionIdempotencyKey(bool sweep, absl::Time evaluated_at,
                                   absl::string_view decision_id);

// The key treatd before that recorded the same decision under:
// "decision:<decision_id>" ("sweep:<decision_id>"). The appender still
// looks it up while a ledger holds such keys, so a retry of a decision
// recorded by an older treatd (a rolling upgrade) is recorded once.
std::string LegacyDecisionIdempotencyKey(bool sweep,
                                         absl::string_view decision_id);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_EVENT_H_
