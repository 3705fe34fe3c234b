#include "server/event_loop_service.h"

#include <memory>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "grpcpp/support/method_handler.h"

namespace treatd {
namespace {

// Decide calls each queue asks gRPC for ahead, as the null server does
// (each call taken asks for the next).
constexpr int kCallsRequestedAhead = 16;

int MethodIndex(const char* name) {
  return google::protobuf::DescriptorPool::generated_pool()
      ->FindMethodByName(name)
      ->index();
}

// Ends a sync handler's call: the handler waits for the status.
class WaitedEnd final : public CallFinisher {
 public:
  void Finish(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }
  grpc::Status Wait() {
    done_.WaitForNotification();
    return status_;
  }

 private:
  absl::Notification done_;
  grpc::Status status_;
};

}  // namespace

// One Decide call, from gRPC's handing it over to its end. Deletes itself
// (through Serve) when its last event has come.
class EventLoopTreatmentService::DecideCall final : public CallFinisher {
 public:
  DecideCall(EventLoopTreatmentService* service,
             grpc::ServerCompletionQueue* queue)
      : service_(service), queue_(queue), responder_(&context_) {
    service_->RequestDecide(&context_, &request_, &responder_, queue_, queue_,
                            this);
  }

  // This call's event on the queue (`ok` as the queue gave it). Returns
  // false when the call is over.
  bool Proceed(bool ok) {
    if (answered_) {
      service_->answering_.fetch_sub(1, std::memory_order_release);
      return false;
    }
    if (!ok) return false;  // The server is shutting down.
    new DecideCall(service_, queue_);
    answered_ = true;
    service_->answering_.fetch_add(1, std::memory_order_relaxed);
    service_->impl_->AnswerDecide(&context_, request_, &response_,
                                  UnaryEnd(this));
    return true;
  }

  void Finish(const grpc::Status& status) override {
    if (status.ok()) {
      responder_.Finish(response_, status, this);
    } else {
      responder_.FinishWithError(status, this);
    }
  }

 private:
  EventLoopTreatmentService* const service_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::ServerContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  grpc::ServerAsyncResponseWriter<grpc::ByteBuffer> responder_;
  bool answered_ = false;
};

EventLoopTreatmentService::EventLoopTreatmentService(TreatmentServiceImpl* impl)
    : impl_(impl) {
  MarkMethodStreamed(
      MethodIndex("treatd.v1.TreatmentService.BatchDecide"),
      new grpc::internal::StreamedUnaryHandler<grpc::ByteBuffer,
                                               grpc::ByteBuffer>(
          [this](grpc::ServerContext* context,
                 grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>*
                     stream) { return BatchDecideBytes(context, stream); }));
  MarkMethodStreamed(
      MethodIndex("treatd.v1.TreatmentService.StreamDecide"),
      new grpc::internal::BidiStreamingHandler<
          EventLoopTreatmentService, grpc::ByteBuffer, grpc::ByteBuffer>(
          [](EventLoopTreatmentService* service, grpc::ServerContext* context,
             grpc::ServerReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>*
                 stream) {
            return service->impl_->StreamDecideBytes(context, stream);
          },
          this));
}

EventLoopTreatmentService::~EventLoopTreatmentService() { Stop(); }

void EventLoopTreatmentService::Start(
    std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues) {
  queues_ = std::move(queues);
  threads_.reserve(queues_.size());
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) {
    threads_.emplace_back([this, queue = queue.get()] { Serve(queue); });
  }
}

void EventLoopTreatmentService::Serve(grpc::ServerCompletionQueue* queue) {
  for (int i = 0; i < kCallsRequestedAhead; ++i) new DecideCall(this, queue);
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) {
    auto* call = static_cast<DecideCall*>(tag);
    if (!call->Proceed(ok)) delete call;
  }
}

void EventLoopTreatmentService::Stop() {
  if (stopped_.exchange(true)) return;
  // A call waiting for the ledger is ended by the recorder (cancelled
  // after the server's grace): its last event must find its queue open.
  while (answering_.load(std::memory_order_acquire) > 0) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) {
    queue->Shutdown();
  }
  for (std::thread& thread : threads_) thread.join();
}

grpc::Status EventLoopTreatmentService::BatchDecideBytes(
    grpc::ServerContext* context,
    grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>* stream) {
  grpc::ByteBuffer request;
  if (!stream->Read(&request)) {
    return grpc::Status(grpc::StatusCode::INTERNAL,
                        "the call carried no request message");
  }
  grpc::ByteBuffer response;
  WaitedEnd end;
  impl_->AnswerBatchDecide(context, request, &response, UnaryEnd(&end));
  const grpc::Status status = end.Wait();
  if (status.ok() && !stream->Write(response)) {
    return grpc::Status(grpc::StatusCode::CANCELLED,
                        "the client went away before the answer");
  }
  return status;
}

grpc::Status EventLoopTreatmentService::GetPolicy(
    grpc::ServerContext* context, const v1::GetPolicyRequest* request,
    v1::GetPolicyResponse* response) {
  return impl_->GetPolicy(context, request, response);
}

grpc::Status EventLoopTreatmentService::ValidatePolicy(
    grpc::ServerContext* context, const v1::ValidatePolicyRequest* request,
    v1::ValidatePolicyResponse* response) {
  return impl_->ValidatePolicy(context, request, response);
}

}  // namespace treatd
