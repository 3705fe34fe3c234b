// TreatmentServiceImpl: the gRPC handlers of treatd.v1.TreatmentService.
// The handlers check what a request carries as a whole (batch size, a
// stream message's shape, as_of: request_checks.h), decide each finding
// with DecideInto (common/policy/pipeline/decide_item.h), record shadow
// decisions, and convert absl::Status to grpc::Status. Decide also does
// its own call accounting (a CallAccount, in place of the interceptor) and
// Decide and BatchDecide parse the request onto one arena per call. A
// Decide with the ledger answers on that arena too; one without it, a
// BatchDecide call and a StreamDecide chunk decide each finding into one
// reused decision (or result) per thread and encode it at once
// (EncodeResponse, ResultsEncoder); with the ledger, a BatchDecide or a
// StreamDecide chunk takes each decision's event before the result is
// reused, and its encoded answer waits for the commit.
//
// Thread-safe: the handlers share no per-call state (a StreamDecide
// stream's reactor holds only its own stream's). Decide and
// BatchDecide take one PolicyStore snapshot (policy + feeds + shadow) per
// call and finish on it even if a reload swaps in another meanwhile;
// StreamDecide takes a snapshot per message, so a long stream picks up a
// reload from its next message on (each decision names its policy digest).
// With a shadow policy, each decision is also made under it and compared
// (ShadowRecorder); only the active decision is returned.
#ifndef TREATD_SERVER_TREATMENT_SERVICE_H_
#define TREATD_SERVER_TREATMENT_SERVICE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/validation/finding_validator.h"
#include "grpcpp/grpcpp.h"
#include "server/call_account.h"
#include "server/call_governor.h"
#include "server/ledger/decision_recorder.h"
#include "server/policy_store.h"
#include "server/response_encoding.h"
#include "server/shadow.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {

// Request limits the service enforces.
struct ServiceLimits {
  // Most findings per BatchDecide call or StreamDecide message.
  int max_batch = 10000;
  // Per-finding string and list limits.
  FindingLimits finding;
};

// The server clock; tests pass a fixed one.
using Clock = std::function<absl::Time()>;

// Converts an absl::Status to a grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// How a unary call answered on bytes is ended: what ends a call that is
// not a callback reactor's (an async responder, a sync handler waiting).
class CallFinisher {
 public:
  // Ends the call with `status` (and, when OK, the answer already in the
  // call's response). Called once, from any thread.
  virtual void Finish(const grpc::Status& status) = 0;

 protected:
  ~CallFinisher() = default;
};

// Ends a unary call, through its callback reactor or a CallFinisher; both
// outlive the call. Cheap to copy.
class UnaryEnd {
 public:
  explicit UnaryEnd(grpc::ServerUnaryReactor* reactor) : reactor_(reactor) {}
  explicit UnaryEnd(CallFinisher* finisher) : finisher_(finisher) {}

  void operator()(const grpc::Status& status) const {
    if (reactor_ != nullptr) {
      reactor_->Finish(status);
    } else {
      finisher_->Finish(status);
    }
  }

 private:
  grpc::ServerUnaryReactor* reactor_ = nullptr;
  CallFinisher* finisher_ = nullptr;
};

// Decide and BatchDecide run on the callback API and take and answer raw
// bytes: each call parses its request onto one protobuf arena (freed at
// once instead of message by message and string by string; most answers
// are decided into per-thread decisions, above; no sync-API thread hand-off is
// paid; measured on 2 cores, docs/performance.md: Decide QPS about
// doubled), and serializes the response itself (response_encoding.h: the
// same bytes as protobuf's serializer, without its UTF-8 re-check of the
// engine's strings, about 7,000 of a FULL decision's instructions). A
// request that does not parse is answered INVALID_ARGUMENT naming the type
// (request_decoding.h), where gRPC answers UNIMPLEMENTED. The two do their
// call accounting inline (CallGovernor::HandlesInline), as the call
// interceptor only understands messages.
// StreamDecide is a raw callback method too (a ServerBidiReactor per
// stream, StreamReactor below): each message is parsed, decided and
// encoded on the gRPC thread that read it, on an arena per message whose
// first block the stream reuses, and the next message is read while its
// answer is written. (On the sync API every Read and Write handed the
// message between gRPC's threads and the stream's own thread: ~3 context
// switches a message, and the stream threads' CPU per finding 1.4 x
// BatchDecide's; docs/performance.md.) It records its decisions in the
// metrics itself. The other methods are not on the hot path.
using TreatmentServiceBase = v1::TreatmentService::WithRawCallbackMethod_Decide<
    v1::TreatmentService::WithRawCallbackMethod_BatchDecide<
        v1::TreatmentService::WithRawCallbackMethod_StreamDecide<
            v1::TreatmentService::Service>>>;

