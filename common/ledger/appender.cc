#include "common/ledger/appender.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/digest/sha256.h"
#include "common/ledger/chain.h"
#include "common/ledger/lifecycle.h"
#include "common/status/status_macros.h"
#include "google/protobuf/stubs/common.h"

namespace treatd::ledger {
namespace {

constexpr size_t kMaxFindingKeyBytes = 1024;
constexpr size_t kMaxIdempotencyKeyBytes = 200;
// The decision facts that PostgreSQL keeps in a btree index (schema.cc:
// findings_by_owner / _asset / _priority / _vulnerability, and owner with
// priority in findings_kpi) are refused per event above this many bytes.
// A btree entry holds at most ~2,704 bytes (a third of a page); a longer
// value fails the upsert with SQLSTATE 54000 and with it the whole
// transaction, every caller's events of the batch. Owner and priority
// together (2 x 1,024) and findings_kpi's other columns stay below that.
// SQLite has no such limit; the bound is the same on both stores.
constexpr size_t kMaxIndexedTextBytes = 1024;

std::string TimeText(absl::Time t) {
  return absl::FormatTime(t, absl::UTCTimeZone());
}

bool IsDecision(EventKind kind) {
  return kind == EventKind::kDecision || kind == EventKind::kSweepDecision;
}

bool Unresolved(FindingState state) {
  return state == FindingState::kOpen || state == FindingState::kMitigated ||
         state == FindingState::kAccepted;
}

// Whether a decision at `at` leaves the row's review date as an outcome set
// it: an acceptance's expiry, always; a mitigation's date (`until` of its
// report), until the date has come. The sweep's decision once it has come
// takes the policy's date again.
bool OutcomeKeepsReviewDate(const FindingRecord& row, absl::Time at) {
  if (row.state == FindingState::kAccepted) return true;
  return row.state == FindingState::kMitigated &&
         row.outcome_until.has_value() && at < *row.outcome_until;
}

// Copies what a decision at `at` says onto the finding's current row.
void ApplyDecisionFacts(const DecisionFacts& d, absl::Time at,
                        FindingRecord& row) {
  row.treatment = d.treatment;
  row.priority = d.priority;
  row.priority_rank = d.priority_rank;
  row.rule = d.rule;
  row.decision_id = d.decision_id;
  row.policy_digest = d.policy_digest;
  row.mitigate_by = d.mitigate_by;
  row.remediate_by = d.remediate_by;
  // An acceptance's expiry, or a mitigation's date not yet come, is its
  // review date; a decision does not move it.
  if (!OutcomeKeepsReviewDate(row, at)) {
    row.review_by = d.review_by;
    if (row.state != FindingState::kAccepted) row.outcome_until.reset();
  }
  row.residual_risk = d.residual_risk;
  if (d.kind != v1::FINDING_KIND_UNSPECIFIED) row.kind = d.kind;
  if (!d.owner.empty()) row.owner = d.owner;
  if (!d.asset.empty()) row.asset = d.asset;
  if (!d.vulnerability.empty()) row.vulnerability = d.vulnerability;
}

// The row's part of an outcome: when it was mitigated, accepted, closed.
void ApplyOutcome(const Event& e, const Transition& t, FindingRecord& row) {
  switch (e.kind) {
    case EventKind::kMitigated:
      if (!row.mitigated_at.has_value()) row.mitigated_at = e.occurred_at;
      row.accepted_at.reset();
      // The report's review date, kept by later decisions until it comes.
      row.outcome_until = e.until;
      if (e.until.has_value()) row.review_by = e.until;
      break;
    case EventKind::kAccepted:
      row.accepted_at = e.occurred_at;
      row.outcome_until = e.until;
      row.review_by = e.until;
      break;
    case EventKind::kRemediated:
    case EventKind::kScanRemediated:
    case EventKind::kFalsePositive:
      if (t.closes) row.closed_at = e.occurred_at;
      break;
    default:
      break;
  }
}

bool ValidUtf8(const std::string& text) {
  return google::protobuf::internal::IsStructurallyValidUTF8(
      text.data(), static_cast<int>(text.size()));
}

// Whether two rows of one finding say the same, apart from which decision
// and event last touched them.
bool SameFacts(const FindingRecord& a, const FindingRecord& b) {
  auto facts = [](const FindingRecord& f) {
    return std::tie(f.state, f.kind, f.owner, f.asset, f.vulnerability,
                    f.priority, f.priority_rank, f.treatment, f.rule,
                    f.policy_digest, f.first_seen, f.opened_at, f.state_since,
                    f.mitigated_at, f.accepted_at, f.closed_at, f.mitigate_by,
                    f.remediate_by, f.review_by, f.outcome_until,
                    f.residual_risk, f.recurrences, f.episode);
  };
  return facts(a) == facts(b);
}

// Whether ApplyDecisionFacts(d, at, row) would leave every fact SameFacts
// compares as it is: the common re-decision of an unchanged finding, which
// then costs no copy of the row.
bool DecisionKeepsFacts(const DecisionFacts& d, absl::Time at,
                        const FindingRecord& row) {
  return row.treatment == d.treatment && row.priority == d.priority &&
         row.priority_rank == d.priority_rank && row.rule == d.rule &&
         row.policy_digest == d.policy_digest &&
         row.mitigate_by == d.mitigate_by &&
         row.remediate_by == d.remediate_by &&
         (OutcomeKeepsReviewDate(row, at) ||
          (row.review_by == d.review_by &&
           (row.state == FindingState::kAccepted ||
            !row.outcome_until.has_value()))) &&
         row.residual_risk == d.residual_risk &&
         (d.kind == v1::FINDING_KIND_UNSPECIFIED || row.kind == d.kind) &&
         (d.owner.empty() || row.owner == d.owner) &&
         (d.asset.empty() || row.asset == d.asset) &&
         (d.vulnerability.empty() || row.vulnerability == d.vulnerability);
}

// The keys of an event, checked before they reach a statement: a key the
// database refuses (PostgreSQL rejects invalid UTF-8) would otherwise fail
// the whole batch. Proto3 strings are checked on parse; library callers
// here. `ascii`: the caller's thread found all of the event's text ASCII
// (it wrote a CanonicalPrefix, which it only does then), so valid UTF-8.
absl::Status CheckKeys(const Event& e, bool ascii) {
  if (e.finding_key.empty()) {
    return absl::InvalidArgumentError("finding_key: empty; required");
  }
  if (e.finding_key.size() > kMaxFindingKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("finding_key: ", e.finding_key.size(), " bytes; at most ",
                     kMaxFindingKeyBytes, " allowed"));
  }
  if (e.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency_key: ", e.idempotency_key.size(),
                     " bytes; at most ", kMaxIdempotencyKeyBytes, " allowed"));
  }
  const DecisionFacts& d = e.decision;
  for (const auto& [name, text] :
       {std::pair<const char*, const std::string*>{"owner", &d.owner},
        {"asset", &d.asset},
        {"vulnerability", &d.vulnerability},
        {"priority", &d.priority}}) {
    if (text->size() > kMaxIndexedTextBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": ", text->size(), " bytes; at most ", kMaxIndexedTextBytes,
          " allowed (the ledger indexes it)"));
    }
  }
  if (ascii) return absl::OkStatus();
  for (const std::string* text :
       {&e.finding_key, &e.idempotency_key, &d.decision_id, &d.priority,
        &d.rule, &d.policy_digest, &d.owner, &d.asset, &d.vulnerability}) {
    if (!ValidUtf8(*text)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "not valid UTF-8: \"", absl::CHexEscape(*text),
          "\" (finding_key, idempotency_key and decision facts are text)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckScanKeys(const ScanObservation& scan) {
  // Indexed too, in `scans` and, with a finding key, in each derived
  // event's key.
  if (scan.idempotency_key.size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("idempotency_key: ", scan.idempotency_key.size(),
                     " bytes; at most ", kMaxIdempotencyKeyBytes, " allowed"));
  }
  bool valid = ValidUtf8(scan.scope) && ValidUtf8(scan.idempotency_key);
  for (const std::string& key : scan.present_keys)
    valid = valid && ValidUtf8(key);
  if (!valid) {
    return absl::InvalidArgumentError(
        "scope / present_keys / idempotency_key: not valid UTF-8");
  }
  return absl::OkStatus();
}

}  // namespace

