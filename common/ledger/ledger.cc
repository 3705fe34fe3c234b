#include "common/ledger/ledger.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/digest/sha256.h"
#include "common/ledger/appender.h"
#include "common/ledger/chain.h"
#include "common/ledger/committer.h"
#include "common/ledger/postgres_store.h"
#include "common/ledger/sqlite_store.h"
#include "common/ledger/store.h"
#include "common/status/status_macros.h"

namespace treatd::ledger {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr int kMaxEventsPerCall = 10000;
constexpr int kVerifyPage = 10000;

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const LedgerOptions& options) {
  absl::string_view url = options.url;
  if (url.empty()) {
    return absl::InvalidArgumentError(
        "ledger url: empty; use a file path, sqlite:PATH or "
        "postgresql://...");
  }
  if (absl::StartsWith(url, "postgresql://") ||
      absl::StartsWith(url, "postgres://")) {
    return OpenPostgresStore({std::string(url), options.lock_timeout});
  }
  if (absl::ConsumePrefix(&url, "postgresql:")) {
    return OpenPostgresStore({std::string(url), options.lock_timeout});
  }
  if (absl::StrContains(url, "://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ledger url '", options.url,
        "': unknown scheme; use a file path, sqlite:PATH or postgresql://..."));
  }
  absl::ConsumePrefix(&url, "sqlite:");
  if (url.empty()) {
    return absl::InvalidArgumentError("ledger url 'sqlite:': no file path");
  }
  if (options.sqlite_synchronous != "full" &&
      options.sqlite_synchronous != "normal") {
    return absl::InvalidArgumentError(absl::StrCat("sqlite_synchronous: '",
                                                   options.sqlite_synchronous,
                                                   "'; allowed: full, normal"));
  }
  if (options.sqlite_cache_mib < 1 || options.sqlite_cache_mib > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("sqlite_cache_mib: ", options.sqlite_cache_mib,
                     "; allowed: 1 to 4096 (MiB per connection)"));
  }
  return OpenSqliteStore({std::string(url),
                          options.sqlite_synchronous == "full",
                          options.lock_timeout, options.sqlite_cache_mib});
}

absl::StatusOr<Event> DecodeStored(const StoredEvent& stored) {
  absl::StatusOr<Event> event = DecodeCanonical(stored.body);
  if (!event.ok()) {
    return absl::DataLossError(absl::StrCat("ledger event ", stored.seq, ": ",
                                            event.status().message()));
  }
  event->hash = stored.hash;
  return event;
}

// The filter, as the part of a page token that must not change between
// pages.
std::string FilterFingerprint(const FindingFilter& f) {
  std::string text = absl::StrCat(
      f.state.has_value() ? static_cast<int>(*f.state) : 0, "\n", f.priority,
      "\n", f.owner, "\n", f.asset, "\n", f.kind.has_value() ? *f.kind : -1,
      "\n", f.vulnerability, "\n", f.overdue, f.review_due, "\n",
      f.changed_since.has_value() ? absl::ToUnixMicros(*f.changed_since) : -1,
      "\n", f.due_after.has_value() ? absl::ToUnixMicros(*f.due_after) : -1,
      "\n", absl::ToUnixMicros(f.as_of));
  return Sha256Hex(text).substr(0, 16);
}

std::string EncodePageToken(const FindingFilter& filter,
                            const std::string& last_key) {
  std::string token;
  absl::WebSafeBase64Escape(
      absl::StrCat(FilterFingerprint(filter), "\n", last_key), &token);
  return token;
}

absl::StatusOr<std::string> DecodePageToken(const FindingFilter& filter,
                                            const std::string& token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) {
    return absl::InvalidArgumentError(
        "page_token: not a token this API issued");
  }
  std::pair<std::string, std::string> parts =
      absl::StrSplit(raw, absl::MaxSplits('\n', 1));
  if (parts.first != FilterFingerprint(filter) || parts.second.empty()) {
    return absl::InvalidArgumentError(
        "page_token: issued for a different filter; repeat the same filter "
        "with a page token, or start again without one");
  }
  return parts.second;
}

}  // namespace

Ledger::Ledger(LedgerOptions options, std::unique_ptr<Store> store,
               int64_t head_seq)
    : options_(std::move(options)),
      store_(std::move(store)),
      appender_(std::make_unique<Appender>(
          store_.get(), options_.future_tolerance, options_.clock)),
      committer_(std::make_unique<Committer>(
          appender_.get(), store_.get(), options_.max_batch_events, head_seq)) {
}

