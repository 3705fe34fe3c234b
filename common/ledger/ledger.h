// The ledger: treatd's durable memory of findings. An append-only, hash-
// chained event log plus the current state of every finding, behind one
// interface over two stores (SQLite, the embedded default; PostgreSQL for
// several replicas on one database). No gRPC; the server and treatctl wrap
// it.
//
// What is durable when
// --------------------
// - Append()/RecordScan() return only after the transaction holding their
//   events has committed and is durable. Concurrent calls are batched into
//   one transaction by a single committer thread (group commit): a caller
//   waits for at most the batch in flight plus its own.
// - SQLite runs in WAL mode. "full" (default): COMMIT appends the
//   transaction's frames to the -wal file, then a sync thread fdatasyncs
//   that file, and only then does Append return — the sync SQLite's own
//   synchronous=FULL performs inside COMMIT, moved off the committer so
//   that the next transaction is written while the previous ones sync (one
//   fsync covers all of them). An acknowledged event survives kill -9 (the
//   frames are in the file, replayed at the next open) and an OS crash or
//   power cut. "normal" (option) skips that fsync: it still survives
//   kill -9 — the frames were written to the OS before COMMIT returned —
//   but may lose the last commits on power loss.
// - PostgreSQL: COMMIT returns after the server's WAL flush (the server's
//   synchronous_commit setting applies; the default "on" is durable).
// - The events, the current-state rows and the chain head change in the
//   same transaction: a crash leaves all of a batch or none of it.
// - Not durable: Stats(), the in-process commit notification, the cache of
//   nothing else — every read goes to the database.
//
// Chain: event n's hash = SHA-256(hash of event n-1, canonical encoding of
// event n) (chain.h); the head (last seq and hash) is stored with every
// commit. Verify() recomputes it and names the first sequence number that
// is edited, inserted, deleted or missing at the end. It proves the log was
// not changed by anyone who cannot also rewrite every later hash and the head
// — anchor the head elsewhere (export it) to extend that.
//
// Thread safety: every method is safe to call from any number of threads.
// Appends are serialized by the committer; reads run concurrently on their
// own connections. On PostgreSQL several processes may append to one
// database: chain appends are serialized by a transaction-scoped advisory
// lock, so there is still exactly one chain without gaps.
#ifndef TREATD_COMMON_LEDGER_LEDGER_H_
#define TREATD_COMMON_LEDGER_LEDGER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/event.h"
#include "common/ledger/kpi.h"
#include "common/ledger/query.h"

