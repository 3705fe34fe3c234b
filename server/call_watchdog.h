// CallWatchdog: a thread that cuts calls off with DEADLINE_EXCEEDED when
// they run past their hard deadline (the call duration ceiling) or, for
// streams, stay idle too long, with a message naming the limit and its
// flag. A stalled client thus cannot hold a handler thread: the cancelled
// call's blocked reads and writes fail at once. Checks every 100 ms.
//
// Thread-safe: calls are watched, touched and unwatched from any thread;
// the table of watched calls is guarded by mu_.
#ifndef TREATD_SERVER_CALL_WATCHDOG_H_
#define TREATD_SERVER_CALL_WATCHDOG_H_

#include <grpc/grpc.h>

#include <cstdint>
#include <map>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/call_limits.h"
#include "server/metrics/metrics.h"

namespace treatd {

class CallWatchdog {
 public:
  // Starts the thread. `limits` (named in the messages) and `metrics` (may
  // be null; counts the cut-offs) are not owned and must outlive the
  // watchdog.
  CallWatchdog(const CallLimits& limits, ServerMetrics* metrics);
  // Stops the thread and drops the references it still holds. The gRPC
  // server must have stopped first.
  ~CallWatchdog();
  CallWatchdog(const CallWatchdog&) = delete;
  CallWatchdog& operator=(const CallWatchdog&) = delete;

  // Cuts `call` (a stream when `stream`) off with DEADLINE_EXCEEDED at
  // `hard_deadline`, or once `idle` (InfiniteDuration: never) passes
  // without Touch(); `now` is the time of the call's last activity. Holds a
  // reference to the call until Unwatch(). Returns a watch id.
  uint64_t Watch(grpc_call* call, bool stream, absl::Time now,
                 absl::Time hard_deadline, absl::Duration idle)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Notes activity on the call (a message in or out).
  void Touch(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops watching. Returns true when the watchdog already cut the call off.
  bool Unwatch(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // How many watches Watch() has started so far: which calls are watched
  // at all is part of the cost contract (the unary Decide is watched only
  // while its answer waits for the ledger), and tests check it here.
  uint64_t watches_started() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Watched {
    grpc_call* call;
    absl::Time hard_deadline;
    absl::Duration idle;
    absl::Time last_activity;
    // The limit's message is built only when it fires.
    bool stream;
    bool fired = false;
  };

  void Loop() ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const CallLimits& limits_;
  ServerMetrics* const metrics_;

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Watched> watched_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_CALL_WATCHDOG_H_