std::string DerivedIdempotencyKey(const Event& event) {
  std::string digest = Sha256Hex(CanonicalEncoding(ReportedPart(event)));
  // 128 bits are plenty against collisions and keep the unique index small.
  return absl::StrCat("auto:", digest.substr(0, 32));
}

namespace {

// The legacy key of `event` when it is a decision recorded under the
// current decision key, else empty.
std::string LegacyKeyOf(const Event& event) {
  if (!IsDecision(event.kind) || event.decision.decision_id.empty()) return "";
  const bool sweep = event.kind == EventKind::kSweepDecision;
  if (event.idempotency_key !=
      DecisionIdempotencyKey(sweep, event.occurred_at,
                             event.decision.decision_id)) {
    return "";
  }
  return LegacyDecisionIdempotencyKey(sweep, event.decision.decision_id);
}

// Legacy decision keys are "decision:" / "sweep:" and 32 hex digits (the
// decision id); the current ones continue with 't', and the sweep's
// notices with "review:". [prefix + "0", prefix + "g") holds exactly the
// legacy ones, in byte order and in the usual locales' orders alike (digits
// before letters, 'g' after the hex letters and before 'r' and 't').
constexpr absl::string_view kLegacyDecisionRange[2][2] = {
    {"decision:0", "decision:g"}, {"sweep:0", "sweep:g"}};

// The current decision keys: prefix, 16 digits of evaluation time, ':',
// lower-case hex (DecisionIdempotencyKey), so [prefix, end) holds them all.
constexpr absl::string_view kDecisionRange[2][2] = {
    {"decision:t", "decision:u"}, {"sweep:t", "sweep:u"}};

// Whether `key` has exactly that form. For such keys the byte order is
// also the order of a locale's collation (the digits and the ':' sit at
// the same places in every one), so a range probe agrees with std::sort.
bool IsDecisionKey(absl::string_view key, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&key, prefix) || key.size() < 17) return false;
  for (size_t i = 0; i < 16; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(key[i]))) return false;
  }
  if (key[16] != ':') return false;
  for (char c : key.substr(17)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) &&
        (c < 'a' || c > 'f')) {
      return false;
    }
  }
  return true;
}