namespace treatd::ledger {

class Appender;
class Committer;
class Store;

struct LedgerOptions {
  // Where the ledger lives:
  //   "sqlite:/path/to/ledger.db" or a plain path -> SQLite file (created
  //     with its directory's permissions when absent);
  //   "postgresql://user@host:port/db?..." or "postgres://..." -> PostgreSQL
  //     (a libpq connection URI; also "host=... dbname=..." key/value form
  //     when prefixed with "postgresql:").
  std::string url;
  // SQLite only: "full" (default) or "normal"; see "What is durable when".
  std::string sqlite_synchronous = "full";
  // SQLite only: page cache per connection (the writer and each reader) in
  // MiB, 1..4096. Larger keeps more of a big ledger's index pages in memory
  // at the cost of RSS; a miss reads from the OS page cache.
  int sqlite_cache_mib = 8;
  // How long to wait for a database lock (SQLite busy timeout, PostgreSQL
  // lock_timeout for the chain lock) before the commit fails UNAVAILABLE.
  absl::Duration lock_timeout = absl::Seconds(10);
  // At most this many events per transaction.
  int max_batch_events = 2000;
  // Outcome times may be at most this far ahead of the clock (clock skew
  // between reporter and server); further is INVALID_ARGUMENT.
  absl::Duration future_tolerance = absl::Minutes(5);
  // The clock for recorded_at and the future check; tests inject one.
  std::function<absl::Time()> clock = absl::Now;
};

// The outcome of one appended event.
struct Appended {
  int64_t seq = 0;         // the event's sequence number
  bool duplicate = false;  // idempotency key seen before: nothing new written
  FindingState state = FindingState::kOpen;  // the finding's state after it
  bool recurrence = false;  // this event reopened a remediated finding
};

// The outcome of a RecordScan.
struct ScanResult {
  bool duplicate = false;     // the scan's idempotency key was seen before
  int64_t remediated = 0;     // kScanRemediated events written
  int64_t reopened = 0;       // kReopened events written
  int64_t still_present = 0;  // present and known, no change
  int64_t unknown = 0;        // present keys the ledger does not know
  std::vector<int64_t> seqs;  // the events written, in order
};

// Counters since Open (not persisted). Safe to read at any time.
struct LedgerStats {
  int64_t commits = 0;
  int64_t events = 0;  // events written (duplicates excluded)
  int64_t duplicates = 0;
  int64_t failed_commits = 0;
  int64_t largest_batch = 0;   // events in the largest transaction
  absl::Duration commit_time;  // total time inside transactions
  int64_t syncs = 0;           // deferred syncs (SQLite "full")
  absl::Duration sync_time;    // total time in deferred syncs
};

class Ledger {
 public:
  // Opens (creating when absent) the ledger at options.url and applies the
  // pending schema migrations in one transaction (on PostgreSQL under an
  // advisory lock, so replicas starting together migrate once).
  // Errors (never a crash): INVALID_ARGUMENT for a malformed url or option;
  // FAILED_PRECONDITION for a file that is not a SQLite database, is
  // corrupt, or has a newer schema than this build knows; UNAVAILABLE for a
  // locked SQLite file or an unreachable PostgreSQL server. The message says
  // which database and what happened.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(LedgerOptions options);

  // Stops the committer after the queued appends are committed.
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Records `events` and returns one result per event, in order, once they
  // are durable. Per event:
  //   - its idempotency key was recorded before -> that event's seq with
  //     duplicate = true (nothing written);
  //   - INVALID_ARGUMENT: missing finding_key / occurred_at, a key or an
  //     indexed decision fact (owner, asset, vulnerability, priority) over
  //     its bound (docs/ledger.md), text not UTF-8, a decision without facts,
  //     kAccepted without `until`, an outcome dated more than future_tolerance
  //     ahead of the clock or before the finding's first_seen (message names
  //     the field, the value and the bound);
  //   - NOT_FOUND: an outcome, reopen or sweep event for a finding the
  //     ledger has never seen;
  //   - FAILED_PRECONDITION: a transition the lifecycle forbids
  //     (lifecycle.h), e.g. mitigating a remediated finding;
  //   - UNAVAILABLE: the database could not commit (every event of that
  //     transaction gets it). None of them was recorded, unless the
  //     COMMIT's reply was lost (the connection broke during it): then the
  //     outcome is unknown and the message says so. Either way, sent again
  //     with the same idempotency keys they are recorded once.
  // One bad event never fails the others. Events of one call are recorded in
  // order, contiguously only if they fit one transaction.
  std::vector<absl::StatusOr<Appended>> Append(std::vector<Event> events);

  // Append of several callers' events at once, `groups` one after the
  // other, without joining them into one vector first (each event moved
  // once less: a recorder thread hands over many calls' events per
  // commit). The results of each group, in order.
  std::vector<std::vector<absl::StatusOr<Appended>>> AppendGroups(
      std::vector<std::vector<Event>> groups);

  // Append without waiting: returns at once, and `done` gets the same
  // results once they are durable (or have failed), on one of the ledger's
  // own threads (the one that made them durable). No thread of the caller
  // waits meanwhile. `done` must be quick — the next commit or sync waits
  // for it — and must not call into this ledger's Append / AppendAsync /
  // RecordScan. Not after the ledger's destruction has begun.
  using AppendDone =
      std::function<void(std::vector<absl::StatusOr<Appended>> results)>;
  void AppendAsync(std::vector<Event> events, AppendDone done);

  // Records a complete scan (see ScanObservation) in one transaction.
  // INVALID_ARGUMENT for an empty scope or unset / future scanned_at;
  // UNAVAILABLE when the commit fails.
  absl::StatusOr<ScanResult> RecordScan(ScanObservation scan);

