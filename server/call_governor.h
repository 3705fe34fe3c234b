// CallGovernor: the server-wide limits on calls and their counters.
//
// It admits a call when a concurrency slot is free (RESOURCE_EXHAUSTED
// otherwise, naming the limit and its flag) and has its CallWatchdog cut
// calls off that run past the duration ceiling or idle streams
// (DEADLINE_EXCEEDED). One call's side of this is a CallAccount
// (call_account.h); the interceptor that keeps one per call for every
// method but the unary Decide and BatchDecide is in call_interceptor.h,
// and their handlers keep their own (HandlesInline). Health checks and
// reflection are never limited.
//
// Thread-safe: concurrent calls share one governor. The slot counters are
// atomics (admitting a call never waits); the watchdog's table is under its
// own mutex.
#ifndef TREATD_SERVER_CALL_GOVERNOR_H_
#define TREATD_SERVER_CALL_GOVERNOR_H_

#include <grpc/grpc.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/call_limits.h"
#include "server/call_watchdog.h"
#include "server/metrics/metrics.h"

namespace treatd {

// The unary Decide and BatchDecide methods, which account for their calls
// themselves (see CallGovernor::HandlesInline).
inline constexpr absl::string_view kDecideMethod =
    "/treatd.v1.TreatmentService/Decide";
inline constexpr absl::string_view kBatchDecideMethod =
    "/treatd.v1.TreatmentService/BatchDecide";

class CallGovernor {
 public:
  // `metrics` (may be null) is not owned and must outlive the governor.
  // Starts the watchdog thread.
  static std::unique_ptr<CallGovernor> Create(const CallLimits& limits,
                                              ServerMetrics* metrics);
  // Stops the watchdog. The gRPC server must have stopped first.
  ~CallGovernor() = default;
  CallGovernor(const CallGovernor&) = delete;
  CallGovernor& operator=(const CallGovernor&) = delete;

  // Whether `method`'s handler accounts for its calls itself (a
  // CallAccount) instead of the interceptor: the unary Decide, where gRPC's
  // interception machinery and the hooks cost about a fifth of the QPS,
  // and BatchDecide, which takes and answers bytes (it serializes its
  // response itself), where the interceptor's hooks would see no message.
  static bool HandlesInline(absl::string_view method);

  const CallLimits& limits() const { return limits_; }
  ServerMetrics* metrics() const { return metrics_; }

  // The server's shutdown cancels the calls still open at `at` (the end
  // of its grace): a stream that ends CANCELLED from then on was cut by
  // the server, not by its client (CallAccount).
  void ShuttingDownAt(absl::Time at) {
    cut_from_nanos_.store(absl::ToUnixNanos(at), std::memory_order_relaxed);
  }
  // Whether the server's shutdown cancels calls by `now`.
  bool CancelsCallsBy(absl::Time now) const {
    return absl::ToUnixNanos(now) >=
           cut_from_nanos_.load(std::memory_order_relaxed);
  }

  // Takes a call (and stream) slot: RESOURCE_EXHAUSTED when none is free.
  absl::Status Admit(bool stream);
  void Release(bool stream);

  // The watchdog's, see CallWatchdog.
  uint64_t Watch(grpc_call* call, bool stream, absl::Time now,
                 absl::Time hard_deadline, absl::Duration idle) {
    return watchdog_.Watch(call, stream, now, hard_deadline, idle);
  }
  void Touch(uint64_t id) { watchdog_.Touch(id); }
  bool Unwatch(uint64_t id) { return watchdog_.Unwatch(id); }
  uint64_t watches_started() { return watchdog_.watches_started(); }

 private:
  CallGovernor(const CallLimits& limits, ServerMetrics* metrics)
      : limits_(limits), metrics_(metrics), watchdog_(limits_, metrics_) {}

  const CallLimits limits_;
  ServerMetrics* const metrics_;

  // Slots taken; lock-free so that admitting a call never waits.
  std::atomic<int> calls_{0};
  std::atomic<int> streams_{0};
  // ShuttingDownAt's time in Unix nanoseconds; none at first.
  std::atomic<int64_t> cut_from_nanos_{std::numeric_limits<int64_t>::max()};

  // Last: it reads limits_ and metrics_, and stops first.
  CallWatchdog watchdog_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_CALL_GOVERNOR_H_
