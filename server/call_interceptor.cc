#include "server/call_interceptor.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/call_account.h"
#include "server/request_decoding.h"
#include "treatd/v1/admin_service.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

constexpr absl::string_view kStreamDecide =
    "/treatd.v1.TreatmentService/StreamDecide";
constexpr absl::string_view kValidatePolicy =
    "/treatd.v1.TreatmentService/ValidatePolicy";
constexpr absl::string_view kSimulate = "/treatd.v1.AdminService/Simulate";

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
      if (undecodable_) AnswerUndecodable(methods);
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
    // A unary request that arrived but did not parse (for a stream, the end
    // of the stream looks the same; StreamDecide tells them apart itself).
    if (message == nullptr) {
      undecodable_ = !account_.stream() && !account_.rejected();
      return;
    }
    if (account_.rejected()) {
      // gRPC runs the handler of a cancelled unary call anyway; an empty
      // request keeps that cheap. Every limited method takes a protobuf
      // but StreamDecide, which takes bytes (treatment_service.h).
      if (account_.method() == kStreamDecide) {
        static_cast<grpc::ByteBuffer*>(message)->Clear();
      } else {
        static_cast<google::protobuf::Message*>(message)->Clear();
      }
      return;
    }
    if (account_.watch_id() != 0) governor_->Touch(account_.watch_id());
    const absl::string_view method = account_.method();
    if (method == kValidatePolicy) {
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

  // StreamDecide's messages are bytes: its handler records its decisions
  // in the metrics itself.
  void Sending(const void* message) {
    if (message != nullptr && account_.watch_id() != 0) {
      governor_->Touch(account_.watch_id());
    }
  }

  // gRPC answers a request that did not parse with UNIMPLEMENTED (callback
  // methods) or INTERNAL (sync ones) without running the handler; say what
  // happened instead (request_decoding.h).
  void AnswerUndecodable(grpc::experimental::InterceptorBatchMethods* methods) {
    const grpc::StatusCode code = methods->GetSendStatus().error_code();
    if (code != grpc::StatusCode::UNIMPLEMENTED &&
        code != grpc::StatusCode::INTERNAL) {
      return;
    }
    const grpc::Status status =
        UndecodableRequest(RequestTypeOf(account_.method()));
    methods->ModifySendStatus(status);
    account_.NoteRejected(status, kUndecodableReason);
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
  bool undecodable_ = false;
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

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewCallInterceptorFactory(CallGovernor* governor) {
  return std::make_unique<GovernorFactory>(governor);
}

}  // namespace treatd