Ledger::~Ledger() = default;

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(LedgerOptions options) {
  if (options.max_batch_events <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_batch_events: ", options.max_batch_events, "; must be positive"));
  }
  if (!options.clock) options.clock = absl::Now;
  TREATD_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(options));
  TREATD_ASSIGN_OR_RETURN(ChainHead head, store->StoredHead());
  return std::unique_ptr<Ledger>(
      new Ledger(std::move(options), std::move(store), head.seq));
}

namespace {

// The work items of `events`, and pointers to them for the committer.
// Prepared on the caller's thread: deriving a key (an encoding and a hash)
// and encoding what the caller reported is work the single committer
// thread need not do.
struct PreparedAppend {
  explicit PreparedAppend(std::vector<Event> events) : items(events.size()) {
    pointers.reserve(events.size());
    for (size_t i = 0; i < events.size(); ++i) Prepare(events[i], items[i]);
  }
  explicit PreparedAppend(std::vector<std::vector<Event>>& groups) {
    size_t total = 0;
    for (const std::vector<Event>& group : groups) total += group.size();
    items.resize(total);
    pointers.reserve(total);
    size_t next = 0;
    for (std::vector<Event>& group : groups) {
      for (Event& event : group) Prepare(event, items[next++]);
    }
  }

  void Prepare(Event& event, WorkItem& item) {
    if (event.idempotency_key.empty()) {
      event.idempotency_key = DerivedIdempotencyKey(event);
    }
    item.encoded_prefix = CanonicalPrefix(event, item.marks);
    item.event = std::move(event);
    pointers.push_back(&item);
  }

  std::vector<absl::StatusOr<Appended>> TakeResults() {
    std::vector<absl::StatusOr<Appended>> results;
    results.reserve(items.size());
    for (WorkItem& item : items) results.push_back(std::move(item.appended));
    return results;
  }

  std::vector<WorkItem> items;
  std::vector<WorkItem*> pointers;
};

}  // namespace

std::vector<absl::StatusOr<Appended>> Ledger::Append(
    std::vector<Event> events) {
  PreparedAppend prepared(std::move(events));
  committer_->Submit(prepared.pointers);
  return prepared.TakeResults();
}

std::vector<std::vector<absl::StatusOr<Appended>>> Ledger::AppendGroups(
    std::vector<std::vector<Event>> groups) {
  PreparedAppend prepared(groups);
  committer_->Submit(prepared.pointers);
  std::vector<std::vector<absl::StatusOr<Appended>>> results(groups.size());
  size_t next = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    results[g].reserve(groups[g].size());
    for (size_t i = 0; i < groups[g].size(); ++i) {
      results[g].push_back(std::move(prepared.items[next++].appended));
    }
  }
  return results;
}

void Ledger::AppendAsync(std::vector<Event> events, AppendDone done) {
  // Owned by the callback, which runs exactly once (and only after the
  // committer is done with the items).
  auto prepared = std::make_shared<PreparedAppend>(std::move(events));
  const std::vector<WorkItem*>& pointers = prepared->pointers;
  committer_->SubmitAsync(pointers,
                          [prepared, done = std::move(done)]() mutable {
                            done(prepared->TakeResults());
                          });
}

absl::StatusOr<ScanResult> Ledger::RecordScan(ScanObservation scan) {
  WorkItem item;
  item.scan = std::move(scan);
  committer_->Submit({&item});
  return std::move(item.scanned);
}

absl::StatusOr<FindingRecord> Ledger::GetFindingRecord(
    const std::string& key) const {
  TREATD_ASSIGN_OR_RETURN(std::optional<FindingRecord> finding,
                          store_->GetFinding(key));
  if (!finding.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("finding '", key, "' is not in the ledger"));
  }
  return *std::move(finding);
}

absl::StatusOr<FindingHistory> Ledger::GetFinding(
    const std::string& key) const {
  FindingHistory history;
  TREATD_ASSIGN_OR_RETURN(history.finding, GetFindingRecord(key));
  int64_t after = 0;
  while (true) {
    TREATD_ASSIGN_OR_RETURN(std::vector<Event> page,
                            ListEvents(after, kMaxEventsPerCall, key));
    if (page.empty()) break;
    after = page.back().seq;
    for (Event& event : page) history.events.push_back(std::move(event));
  }
  return history;
}

