#include "server/treatment_service.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/ledger_wire/ledger_wire.h"
#include "common/policy/pipeline/decide_item.h"
#include "google/protobuf/descriptor.h"
#include "prometheus/counter.h"
#include "server/logging.h"
#include "server/policy_description.h"
#include "server/request_checks.h"
#include "server/request_decoding.h"
#include "server/response_encoding.h"

namespace treatd {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

namespace {

// What a call that needs the active policy gets before one is loaded.
absl::Status NoPolicyError() {
  return absl::FailedPreconditionError(
      "no policy is loaded; the server decides nothing until a valid "
      "policy is active");
}

// The first arena block of a StreamDecide stream: enough for a message of
// a few findings and their decisions.
constexpr size_t kStreamArenaFirstBlock = 64 * 1024;

// The first arena block of a Decide call without the ledger, one per
// thread: a request fits (its decision is on the heap, DecideBytes).
constexpr size_t kDecideArenaFirstBlock = 16 * 1024;

// The arena of one unary call. Blocks grow to 256 KiB: a 1,000-finding
// batch takes a few dozen.
google::protobuf::ArenaOptions CallArenaOptions() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 8 * 1024;
  options.max_block_size = 256 * 1024;
  return options;
}

// The arena of one StreamDecide message, starting in the stream's own
// `first_block` (kStreamArenaFirstBlock bytes).
google::protobuf::ArenaOptions StreamArenaOptions(char* first_block) {
  google::protobuf::ArenaOptions options;
  options.initial_block = first_block;
  options.initial_block_size = kStreamArenaFirstBlock;
  options.start_block_size = 64 * 1024;
  options.max_block_size = 256 * 1024;
  return options;
}

// Counts the decisions of a StreamDecide answer built as a message (an
// answer encoded as decided counted them as it went).
void RecordStreamDecisions(const v1::StreamDecideResponse& response,
                           ServerMetrics* metrics) {
  if (metrics == nullptr) return;
  if (response.result().has_decision()) {
    metrics->RecordDecision(response.result().decision());
  }
  for (const v1::DecisionResult& result : response.results()) {
    if (result.has_decision()) metrics->RecordDecision(result.decision());
  }
}

// The evaluation options a decide request asks for (Decide, BatchDecide and
// StreamDecide requests all carry trace and view).
template <typename Request>
EvalOptions RequestOptions(absl::Time as_of, const Request& request) {
  EvalOptions options{as_of, request.trace()};
  options.view = request.view();
  return options;
}

}  // namespace

TreatmentServiceImpl::TreatmentServiceImpl(const PolicyStore* store,
                                           ServiceLimits limits, Clock clock,
                                           ShadowRecorder* shadow)
    : store_(store),
      limits_(std::move(limits)),
      clock_(std::move(clock)),
      shadow_(shadow) {}

void TreatmentServiceImpl::Shadow(const ActivePolicy& snapshot,
                                  const v1::Finding& finding,
                                  const EvalOptions& options,
                                  const v1::Decision& active) const {
  if (shadow_ == nullptr || snapshot.shadow == nullptr) return;
  EvalOptions quiet = options;
  quiet.trace = false;
  v1::Decision decision;
  const bool ok = snapshot.shadow->Decide(finding, quiet, &decision).ok();
  shadow_->Record(active, snapshot.shadow->policy().ref(),
                  ok ? &decision : nullptr, snapshot.shadow_source);
}

absl::StatusOr<std::shared_ptr<const ActivePolicy>>
TreatmentServiceImpl::ActiveOrError() const {
  std::shared_ptr<const ActivePolicy> active = store_->Get();
  if (active == nullptr) return NoPolicyError();
  return active;
}

bool TreatmentServiceImpl::AdmitInlineCall(CallAccount* call,
                                           grpc::ServerContextBase* context,
                                           const UnaryEnd& end) const {
  // The interceptor's work, done here (CallGovernor::HandlesInline).
  const absl::Status admitted = call->Begin(context->client_metadata());
  context->AddInitialMetadata("x-request-id", call->request_id());
  if (admitted.ok()) return true;
  const grpc::Status status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            std::string(admitted.message()));
  call->NoteRejected(status, "concurrent_calls");
  end(call->End(status));
  return false;
}

std::shared_ptr<CallAccount> TreatmentServiceImpl::BeginInlineCall(
    grpc::ServerContextBase* context, absl::string_view method,
    const UnaryEnd& end, bool defer_watch, bool* refused) const {
  *refused = false;
  if (governor_ == nullptr) return nullptr;
  auto call = std::make_shared<CallAccount>(governor_, context, method,
                                            /*stream=*/false);
  if (defer_watch) call->DeferWatch();
  *refused = !AdmitInlineCall(call.get(), context, end);
  return call;
}

void TreatmentServiceImpl::FinishUndecodable(const grpc::Status& status,
                                             CallAccount* call,
                                             const UnaryEnd& end) {
  if (call == nullptr) {
    end(status);
    return;
  }
  call->NoteRejected(status, kUndecodableReason);
  end(call->End(status));
}

grpc::ServerUnaryReactor* TreatmentServiceImpl::Decide(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  AnswerDecide(context, *request, response, UnaryEnd(reactor));
  return reactor;
}

