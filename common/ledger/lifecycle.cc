#include "common/ledger/lifecycle.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace treatd::ledger {
namespace {

bool Unresolved(FindingState state) {
  return state == FindingState::kOpen || state == FindingState::kMitigated ||
         state == FindingState::kAccepted;
}

absl::Status Refused(FindingState from, EventKind kind, absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("finding is ", FindingStateName(from), ": cannot record '",
                   EventKindName(kind), "'; ", why));
}

}  // namespace

absl::StatusOr<Transition> NextState(std::optional<FindingState> from,
                                     EventKind kind) {
  if (!from.has_value()) {
    if (kind == EventKind::kDecision) {
      return Transition{FindingState::kOpen, /*new_finding=*/true};
    }
    return absl::NotFoundError(
        absl::StrCat("finding unknown to the ledger: '", EventKindName(kind),
                     "' needs a finding that was decided before"));
  }
  const FindingState state = *from;
  Transition t{state};
  switch (kind) {
    case EventKind::kDecision:
      if (state == FindingState::kRemediated) {
        t.to = FindingState::kOpen;
        t.new_episode = true;
        t.recurrence = true;
      }
      return t;
    case EventKind::kSweepDecision:
      return t;
    case EventKind::kReviewDue:
      if (state != FindingState::kMitigated &&
          state != FindingState::kAccepted) {
        return Refused(state, kind,
                       "only a mitigation or acceptance comes up for review");
      }
      return t;
    case EventKind::kOverdue:
      if (state != FindingState::kOpen && state != FindingState::kMitigated) {
        return Refused(state, kind,
                       "only an open or mitigated finding can be overdue");
      }
      return t;
    case EventKind::kMitigated:
    case EventKind::kAccepted:
      if (!Unresolved(state)) {
        return Refused(state, kind,
                       "it is closed; report it seen again (reopened) first");
      }
      t.to = kind == EventKind::kMitigated ? FindingState::kMitigated
                                           : FindingState::kAccepted;
      return t;
    case EventKind::kRemediated:
    case EventKind::kScanRemediated:
      if (!Unresolved(state)) {
        return Refused(state, kind, "it is already closed");
      }
      t.to = FindingState::kRemediated;
      t.closes = true;
      return t;
    case EventKind::kFalsePositive:
      if (state == FindingState::kFalsePositive) {
        return Refused(state, kind, "it is already a false positive");
      }
      t.to = FindingState::kFalsePositive;
      // A remediated episode is already closed; reclassifying it keeps the
      // close time.
      t.closes = state != FindingState::kRemediated;
      return t;
    case EventKind::kReopened:
      if (state == FindingState::kRemediated ||
          state == FindingState::kFalsePositive) {
        t.to = FindingState::kOpen;
        t.new_episode = true;
        t.recurrence = state == FindingState::kRemediated;
        return t;
      }
      return Refused(state, kind, "only a closed finding can be reopened");
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown event kind ", static_cast<int>(kind)));
}

}  // namespace treatd::ledger