absl::StatusOr<FindingPage> Ledger::ListFindings(
    const FindingFilter& filter, const PageRequest& page) const {
  if (page.page_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: ", page.page_size, "; must be 0 (default) or positive"));
  }
  if ((filter.overdue || filter.review_due) &&
      filter.as_of == absl::InfinitePast()) {
    return absl::InvalidArgumentError(
        "as_of: unset; required with overdue or review_due");
  }
  FindingQuery query;
  query.filter = filter;
  const int size = page.page_size == 0 ? kDefaultPageSize
                                       : std::min(page.page_size, kMaxPageSize);
  query.limit = size + 1;  // one more tells whether a next page exists
  if (!page.page_token.empty()) {
    TREATD_ASSIGN_OR_RETURN(query.after_key,
                            DecodePageToken(filter, page.page_token));
  }
  TREATD_ASSIGN_OR_RETURN(std::vector<FindingRecord> rows,
                          store_->ListFindings(query));
  FindingPage result;
  if (static_cast<int>(rows.size()) > size) {
    rows.resize(size);
    result.next_page_token = EncodePageToken(filter, rows.back().key);
  }
  result.findings = std::move(rows);
  return result;
}

absl::StatusOr<std::vector<Event>> Ledger::ListEvents(
    int64_t after_seq, int limit, const std::string& finding_key) const {
  if (limit < 1 || limit > kMaxEventsPerCall) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: ", limit, "; allowed 1..", kMaxEventsPerCall));
  }
  TREATD_ASSIGN_OR_RETURN(std::vector<StoredEvent> stored,
                          store_->ListEvents(after_seq, limit, finding_key));
  std::vector<Event> events;
  events.reserve(stored.size());
  // Events whose predecessor is not in this answer (the first of a page or
  // resume, or one finding's event after another's): their predecessors'
  // hashes are read together, one store query.
  std::vector<int64_t> missing;
  for (const StoredEvent& row : stored) {
    TREATD_ASSIGN_OR_RETURN(Event event, DecodeStored(row));
    if (!events.empty() && events.back().seq + 1 == event.seq) {
      event.prev_hash = events.back().hash;
    } else if (event.seq == 1) {
      event.prev_hash = std::string(kGenesisHash);
    } else {
      missing.push_back(event.seq - 1);
    }
    events.push_back(std::move(event));
  }
  if (missing.empty()) return events;
  absl::flat_hash_map<int64_t, std::string> hashes;
  for (size_t from = 0; from < missing.size(); from += kMaxHashLookup) {
    const size_t to =
        std::min(missing.size(), from + static_cast<size_t>(kMaxHashLookup));
    TREATD_ASSIGN_OR_RETURN(auto part,
                            store_->EventHashes(std::vector<int64_t>(
                                missing.begin() + from, missing.begin() + to)));
    hashes.merge(part);
  }
  for (Event& event : events) {
    if (!event.prev_hash.empty()) continue;
    // A missing predecessor (a damaged chain) leaves it empty: listing
    // still works, and Verify names the gap.
    auto it = hashes.find(event.seq - 1);
    if (it != hashes.end()) event.prev_hash = std::move(it->second);
  }
  return events;
}

absl::StatusOr<std::vector<FindingRecord>> Ledger::SweepCandidates(
    absl::Time as_of, int limit,
    const std::optional<SweepPosition>& after) const {
  if (limit < 1 || limit > kMaxEventsPerCall) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit: ", limit, "; allowed 1..", kMaxEventsPerCall));
  }
  // Before every candidate: the smallest review date, no key.
  SweepPosition from{absl::FromUnixMicros(std::numeric_limits<int64_t>::min()),
                     ""};
  if (after.has_value()) from = *after;
  return store_->SweepCandidates(as_of, limit, from);
}

absl::StatusOr<std::string> Ledger::FindingSnapshot(
    const std::string& key) const {
  TREATD_ASSIGN_OR_RETURN(std::optional<std::string> snapshot,
                          store_->FindingSnapshot(key));
  if (!snapshot.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no finding snapshot for '", key, "' in the ledger"));
  }
  return *std::move(snapshot);
}

absl::StatusOr<bool> Ledger::AcquireLease(const std::string& name,
                                          const std::string& holder,
                                          absl::Duration ttl) {
  if (name.empty() || holder.empty() || ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "lease: name and holder must be set and ttl positive");
  }
  absl::Time now = options_.clock();
  return store_->AcquireLease(name, holder, now, now + ttl);
}