void TreatmentServiceImpl::AnswerDecide(grpc::ServerContextBase* context,
                                        const grpc::ByteBuffer& request,
                                        grpc::ByteBuffer* response,
                                        UnaryEnd end) const {
  if (recorder_ == nullptr) {
    // Without the ledger the call is answered before this returns: its
    // account and arena live here, not in shared objects the answer
    // would hold (~600 instructions a call).
    if (governor_ == nullptr) {
      end(DecideBytes(request, response, nullptr));
      return;
    }
    CallAccount call(governor_, context, kDecideMethod, /*stream=*/false);
    // Never watched: nothing waits (see the deferred watch below).
    call.DeferWatch();
    if (!AdmitInlineCall(&call, context, end)) return;
    end(call.End(DecideBytes(request, response, &call)));
    return;
  }
  bool refused = false;
  std::shared_ptr<CallAccount> call =
      // One finding is decided in microseconds, long before the watchdog
      // (every 100 ms) could cut the call: it watches only a call whose
      // answer waits for the ledger.
      BeginInlineCall(context, kDecideMethod, end, /*defer_watch=*/true,
                      &refused);
  if (refused) return;
  // The call's arena outlives this function when the answer waits for the
  // ledger: the recorder's callback holds it until the call is finished.
  auto arena = std::make_shared<google::protobuf::Arena>(CallArenaOptions());
  auto* parsed =
      google::protobuf::Arena::CreateMessage<v1::DecideRequest>(arena.get());
  grpc::Status status = ParseRequest(request, parsed);
  if (!status.ok()) {
    FinishUndecodable(status, call.get(), end);
    return;
  }
  auto* answer =
      google::protobuf::Arena::CreateMessage<v1::DecideResponse>(arena.get());
  // Ends the call with `status`, the answer in `response` already encoded
  // when it is OK. The ledger's sync thread runs it for every call of a
  // commit in turn, so it does as little as it can.
  auto finish = [this, end, call, arena, answer](grpc::Status status) {
    if (call == nullptr) {
      end(status);
      return;
    }
    if (ServerMetrics* metrics = governor_->metrics();
        metrics != nullptr && status.ok() && answer->has_decision()) {
      metrics->RecordDecision(answer->decision());
    }
    end(call->End(status));
  };
  status = DecideOne(*parsed, answer);
  // Encoded here, on gRPC's thread, before the hand-over, so that the
  // ledger's thread only ends the call: the answer does not depend on the
  // commit (a failed commit sends a status only).
  if (status.ok()) status = EncodeResponse(*answer, response);
  if (!status.ok() || parsed->skip_record()) {
    finish(status);
    return;
  }
  absl::StatusOr<ledger::Event> event = ledger::DecisionEvent(
      parsed->finding(), answer->decision(), /*snapshot=*/false);
  if (!event.ok()) {
    recorder_->CountRejected(1);
    finish(ToGrpcStatus(UnidentifiedFindingError(event.status())));
    return;
  }
  // Serialized only if the ledger stores it: `finish` holds the arena of
  // `parsed` until the recorder's callback has run.
  event->decision.snapshot_source = &parsed->finding();
  std::vector<ledger::Event> events;
  events.push_back(*std::move(event));
  if (call != nullptr) call->WatchDeferred();
  // Straight to the ledger's committer: no recorder thread to wake per
  // call, and the call ends on the thread that made it durable.
  recorder_->RecordAsyncDirect(std::move(events),
                               [finish](std::vector<absl::Status> recorded) {
                                 finish(ToGrpcStatus(recorded.front()));
                               });
}

grpc::Status TreatmentServiceImpl::DecideBytes(const grpc::ByteBuffer& request,
                                               grpc::ByteBuffer* response,
                                               CallAccount* call) const {
  // The arena starts in this thread's block, reused call after call (the
  // arena is gone before this returns, and nothing here runs another
  // call on this thread meanwhile): no allocation for a common request.
  // (Arena blocks must be 8-byte aligned.)
  alignas(16) thread_local char first_block[kDecideArenaFirstBlock];
  google::protobuf::ArenaOptions options = CallArenaOptions();
  options.initial_block = first_block;
  options.initial_block_size = sizeof(first_block);
  google::protobuf::Arena arena(options);
  auto* parsed =
      google::protobuf::Arena::CreateMessage<v1::DecideRequest>(&arena);
  grpc::Status status = ParseRequest(request, parsed);
  if (!status.ok()) {
    if (call != nullptr) call->NoteRejected(status, kUndecodableReason);
    return status;
  }
  // The answer on the heap, one per thread, reused call after call as
  // DecideAllEncoded reuses its result: its decision's strings and
  // repeated fields keep their memory, where a fresh decision on the
  // arena allocated each of them (and registered their cleanup). The
  // engine empties a reused decision itself (CompiledPolicy::Evaluate); a
  // decision left by a failed call is never encoded. Encoded before this
  // returns, and nothing else runs on this thread meanwhile.
  thread_local v1::DecideResponse answer;
  status = DecideOne(*parsed, &answer);
  if (status.ok()) status = EncodeResponse(answer, response);
  if (ServerMetrics* metrics =
          governor_ != nullptr ? governor_->metrics() : nullptr;
      call != nullptr && metrics != nullptr && status.ok() &&
      answer.has_decision()) {
    metrics->RecordDecision(answer.decision());
  }
  return status;
}

