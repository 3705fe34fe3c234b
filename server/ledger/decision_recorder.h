// DecisionRecorder: puts the server's decisions into the ledger before
// they are answered, without holding gRPC's threads while the database
// commits.
//
// A handler hands over the events of its call with a completion callback
// and returns; a free recorder thread takes everything handed over
// meanwhile, appends it in one Ledger::AppendGroups (the ledger commits it in
// as few transactions as its batch limit allows: group commit across every call
// in flight), and runs each call's callback with that call's outcome. A call is
// therefore answered only once its decisions are durable, and the cost of a
// commit (an fsync on SQLite, a round trip on PostgreSQL) is shared by every
// call that arrived while the previous one ran. There are kRecorderThreads such
// threads, so that while one waits for its transaction to be synced the next
// transaction is already being written (the ledger's committer pipelines them;
// see common/ledger/committer.h).
//
// A call with a quick answer (a unary Decide) need not pay for that hand-
// over: RecordAsyncDirect gives its events straight to the ledger
// (Ledger::AppendAsync) and its callback runs on the ledger's thread that
// made them durable. The threads of a call's path are then gRPC's handler,
// the committer and a sync thread, each woken once per transaction rather
// than once per call.
//
// When the database fails (Append says UNAVAILABLE), the configured
// LedgerDownPolicy decides: fail closed (the call gets UNAVAILABLE) or
// answer anyway and count the decision in
// treatd_ledger_decisions_unrecorded_total. Nothing is dropped silently.
//
// Thread-safe: Record, RecordAsync and RecordAsyncDirect may be called from
// any thread; the callbacks run on a recorder thread (RecordAsyncDirect's:
// a ledger thread) and must not block for long.
#ifndef TREATD_SERVER_LEDGER_DECISION_RECORDER_H_
#define TREATD_SERVER_LEDGER_DECISION_RECORDER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/ledger/event.h"
#include "common/ledger/ledger.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// What an unreachable ledger does to decide calls.
enum class LedgerDownPolicy {
  // The call fails with UNAVAILABLE: nothing is acknowledged unrecorded.
  kFailClosed,
  // The decisions are answered and counted as unrecorded.
  kAnswerAndCount,
};

// Counters since start, for metrics and tests.
struct RecorderCounts {
  int64_t recorded = 0;    // decision events durable (duplicates included)
  int64_t unrecorded = 0;  // answered but not recorded (kAnswerAndCount)
  int64_t refused = 0;     // not answered: UNAVAILABLE under kFailClosed
  int64_t rejected = 0;    // not recordable (no identity, ...): item errors
  int64_t commits = 0;     // Append / AppendAsync calls made
};

class DecisionRecorder {
 public:
  // One status per event handed over, in order: OK when the event is
  // durable (or was already); under kAnswerAndCount also OK when the
  // database failed (counted); UNAVAILABLE under kFailClosed; another
  // code when the event itself cannot be recorded (INVALID_ARGUMENT,
  // NOT_FOUND, FAILED_PRECONDITION from the ledger).
  using Done = std::function<void(std::vector<absl::Status>)>;

  // `ledger` is not owned and must outlive the recorder.
  DecisionRecorder(ledger::Ledger* ledger, LedgerDownPolicy down_policy);
  // Records what was handed over, runs its callbacks, then stops.
  ~DecisionRecorder();
  DecisionRecorder(const DecisionRecorder&) = delete;
  DecisionRecorder& operator=(const DecisionRecorder&) = delete;

  // Hands `events` over; `done` runs on the recorder thread once they are
  // durable or have failed. An empty `events` calls `done` at once.
  void RecordAsync(std::vector<ledger::Event> events, Done done);

  // As RecordAsync, but without a recorder thread: `events` go straight
  // to the ledger's committer, and `done` runs on the ledger's thread that
  // made them durable (a sync thread; the committer's under SQLite
  // "normal" or PostgreSQL), where it delays the next sync or commit —
  // for a `done` of a few microseconds (finishing a unary call), not for
  // one that encodes a large answer. Same statuses and counts as
  // RecordAsync.
  void RecordAsyncDirect(std::vector<ledger::Event> events, Done done);

  // RecordAsync and wait: for callers that may block (streams, the sweep).
  std::vector<absl::Status> Record(std::vector<ledger::Event> events);

  // Counts `n` decisions that could not even be turned into events (e.g.
  // a finding without identity) and were answered as item errors.
  void CountRejected(int64_t n) { rejected_.fetch_add(n); }

