#include "server/call_governor.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/message.h"
#include "server/logging.h"
#include "server/security/auth.h"
#include "server/security/roles.h"
#include "treatd/v1/admin_service.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

constexpr absl::string_view kBatchDecide =
    "/treatd.v1.TreatmentService/BatchDecide";
constexpr absl::string_view kStreamDecide =
    "/treatd.v1.TreatmentService/StreamDecide";
constexpr absl::string_view kValidatePolicy =
    "/treatd.v1.TreatmentService/ValidatePolicy";
constexpr absl::string_view kSimulate = "/treatd.v1.AdminService/Simulate";
constexpr absl::string_view kAdminPrefix = "/treatd.v1.AdminService/";

bool IsRequestIdChar(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

// One call's view of the governor; lives as long as the call.
class GovernedCall final : public grpc::experimental::Interceptor {
 public:
  GovernedCall(ServerRpcInfo* info, CallGovernor* governor)
      : info_(info),
        governor_(governor),
        account_(governor, info->server_context(),
                 info->method() == nullptr ? "" : info->method(),
                 info->type() != ServerRpcInfo::Type::UNARY) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      Start(*methods->GetRecvInitialMetadata());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_INITIAL_METADATA) &&
        !account_.request_id().empty()) {
      methods->GetSendInitialMetadata()->emplace("x-request-id",
                                                 account_.request_id());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_MESSAGE)) {
      Received(methods->GetRecvMessage());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      Sending(methods->GetSendMessage());
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      account_.End(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  void Start(const std::multimap<grpc::string_ref, grpc::string_ref>& md) {
    if (absl::Status admitted = account_.Begin(md); !admitted.ok()) {
      Reject(grpc::StatusCode::RESOURCE_EXHAUSTED,
             std::string(admitted.message()),
             account_.stream() ? "concurrent_streams" : "concurrent_calls");
    }
  }

  void Received(void* message) {
    if (message == nullptr) return;
    if (account_.rejected()) {
      // gRPC runs the handler of a cancelled unary call anyway; an empty
      // request keeps that cheap. Every limited method takes a protobuf.
      static_cast<google::protobuf::Message*>(message)->Clear();
      return;
    }
    if (account_.watch_id() != 0) governor_->Touch(account_.watch_id());
    const absl::string_view method = account_.method();
    if (method == kBatchDecide) {
      const auto* request = static_cast<const v1::BatchDecideRequest*>(message);
      if (ServerMetrics* metrics = governor_->metrics()) {
        metrics->RecordBatchSize(request->findings_size());
      }
    } else if (method == kValidatePolicy) {
      CheckPolicySize(
          static_cast<const v1::ValidatePolicyRequest*>(message)->content());
    } else if (method == kSimulate) {
      CheckPolicySize(
          static_cast<const v1::SimulateRequest*>(message)->candidate_policy());
    }
    if (account_.rejected()) {
      static_cast<google::protobuf::Message*>(message)->Clear();
    }
  }

  void CheckPolicySize(const std::string& policy) {
    const int limit = governor_->limits().max_policy_bytes;
    if (policy.size() <= static_cast<size_t>(limit)) return;
    Reject(grpc::StatusCode::INVALID_ARGUMENT,
           absl::StrCat("policy document is ", policy.size(),
                        " bytes; the server accepts at most ", limit,
                        " (--max-policy-bytes)"),
           "policy_bytes");
  }

  void Sending(const void* message) {
    if (message != nullptr && account_.watch_id() != 0) {
      governor_->Touch(account_.watch_id());
    }
    ServerMetrics* metrics = governor_->metrics();
    if (message == nullptr || metrics == nullptr) return;
    const absl::string_view method = account_.method();
    if (method == kBatchDecide) {
      const auto* response =
          static_cast<const v1::BatchDecideResponse*>(message);
      for (const v1::DecisionResult& result : response->results()) {
        if (result.has_decision()) metrics->RecordDecision(result.decision());
      }
    } else if (method == kStreamDecide) {
      const auto* response =
          static_cast<const v1::StreamDecideResponse*>(message);
      if (response->result().has_decision()) {
        metrics->RecordDecision(response->result().decision());
      }
      for (const v1::DecisionResult& result : response->results()) {
        if (result.has_decision()) metrics->RecordDecision(result.decision());
      }
    }
  }

  // Ends the call now with `code`; the handler's own status is discarded.
  void Reject(grpc::StatusCode code, std::string message,
              absl::string_view reason) {
    if (account_.rejected()) return;
    account_.NoteRejected(grpc::Status(code, message), reason);
    grpc_call_cancel_with_status(info_->server_context()->c_call(),
                                 static_cast<grpc_status_code>(code),
                                 message.c_str(), nullptr);
  }

  ServerRpcInfo* const info_;
  CallGovernor* const governor_;
  CallAccount account_;
};

class GovernorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit GovernorFactory(CallGovernor* governor) : governor_(governor) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      ServerRpcInfo* info) override {
    if (info->method() != nullptr &&
        CallGovernor::HandlesInline(info->method())) {
      return nullptr;
    }
    return new GovernedCall(info, governor_);
  }

 private:
  CallGovernor* const governor_;
};

}  // namespace