// The recorded ones among `keys` (idempotency key -> seq). Decision keys
// grow with the evaluation time, so most of a batch's are newer than every
// key recorded: those are shown absent by a binary search of range probes
// (log2 n index seeks) instead of one lookup each; the rest are looked up.
// `keys` are views (into the batch's events): only the keys looked up are
// copied.
absl::StatusOr<absl::flat_hash_map<std::string, int64_t>> FindRecordedKeys(
    Store& store, const std::vector<absl::string_view>& keys) {
  std::vector<std::string> lookup;
  std::vector<absl::string_view> ranged[2];
  for (absl::string_view key : keys) {
    int range = -1;
    for (int r = 0; r < 2 && range < 0; ++r) {
      if (IsDecisionKey(key, kDecisionRange[r][0])) range = r;
    }
    if (range < 0) {
      lookup.emplace_back(key);
    } else {
      ranged[range].push_back(key);
    }
  }
  for (int r = 0; r < 2; ++r) {
    std::vector<absl::string_view>& sorted = ranged[r];
    std::sort(sorted.begin(), sorted.end());
    const std::string end(kDecisionRange[r][1]);
    // The first key from which on none is recorded: no recorded key lies
    // in [sorted[i], end) for i >= first, one does for i < first.
    size_t first = 0, last = sorted.size();
    while (first < last) {
      const size_t mid = first + (last - first) / 2;
      TREATD_ASSIGN_OR_RETURN(bool any, store.AnyIdempotencyKeyBetween(
                                            std::string(sorted[mid]), end));
      if (any) {
        first = mid + 1;
      } else {
        last = mid;
      }
    }
    for (size_t i = 0; i < first; ++i) lookup.emplace_back(sorted[i]);
  }
  if (lookup.empty()) return absl::flat_hash_map<std::string, int64_t>();
  return store.FindIdempotencyKeys(lookup);
}

}  // namespace