  RecorderCounts Counts() const;
  LedgerDownPolicy down_policy() const { return down_policy_; }
  ledger::Ledger* ledger() const { return ledger_; }

 private:
  struct Pending {
    std::vector<ledger::Event> events;
    Done done;
  };

  // What the statuses of a commit add to the counters.
  struct Tally {
    int64_t recorded = 0;
    int64_t unrecorded = 0;
    int64_t refused = 0;
    int64_t rejected = 0;
    absl::Status first_down;  // the first UNAVAILABLE, if any
  };

  void Run();
  // Appends `batch` and runs its callbacks.
  void Commit(std::vector<Pending> batch);
  // The status a caller gets for one event's result (see Done), counted in
  // `tally`.
  absl::Status StatusOf(const absl::StatusOr<ledger::Appended>& appended,
                        Tally& tally) const;
  // Adds `tally` to the counters and logs a database failure. Before any
  // call of the commit is answered, so a client that sees its answer also
  // sees it counted.
  void Count(const Tally& tally);

  // Constant after construction.
  ledger::Ledger* const ledger_;
  const LedgerDownPolicy down_policy_;

  std::atomic<int64_t> recorded_{0};
  std::atomic<int64_t> unrecorded_{0};
  std::atomic<int64_t> refused_{0};
  std::atomic<int64_t> rejected_{0};
  std::atomic<int64_t> commits_{0};

  absl::Mutex mu_;
  std::vector<Pending> pending_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Last: start once everything above exists.
  std::vector<std::thread> threads_;
};

// Appends in flight at once from one recorder: enough to keep the ledger's
// committer writing while earlier transactions sync.
inline constexpr int kRecorderThreads = 4;

// The decisions of a batch (or stream chunk) on their way to the ledger:
// which result each event came from.
struct BatchEvents {
  std::vector<ledger::Event> events;
  std::vector<int> result_index;  // events[i] answers results[result_index[i]]
};

// Builds the decision events of a batch one result at a time, as each
// finding is decided: the result may then be reused for the next finding
// (the event copies what it keeps). A result whose finding has no
// identity becomes an INVALID_ARGUMENT item error saying so (counted with
// the recorder's CountRejected by Take). Each event refers to its finding
// for the snapshot (Event's snapshot_source), so the findings must stay
// valid until the events are recorded.
//
// Not thread-safe: one per batch.
class BatchEventCollector {
 public:
  // `recorder` is not owned and must outlive the collector; `expected`
  // is how many results will be added (reserved).
  BatchEventCollector(DecisionRecorder* recorder, int expected);

  // Adds the event of `result`, the answer to `finding` at `index` in the
  // batch; a result without decision (an item error) adds none. Returns
  // whether an event was added.
  bool Add(const v1::Finding& finding, int index, v1::DecisionResult* result);

  // The events added, in order; counts the rejected ones.
  BatchEvents Take();

 private:
  DecisionRecorder* recorder_;
  BatchEvents batch_;
  int64_t rejected_ = 0;
};

// The decision events of `results` (answers to `findings`, same order),
// as BatchEventCollector adds them.
BatchEvents CollectBatchEvents(
    const google::protobuf::RepeatedPtrField<v1::Finding>& findings,
    google::protobuf::RepeatedPtrField<v1::DecisionResult>* results,
    DecisionRecorder* recorder);

// Applies the recorder's `statuses` for `batch` to `results`: an event that
// was not recorded turns its result into an item error. Returns the
// UNAVAILABLE of a fail-closed database failure (the whole call fails: its
// decisions were not all recorded), else OK.
absl::Status ApplyRecordStatuses(
    const BatchEvents& batch, const std::vector<absl::Status>& statuses,
    google::protobuf::RepeatedPtrField<v1::DecisionResult>* results);

// Applies the recorder's `statuses` for `batch` to `results`: every event
// that was not recorded, UNAVAILABLE included, turns its result into an
// item error (a StreamDecide chunk's answer: the stream goes on).
void SetRecordErrors(
    const BatchEvents& batch, const std::vector<absl::Status>& statuses,
    google::protobuf::RepeatedPtrField<v1::DecisionResult>* results);

// The error a decision gets when its finding cannot be identified.
absl::Status UnidentifiedFindingError(const absl::Status& identity_error);

}  // namespace treatd

#endif  // TREATD_SERVER_LEDGER_DECISION_RECORDER_H_
