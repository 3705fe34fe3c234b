// The finding lifecycle as a pure transition function: which event moves a
// finding from which state to which, and which are refused. The table is
// in docs/ledger.md and tested row by row.
//
// Pure; thread-safe.
#ifndef TREATD_COMMON_LEDGER_LIFECYCLE_H_
#define TREATD_COMMON_LEDGER_LIFECYCLE_H_

#include <optional>

#include "absl/status/statusor.h"
#include "common/ledger/event.h"

namespace treatd::ledger {

struct Transition {
  FindingState to = FindingState::kOpen;
  bool new_finding = false;  // the event created the finding
  bool new_episode = false;  // a closed finding opens again (new episode)
  bool recurrence = false;   // remediated -> open: counted as a recurrence
  bool closes = false;       // ends the episode (remediated, false positive)
};

// The state after `kind` happens to a finding in `from` (nullopt: unknown).
//   unknown          + decision              -> open (new finding)
//   unknown          + anything else         -> NOT_FOUND
//   remediated       + decision / reopened   -> open (new episode, recurrence)
//   open|mitigated|accepted + decision/sweep -> unchanged (facts updated)
//   remediated|false_positive + sweep        -> unchanged
//   false_positive   + decision              -> false_positive
//   open|mitigated|accepted + mitigated      -> mitigated
//   open|mitigated|accepted + accepted       -> accepted
//   open|mitigated|accepted + remediated / scan_remediated -> remediated
//   open|mitigated|accepted|remediated + false_positive    -> false_positive
//   false_positive   + reopened              -> open (new episode, not a
//                                              recurrence)
//   mitigated|accepted + review_due          -> unchanged (a notice)
//   open|mitigated   + overdue               -> unchanged (a notice)
// Everything else is FAILED_PRECONDITION naming the state and the event
// (e.g. mitigating a remediated finding: report it seen again first).
absl::StatusOr<Transition> NextState(std::optional<FindingState> from,
                                     EventKind kind);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_LIFECYCLE_H_