grpc::Status TreatmentServiceImpl::DecideOne(
    const v1::DecideRequest& request, v1::DecideResponse* response) const {
  absl::StatusOr<std::shared_ptr<const ActivePolicy>> active = ActiveOrError();
  if (!active.ok()) return ToGrpcStatus(active.status());
  absl::StatusOr<absl::Time> as_of =
      ResolveAsOf(request.has_as_of(), request.as_of(), clock_());
  if (!as_of.ok()) return ToGrpcStatus(as_of.status());
  const EvalOptions options = RequestOptions(*as_of, request);
  absl::Status status = DecideFinding(
      *(*active)->pipeline, request.finding(), options, limits_.finding,
      "finding", response->mutable_decision(), /*violations=*/nullptr);
  if (status.ok()) {
    Shadow(**active, request.finding(), options, response->decision());
  }
  if (status.code() == absl::StatusCode::kInternal) {
    LogError("decide failed", {{"finding_id", request.finding().id()},
                               {"error", status.message()}});
  }
  return ToGrpcStatus(status);
}

struct TreatmentServiceImpl::RecordedBatch {
  // A BatchDecide answer.
  RecordedBatch(DecisionRecorder* recorder, int count)
      : collector(recorder, count) {}
  // The answer to the `sequence`th StreamDecide message, a chunk.
  RecordedBatch(DecisionRecorder* recorder, int count, uint64_t sequence)
      : encoder(ResultsEncoder::ForStreamChunk(sequence)),
        stream(true),
        collector(recorder, count) {}

  // The call's status once the ledger answered `statuses` (one per
  // event): OK with the answer in `response`, where each result whose
  // event the ledger refused is that refusal as an item error (as
  // ApplyRecordStatuses); or, for a BatchDecide, the UNAVAILABLE of a
  // fail-closed ledger (a stream goes on: its unrecorded decisions become
  // UNAVAILABLE item errors). Counts the decisions answered.
  grpc::Status Answer(const std::vector<absl::Status>& statuses,
                      google::protobuf::Arena* arena,
                      grpc::ByteBuffer* response) {
    bool refused_item = false;
    for (const absl::Status& status : statuses) {
      if (!stream && status.code() == absl::StatusCode::kUnavailable) {
        return ToGrpcStatus(status);
      }
      refused_item = refused_item || !status.ok();
    }
    grpc::Status status = encoder.Finish(response);
    if (!status.ok()) return status;
    if (refused_item) {
      // Rare (an event the ledger cannot store, e.g. an identity key over
      // its limit, or a stream's chunk while the database is down): the
      // answer is parsed back, those results turned into item errors, and
      // encoded again, every other result's bytes as they were.
      status =
          stream ? Reencode<v1::StreamDecideResponse>(statuses, arena, response)
                 : Reencode<v1::BatchDecideResponse>(statuses, arena, response);
      if (!status.ok()) return status;
    }
    for (size_t i = 0; i < counters.size(); ++i) {
      if (statuses[i].ok()) counters[i]->Increment();
    }
    return grpc::Status::OK;
  }

  // Turns the results in the encoded `response` whose event was not
  // recorded into item errors.
  template <typename Response>
  grpc::Status Reencode(const std::vector<absl::Status>& statuses,
                        google::protobuf::Arena* arena,
                        grpc::ByteBuffer* response) const {
    auto* answer = google::protobuf::Arena::CreateMessage<Response>(arena);
    if (!ParseRequest(*response, answer).ok()) {
      return grpc::Status(
          grpc::StatusCode::INTERNAL,
          absl::StrCat("the encoded ", Response::descriptor()->name(),
                       " does not parse"));
    }
    SetRecordErrors(batch, statuses, answer->mutable_results());
    return EncodeResponse(*answer, response);
  }

  ResultsEncoder encoder = ResultsEncoder::ForBatch();
  // A StreamDecide chunk's answer, not a BatchDecide's.
  bool stream = false;
  BatchEventCollector collector;
  // What `collector` took once the batch is decided (the events are then
  // moved out to the recorder).
  BatchEvents batch;
  // The decisions' counters, one per event, when the metrics are on.
  std::vector<prometheus::Counter*> counters;
};

grpc::ServerUnaryReactor* TreatmentServiceImpl::BatchDecide(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  AnswerBatchDecide(context, *request, response, UnaryEnd(reactor));
  return reactor;
}

