// CallAccount: one call's accounting under a CallGovernor, from its first
// metadata to its status: the request id, a concurrency slot, the deadline
// watch, the call metrics and the call's log line (info for admin calls
// and failures, debug otherwise).
#ifndef TREATD_SERVER_CALL_ACCOUNT_H_
#define TREATD_SERVER_CALL_ACCOUNT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/status.h"
#include "server/call_governor.h"

namespace treatd {

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
  // Ends the accounting as CANCELLED if End() was not called, without
  // reading the context (it may be mid-destruction; see the .cc): such a
  // stream counts as cancelled by its client and logs no caller or peer.
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
  // Before Begin(): the call's handler answers at once unless it calls
  // WatchDeferred(), so Begin() leaves the deadline watch (a lock, a table
  // entry and a call reference; CallWatchdog scans every 100 ms) to
  // WatchDeferred(), which the handler calls before its answer waits on
  // something (the unary Decide: the ledger).
  void DeferWatch() { defer_watch_ = true; }
  // Starts the deadline watch that Begin() deferred, if the call needs one
  // (same ceiling, counted from Begin()). No-op otherwise.
  void WatchDeferred();
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
  bool defer_watch_ = false;
  // Set by a Begin() that deferred a watch the call needs.
  bool watch_pending_ = false;
  absl::Time hard_deadline_;
  absl::Duration idle_ = absl::InfiniteDuration();
  bool begun_ = false;
  bool admitted_ = false;
  bool ended_ = false;
  absl::Time start_;
  // A stream's deadline (the client's), read by Begin().
  absl::Time deadline_ = absl::InfiniteFuture();
  std::string request_id_;
  uint64_t watch_id_ = 0;
  std::optional<grpc::Status> rejected_;

  // End(); `context_gone`: from the destructor, `context_` is not read.
  grpc::Status EndAs(const grpc::Status& handler_status, bool context_gone);
};

}  // namespace treatd

#endif  // TREATD_SERVER_CALL_ACCOUNT_H_