  // The finding with its events, oldest first. NOT_FOUND when unknown.
  absl::StatusOr<FindingHistory> GetFinding(const std::string& key) const;
  // The finding's current row alone (one store query). NOT_FOUND when
  // unknown.
  absl::StatusOr<FindingRecord> GetFindingRecord(const std::string& key) const;

  // Findings matching `filter`, ordered by key, one page at a time.
  // updated_at (and so changed_since) is the ledger's clock when the
  // finding's last event was recorded.
  // INVALID_ARGUMENT for a bad page token or page size, or overdue /
  // review_due without as_of.
  absl::StatusOr<FindingPage> ListFindings(const FindingFilter& filter,
                                           const PageRequest& page) const;

  // Events with seq > after_seq, ascending, at most `limit` (1..10000).
  // Resumable: pass the last seq seen. Optionally only one finding's.
  // Every event carries prev_hash, the hash of event seq - 1, also when
  // that event is not in the answer (the first of a page or resume, or
  // another finding's): then those hashes are read from the store together,
  // one query per 1,000 (Store::EventHashes).
  absl::StatusOr<std::vector<Event>> ListEvents(
      int64_t after_seq, int limit, const std::string& finding_key = "") const;

  // Mitigated or accepted findings with review_by <= as_of, oldest review_by
  // first (then by key), at most `limit`: what the revisit sweep decides
  // again. With `after`, the page starts after that position, so a caller
  // that keeps the last position of each page reaches every candidate
  // however many there are.
  absl::StatusOr<std::vector<FindingRecord>> SweepCandidates(
      absl::Time as_of, int limit,
      const std::optional<SweepPosition>& after = std::nullopt) const;

  // The latest serialized v1::Finding recorded for `key` by a decision.
  // NOT_FOUND when the finding or its snapshot is unknown.
  absl::StatusOr<std::string> FindingSnapshot(const std::string& key) const;

  // Takes or renews the named lease for `holder` until now + ttl when it is
  // free, expired or already held by `holder`. Returns true when `holder`
  // holds it after the call. Leases live in the database, so on PostgreSQL
  // exactly one replica holds "sweep" at a time.
  absl::StatusOr<bool> AcquireLease(const std::string& name,
                                    const std::string& holder,
                                    absl::Duration ttl);
  // Gives the lease up if `holder` holds it.
  absl::Status ReleaseLease(const std::string& name, const std::string& holder);

  // A named mark: a small value kept across restarts and shared by the
  // replicas of one database (the revisit sweep keeps its feed baseline and
  // overdue watermark here). nullopt when never put. UNAVAILABLE when the
  // database cannot be read or written.
  absl::StatusOr<std::optional<std::string>> GetMark(
      const std::string& name) const;
  // Sets the mark, replacing its value.
  absl::Status PutMark(const std::string& name, const std::string& value);

  // KPIs for query.as_of and query.window (kpi.h, docs/ledger.md).
  absl::StatusOr<KpiReport> Kpis(const KpiQuery& query) const;

  // Indexed counts for gauges.
  absl::StatusOr<LedgerGauges> Gauges(absl::Time as_of) const;

  // Recomputes the whole chain. OK with report.ok = false when the chain is
  // broken (report says where); an error status only when the database
  // cannot be read.
  absl::StatusOr<VerifyReport> Verify() const;

  // Blocks until this process has committed an event with seq > after_seq
  // or `timeout` passes; returns the last committed seq known. Events
  // written by other replicas are not signalled: poll ListEvents for those.
  int64_t WaitForEvents(int64_t after_seq, absl::Duration timeout) const;

  LedgerStats Stats() const;

  // "sqlite" or "postgresql".
  const char* backend() const;

 private:
  Ledger(LedgerOptions options, std::unique_ptr<Store> store, int64_t head_seq);

  const LedgerOptions options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Appender> appender_;    // used by the committer thread
  std::unique_ptr<Committer> committer_;  // declared last: stops first
};

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_LEDGER_H_
