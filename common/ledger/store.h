// The storage interface the ledger runs on: SQL primitives over the schema
// of schema.h, one implementation per database (sqlite_store, postgres_store).
// The semantics — idempotency, lifecycle, hash chain, scans — live once, in
// the appender (appender.h), on top of these primitives; a store only moves
// rows. Internal to common/ledger; callers use ledger.h.
//
// Thread safety: the write-side methods (BeginAppend .. CommitAppend) are
// called by one thread at a time (the committer); the read-side methods may
// be called concurrently from any thread and with an append in progress.
#ifndef TREATD_COMMON_LEDGER_STORE_H_
#define TREATD_COMMON_LEDGER_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/chain.h"
#include "common/ledger/event.h"
#include "common/ledger/kpi.h"
#include "common/ledger/query.h"

namespace treatd::ledger {

// The chain head: the last event's sequence number and hash.
struct ChainHead {
  int64_t seq = 0;
  std::string hash;  // "0" * 64 before the first event
};

// An event as stored: its indexed columns and its canonical encoding (the
// bytes that are hashed, chain.h), from which the event is decoded.
struct StoredEvent {
  int64_t seq = 0;
  std::string finding_key;
  EventKind kind = EventKind::kDecision;
  int64_t occurred_us = 0;
  int64_t recorded_us = 0;
  std::string idempotency_key;
  // The canonical encoding; in the table, what ElideColumnValues leaves
  // of it (stores bind and read it as is; sql::ReadEvent restores it).
  std::string body;
  std::string hash;

  // Views into this event's fields.
  EventColumns columns() const {
    return EventColumns{seq,         finding_key, kind,
                        occurred_us, recorded_us, idempotency_key};
  }
};

// Filter, ordering and cursor of one ListFindings page as SQL sees it.
struct FindingQuery {
  FindingFilter filter;
  std::string after_key;  // exclusive; "" = from the start
  int limit = 100;
};

// The most sequence numbers one EventHashes call takes (one statement).
inline constexpr int kMaxHashLookup = 1000;

class Store {
 public:
  virtual ~Store() = default;

  virtual const char* backend() const = 0;

  // --- write side (committer thread only) ---

  // Begins a write transaction that holds the chain lock until
  // CommitAppend/RollbackAppend. UNAVAILABLE when the lock or the database
  // is not available within the lock timeout.
  virtual absl::Status BeginAppend() = 0;
  virtual absl::StatusOr<ChainHead> ReadHead() = 0;
  // seq of each of `keys` already recorded (absent ones are left out).
  virtual absl::StatusOr<absl::flat_hash_map<std::string, int64_t>>
  FindIdempotencyKeys(const std::vector<std::string>& keys) = 0;
  // Whether some event's idempotency key k has from <= k < to, in the
  // order of the key's unique index (one index seek).
  virtual absl::StatusOr<bool> AnyIdempotencyKeyBetween(
      const std::string& from, const std::string& to) = 0;
  // The current rows of `keys` that exist.
  virtual absl::StatusOr<absl::flat_hash_map<std::string, FindingRecord>>
  LoadFindings(const std::vector<std::string>& keys) = 0;
  // Findings of asset `scope` (any state), optionally of `kinds` only.
  virtual absl::StatusOr<std::vector<FindingRecord>> LoadScope(
      const std::string& scope, const std::vector<v1::FindingKind>& kinds) = 0;
  virtual absl::Status InsertEvents(const std::vector<StoredEvent>& events) = 0;
  // Inserts or replaces the current rows.
  virtual absl::Status SaveFindings(
      const std::vector<const FindingRecord*>& findings) = 0;
  // Keeps a finished episode (before a reopen replaces the current row) so
  // KPIs still see it; reopened_at is when it was reopened.
  virtual absl::Status ArchiveEpisode(const FindingRecord& episode,
                                      absl::Time reopened_at) = 0;
  virtual absl::Status SaveSnapshots(
      const std::vector<std::pair<std::string, const std::string*>>&
          snapshots) = 0;
  // Whether a scan with this idempotency key was recorded, and recording
  // one.
  virtual absl::StatusOr<bool> ScanRecorded(const std::string& key) = 0;
  virtual absl::Status SaveScan(const std::string& key,
                                const std::string& scope, absl::Time scanned_at,
                                absl::Time recorded_at) = 0;
  virtual absl::Status WriteHead(const ChainHead& head) = 0;
  virtual absl::Status CommitAppend() = 0;
  virtual void RollbackAppend() = 0;

  // Whether CommitAppend returns before its transaction is durable. The
  // committer then calls SyncCommitted, on its own thread and while the
  // next transaction is written, before any caller learns of the commit.
  virtual bool DefersSync() const { return false; }
  // Makes every transaction committed before the call durable. May run
  // concurrently with the write side and with itself (the committer keeps
  // more than one sync in flight). UNAVAILABLE when the sync fails: the
  // transactions may or may not survive a power loss.
  virtual absl::Status SyncCommitted() { return absl::OkStatus(); }

  // --- read side (any thread) ---

  virtual absl::StatusOr<std::optional<FindingRecord>> GetFinding(
      const std::string& key) const = 0;
  virtual absl::StatusOr<std::vector<FindingRecord>> ListFindings(
      const FindingQuery& query) const = 0;
  // Events with seq > after_seq (ascending, at most limit), optionally of one
  // finding.
  virtual absl::StatusOr<std::vector<StoredEvent>> ListEvents(
      int64_t after_seq, int limit, const std::string& finding_key) const = 0;
  // The hashes of the events with these sequence numbers (at most
  // kMaxHashLookup), one query; an unknown seq is absent from the answer.
  virtual absl::StatusOr<absl::flat_hash_map<int64_t, std::string>> EventHashes(
      const std::vector<int64_t>& seqs) const = 0;
  // Mitigated/accepted findings with review_by <= as_of after `after` in
  // (review_by, key) order, at most `limit`.
  virtual absl::StatusOr<std::vector<FindingRecord>> SweepCandidates(
      absl::Time as_of, int limit, const SweepPosition& after) const = 0;
  virtual absl::StatusOr<std::optional<std::string>> FindingSnapshot(
      const std::string& key) const = 0;
  // Adds every episode (current or archived) relevant to the KPI `query`
  // (opened by as_of and not closed by the window's start) to `builder`,
  // streamed row by row, never collected. `query` is valid.
  virtual absl::Status AddKpiEpisodes(const KpiQuery& query,
                                      KpiBuilder& builder) const = 0;
  virtual absl::StatusOr<LedgerGauges> Gauges(absl::Time as_of) const = 0;
  // The stored head (to detect events deleted at the end of the chain).
  virtual absl::StatusOr<ChainHead> StoredHead() const = 0;

  // Leases (own short transactions, any thread).
  virtual absl::StatusOr<bool> AcquireLease(const std::string& name,
                                            const std::string& holder,
                                            absl::Time now,
                                            absl::Time expires) = 0;
  virtual absl::Status ReleaseLease(const std::string& name,
                                    const std::string& holder) = 0;

  // Named marks (own short transactions, any thread). nullopt: never put.
  virtual absl::StatusOr<std::optional<std::string>> GetMark(
      const std::string& name) const = 0;
  virtual absl::Status PutMark(const std::string& name,
                               const std::string& value, absl::Time now) = 0;
};

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_STORE_H_
