#include "common/ledger/lifecycle.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace treatd::ledger {
namespace {

using S = FindingState;
using K = EventKind;
constexpr std::optional<S> kUnknown = std::nullopt;

struct Row {
  std::optional<S> from;
  K kind;
  // Expected: a state, or an error code when `code` is not OK.
  S to;
  absl::StatusCode code = absl::StatusCode::kOk;
  bool new_episode = false;
  bool recurrence = false;
  bool closes = false;
};

constexpr absl::StatusCode kNotFound = absl::StatusCode::kNotFound;
constexpr absl::StatusCode kRefused = absl::StatusCode::kFailedPrecondition;

// Every state (and "unknown") against every event kind.
const std::vector<Row>& Table() {
  static const std::vector<Row>* const table = new std::vector<Row>{
      // unknown finding: only a decision creates it
      {kUnknown, K::kDecision, S::kOpen},
      {kUnknown, K::kSweepDecision, S::kOpen, kNotFound},
      {kUnknown, K::kMitigated, S::kOpen, kNotFound},
      {kUnknown, K::kRemediated, S::kOpen, kNotFound},
      {kUnknown, K::kAccepted, S::kOpen, kNotFound},
      {kUnknown, K::kFalsePositive, S::kOpen, kNotFound},
      {kUnknown, K::kScanRemediated, S::kOpen, kNotFound},
      {kUnknown, K::kReopened, S::kOpen, kNotFound},
      // open
      {S::kOpen, K::kDecision, S::kOpen},
      {S::kOpen, K::kSweepDecision, S::kOpen},
      {S::kOpen, K::kMitigated, S::kMitigated},
      {S::kOpen, K::kRemediated, S::kRemediated, {}, false, false, true},
      {S::kOpen, K::kAccepted, S::kAccepted},
      {S::kOpen, K::kFalsePositive, S::kFalsePositive, {}, false, false, true},
      {S::kOpen, K::kScanRemediated, S::kRemediated, {}, false, false, true},
      {S::kOpen, K::kReopened, S::kOpen, kRefused},
      // mitigated
      {S::kMitigated, K::kDecision, S::kMitigated},
      {S::kMitigated, K::kSweepDecision, S::kMitigated},
      {S::kMitigated, K::kMitigated, S::kMitigated},
      {S::kMitigated, K::kRemediated, S::kRemediated, {}, false, false, true},
      {S::kMitigated, K::kAccepted, S::kAccepted},
      {S::kMitigated,
       K::kFalsePositive,
       S::kFalsePositive,
       {},
       false,
       false,
       true},
      {S::kMitigated,
       K::kScanRemediated,
       S::kRemediated,
       {},
       false,
       false,
       true},
      {S::kMitigated, K::kReopened, S::kOpen, kRefused},
      // accepted
      {S::kAccepted, K::kDecision, S::kAccepted},
      {S::kAccepted, K::kSweepDecision, S::kAccepted},
      {S::kAccepted, K::kMitigated, S::kMitigated},
      {S::kAccepted, K::kRemediated, S::kRemediated, {}, false, false, true},
      {S::kAccepted, K::kAccepted, S::kAccepted},
      {S::kAccepted,
       K::kFalsePositive,
       S::kFalsePositive,
       {},
       false,
       false,
       true},
      {S::kAccepted,
       K::kScanRemediated,
       S::kRemediated,
       {},
       false,
       false,
       true},
      {S::kAccepted, K::kReopened, S::kOpen, kRefused},
      // remediated: seen again (decision, reopened) is a recurrence
      {S::kRemediated, K::kDecision, S::kOpen, {}, true, true},
      {S::kRemediated, K::kSweepDecision, S::kRemediated},
      {S::kRemediated, K::kMitigated, S::kOpen, kRefused},
      {S::kRemediated, K::kRemediated, S::kOpen, kRefused},
      {S::kRemediated, K::kAccepted, S::kOpen, kRefused},
      {S::kRemediated, K::kFalsePositive, S::kFalsePositive},
      {S::kRemediated, K::kScanRemediated, S::kOpen, kRefused},
      {S::kRemediated, K::kReopened, S::kOpen, {}, true, true},
      // false positive: stays one until explicitly reopened
      {S::kFalsePositive, K::kDecision, S::kFalsePositive},
      {S::kFalsePositive, K::kSweepDecision, S::kFalsePositive},
      {S::kFalsePositive, K::kMitigated, S::kOpen, kRefused},
      {S::kFalsePositive, K::kRemediated, S::kOpen, kRefused},
      {S::kFalsePositive, K::kAccepted, S::kOpen, kRefused},
      {S::kFalsePositive, K::kFalsePositive, S::kOpen, kRefused},
      {S::kFalsePositive, K::kScanRemediated, S::kOpen, kRefused},
      {S::kFalsePositive, K::kReopened, S::kOpen, {}, true, false},
      // the sweep's notices: change nothing, only where the date matters
      {kUnknown, K::kReviewDue, S::kOpen, kNotFound},
      {S::kOpen, K::kReviewDue, S::kOpen, kRefused},
      {S::kMitigated, K::kReviewDue, S::kMitigated},
      {S::kAccepted, K::kReviewDue, S::kAccepted},
      {S::kRemediated, K::kReviewDue, S::kOpen, kRefused},
      {S::kFalsePositive, K::kReviewDue, S::kOpen, kRefused},
      {kUnknown, K::kOverdue, S::kOpen, kNotFound},
      {S::kOpen, K::kOverdue, S::kOpen},
      {S::kMitigated, K::kOverdue, S::kMitigated},
      {S::kAccepted, K::kOverdue, S::kOpen, kRefused},
      {S::kRemediated, K::kOverdue, S::kOpen, kRefused},
      {S::kFalsePositive, K::kOverdue, S::kOpen, kRefused},
  };
  return *table;
}

std::string Describe(const Row& row) {
  return std::string(row.from.has_value() ? FindingStateName(*row.from)
                                          : "unknown") +
         " + " + std::string(EventKindName(row.kind));
}

TEST(LifecycleTest, TableCoversEveryStateAndEventKind) {
  EXPECT_EQ(Table().size(), 6u * 10u);
}

TEST(LifecycleTest, EveryTransitionMatchesTheTable) {
  for (const Row& row : Table()) {
    SCOPED_TRACE(Describe(row));
    absl::StatusOr<Transition> t = NextState(row.from, row.kind);
    if (row.code != absl::StatusCode::kOk) {
      EXPECT_EQ(t.status().code(), row.code);
      continue;
    }
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->to, row.to);
    EXPECT_EQ(t->new_finding, !row.from.has_value());
    EXPECT_EQ(t->new_episode, row.new_episode);
    EXPECT_EQ(t->recurrence, row.recurrence);
    EXPECT_EQ(t->closes, row.closes);
  }
}

TEST(LifecycleTest, RefusalNamesTheStateAndTheEvent) {
  absl::StatusOr<Transition> t = NextState(S::kRemediated, K::kMitigated);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("remediated"), absl::string_view::npos);
  EXPECT_NE(t.status().message().find("'mitigated'"), absl::string_view::npos);
}

}  // namespace
}  // namespace treatd::ledger
