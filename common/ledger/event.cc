#include "common/ledger/event.h"

#include <array>
#include <utility>

#include "absl/strings/str_cat.h"

namespace treatd::ledger {
namespace {

constexpr std::array<std::pair<FindingState, absl::string_view>, 5>
    kStateNames = {{
        {FindingState::kOpen, "open"},
        {FindingState::kMitigated, "mitigated"},
        {FindingState::kRemediated, "remediated"},
        {FindingState::kAccepted, "accepted"},
        {FindingState::kFalsePositive, "false_positive"},
    }};

constexpr std::array<std::pair<EventKind, absl::string_view>, 10> kKindNames = {
    {
        {EventKind::kDecision, "decision"},
        {EventKind::kMitigated, "mitigated"},
        {EventKind::kRemediated, "remediated"},
        {EventKind::kAccepted, "accepted"},
        {EventKind::kFalsePositive, "false_positive"},
        {EventKind::kScanRemediated, "scan_remediated"},
        {EventKind::kReopened, "reopened"},
        {EventKind::kSweepDecision, "sweep_decision"},
        {EventKind::kReviewDue, "review_due"},
        {EventKind::kOverdue, "overdue"},
    }};

template <typename Enum, size_t N>
absl::string_view NameOf(
    const std::array<std::pair<Enum, absl::string_view>, N>& names,
    Enum value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
std::optional<Enum> ValueOf(
    const std::array<std::pair<Enum, absl::string_view>, N>& names,
    absl::string_view name) {
  for (const auto& [v, n] : names) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace

absl::string_view FindingStateName(FindingState state) {
  return NameOf(kStateNames, state);
}

std::optional<FindingState> ParseFindingState(absl::string_view name) {
  return ValueOf(kStateNames, name);
}

absl::string_view EventKindName(EventKind kind) {
  return NameOf(kKindNames, kind);
}

std::optional<EventKind> ParseEventKind(absl::string_view name) {
  return ValueOf(kKindNames, name);
}

std::string DecisionIdempotencyKey(bool sweep, absl::Time evaluated_at,
                                   absl::string_view decision_id) {
  return absl::StrCat(
      sweep ? "sweep:t" : "decision:t",
      absl::Dec(absl::ToUnixMicros(evaluated_at), absl::kZeroPad16), ":",
      decision_id);
}

std::string LegacyDecisionIdempotencyKey(bool sweep,
                                         absl::string_view decision_id) {
  return absl::StrCat(sweep ? "sweep:" : "decision:", decision_id);
}

}  // namespace treatd::ledger