struct Appender::Batch {
  absl::Time now;
  ChainHead head;
  // Idempotency key -> seq, from the database and from this batch.
  absl::flat_hash_map<std::string, int64_t> seen_keys;
  // Working copies of every finding this batch reads or writes.
  absl::flat_hash_map<std::string, FindingRecord> findings;
  std::vector<std::string> dirty;  // keys to save, first-touch order
  absl::flat_hash_set<std::string> dirty_set;
  std::vector<StoredEvent> events;
  std::vector<std::pair<FindingRecord, absl::Time>> archived;
  // The latest snapshot of each finding the batch changed, in first-touch
  // order: a finding decided many times in one transaction (the same
  // finding from many concurrent calls) is written once.
  // Serialized from `source` (valid until Apply returns) when the batch
  // saves it, so each finding is serialized at most once.
  struct Snapshot {
    std::string key;
    std::string bytes;
    const v1::Finding* source = nullptr;
  };
  std::vector<Snapshot> snapshots;
  absl::flat_hash_map<std::string, size_t> snapshot_index;
  struct Scan {
    std::string key;
    std::string scope;
    absl::Time scanned_at;
  };
  std::vector<Scan> scans;
  absl::flat_hash_set<std::string> seen_scans;
  int64_t duplicates = 0;
};

Appender::Appender(Store* store, absl::Duration future_tolerance,
                   std::function<absl::Time()> clock)
    : store_(store),
      future_tolerance_(future_tolerance),
      clock_(std::move(clock)) {}

absl::StatusOr<BatchOutcome> Appender::Apply(
    const std::vector<WorkItem*>& items) {
  Batch batch;
  batch.now = clock_();
  absl::Status status = store_->BeginAppend();
  bool committing = false;
  if (status.ok()) {
    status = Run(items, batch);
    if (status.ok()) {
      committing = true;
      status = store_->CommitAppend();
    } else {
      store_->RollbackAppend();
    }
  }
  if (!status.ok()) {
    // The database could not commit, whatever the store's reason (locked,
    // down, full, corrupt, an unexpected error): UNAVAILABLE
    // (Ledger::Append); the store's own code stays in the message. The
    // server's --ledger-down applies to every such failure, and only to
    // these. Before COMMIT nothing was written. A COMMIT that failed
    // UNAVAILABLE (the connection broke: its reply was lost) may have
    // committed or not; a retry with the same idempotency keys is recorded
    // once either way.
    // An error of one statement (not UNAVAILABLE) fails every caller of
    // the transaction alike, also those whose events were fine: the
    // events are spent by then (ApplyEvent moves their keys into the
    // batch), so they cannot be applied again group by group here. Such
    // errors are kept out by the per-event checks (CheckKeys: lengths,
    // UTF-8), which answer the one event instead.
    const bool unknown = committing && absl::IsUnavailable(status);
    std::string message(status.message());
    if (!absl::IsUnavailable(status)) {
      absl::StrAppend(&message, " (", absl::StatusCodeToString(status.code()),
                      ")");
    }
    if (unknown) {
      absl::StrAppend(&message,
                      "; COMMIT failed, the outcome is unknown; sent again "
                      "with the same idempotency key it is recorded once");
    }
    status = absl::UnavailableError(message);
    for (WorkItem* item : items) {
      item->appended = status;
      item->scanned = status;
    }
    return status;
  }
  BatchOutcome outcome;
  outcome.events_written = static_cast<int64_t>(batch.events.size());
  outcome.duplicates = batch.duplicates;
  outcome.last_seq = batch.head.seq;
  return outcome;
}