std::string RequestIdFrom(absl::string_view header) {
  bool valid = !header.empty() && header.size() <= 128;
  for (char c : header) valid = valid && IsRequestIdChar(c);
  if (valid) return std::string(header);
  thread_local absl::InsecureBitGen gen;
  const uint64_t high = absl::Uniform<uint64_t>(gen);
  const uint64_t low = absl::Uniform<uint64_t>(gen);
  return absl::StrCat(absl::Hex(high, absl::kZeroPad16),
                      absl::Hex(low, absl::kZeroPad16));
}

std::unique_ptr<CallGovernor> CallGovernor::Create(const CallLimits& limits,
                                                   ServerMetrics* metrics) {
  auto governor = absl::WrapUnique(new CallGovernor(limits, metrics));
  governor->watchdog_ =
      std::thread([g = governor.get()] { g->WatchdogLoop(); });
  return governor;
}

CallGovernor::~CallGovernor() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  watchdog_.join();
  absl::MutexLock lock(&mu_);
  for (auto& [id, watched] : watched_) grpc_call_unref(watched.call);
  watched_.clear();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
CallGovernor::NewInterceptorFactory() {
  return std::make_unique<GovernorFactory>(this);
}

absl::Status CallGovernor::Admit(bool stream) {
  if (calls_.fetch_add(1, std::memory_order_relaxed) >=
      limits_.max_concurrent_calls) {
    calls_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "server is handling its limit of ", limits_.max_concurrent_calls,
        " concurrent calls (--max-concurrent-calls); retry with backoff"));
  }
  if (stream && streams_.fetch_add(1, std::memory_order_relaxed) >=
                    limits_.max_concurrent_streams) {
    streams_.fetch_sub(1, std::memory_order_relaxed);
    calls_.fetch_sub(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        "server has its limit of ", limits_.max_concurrent_streams,
        " streams open (--max-concurrent-streams); retry with backoff"));
  }
  return absl::OkStatus();
}

void CallGovernor::Release(bool stream) {
  calls_.fetch_sub(1, std::memory_order_relaxed);
  if (stream) streams_.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t CallGovernor::Watch(grpc_call* call, bool stream, absl::Time now,
                             absl::Time hard_deadline, absl::Duration idle) {
  grpc_call_ref(call);
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  watched_.emplace(id, Watched{call, hard_deadline, idle, now, stream});
  return id;
}

void CallGovernor::Touch(uint64_t id) {
  absl::MutexLock lock(&mu_);
  if (auto it = watched_.find(id); it != watched_.end()) {
    it->second.last_activity = absl::Now();
  }
}

bool CallGovernor::Unwatch(uint64_t id) {
  grpc_call* call = nullptr;
  bool fired = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = watched_.find(id);
    if (it == watched_.end()) return false;
    call = it->second.call;
    fired = it->second.fired;
    watched_.erase(it);
  }
  grpc_call_unref(call);
  return fired;
}