absl::StatusOr<std::optional<std::string>> Ledger::GetMark(
    const std::string& name) const {
  return store_->GetMark(name);
}

absl::Status Ledger::PutMark(const std::string& name,
                             const std::string& value) {
  return store_->PutMark(name, value, options_.clock());
}

absl::Status Ledger::ReleaseLease(const std::string& name,
                                  const std::string& holder) {
  return store_->ReleaseLease(name, holder);
}

absl::StatusOr<KpiReport> Ledger::Kpis(const KpiQuery& query) const {
  TREATD_RETURN_IF_ERROR(ValidateKpiQuery(query));
  KpiBuilder builder(query);
  TREATD_RETURN_IF_ERROR(store_->AddKpiEpisodes(query, builder));
  return builder.Finish();
}

absl::StatusOr<LedgerGauges> Ledger::Gauges(absl::Time as_of) const {
  return store_->Gauges(as_of);
}

absl::StatusOr<VerifyReport> Ledger::Verify() const {
  // Read the head first: events committed after this point are beyond it
  // and not checked; events before it must all be there.
  TREATD_ASSIGN_OR_RETURN(ChainHead head, store_->StoredHead());
  VerifyReport report;
  std::string prev_hash(kGenesisHash);
  int64_t prev_seq = 0;
  auto broken = [&report](int64_t seq, std::string problem) {
    report.ok = false;
    report.first_bad_seq = seq;
    report.problem = std::move(problem);
  };
  while (report.ok && prev_seq < head.seq) {
    TREATD_ASSIGN_OR_RETURN(
        std::vector<StoredEvent> page,
        store_->ListEvents(prev_seq, kVerifyPage, /*finding_key=*/""));
    if (page.empty()) break;
    for (const StoredEvent& row : page) {
      if (row.seq > head.seq) break;
      if (row.seq != prev_seq + 1) {
        broken(prev_seq + 1,
               absl::StrCat("event ", prev_seq + 1,
                            " is missing (deleted); the next stored event is ",
                            row.seq));
        break;
      }
      if (LinkHash(prev_hash, row.body) != row.hash) {
        broken(row.seq,
               absl::StrCat("event ", row.seq,
                            " does not hash to its stored hash: it was edited, "
                            "or the events before it were changed"));
        break;
      }
      absl::StatusOr<Event> event = DecodeCanonical(row.body);
      if (!event.ok() || event->seq != row.seq ||
          event->finding_key != row.finding_key || event->kind != row.kind ||
          absl::ToUnixMicros(event->occurred_at) != row.occurred_us ||
          event->idempotency_key != row.idempotency_key) {
        broken(row.seq, absl::StrCat("event ", row.seq,
                                     ": its columns differ from its hashed "
                                     "body (edited)"));
        break;
      }
      ++report.events_checked;
      prev_seq = row.seq;
      prev_hash = row.hash;
    }
  }
  if (report.ok && prev_seq != head.seq) {
    broken(prev_seq + 1,
           absl::StrCat("events ", prev_seq + 1, "..", head.seq,
                        " are missing at the end of the chain (deleted)"));
  } else if (report.ok && prev_hash != head.hash) {
    broken(head.seq, absl::StrCat("event ", head.seq,
                                  " differs from the stored chain head"));
  }
  if (report.ok) {
    // An event beyond the head that a commit since did not account for was
    // added outside the ledger.
    TREATD_ASSIGN_OR_RETURN(std::vector<StoredEvent> extra,
                            store_->ListEvents(head.seq, 1, ""));
    TREATD_ASSIGN_OR_RETURN(ChainHead now, store_->StoredHead());
    if (!extra.empty() && extra.front().seq > now.seq) {
      broken(extra.front().seq,
             absl::StrCat("event ", extra.front().seq,
                          " lies beyond the stored chain head ", head.seq,
                          " (inserted)"));
    }
  }
  report.head_hash = head.hash;
  return report;
}

int64_t Ledger::WaitForEvents(int64_t after_seq, absl::Duration timeout) const {
  return committer_->WaitForCommit(after_seq, timeout);
}

LedgerStats Ledger::Stats() const { return committer_->Stats(); }

const char* Ledger::backend() const { return store_->backend(); }

}  // namespace treatd::ledger
