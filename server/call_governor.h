// CallGovernor: the per-call policing every treatd RPC goes through, as a
// gRPC server interceptor: concurrency limits, a ceiling on call duration,
// an idle timeout for streams, policy-size checks, request ids, one log
// line per call with the caller, and the call metrics.
//
// Limits refuse a call with RESOURCE_EXHAUSTED (too many calls or streams)
// or INVALID_ARGUMENT (policy too large), and cut a running call off with
// DEADLINE_EXCEEDED (longer than the ceiling, or a stream idle too long),
// each with a message naming the limit and its flag. A watchdog thread
// enforces the time limits, so a stalled client cannot hold a handler
// thread: the cancelled call's blocked reads and writes fail at once.
// Health checks and reflection are never limited.
//
// Thread-safe: interceptors for concurrent calls share the governor's
// counters and watchdog under a mutex.
#ifndef TREATD_SERVER_CALL_GOVERNOR_H_
#define TREATD_SERVER_CALL_GOVERNOR_H_

#include <grpc/grpc.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "server/metrics/metrics.h"

namespace treatd {

// The limits; defaults are the server's defaults (docs/server.md).
// The unary Decide method, which accounts for its calls itself (see
// CallGovernor::HandlesInline).
inline constexpr absl::string_view kDecideMethod =
    "/treatd.v1.TreatmentService/Decide";

struct CallLimits {
  // Calls handled at once, server-wide (streams included).
  int max_concurrent_calls = 256;
  // StreamDecide calls open at once, server-wide.
  int max_concurrent_streams = 64;
  // Longest a unary or batch call may run, whatever deadline it asked for.
  absl::Duration max_call_duration = absl::Seconds(60);
  // Longest a stream may stay open.
  absl::Duration max_stream_duration = absl::Hours(1);
  // A stream that sends no message for this long is cut off.
  absl::Duration stream_idle_timeout = absl::Seconds(60);
  // Largest policy document accepted by ValidatePolicy and Simulate.
  int max_policy_bytes = 1024 * 1024;
};

class CallGovernor {
 public:
  // `metrics` (may be null) is not owned and must outlive the governor.
  // Starts the watchdog thread.
  static std::unique_ptr<CallGovernor> Create(const CallLimits& limits,
                                              ServerMetrics* metrics);
  // Stops the watchdog. The gRPC server must have stopped first.
  ~CallGovernor();
  CallGovernor(const CallGovernor&) = delete;
  CallGovernor& operator=(const CallGovernor&) = delete;

  // A factory for grpc::ServerBuilder::experimental().SetInterceptorCreators.
  // The governor must outlive the server it is installed in. Methods for
  // which HandlesInline() is true get no interceptor: their handlers govern
  // themselves with a CallAccount.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  // Whether `method`'s handler accounts for its calls itself (a
  // CallAccount) instead of the interceptor: the unary Decide, where gRPC's
  // interception machinery and the hooks cost about a fifth of the QPS.
  static bool HandlesInline(absl::string_view method);

  const CallLimits& limits() const { return limits_; }
  ServerMetrics* metrics() const { return metrics_; }

  // Takes a call (and stream) slot: RESOURCE_EXHAUSTED when none is free.
  absl::Status Admit(bool stream);
  void Release(bool stream);

  // Cuts `call` (a stream when `stream`) off with DEADLINE_EXCEEDED at
  // `hard_deadline`, or once `idle` (InfiniteDuration: never) passes
  // without Touch(); `now` is the time of the call's last activity. Holds a
  // reference to the call until Unwatch(). Returns a watch id.
  uint64_t Watch(grpc_call* call, bool stream, absl::Time now,
                 absl::Time hard_deadline, absl::Duration idle)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Touch(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns true when the watchdog already cut the call off.
  bool Unwatch(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

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

  CallGovernor(const CallLimits& limits, ServerMetrics* metrics)
      : limits_(limits), metrics_(metrics) {}

  void WatchdogLoop() ABSL_LOCKS_EXCLUDED(mu_);

  const CallLimits limits_;
  ServerMetrics* const metrics_;

  // Slots taken; lock-free so that admitting a call never waits.
  std::atomic<int> calls_{0};
  std::atomic<int> streams_{0};

  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Watched> watched_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread watchdog_;
};

// A request id from an "x-request-id" value: kept when it is 1-128
// characters of [A-Za-z0-9._:-], else (or when empty) a fresh random one.
std::string RequestIdFrom(absl::string_view header);

// One call's accounting under a CallGovernor: its request id, a concurrency
// slot, the deadline ceiling, call metrics and the call log line. The
// interceptor keeps one per call; handlers of methods the governor lets
// handle themselves (CallGovernor::HandlesInline) keep one on the stack.
// Not thread-safe: one call's hooks or handler use it, one at a time.
class CallAccount {
 public:
  // `governor` and `context` must outlive the account; `method` is kept as
  // a view and must too (gRPC keeps the method name for the whole call).
  CallAccount(CallGovernor* governor, grpc::ServerContextBase* context,
              absl::string_view method, bool stream);
  // Ends the accounting as CANCELLED if End() was not called.
  ~CallAccount();
  CallAccount(const CallAccount&) = delete;
  CallAccount& operator=(const CallAccount&) = delete;

  // Starts the call: its request id (the client's x-request-id in
  // `metadata` when it is a valid one, else a new one), metrics, a
  // concurrency slot for governed methods and the deadline watch. Returns
  // RESOURCE_EXHAUSTED, saying which limit, when no slot is free; the
  // caller then refuses the call (NoteRejected) and ends it.
  absl::Status Begin(
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);
  // Records that the call is refused with `status`; `reason` labels
  // treatd_rpc_rejected_total. Only the first refusal counts.
  void NoteRejected(const grpc::Status& status, absl::string_view reason);
  // Ends the accounting: releases the slot, stops the watch, records the
  // metrics and writes the log line. Returns the status the call ends with:
  // the refusal or the cut-off (DEADLINE_EXCEEDED) when there was one,
  // else `handler_status`.
  grpc::Status End(const grpc::Status& handler_status);

  bool rejected() const { return rejected_.has_value(); }
  const std::string& request_id() const { return request_id_; }
  uint64_t watch_id() const { return watch_id_; }
  absl::string_view method() const { return method_; }
  bool stream() const { return stream_; }

 private:
  CallGovernor* const governor_;
  grpc::ServerContextBase* const context_;
  const absl::string_view method_;
  const bool stream_;
  const bool limited_;
  bool begun_ = false;
  bool admitted_ = false;
  bool ended_ = false;
  absl::Time start_;
  std::string request_id_;
  uint64_t watch_id_ = 0;
  std::optional<grpc::Status> rejected_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_CALL_GOVERNOR_H_
