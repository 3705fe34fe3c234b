// Group commit: callers on many threads hand their events to one committer
// thread, which applies whatever has queued up as one transaction (up to a
// size limit) and wakes each caller when its part is durable. While one
// transaction commits the next batch gathers, so the cost of a commit (an
// fsync on SQLite, a round trip on PostgreSQL) is shared by every caller
// that arrived meanwhile.
//
// Thread safety: Submit, WaitForCommit and Stats may be called from any
// thread. The destructor commits what is queued, then joins the thread.
#ifndef TREATD_COMMON_LEDGER_COMMITTER_H_
#define TREATD_COMMON_LEDGER_COMMITTER_H_

#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ledger/appender.h"
#include "common/ledger/ledger.h"

namespace treatd::ledger {

class Committer {
 public:
  // `appender` must outlive the committer. `head_seq` is the chain head at
  // open (what WaitForCommit reports until the first commit).
  Committer(Appender* appender, int max_batch_items, int64_t head_seq);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Queues `items` (in order, not interleaved with other callers' items)
  // and blocks until every one has its result.
  void Submit(const std::vector<WorkItem*>& items);

  // See Ledger::WaitForEvents.
  int64_t WaitForCommit(int64_t after_seq, absl::Duration timeout) const;

  LedgerStats Stats() const;

 private:
  struct Request {
    std::vector<WorkItem*> items;
    bool done = false;
  };

  void Loop();

  Appender* const appender_;
  const size_t max_batch_items_;

  mutable absl::Mutex mu_;
  std::deque<Request*> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_seq_ ABSL_GUARDED_BY(mu_);
  LedgerStats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_COMMITTER_H_