absl::Status Appender::Run(const std::vector<WorkItem*>& items, Batch& batch) {
  TREATD_ASSIGN_OR_RETURN(batch.head, store_->ReadHead());
  const int64_t head_before = batch.head.seq;

  // Read everything the batch depends on up front, in few statements.
  // Views into the items' events, which stay put until the batch is done.
  std::vector<absl::string_view> idempotency_keys;
  // Each finding once: a batch often decides one many times (PostgreSQL
  // sends a query per key).
  std::vector<std::string> finding_keys;
  absl::flat_hash_set<absl::string_view> distinct_findings;
  for (WorkItem* item : items) {
    if (item->scan.has_value()) {
      absl::Status keys = CheckScanKeys(*item->scan);
      if (!keys.ok()) {
        item->scanned = keys;
        item->scan.reset();
      }
      continue;
    }
    if (!item->event.has_value()) continue;
    Event& event = *item->event;
    absl::Status keys = CheckKeys(event, !item->encoded_prefix.empty());
    if (!keys.ok()) {
      item->appended = keys;
      item->event.reset();  // answered; takes no part in the batch
      continue;
    }
    if (event.idempotency_key.empty()) {
      event.idempotency_key = DerivedIdempotencyKey(event);
      item->encoded_prefix.clear();  // encoded without the key
    }
    idempotency_keys.push_back(event.idempotency_key);
    if (distinct_findings.insert(event.finding_key).second) {
      finding_keys.push_back(event.finding_key);
    }
  }
  TREATD_ASSIGN_OR_RETURN(batch.seen_keys,
                          FindRecordedKeys(*store_, idempotency_keys));
  TREATD_RETURN_IF_ERROR(FindLegacyDecisionKeys(items, batch));
  TREATD_ASSIGN_OR_RETURN(batch.findings, store_->LoadFindings(finding_keys));
  for (WorkItem* item : items) {
    if (!item->scan.has_value() || item->scan->scope.empty()) continue;
    TREATD_ASSIGN_OR_RETURN(
        std::vector<FindingRecord> rows,
        store_->LoadScope(item->scan->scope, item->scan->kinds));
    for (FindingRecord& row : rows) {
      std::string key = row.key;
      batch.findings.try_emplace(std::move(key), std::move(row));
    }
  }

  for (WorkItem* item : items) {
    if (item->event.has_value()) {
      // The event and its encoding stay with the item: their memory is
      // freed by the caller's thread that made them, not by this one
      // (every commit goes through it).
      item->appended =
          ApplyEvent(*item->event, item->encoded_prefix, item->marks, batch);
    } else if (item->scan.has_value()) {
      item->scanned = ApplyScan(*item->scan, batch);
    }
  }

  if (!batch.events.empty()) {
    TREATD_RETURN_IF_ERROR(store_->InsertEvents(batch.events));
  }
  for (const auto& [episode, reopened_at] : batch.archived) {
    TREATD_RETURN_IF_ERROR(store_->ArchiveEpisode(episode, reopened_at));
  }
  if (!batch.dirty.empty()) {
    std::vector<const FindingRecord*> rows;
    rows.reserve(batch.dirty.size());
    for (const std::string& key : batch.dirty) {
      rows.push_back(&batch.findings.at(key));
    }
    TREATD_RETURN_IF_ERROR(store_->SaveFindings(rows));
  }
  if (!batch.snapshots.empty()) {
    std::vector<std::pair<std::string, const std::string*>> snapshots;
    for (Batch::Snapshot& snapshot : batch.snapshots) {
      if (snapshot.source != nullptr) {
        snapshot.source->SerializeToString(&snapshot.bytes);
      }
      snapshots.emplace_back(snapshot.key, &snapshot.bytes);
    }
    TREATD_RETURN_IF_ERROR(store_->SaveSnapshots(snapshots));
  }
  for (const Batch::Scan& scan : batch.scans) {
    TREATD_RETURN_IF_ERROR(
        store_->SaveScan(scan.key, scan.scope, scan.scanned_at, batch.now));
  }
  if (batch.head.seq != head_before) {
    TREATD_RETURN_IF_ERROR(store_->WriteHead(batch.head));
  }
  return absl::OkStatus();
}