void TreatmentServiceImpl::AnswerBatchDecide(grpc::ServerContextBase* context,
                                             const grpc::ByteBuffer& request,
                                             grpc::ByteBuffer* response,
                                             UnaryEnd end) const {
  bool refused = false;
  std::shared_ptr<CallAccount> call =
      BeginInlineCall(context, kBatchDecideMethod, end,
                      /*defer_watch=*/false, &refused);
  if (refused) return;
  ServerMetrics* metrics =
      governor_ != nullptr ? governor_->metrics() : nullptr;
  // The call's arena outlives this function when the answer waits for the
  // ledger: the recorder's callback holds it until the call is finished.
  auto arena = std::make_shared<google::protobuf::Arena>(CallArenaOptions());
  auto* parsed = google::protobuf::Arena::CreateMessage<v1::BatchDecideRequest>(
      arena.get());
  grpc::Status status = ParseRequest(request, parsed);
  if (!status.ok()) {
    FinishUndecodable(status, call.get(), end);
    return;
  }
  if (metrics != nullptr) metrics->RecordBatchSize(parsed->findings_size());
  const bool record = recorder_ != nullptr && !parsed->skip_record();
  if (!record && SchemaMismatch().empty()) {
    // Nothing reads the results after they are encoded: each is encoded
    // as soon as it is decided. (ResultsEncoder writes the response's own
    // fields by hand: only while the schema is the one it was written for.)
    status = DecideBatchEncoded(*parsed, metrics, response);
    end(call == nullptr ? status : call->End(status));
    return;
  }
  if (SchemaMismatch().empty()) {
    // The same with the ledger: each decision's event is taken before its
    // result is encoded and reused, and the encoded answer waits for the
    // commit.
    // Room for the events of at most --max-batch findings: a larger batch
    // is refused before any is decided, and must not reserve first.
    auto recorded = std::make_shared<RecordedBatch>(
        recorder_, std::min(parsed->findings_size(), limits_.max_batch));
    status = DecideBatchRecorded(*parsed, metrics, recorded.get());
    if (!status.ok()) {
      end(call == nullptr ? status : call->End(status));
      return;
    }
    std::vector<ledger::Event> events = std::move(recorded->batch.events);
    // `arena` holds the request, whose findings the events refer to.
    recorder_->RecordAsync(
        std::move(events), [end, call, arena, recorded,
                            response](std::vector<absl::Status> statuses) {
          const grpc::Status answered =
              recorded->Answer(statuses, arena.get(), response);
          end(call == nullptr ? answered : call->End(answered));
        });
    return;
  }
  auto* answer =
      google::protobuf::Arena::CreateMessage<v1::BatchDecideResponse>(
          arena.get());
  // Serializes the answer and ends the call with `status` (the recorder's
  // thread may do it).
  auto finish = [end, call, arena, answer, response,
                 metrics](grpc::Status status) {
    if (status.ok()) status = EncodeResponse(*answer, response);
    if (metrics != nullptr && status.ok()) {
      for (const v1::DecisionResult& result : answer->results()) {
        if (result.has_decision()) metrics->RecordDecision(result.decision());
      }
    }
    end(call == nullptr ? status : call->End(status));
  };
  status = DecideBatch(*parsed, answer);
  if (!status.ok() || recorder_ == nullptr || parsed->skip_record()) {
    finish(status);
    return;
  }
  // A changed schema (SchemaMismatch): the whole answer is built, then
  // its events taken.
  auto batch = std::make_shared<BatchEvents>(CollectBatchEvents(
      parsed->findings(), answer->mutable_results(), recorder_));
  std::vector<ledger::Event> events = std::move(batch->events);
  recorder_->RecordAsync(
      std::move(events),
      [finish, batch, answer](std::vector<absl::Status> recorded) {
        finish(ToGrpcStatus(
            ApplyRecordStatuses(*batch, recorded, answer->mutable_results())));
      });
}

grpc::Status TreatmentServiceImpl::PrepareBatch(
    const v1::BatchDecideRequest& request,
    std::shared_ptr<const ActivePolicy>* active, EvalOptions* options) const {
  const int count = request.findings_size();
  if (count == 0) {
    return ToGrpcStatus(
        absl::InvalidArgumentError("findings: must hold at least one finding"));
  }
  if (count > limits_.max_batch) {
    return ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
        "findings: ", count, " findings exceed the limit of ",
        limits_.max_batch,
        " per BatchDecide call; split the batch or use StreamDecide")));
  }
  absl::StatusOr<std::shared_ptr<const ActivePolicy>> snapshot =
      ActiveOrError();
  if (!snapshot.ok()) return ToGrpcStatus(snapshot.status());
  absl::StatusOr<absl::Time> as_of =
      ResolveAsOf(request.has_as_of(), request.as_of(), clock_());
  if (!as_of.ok()) return ToGrpcStatus(as_of.status());
  *active = *std::move(snapshot);
  *options = RequestOptions(*as_of, request);
  return grpc::Status::OK;
}

grpc::Status TreatmentServiceImpl::DecideBatch(
    const v1::BatchDecideRequest& request,
    v1::BatchDecideResponse* response) const {
  std::shared_ptr<const ActivePolicy> active;
  EvalOptions options;
  grpc::Status status = PrepareBatch(request, &active, &options);
  if (!status.ok()) return status;
  DecideAll(*active, request.findings(), options, response->mutable_results());
  return grpc::Status::OK;
}

grpc::Status TreatmentServiceImpl::DecideBatchEncoded(
    const v1::BatchDecideRequest& request, ServerMetrics* metrics,
    grpc::ByteBuffer* response) const {
  std::shared_ptr<const ActivePolicy> active;
  EvalOptions options;
  grpc::Status status = PrepareBatch(request, &active, &options);
  if (!status.ok()) return status;
  ResultsEncoder encoder = ResultsEncoder::ForBatch();
  DecideAllEncoded(*active, request.findings(), options, metrics, &encoder);
  return encoder.Finish(response);
}