void CallGovernor::WatchdogLoop() {
  struct Cut {
    grpc_call* call;
    std::string message;
  };
  while (true) {
    std::vector<Cut> cuts;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(100));
      if (stop_) return;
      const absl::Time now = absl::Now();
      for (auto& [id, watched] : watched_) {
        if (watched.fired) continue;
        std::string message;
        if (now >= watched.hard_deadline) {
          message = absl::StrCat(
              "call ran longer than the server allows (",
              watched.stream ? "--max-stream-seconds " : "--max-call-seconds ",
              absl::ToDoubleSeconds(watched.stream ? limits_.max_stream_duration
                                                   : limits_.max_call_duration),
              ")");
        } else if (watched.idle != absl::InfiniteDuration() &&
                   now - watched.last_activity >= watched.idle) {
          message = absl::StrCat(
              "stream sent nothing for ", absl::ToDoubleSeconds(watched.idle),
              "s (--stream-idle-seconds); the server closed it");
        } else {
          continue;
        }
        watched.fired = true;
        grpc_call_ref(watched.call);
        cuts.push_back({watched.call, std::move(message)});
      }
    }
    // Outside the lock: cancelling may run gRPC callbacks inline.
    for (Cut& cut : cuts) {
      grpc_call_cancel_with_status(cut.call, GRPC_STATUS_DEADLINE_EXCEEDED,
                                   cut.message.c_str(), nullptr);
      grpc_call_unref(cut.call);
      if (metrics_ != nullptr) metrics_->CallRejected("time_limit");
    }
  }
}

bool CallGovernor::HandlesInline(absl::string_view method) {
  return method == kDecideMethod;
}

CallAccount::CallAccount(CallGovernor* governor,
                         grpc::ServerContextBase* context,
                         absl::string_view method, bool stream)
    : governor_(governor),
      context_(context),
      method_(method),
      stream_(stream),
      limited_(RequiredAccess(method) != Access::kOpen) {}

CallAccount::~CallAccount() { End(grpc::Status::CANCELLED); }

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
  const absl::Duration idle =
      stream_ ? limits.stream_idle_timeout : absl::InfiniteDuration();
  if (asked > start_ + ceiling || idle != absl::InfiniteDuration()) {
    watch_id_ = governor_->Watch(context_->c_call(), stream_, start_,
                                 start_ + ceiling, idle);
  }
  return absl::OkStatus();
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
  if (ended_ || !begun_) return handler_status;
  ended_ = true;
  const absl::Duration elapsed = absl::Now() - start_;
  if (watch_id_ != 0 && governor_->Unwatch(watch_id_)) {
    rejected_ = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                             "cut off by a server time limit");
  }
  if (admitted_) governor_->Release(stream_);
  const grpc::Status status =
      rejected_.has_value() ? *rejected_ : handler_status;
  if (ServerMetrics* metrics = governor_->metrics()) {
    metrics->CallFinished(method_, status.error_code(), elapsed);
  }
  const bool admin = absl::StartsWith(method_, kAdminPrefix);
  const LogLevel level =
      !status.ok() || admin ? LogLevel::kInfo : LogLevel::kDebug;
  // The caller and peer strings cost allocations: only for a written line.
  if (LogEnabled(level)) {
    Log(level, "call",
        {{"method", method_},
         {"request_id", request_id_},
         {"caller", CallerIdentity(*context_)},
         {"peer", context_->peer()},
         {"code", static_cast<int>(status.error_code())},
         {"error", status.error_message()},
         {"duration_ms", absl::ToDoubleMilliseconds(elapsed)}});
  }
  return status;
}

}  // namespace treatd