absl::Status Appender::FindLegacyDecisionKeys(
    const std::vector<WorkItem*>& items, Batch& batch) {
  // One index seek per kind of decision in the batch: a ledger that an
  // older treatd never wrote to has no legacy keys, and then its decisions
  // cost no second lookup (nor the legacy keys' encoding).
  bool kinds[2] = {false, false};  // decision, sweep decision
  for (const WorkItem* item : items) {
    if (item->event.has_value() && IsDecision(item->event->kind)) {
      kinds[item->event->kind == EventKind::kSweepDecision] = true;
    }
  }
  bool any = false;
  for (int sweep = 0; sweep < 2 && !any; ++sweep) {
    if (!kinds[sweep]) continue;
    TREATD_ASSIGN_OR_RETURN(any,
                            store_->AnyIdempotencyKeyBetween(
                                std::string(kLegacyDecisionRange[sweep][0]),
                                std::string(kLegacyDecisionRange[sweep][1])));
  }
  if (!any) return absl::OkStatus();
  // legacy key -> the current key of the batch's event that has it.
  absl::flat_hash_map<std::string, std::string> legacy;
  for (const WorkItem* item : items) {
    if (!item->event.has_value()) continue;
    std::string key = LegacyKeyOf(*item->event);
    if (!key.empty())
      legacy.emplace(std::move(key), item->event->idempotency_key);
  }
  std::vector<std::string> keys;
  keys.reserve(legacy.size());
  for (const auto& [key, current] : legacy) keys.push_back(key);
  TREATD_ASSIGN_OR_RETURN(auto found, store_->FindIdempotencyKeys(keys));
  for (const auto& [key, seq] : found) {
    batch.seen_keys.try_emplace(legacy.at(key), seq);
  }
  return absl::OkStatus();
}