grpc::Status TreatmentServiceImpl::DecideBatchRecorded(
    const v1::BatchDecideRequest& request, ServerMetrics* metrics,
    RecordedBatch* recorded) const {
  std::shared_ptr<const ActivePolicy> active;
  EvalOptions options;
  grpc::Status status = PrepareBatch(request, &active, &options);
  if (!status.ok()) return status;
  DecideAllEncoded(*active, request.findings(), options, metrics,
                   &recorded->encoder, recorded);
  recorded->batch = recorded->collector.Take();
  return grpc::Status::OK;
}

namespace {

// "findings[<i>]", written in place: StrAppend's resizing cost ~150
// instructions a finding.
class ItemPath {
 public:
  absl::string_view Of(int i) {
    const absl::AlphaNum digits(i);
    std::memcpy(text_ + kHead, digits.data(), digits.size());
    text_[kHead + digits.size()] = ']';
    return absl::string_view(text_, kHead + digits.size() + 1);
  }

 private:
  static constexpr size_t kHead = sizeof("findings[") - 1;
  char text_[32] = "findings[";
};

}  // namespace

void TreatmentServiceImpl::DecideItem(const ActivePolicy& active,
                                      const v1::Finding& finding,
                                      const EvalOptions& options,
                                      absl::string_view path,
                                      v1::DecisionResult* result) const {
  DecideInto(*active.pipeline, finding, options, limits_.finding, path, result);
  if (result->has_decision()) {
    Shadow(active, finding, options, result->decision());
  }
}

void TreatmentServiceImpl::DecideAll(
    const ActivePolicy& active,
    const google::protobuf::RepeatedPtrField<v1::Finding>& findings,
    const EvalOptions& options,
    google::protobuf::RepeatedPtrField<v1::DecisionResult>* results) const {
  const int count = findings.size();
  results->Reserve(count);
  ItemPath path;
  for (int i = 0; i < count; ++i) {
    v1::DecisionResult* result = results->Add();
    result->set_index(i);
    DecideItem(active, findings[i], options, path.Of(i), result);
  }
}

void TreatmentServiceImpl::DecideAllEncoded(
    const ActivePolicy& active,
    const google::protobuf::RepeatedPtrField<v1::Finding>& findings,
    const EvalOptions& options, ServerMetrics* metrics, ResultsEncoder* encoder,
    RecordedBatch* recorded) const {
  // On the heap, not an arena: Clear() keeps the strings' buffers and the
  // repeated fields' elements for the next finding. (Bounded by the
  // largest decision this thread made.) Nothing else runs on this thread
  // while the loop below does.
  thread_local v1::DecisionResult result;
  ItemPath path;
  const int count = findings.size();
  for (int i = 0; i < count; ++i) {
    // The decision is in a oneof, which Clear() would delete: taken out
    // and put back as it is (a new one after an item error). The engine
    // empties a reused decision itself, keeping what it would write again
    // (CompiledPolicy::Evaluate; the pipeline's intel and revisit
    // conditions only add to what it emptied).
    v1::Decision* decision =
        result.has_decision() ? result.release_decision() : new v1::Decision;
    result.Clear();
    result.set_allocated_decision(decision);
    result.set_index(i);
    DecideItem(active, findings[i], options, path.Of(i), &result);
    if (recorded != nullptr) {
      if (recorded->collector.Add(findings[i], i, &result) &&
          metrics != nullptr) {
        recorded->counters.push_back(
            metrics->DecisionCounter(result.decision()));
      }
    } else if (metrics != nullptr && result.has_decision()) {
      metrics->RecordDecision(result.decision());
    }
    encoder->Add(result);
  }
}

namespace {

// Answers the `sequence`th StreamDecide message, whose bytes did not
// parse, with an INVALID_ARGUMENT result; the stream goes on.
void AnswerUndecodable(uint64_t sequence, v1::StreamDecideResponse* response) {
  response->set_sequence(sequence);
  v1::DecisionResult* result = response->mutable_result();
  if (sequence <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    result->set_index(static_cast<int32_t>(sequence));
  }
  const grpc::Status status =
      UndecodableRequest(v1::StreamDecideRequest::descriptor()->full_name());
  SetItemError(absl::InvalidArgumentError(status.error_message()), result);
}

// Answers a StreamDecide message as a whole with an ItemError carrying
// `status`, naming `field` in its one field violation.
void SetMessageError(const absl::Status& status, absl::string_view field,
                     v1::DecisionResult* result) {
  SetItemError(status, result);
  v1::FieldViolation* violation =
      result->mutable_error()->add_field_violations();
  violation->set_field(std::string(field));
  violation->set_description(std::string(status.message()));
}

}  // namespace

absl::Status TreatmentServiceImpl::CheckStreamMessage(
    const v1::StreamDecideRequest& request, std::string* field) const {
  const int count = request.findings_size();
  if (request.has_finding() && count > 0) {
    *field = "findings";
    return absl::InvalidArgumentError(absl::StrCat(
        "findings: a StreamDecide message sets either finding (one finding) "
        "or findings (a chunk), not both; got finding and ",
        count, " findings"));
  }
  if (!request.has_finding() && count == 0) {
    *field = "finding";
    return absl::InvalidArgumentError(absl::StrCat(
        "finding: required; a StreamDecide message sets finding (one "
        "finding) or findings (1 to ",
        limits_.max_batch, " findings), got neither"));
  }
  if (count > limits_.max_batch) {
    *field = "findings";
    return absl::ResourceExhaustedError(
        absl::StrCat("findings: ", count, " findings exceed the limit of ",
                     limits_.max_batch,
                     " per StreamDecide message (--max-batch); send at most ",
                     limits_.max_batch, " per message"));
  }
  return absl::OkStatus();
}

