// Read-side value types of the ledger: the current state of a finding and
// the filters and pages of the query API. Plain values; thread-agnostic.
#ifndef TREATD_COMMON_LEDGER_QUERY_H_
#define TREATD_COMMON_LEDGER_QUERY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/ledger/event.h"

namespace treatd::ledger {

// The current state of one finding: its latest episode (an episode runs from
// first seen, or reopened, to remediated / false positive) and the facts of
// its latest decision.
struct FindingRecord {
  std::string key;
  FindingState state = FindingState::kOpen;
  v1::FindingKind kind = v1::FINDING_KIND_UNSPECIFIED;
  std::string owner;
  std::string asset;
  std::string vulnerability;
  std::string priority;
  int priority_rank = 0;
  v1::Treatment treatment = v1::TREATMENT_UNSPECIFIED;
  std::string rule;
  std::string decision_id;  // the decision that set the current facts
  std::string policy_digest;
  absl::Time first_seen = absl::InfinitePast();   // of the finding, ever
  absl::Time opened_at = absl::InfinitePast();    // start of this episode
  absl::Time state_since = absl::InfinitePast();  // last state change
  absl::Time updated_at = absl::InfinitePast();   // last event's occurred_at
  std::optional<absl::Time> mitigated_at;  // first mitigation this episode
  std::optional<absl::Time> accepted_at;   // last acceptance this episode
  std::optional<absl::Time> closed_at;     // remediated / false positive at
  std::optional<absl::Time> mitigate_by;
  std::optional<absl::Time> remediate_by;
  std::optional<absl::Time> review_by;  // mitigation review / acceptance end
  // The date the latest acceptance or mitigation report set (`until`;
  // column accepted_until_us): an acceptance's end, or a mitigation's review
  // date, which decisions keep until it comes. Served as accepted_until
  // only while accepted_at is set.
  std::optional<absl::Time> outcome_until;
  double residual_risk = 0;
  int recurrences = 0;  // times reopened after remediation
  int episode = 1;      // 1 + recurrences
  int64_t last_seq = 0;
};

// A finding with its whole history, oldest event first.
struct FindingHistory {
  FindingRecord finding;
  std::vector<Event> events;
};

// ListFindings filters; every set field must match (AND).
struct FindingFilter {
  std::optional<FindingState> state;
  std::string priority;  // exact priority name
  std::string owner;
  std::string asset;
  std::optional<v1::FindingKind> kind;
  std::string vulnerability;  // canonical vulnerability id (upper case)
  // Not closed (open, mitigated) and remediate_by < as_of.
  bool overdue = false;
  // Mitigated or accepted and review_by <= as_of.
  bool review_due = false;
  // updated_at >= changed_since.
  std::optional<absl::Time> changed_since;
  // remediate_by > due_after: with `overdue`, the findings that fell due
  // after an earlier pass (the revisit sweep's overdue watermark).
  std::optional<absl::Time> due_after;
  // The "now" that overdue / review_due are judged at. Required when either
  // is set.
  absl::Time as_of = absl::InfinitePast();
};

// AIP-158 paging. page_size 0 means 100; larger than 1000 is capped at
// 1000. A page token is opaque, only valid with the same filter (else
// INVALID_ARGUMENT), and stays valid while findings change (ordering is by
// key, so a finding added behind the cursor is simply not returned).
struct PageRequest {
  int page_size = 0;
  std::string page_token;
};

// A position in the sweep candidates' order (review_by, then key): a page
// of candidates starts after it.
struct SweepPosition {
  absl::Time review_by;
  std::string key;
};

struct FindingPage {
  std::vector<FindingRecord> findings;  // ordered by key
  std::string next_page_token;          // "" on the last page
};

// The "changes" gauges the server exports: cheap indexed counts.
struct LedgerGauges {
  int64_t open = 0;             // open + mitigated + accepted
  int64_t overdue = 0;          // open/mitigated with remediate_by < as_of
  int64_t mitigation_debt = 0;  // mitigated/accepted with review_by < as_of
  int64_t events = 0;           // last sequence number
};

// Result of Ledger::Verify.
struct VerifyReport {
  bool ok = true;
  int64_t events_checked = 0;
  // First sequence number whose hash, link or numbering is wrong (0 when
  // ok). When events were deleted at the end, the first missing number.
  int64_t first_bad_seq = 0;
  std::string problem;    // human-readable: what is wrong at first_bad_seq
  std::string head_hash;  // hash of the last event (the chain head)
};

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_QUERY_H_