absl::Status Appender::Validate(const Event& e, absl::Time now) const {
  if (e.occurred_at == absl::InfinitePast() ||
      e.occurred_at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("occurred_at: unset; required");
  }
  if (!IsDecision(e.kind) && e.occurred_at > now + future_tolerance_) {
    return absl::InvalidArgumentError(
        absl::StrCat("occurred_at: ", TimeText(e.occurred_at),
                     " is in the future (ledger clock ", TimeText(now),
                     "); an outcome reports what has happened"));
  }
  if (e.kind == EventKind::kAccepted) {
    if (!e.until.has_value()) {
      return absl::InvalidArgumentError(
          "until: unset; an acceptance needs an expiry");
    }
    if (*e.until <= e.occurred_at) {
      return absl::InvalidArgumentError(
          absl::StrCat("until: ", TimeText(*e.until),
                       " is not after occurred_at ", TimeText(e.occurred_at)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Appended> Appender::ApplyEvent(Event& e, std::string& prefix,
                                              const PrefixMarks& marks,
                                              Batch& batch) {
  auto found = batch.findings.find(e.finding_key);
  FindingRecord* row = found == batch.findings.end() ? nullptr : &found->second;

  if (auto seen = batch.seen_keys.find(e.idempotency_key);
      seen != batch.seen_keys.end()) {
    ++batch.duplicates;
    Appended appended;
    appended.seq = seen->second;
    appended.duplicate = true;
    if (row != nullptr) appended.state = row->state;
    return appended;
  }
  TREATD_RETURN_IF_ERROR(Validate(e, batch.now));
  std::optional<FindingState> before;
  if (row != nullptr) before = row->state;
  TREATD_ASSIGN_OR_RETURN(Transition t, NextState(before, e.kind));
  if (t.new_episode && row->closed_at.has_value() &&
      e.occurred_at <= *row->closed_at) {
    // Seen again means seen after it was closed. A decision dated before
    // the close is a late record of an earlier one, not a recurrence.
    if (e.kind != EventKind::kDecision) {
      return absl::InvalidArgumentError(absl::StrCat(
          "occurred_at: ", TimeText(e.occurred_at),
          " is not after the finding was closed (", TimeText(*row->closed_at),
          "); a reopen follows the close"));
    }
    t = Transition{row->state};
  }
  if (row != nullptr && !IsDecision(e.kind) && e.occurred_at < row->opened_at) {
    return absl::InvalidArgumentError(absl::StrCat(
        "occurred_at: ", TimeText(e.occurred_at), " is before the finding ",
        row->episode == 1 ? "was first seen (" : "was reopened (",
        TimeText(row->opened_at), ")"));
  }

  if (t.new_finding) {
    FindingRecord fresh;
    fresh.key = e.finding_key;
    fresh.first_seen = e.decision.first_seen.value_or(e.occurred_at);
    fresh.opened_at = fresh.first_seen;
    fresh.state_since = fresh.first_seen;
    row =
        &batch.findings.emplace(e.finding_key, std::move(fresh)).first->second;
  }
  if (t.new_episode) {
    batch.archived.emplace_back(*row, e.occurred_at);
    row->opened_at = e.occurred_at;
    row->mitigated_at.reset();
    row->accepted_at.reset();
    row->outcome_until.reset();
    row->closed_at.reset();
    ++row->episode;
    if (t.recurrence) ++row->recurrences;
  }
  // Re-deciding an unchanged finding is the common case (every scan decides
  // it again); it writes only its event, not the row. Told apart without a
  // copy of the row when the state stays and the decision repeats the
  // facts; otherwise by applying the event to the row and comparing.
  const bool keeps_row = !t.new_finding && !t.new_episode &&
                         row->state == t.to && IsDecision(e.kind) &&
                         DecisionKeepsFacts(e.decision, e.occurred_at, *row);
  std::optional<FindingRecord> unchanged;
  if (!keeps_row) {
    unchanged = *row;
    if (row->state != t.to && !t.new_finding) row->state_since = e.occurred_at;
    row->state = t.to;
    if (IsDecision(e.kind)) {
      ApplyDecisionFacts(e.decision, e.occurred_at, *row);
    } else {
      ApplyOutcome(e, t, *row);
    }
  }

  e.seq = batch.head.seq + 1;
  e.recorded_at = batch.now;
  e.state_before = before;
  e.state_after = t.to;
  e.recurrence = t.recurrence;
  StoredEvent stored;
  stored.seq = e.seq;
  stored.kind = e.kind;
  stored.occurred_us = absl::ToUnixMicros(e.occurred_at);
  stored.recorded_us = absl::ToUnixMicros(e.recorded_at);
  // The chain hashes the canonical encoding; the table keeps it without
  // the values its columns hold (schema version 4): ElideColumnValues, or
  // where the prefix says they are.
  if (prefix.empty()) {
    prefix = CanonicalEncoding(e);
  } else {
    prefix =
        CanonicalEncodingFromPrefix(std::move(prefix), marks, e, stored.body);
  }
  const std::string& canonical = prefix;
  // The caller's event is spent once encoded (the row keeps the key).
  stored.finding_key = std::move(e.finding_key);
  stored.idempotency_key = std::move(e.idempotency_key);
  stored.hash = LinkHash(batch.head.hash, canonical);
  if (stored.body.empty()) {
    stored.body = ElideColumnValues(canonical, stored.columns());
  }
  batch.head = {stored.seq, stored.hash};
  batch.seen_keys.emplace(stored.idempotency_key, stored.seq);
  batch.events.push_back(std::move(stored));

  if (unchanged.has_value() &&
      (t.new_finding || !SameFacts(*unchanged, *row))) {
    row->last_seq = e.seq;
    row->updated_at = batch.now;
    if (batch.dirty_set.insert(row->key).second) {
      batch.dirty.push_back(row->key);
    }
    DecisionFacts& d = e.decision;
    if (IsDecision(e.kind) &&
        (!d.finding_snapshot.empty() || d.snapshot_source != nullptr)) {
      auto [at, added] =
          batch.snapshot_index.try_emplace(row->key, batch.snapshots.size());
      if (added) batch.snapshots.emplace_back();
      Batch::Snapshot& snapshot = batch.snapshots[at->second];
      snapshot.key = row->key;
      snapshot.bytes = std::move(d.finding_snapshot);
      snapshot.source = snapshot.bytes.empty() ? d.snapshot_source : nullptr;
    }
  } else if (unchanged.has_value()) {
    *row = *std::move(unchanged);  // keeps the decision id that set these facts
  }

  Appended appended;
  appended.seq = e.seq;
  appended.state = t.to;
  appended.recurrence = t.recurrence;
  return appended;
}

absl::StatusOr<ScanResult> Appender::ApplyScan(const ScanObservation& scan,
                                               Batch& batch) {
  if (scan.scope.empty()) {
    return absl::InvalidArgumentError("scope: empty; required");
  }
  if (scan.scanned_at == absl::InfinitePast() ||
      scan.scanned_at == absl::InfiniteFuture()) {
    return absl::InvalidArgumentError("scanned_at: unset; required");
  }
  if (scan.scanned_at > batch.now + future_tolerance_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scanned_at: ", TimeText(scan.scanned_at),
        " is in the future (ledger clock ", TimeText(batch.now), ")"));
  }
  const absl::flat_hash_set<std::string> present(scan.present_keys.begin(),
                                                 scan.present_keys.end());
  std::string scan_key = scan.idempotency_key;
  if (scan_key.empty()) {
    std::vector<std::string> sorted(present.begin(), present.end());
    std::sort(sorted.begin(), sorted.end());
    std::vector<int> kinds(scan.kinds.begin(), scan.kinds.end());
    std::sort(kinds.begin(), kinds.end());
    std::string digest = Sha256Hex(absl::StrCat(
        scan.scope, "\n", TimeText(scan.scanned_at), "\n",
        absl::StrJoin(kinds, ","), "\n", absl::StrJoin(sorted, "\n")));
    scan_key = absl::StrCat("scan:", digest);
  }

  ScanResult result;
  if (batch.seen_scans.contains(scan_key)) {
    result.duplicate = true;
    return result;
  }
  TREATD_ASSIGN_OR_RETURN(bool recorded, store_->ScanRecorded(scan_key));
  if (recorded) {
    result.duplicate = true;
    return result;
  }
  batch.seen_scans.insert(scan_key);
  batch.scans.push_back({scan_key, scan.scope, scan.scanned_at});

  // The scope's findings as of this point of the batch, in key order.
  std::vector<std::string> candidates;
  for (const auto& [key, row] : batch.findings) {
    if (row.asset != scan.scope) continue;
    if (!scan.kinds.empty() && std::find(scan.kinds.begin(), scan.kinds.end(),
                                         row.kind) == scan.kinds.end()) {
      continue;
    }
    candidates.push_back(key);
  }
  std::sort(candidates.begin(), candidates.end());

  std::vector<Event> derived;
  for (const std::string& key : candidates) {
    const FindingRecord& row = batch.findings.at(key);
    const bool seen = present.contains(key);
    EventKind kind;
    if (seen && row.state == FindingState::kRemediated &&
        row.closed_at.has_value() && scan.scanned_at > *row.closed_at) {
      kind = EventKind::kReopened;
    } else if (!seen && Unresolved(row.state) &&
               row.opened_at <= scan.scanned_at) {
      kind = EventKind::kScanRemediated;
    } else {
      if (seen && Unresolved(row.state)) ++result.still_present;
      continue;
    }
    Event e;
    e.kind = kind;
    e.finding_key = key;
    e.occurred_at = scan.scanned_at;
    e.idempotency_key = absl::StrCat(scan_key, "/", key);
    e.actor = scan.scanner;
    e.scope = scan.scope;
    derived.push_back(std::move(e));
  }
  for (const std::string& key : present) {
    if (!std::binary_search(candidates.begin(), candidates.end(), key)) {
      ++result.unknown;
    }
  }

  std::vector<std::string> derived_keys;
  for (const Event& e : derived) derived_keys.push_back(e.idempotency_key);
  TREATD_ASSIGN_OR_RETURN(auto already,
                          store_->FindIdempotencyKeys(derived_keys));
  batch.seen_keys.insert(already.begin(), already.end());

  for (Event& e : derived) {
    const EventKind kind = e.kind;
    std::string no_prefix;
    TREATD_ASSIGN_OR_RETURN(Appended appended,
                            ApplyEvent(e, no_prefix, {}, batch));
    if (appended.duplicate) continue;
    result.seqs.push_back(appended.seq);
    if (kind == EventKind::kReopened) {
      ++result.reopened;
    } else {
      ++result.remediated;
    }
  }
  return result;
}

}  // namespace treatd::ledger