bool TreatmentServiceImpl::DecideStreamMessage(
    const ActivePolicy& active, const v1::StreamDecideRequest& request,
    uint64_t sequence, v1::StreamDecideResponse* response,
    ServerMetrics* metrics, ResultsEncoder* encoder,
    std::optional<RecordedBatch>* recorded) const {
  response->set_sequence(sequence);
  std::string field;
  absl::Status message_status = CheckStreamMessage(request, &field);
  absl::StatusOr<absl::Time> as_of;
  if (message_status.ok()) {
    as_of = ResolveAsOf(request.has_as_of(), request.as_of(), clock_());
    if (!as_of.ok()) {
      message_status = as_of.status();
      field = "as_of";
    }
  }
  if (!message_status.ok() || request.has_finding()) {
    v1::DecisionResult* result = response->mutable_result();
    if (sequence <=
        static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
      result->set_index(static_cast<int32_t>(sequence));
    }
    if (!message_status.ok()) {
      result->set_finding_id(request.finding().id());
      SetMessageError(message_status, field, result);
      return false;
    }
    const EvalOptions options = RequestOptions(*as_of, request);
    DecideInto(*active.pipeline, request.finding(), options, limits_.finding,
               "finding", result);
    if (result->has_decision()) {
      Shadow(active, request.finding(), options, result->decision());
    }
    return false;
  }
  // A chunk: one result per finding, like BatchDecide.
  const EvalOptions options = RequestOptions(*as_of, request);
  if (recorded != nullptr) {
    // CheckStreamMessage has bounded the chunk by --max-batch.
    RecordedBatch& chunk =
        recorded->emplace(recorder_, request.findings_size(), sequence);
    DecideAllEncoded(active, request.findings(), options, metrics,
                     &chunk.encoder, &chunk);
    chunk.batch = chunk.collector.Take();
    return true;
  }
  if (encoder != nullptr) {
    DecideAllEncoded(active, request.findings(), options, metrics, encoder);
    return true;
  }
  DecideAll(active, request.findings(), options, response->mutable_results());
  return false;
}

void TreatmentServiceImpl::RecordStreamMessage(
    const v1::StreamDecideRequest& request, v1::StreamDecideResponse* response,
    std::function<void()> done) const {
  if (response->has_result()) {
    // One finding (or an error of the whole message).
    v1::DecisionResult* result = response->mutable_result();
    if (!result->has_decision()) {
      done();
      return;
    }
    absl::StatusOr<ledger::Event> event = ledger::DecisionEvent(
        request.finding(), result->decision(), /*snapshot=*/false);
    if (!event.ok()) {
      recorder_->CountRejected(1);
      SetItemError(UnidentifiedFindingError(event.status()), result);
      done();
      return;
    }
    // Serialized only if the ledger stores it, before `done` runs.
    event->decision.snapshot_source = &request.finding();
    std::vector<ledger::Event> events;
    events.push_back(*std::move(event));
    recorder_->RecordAsync(
        std::move(events),
        [result, done = std::move(done)](std::vector<absl::Status> recorded) {
          if (!recorded.front().ok()) SetItemError(recorded.front(), result);
          done();
        });
    return;
  }
  auto batch = std::make_shared<BatchEvents>(CollectBatchEvents(
      request.findings(), response->mutable_results(), recorder_));
  std::vector<ledger::Event> events = std::move(batch->events);
  recorder_->RecordAsync(
      std::move(events), [batch, response, done = std::move(done)](
                             std::vector<absl::Status> recorded) {
        // A stream goes on after a failed message: every decision of the
        // chunk that the database did not take becomes an UNAVAILABLE
        // item error.
        SetRecordErrors(*batch, recorded, response->mutable_results());
        done();
      });
}