class TreatmentServiceImpl final : public TreatmentServiceBase {
 public:
  // `store` and `shadow` (may be null: shadow results are not recorded)
  // are not owned and must outlive the service.
  TreatmentServiceImpl(const PolicyStore* store, ServiceLimits limits,
                       Clock clock = absl::Now,
                       ShadowRecorder* shadow = nullptr);

  // The governor whose limits, metrics and call log Decide applies itself
  // (CallGovernor::HandlesInline); may stay null (no governance, as in a
  // server without the interceptor). Set before the server starts.
  void set_governor(CallGovernor* governor) { governor_ = governor; }

  // The ledger recorder (may stay null: the ledger is off). With one, every
  // decision of Decide, BatchDecide and StreamDecide whose request does not
  // set skip_record is recorded before it is answered; Decide and
  // BatchDecide hand their events over and are finished by the recorder
  // once they are durable, so no gRPC thread waits for a commit. Set
  // before the server starts.
  void set_recorder(DecisionRecorder* recorder) { recorder_ = recorder; }

  grpc::ServerUnaryReactor* Decide(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  // The work of Decide, whatever API the call came in on: answers
  // `request` into `response` and ends the call with `end`, at once or,
  // when the ledger records the decision, from the recorder's thread once
  // it is durable. `context` and `response` must live until the call has
  // ended.
  void AnswerDecide(grpc::ServerContextBase* context,
                    const grpc::ByteBuffer& request, grpc::ByteBuffer* response,
                    UnaryEnd end) const;
  // The same for BatchDecide.
  void AnswerBatchDecide(grpc::ServerContextBase* context,
                         const grpc::ByteBuffer& request,
                         grpc::ByteBuffer* response, UnaryEnd end) const;
  // StreamDecide on a sync thread, for a server on an event loop
  // (event_loop_service.h): StreamReactor's work, one message after the
  // other, waiting while the ledger records a message's decisions. The
  // next message is read once the answer is written.
  grpc::Status StreamDecideBytes(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream);
  grpc::ServerUnaryReactor* BatchDecide(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamDecide(
      grpc::CallbackServerContext* context) override;
  grpc::Status GetPolicy(grpc::ServerContext* context,
                         const v1::GetPolicyRequest* request,
                         v1::GetPolicyResponse* response) override;
  grpc::Status ValidatePolicy(grpc::ServerContext* context,
                              const v1::ValidatePolicyRequest* request,
                              v1::ValidatePolicyResponse* response) override;

 private:
  // Starts `call`'s accounting (a Decide or BatchDecide call's, which
  // they do themselves: CallGovernor::HandlesInline) and sends its request
  // id. Returns false when the call is refused (no slot free), after
  // ending it with `end`.
  bool AdmitInlineCall(CallAccount* call, grpc::ServerContextBase* context,
                       const UnaryEnd& end) const;
  // The same for a call whose answer may outlive the handler: returns its
  // account, shared (null without a governor). With `defer_watch`, the
  // deadline watch waits for CallAccount::WatchDeferred() (see there).
  std::shared_ptr<CallAccount> BeginInlineCall(grpc::ServerContextBase* context,
                                               absl::string_view method,
                                               const UnaryEnd& end,
                                               bool defer_watch,
                                               bool* refused) const;
  // Ends a call whose request did not parse with `status`, counted as
  // undecodable when `call` (may be null) accounts for it.
  static void FinishUndecodable(const grpc::Status& status, CallAccount* call,
                                const UnaryEnd& end);

  // One StreamDecide stream (see above; defined in the .cc).
  class StreamReactor;

  // The body of Decide without the ledger: parses `request`, decides into
  // this thread's reused DecideResponse and serializes it into `response`. With
  // `call` (may be null), an undecodable request is noted on it and the
  // decision recorded in the metrics; the caller ends it with the returned
  // status.
  grpc::Status DecideBytes(const grpc::ByteBuffer& request,
                           grpc::ByteBuffer* response, CallAccount* call) const;
  // Decides a parsed Decide request.
  grpc::Status DecideOne(const v1::DecideRequest& request,
                         v1::DecideResponse* response) const;
  // The body of BatchDecide.
  grpc::Status DecideBatch(const v1::BatchDecideRequest& request,
                           v1::BatchDecideResponse* response) const;
  // The same, the answer encoded into `response` as each finding is
  // decided (DecideAllEncoded), each decision recorded in `metrics` (may
  // be null): for a call whose answer nothing reads after it is encoded
  // (no ledger records it).
  grpc::Status DecideBatchEncoded(const v1::BatchDecideRequest& request,
                                  ServerMetrics* metrics,
                                  grpc::ByteBuffer* response) const;
  // A BatchDecide whose answer waits for the ledger: its encoded results,
  // their events and the decision counters to increment once they are
  // recorded (treatment_service.cc).
  struct RecordedBatch;
  // Decides `request` into `recorded`: each result is encoded as it is
  // decided, after its decision's event was taken (DecideAllEncoded).
  grpc::Status DecideBatchRecorded(const v1::BatchDecideRequest& request,
                                   ServerMetrics* metrics,
                                   RecordedBatch* recorded) const;
  // The checks of a BatchDecide request as a whole: on OK, the snapshot
  // and options to decide it with.
  grpc::Status PrepareBatch(const v1::BatchDecideRequest& request,
                            std::shared_ptr<const ActivePolicy>* active,
                            EvalOptions* options) const;
  // Decides `finding` into `result` (field paths start with `path`) and
  // under the shadow policy.
  void DecideItem(const ActivePolicy& active, const v1::Finding& finding,
                  const EvalOptions& options, absl::string_view path,
                  v1::DecisionResult* result) const;
  // Decides `findings` (a BatchDecide call's or a StreamDecide chunk's)
  // into `results`, one per finding in order, each with its index; field
  // paths are "findings[i]...".
  void DecideAll(
      const ActivePolicy& active,
      const google::protobuf::RepeatedPtrField<v1::Finding>& findings,
      const EvalOptions& options,
      google::protobuf::RepeatedPtrField<v1::DecisionResult>* results) const;
  // Like DecideAll, but each result goes to `encoder` (and its decision to
  // `metrics`, may be null) as soon as it is decided. The findings are
  // decided into one DecisionResult per thread, reused finding after
  // finding: its strings and repeated fields keep their memory, where a
  // fresh decision on the call's arena allocates each of them. With
  // `recorded` (may be null), each decision's event is taken into it
  // before its result is encoded (a finding without identity becomes an
  // item error), and the decision is counted in `metrics` only once the
  // ledger has recorded it (its counter kept in `recorded`).
  void DecideAllEncoded(
      const ActivePolicy& active,
      const google::protobuf::RepeatedPtrField<v1::Finding>& findings,
      const EvalOptions& options, ServerMetrics* metrics,
      ResultsEncoder* encoder, RecordedBatch* recorded = nullptr) const;
  // Checks what a StreamDecide message carries as a whole: one finding or
  // a chunk of 1..max_batch findings. On error, `field` names the field.
  absl::Status CheckStreamMessage(const v1::StreamDecideRequest& request,
                                  std::string* field) const;
  // Records the decisions of a StreamDecide `response` to `request` and
  // runs `done` once they are durable or have failed (on a recorder
  // thread, or at once when there is nothing to record); unrecorded ones
  // have become item errors by then. `request` and `response` must stay
  // valid until `done` runs.
  void RecordStreamMessage(const v1::StreamDecideRequest& request,
                           v1::StreamDecideResponse* response,
                           std::function<void()> done) const;
  // Answers one StreamDecide message (the `sequence`th) into `response`
  // (cleared): `result` for a single finding or an error of the message as
  // a whole, else one of `results` per finding of the chunk. With
  // `encoder` (may be null; made by ResultsEncoder::ForStreamChunk(
  // sequence)), a chunk's results go to it instead (DecideAllEncoded,
  // recorded in `metrics`) and the function returns true; `response` then
  // holds nothing to send. With `recorded` (may be null; then `encoder`
  // is not used) a chunk is decided into a new `*recorded` instead, as
  // DecideBatchRecorded does, and the function returns true: its events
  // and its encoded answer wait there for the ledger.
  bool DecideStreamMessage(
      const ActivePolicy& active, const v1::StreamDecideRequest& request,
      uint64_t sequence, v1::StreamDecideResponse* response,
      ServerMetrics* metrics, ResultsEncoder* encoder,
      std::optional<RecordedBatch>* recorded = nullptr) const;

  // The active policy, or FAILED_PRECONDITION when none is loaded.
  absl::StatusOr<std::shared_ptr<const ActivePolicy>> ActiveOrError() const;

  // Decides `finding` under the snapshot's shadow policy, if any, and
  // records how it compares with `active`.
  void Shadow(const ActivePolicy& snapshot, const v1::Finding& finding,
              const EvalOptions& options, const v1::Decision& active) const;

  const PolicyStore* const store_;
  const ServiceLimits limits_;
  const Clock clock_;
  ShadowRecorder* const shadow_;
  CallGovernor* governor_ = nullptr;
  DecisionRecorder* recorder_ = nullptr;
};

}  // namespace treatd

#endif  // TREATD_SERVER_TREATMENT_SERVICE_H_
