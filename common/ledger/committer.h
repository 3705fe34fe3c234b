// Group commit: callers on many threads hand their events to one committer
// thread, which applies whatever has queued up as one transaction (up to a
// size limit) and wakes each caller when its part is durable. While one
// transaction commits the next batch gathers, so the cost of a commit (an
// fsync on SQLite, a round trip on PostgreSQL) is shared by every caller
// that arrived meanwhile.
//
// When the store defers its sync (Store::DefersSync: the SQLite store under
// "full"), sync threads make the commits durable: the committer goes on to
// write the next transaction while the previous ones are fsynced, and one
// fsync covers every transaction committed before it started. There are
// kSyncThreads of them, so a transaction committed while a sync runs gets
// its own sync at once instead of waiting for that one to finish (a caller
// waits about one commit and one sync, not one and a half syncs). Callers
// are still woken only once their transaction is durable.
//
// Thread safety: Submit, SubmitAsync, WaitForCommit and Stats may be called
// from any thread. The destructor commits and syncs what is queued, then joins
// the threads.
#ifndef TREATD_COMMON_LEDGER_COMMITTER_H_
#define TREATD_COMMON_LEDGER_COMMITTER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ledger/appender.h"
#include "common/ledger/ledger.h"
#include "common/ledger/store.h"

namespace treatd::ledger {

class Committer {
 public:
  // `appender` and `store` (the appender's) must outlive the committer.
  // `head_seq` is the chain head at open (what WaitForCommit reports until
  // the first commit).
  Committer(Appender* appender, Store* store, int max_batch_items,
            int64_t head_seq);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Queues `items` (in order, not interleaved with other callers' items)
  // and blocks until every one has its result.
  void Submit(const std::vector<WorkItem*>& items);

  // As Submit, but returns at once: `done` runs once every item has its
  // result, on the thread that made the last of them durable (a sync
  // thread, or the committer's own when the store does not defer its
  // sync), after that thread has let go of the committer's lock. So no
  // thread waits between a caller and the commit: for callers that must
  // not block and would otherwise need a thread of their own to wait on
  // (a unary call's handler). `done` must be quick (it delays the next
  // sync or commit) and must not call Submit (it may run on the
  // committer's thread). `items` must stay valid until `done` runs; an
  // empty `items` runs `done` at once, on the caller's thread.
  void SubmitAsync(const std::vector<WorkItem*>& items,
                   std::function<void()> done);

  // See Ledger::WaitForEvents.
  int64_t WaitForCommit(int64_t after_seq, absl::Duration timeout) const;

  LedgerStats Stats() const;

 private:
  // The chunks of one SubmitAsync call: `done` runs when the last one is
  // finished.
  struct AsyncGroup {
    int remaining;  // chunks not finished, guarded by mu_
    std::function<void()> done;
  };
  struct Request {
    std::vector<WorkItem*> items;
    bool done = false;
    // Set by SubmitAsync, which allocates the request (and the group):
    // Finish deletes them instead of setting `done`.
    AsyncGroup* group = nullptr;
  };
  // A committed transaction waiting for its sync.
  struct Committed {
    int64_t id;  // 1, 2, ... in commit order
    std::vector<Request*> batch;
    BatchOutcome outcome;
    absl::Duration took;
  };

  void Loop();
  void SyncLoop();
  // Counts a transaction and wakes its callers; the callbacks of
  // SubmitAsync requests are appended to `callbacks`, for the caller to run
  // once it has released mu_. Requires mu_.
  void Finish(const std::vector<Request*>& batch,
              const absl::StatusOr<BatchOutcome>& outcome, absl::Duration took,
              std::vector<std::function<void()>>* callbacks)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Appender* const appender_;
  Store* const store_;
  const size_t max_batch_items_;
  const bool defers_sync_;

  mutable absl::Mutex mu_;
  std::deque<Request*> queue_ ABSL_GUARDED_BY(mu_);
  std::deque<Committed> unsynced_ ABSL_GUARDED_BY(mu_);  // in id order
  int64_t committed_id_ ABSL_GUARDED_BY(mu_) = 0;        // the last committed
  // The last transaction that a sync (finished or running) covers.
  int64_t sync_claimed_id_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool committer_done_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_seq_ ABSL_GUARDED_BY(mu_);
  LedgerStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  std::vector<std::thread> sync_threads_;  // only when defers_sync_
};

// Syncs in flight at once (see above). Two: a third would only queue
// behind the device's cache flush.
inline constexpr int kSyncThreads = 2;

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_COMMITTER_H_
