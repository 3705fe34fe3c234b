#include "server/call_account.h"

#include "absl/strings/match.h"
#include "server/logging.h"
#include "server/request_id.h"
#include "server/security/auth.h"
#include "server/security/roles.h"

namespace treatd {
namespace {

constexpr absl::string_view kAdminPrefix = "/treatd.v1.AdminService/";
// A watch is quiet until something happens, possibly for hours: cutting it
// when idle would only make every watcher reconnect. Its client's liveness
// is checked by HTTP/2 keepalive (--keepalive-seconds) and the handler's
// cancellation check; max_stream_duration still bounds it (the watcher
// resumes from the last sequence it saw).
constexpr absl::string_view kWatchEvents =
    "/treatd.v1.LedgerService/WatchEvents";

}  // namespace

CallAccount::CallAccount(CallGovernor* governor,
                         grpc::ServerContextBase* context,
                         absl::string_view method, bool stream)
    : governor_(governor),
      context_(context),
      method_(method),
      stream_(stream),
      limited_(RequiredAccess(method) != Access::kOpen) {}

// Reached from the interceptor's destruction when no status was sent (an
// event-loop health Watch its client cancelled sends no Finish): gRPC
// destroys interceptors inside ~ServerContextBase, after it has released
// the call's completion op, so `context_` must not be read here.
CallAccount::~CallAccount() {
  EndAs(grpc::Status::CANCELLED, /*context_gone=*/true);
}

absl::Status CallAccount::Begin(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  if (begun_) return absl::OkStatus();
  begun_ = true;
  start_ = absl::Now();
  absl::string_view header;
  if (auto it = metadata.find("x-request-id"); it != metadata.end()) {
    header = absl::string_view(it->second.data(), it->second.size());
  }
  request_id_ = RequestIdFrom(header);
  if (stream_) deadline_ = absl::FromChrono(context_->deadline());
  if (ServerMetrics* metrics = governor_->metrics()) {
    metrics->CallStarted(method_);
  }
  if (!limited_) return absl::OkStatus();
  if (absl::Status admitted = governor_->Admit(stream_); !admitted.ok()) {
    return admitted;
  }
  admitted_ = true;
  const CallLimits& limits = governor_->limits();
  const absl::Duration ceiling =
      stream_ ? limits.max_stream_duration : limits.max_call_duration;
  const absl::Time asked = absl::FromChrono(context_->deadline());
  const absl::Duration idle = stream_ && method_ != kWatchEvents
                                  ? limits.stream_idle_timeout
                                  : absl::InfiniteDuration();
  if (asked > start_ + ceiling || idle != absl::InfiniteDuration()) {
    hard_deadline_ = start_ + ceiling;
    idle_ = idle;
    watch_pending_ = true;
    if (!defer_watch_) WatchDeferred();
  }
  return absl::OkStatus();
}

void CallAccount::WatchDeferred() {
  if (!watch_pending_) return;
  watch_pending_ = false;
  watch_id_ = governor_->Watch(context_->c_call(), stream_, start_,
                               hard_deadline_, idle_);
}

void CallAccount::NoteRejected(const grpc::Status& status,
                               absl::string_view reason) {
  if (rejected_.has_value()) return;
  rejected_ = status;
  if (ServerMetrics* metrics = governor_->metrics()) {
    metrics->CallRejected(reason);
  }
}

grpc::Status CallAccount::End(const grpc::Status& handler_status) {
  return EndAs(handler_status, /*context_gone=*/false);
}

grpc::Status CallAccount::EndAs(const grpc::Status& handler_status,
                                bool context_gone) {
  if (ended_ || !begun_) return handler_status;
  ended_ = true;
  const absl::Time now = absl::Now();
  const absl::Duration elapsed = now - start_;
  if (watch_id_ != 0 && governor_->Unwatch(watch_id_)) {
    rejected_ = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                             "cut off by a server time limit");
  }
  if (admitted_) governor_->Release(stream_);
  const grpc::Status status =
      rejected_.has_value() ? *rejected_ : handler_status;
  if (ServerMetrics* metrics = governor_->metrics()) {
    // A stream its client cancelled (a watch stopped at --max-events or
    // Ctrl-C, a StreamDecide abandoned) ended as the client asked: not a
    // server error for treatd_rpc_errors_total. Streams only. A stream
    // that ends with its context gone sent no status: only a call over
    // before its handler finished (a health Watch on the event loop whose
    // client cancelled) gets there. A server time limit is in `rejected_`.
    // A call is cancelled also when the server's shutdown cuts it after
    // the grace or its deadline passes: those stay errors.
    const bool client_cancelled =
        stream_ && !rejected_.has_value() &&
        status.error_code() == grpc::StatusCode::CANCELLED && now < deadline_ &&
        !governor_->CancelsCallsBy(now) &&
        (context_gone || context_->IsCancelled());
    metrics->CallFinished(
        method_, client_cancelled ? grpc::StatusCode::OK : status.error_code(),
        elapsed);
  }
  const bool admin = absl::StartsWith(method_, kAdminPrefix);
  const LogLevel level =
      !status.ok() || admin ? LogLevel::kInfo : LogLevel::kDebug;
  // The caller and peer strings cost allocations: only for a written line.
  if (LogEnabled(level)) {
    Log(level, "call",
        {{"method", method_},
         {"request_id", request_id_},
         {"caller", context_gone ? "" : CallerIdentity(*context_)},
         {"peer", context_gone ? "" : context_->peer()},
         {"code", static_cast<int>(status.error_code())},
         {"error", status.error_message()},
         {"duration_ms", absl::ToDoubleMilliseconds(elapsed)}});
  }
  return status;
}

}  // namespace treatd