// One StreamDecide stream. A message is decided on the thread that read
// it (OnReadDone), and, when the ledger records it, answered from the
// recorder's thread once its decisions are durable (a chunk's answer is
// encoded on the reading thread already: the recorder's thread only sends
// it, unless the ledger refused some of its decisions). Its answer is written
// at once and the next message read meanwhile; an answer decided while the
// one before it is still being written waits for it, and nothing more is
// read until it has been handed to the write: as on the sync API, a client
// that does not read its answers stops the stream's reading (one answer
// more is held). Answers go out in the order the messages came.
class TreatmentServiceImpl::StreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  explicit StreamReactor(const TreatmentServiceImpl* service)
      : service_(service),
        metrics_(service->governor_ != nullptr ? service->governor_->metrics()
                                               : nullptr),
        first_block_(new char[kStreamArenaFirstBlock]) {
    StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    bool decide = false;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      // Nothing more is decided once the client is done writing (or the
      // call is over), nor when the stream ends anyway (a write failed).
      if (ok && !end_.has_value()) {
        decide = true;
      } else {
        if (!ok) reads_done_ = true;
        reading_ = false;
        finish = TakeFinishLocked(&status);
      }
    }
    if (decide) DecideMessage();
    if (finish) Finish(std::move(status));
  }

  void OnWriteDone(bool ok) override {
    bool write_next = false;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        waiting_.reset();
        if (!end_.has_value()) {
          end_ = grpc::Status(grpc::StatusCode::CANCELLED,
                              "the client stopped reading the stream");
        }
        finish = TakeFinishLocked(&status);
      } else if (waiting_.has_value()) {
        written_ = *std::move(waiting_);
        waiting_.reset();
        writing_ = true;
        reading_ = true;
        write_next = true;
      } else {
        finish = TakeFinishLocked(&status);
      }
    }
    if (write_next) {
      StartWrite(&written_);
      StartRead(&request_bytes_);
    }
    if (finish) Finish(std::move(status));
  }

  void OnDone() override { delete this; }

 private:
  // Parses and decides the message in request_bytes_, then answers it
  // (Answer), or ends the stream with an error of the stream as a whole
  // (End).
  void DecideMessage() {
    arena_.emplace(StreamArenaOptions(first_block_.get()));
    request_ = google::protobuf::Arena::CreateMessage<v1::StreamDecideRequest>(
        &*arena_);
    response_ =
        google::protobuf::Arena::CreateMessage<v1::StreamDecideResponse>(
            &*arena_);
    const bool parsed = ParseRequest(request_bytes_, request_).ok();
    request_bytes_.Clear();
    if (!parsed) {
      // The stream goes on: this message is answered with an error.
      if (metrics_ != nullptr) metrics_->CallRejected(kUndecodableReason);
      AnswerUndecodable(sequence_, response_);
      Answer(nullptr);
      return;
    }
    absl::StatusOr<std::shared_ptr<const ActivePolicy>> active =
        service_->ActiveOrError();
    if (!active.ok()) {
      End(ToGrpcStatus(active.status()));
      return;
    }
    const bool record =
        service_->recorder_ != nullptr && !request_->skip_record();
    // A chunk is encoded as each finding is decided; when it is recorded,
    // after its decision's event was taken, and the encoded answer waits
    // for the ledger (in recorded_).
    ResultsEncoder chunk = ResultsEncoder::ForStreamChunk(sequence_);
    const bool by_encoder = SchemaMismatch().empty();
    const bool encoded = service_->DecideStreamMessage(
        **active, *request_, sequence_, response_, metrics_,
        by_encoder && !record ? &chunk : nullptr,
        by_encoder && record ? &recorded_ : nullptr);
    if (record && encoded) {
      std::vector<ledger::Event> events = std::move(recorded_->batch.events);
      // The recorder's thread only finishes the encoded answer (re-encoded
      // only when the ledger refused one of its decisions).
      service_->recorder_->RecordAsync(
          std::move(events), [this](std::vector<absl::Status> statuses) {
            AnswerRecorded(statuses);
          });
      return;
    }
    if (record) {
      // The request and response stay on the arena until the answer is
      // encoded (on the recorder's thread); nothing is read meanwhile.
      service_->RecordStreamMessage(*request_, response_,
                                    [this] { Answer(nullptr); });
      return;
    }
    Answer(encoded ? &chunk : nullptr);
  }

  // Encodes the answer, from `chunk` when it holds it, else from response_
  // (its decisions then recorded in the metrics), frees the message's
  // arena and sends the answer.
  void Answer(ResultsEncoder* chunk) {
    if (chunk == nullptr) RecordStreamDecisions(*response_, metrics_);
    grpc::ByteBuffer answer;
    grpc::Status status = chunk != nullptr
                              ? chunk->Finish(&answer)
                              : EncodeResponse(*response_, &answer);
    Deliver(std::move(status), std::move(answer));
  }

  // Answers a recorded chunk once the ledger returned `statuses` for its
  // events: the answer is recorded_'s (see RecordedBatch::Answer).
  void AnswerRecorded(const std::vector<absl::Status>& statuses) {
    grpc::ByteBuffer answer;
    grpc::Status status = recorded_->Answer(statuses, &*arena_, &answer);
    recorded_.reset();
    Deliver(std::move(status), std::move(answer));
  }

  // Frees the message's arena and sends `answer`, or ends the stream with
  // `status` when it is not OK.
  void Deliver(grpc::Status status, grpc::ByteBuffer answer) {
    request_ = nullptr;
    response_ = nullptr;
    arena_.reset();
    if (!status.ok()) {
      End(std::move(status));
      return;
    }
    ++sequence_;
    Send(std::move(answer));
  }

  // Writes `answer` now and reads the next message, or, while the answer
  // before it is being written, leaves both to OnWriteDone.
  void Send(grpc::ByteBuffer answer) {
    bool write = false;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      if (end_.has_value()) {
        // A write failed while this message was decided: not sent.
        reading_ = false;
        finish = TakeFinishLocked(&status);
      } else if (writing_) {
        waiting_ = std::move(answer);
        reading_ = false;
      } else {
        // reading_ stays set: the next message is read at once.
        written_ = std::move(answer);
        writing_ = true;
        write = true;
      }
    }
    if (write) {
      StartWrite(&written_);
      StartRead(&request_bytes_);
    }
    if (finish) Finish(std::move(status));
  }

  // Ends the stream with `status` once the answer being written is out.
  void End(grpc::Status status) {
    bool finish = false;
    {
      absl::MutexLock lock(&mu_);
      if (!end_.has_value()) end_ = std::move(status);
      reading_ = false;
      finish = TakeFinishLocked(&status);
    }
    if (finish) Finish(std::move(status));
  }

  // Whether to finish the stream now, with `*status`: once no read is
  // outstanding or decided and no answer is written or waits, when the
  // client is done writing or something ended the stream; true once.
  // Finish itself is called without mu_ held: it may run OnDone at once.
  bool TakeFinishLocked(grpc::Status* status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || reading_ || writing_ || waiting_.has_value()) {
      return false;
    }
    if (!reads_done_ && !end_.has_value()) return false;
    finished_ = true;
    *status = end_.has_value() ? *end_ : grpc::Status::OK;
    return true;
  }

  const TreatmentServiceImpl* const service_;
  ServerMetrics* const metrics_;
  // The first block of every message's arena.
  const std::unique_ptr<char[]> first_block_;

  // The message being read and decided: one at a time, since the next is
  // read only once this one's answer is sent, so only the thread deciding
  // it touches these.
  grpc::ByteBuffer request_bytes_;
  std::optional<google::protobuf::Arena> arena_;
  v1::StreamDecideRequest* request_ = nullptr;
  v1::StreamDecideResponse* response_ = nullptr;
  // A recorded chunk's events and encoded answer, until the ledger took
  // them.
  std::optional<RecordedBatch> recorded_;
  uint64_t sequence_ = 0;

  absl::Mutex mu_;
  // A read is outstanding or its message is being decided.
  bool reading_ ABSL_GUARDED_BY(mu_) = true;
  // The answer being written (set while writing_, read by gRPC).
  grpc::ByteBuffer written_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // The next answer, decided while written_ was still being written.
  std::optional<grpc::ByteBuffer> waiting_ ABSL_GUARDED_BY(mu_);
  // The client is done writing (or the call is over).
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  // The status that ends the stream early.
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::Status TreatmentServiceImpl::StreamDecideBytes(
    grpc::ServerContext* /*context*/,
    grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
  // Every message's arena starts in the stream's first block, as in
  // StreamReactor.
  std::unique_ptr<char[]> first_block(new char[kStreamArenaFirstBlock]);
  const google::protobuf::ArenaOptions arena_options =
      StreamArenaOptions(first_block.get());
  ServerMetrics* metrics =
      governor_ != nullptr ? governor_->metrics() : nullptr;
  uint64_t sequence = 0;
  grpc::ByteBuffer bytes;
  while (stream->Read(&bytes)) {
    google::protobuf::Arena arena(arena_options);
    auto* request =
        google::protobuf::Arena::CreateMessage<v1::StreamDecideRequest>(&arena);
    auto* response =
        google::protobuf::Arena::CreateMessage<v1::StreamDecideResponse>(
            &arena);
    ResultsEncoder chunk = ResultsEncoder::ForStreamChunk(sequence);
    bool encoded = false;
    if (!ParseRequest(bytes, request).ok()) {
      // The stream goes on: this message is answered with an error.
      if (metrics != nullptr) metrics->CallRejected(kUndecodableReason);
      AnswerUndecodable(sequence, response);
    } else {
      absl::StatusOr<std::shared_ptr<const ActivePolicy>> active =
          ActiveOrError();
      if (!active.ok()) return ToGrpcStatus(active.status());
      const bool record = recorder_ != nullptr && !request->skip_record();
      const bool by_encoder = !record && SchemaMismatch().empty();
      encoded = DecideStreamMessage(**active, *request, sequence, response,
                                    metrics, by_encoder ? &chunk : nullptr);
      if (record) {
        absl::Notification recorded;
        RecordStreamMessage(*request, response,
                            [&recorded] { recorded.Notify(); });
        recorded.WaitForNotification();
      }
      if (!encoded) RecordStreamDecisions(*response, metrics);
    }
    grpc::ByteBuffer answer;
    if (grpc::Status status = encoded ? chunk.Finish(&answer)
                                      : EncodeResponse(*response, &answer);
        !status.ok()) {
      return status;
    }
    if (!stream->Write(answer)) {
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "the client stopped reading the stream");
    }
    ++sequence;
  }
  return grpc::Status::OK;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
TreatmentServiceImpl::StreamDecide(grpc::CallbackServerContext* /*context*/) {
  return new StreamReactor(this);
}

grpc::Status TreatmentServiceImpl::GetPolicy(
    grpc::ServerContext* /*context*/, const v1::GetPolicyRequest* /*request*/,
    v1::GetPolicyResponse* response) {
  // The policy and its reload's record from one moment.
  const PolicyStoreState state = store_->GetWithHistory();
  if (state.active == nullptr) return ToGrpcStatus(NoPolicyError());
  DescribePolicy(*state.active, response);
  if (state.history.reloads > 0) {
    *response->mutable_last_reload() = state.history.last;
  }
  return grpc::Status::OK;
}

grpc::Status TreatmentServiceImpl::ValidatePolicy(
    grpc::ServerContext* /*context*/, const v1::ValidatePolicyRequest* request,
    v1::ValidatePolicyResponse* response) {
  CheckPolicyDocument(request->content(), request->filename(), response);
  return grpc::Status::OK;
}

}  // namespace treatd
