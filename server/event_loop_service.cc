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
// when its last event has come. Each one has exactly one event pending on
// its queue, or is being answered and will be given one: while any lives,
// its queue must stay open.
class EventLoopTreatmentService::DecideCall final : public CallFinisher,
                                                    public LoopTag {
 public:
  DecideCall(EventLoopTreatmentService* service,
             grpc::ServerCompletionQueue* queue)
      : service_(service),
        live_(&service->calls_),
        queue_(queue),
        responder_(&context_) {
    service_->RequestDecide(&context_, &request_, &responder_, queue_, queue_,
                            tag());
  }

  void Proceed(bool ok) override {
    // Answered, or the server is shutting down.
    if (answered_ || !ok) {
      delete this;
      return;
    }
    // Once Stop() has begun no call is asked for: the server is shut
    // down and would only fail it.
    if (live_.calls()->asking()) new DecideCall(service_, queue_);
    answered_ = true;
    service_->impl_->AnswerDecide(&context_, request_, &response_,
                                  UnaryEnd(this));
  }

  void Finish(const grpc::Status& status) override {
    if (status.ok()) {
      responder_.Finish(response_, status, tag());
    } else {
      responder_.FinishWithError(status, tag());
    }
  }

 private:
  EventLoopTreatmentService* const service_;
  const LoopCalls::Live live_;  // Destroyed after the members below.
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
    std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues,
    const std::vector<LoopService*>& services) {
  queues_ = std::move(queues);
  // The first calls are asked for here, not on the queues' threads: a
  // Stop() right after Start() then finds them counted.
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) {
    for (int i = 0; i < kCallsRequestedAhead; ++i) {
      new DecideCall(this, queue.get());
    }
    for (LoopService* service : services) {
      service->RequestCalls(queue.get(), &calls_);
    }
  }
  threads_.reserve(queues_.size());
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) {
    threads_.emplace_back([this, queue = queue.get()] { Serve(queue); });
  }
}

void EventLoopTreatmentService::Serve(grpc::ServerCompletionQueue* queue) {
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) static_cast<LoopTag*>(tag)->Proceed(ok);
}

void EventLoopTreatmentService::Stop() {
  if (stopped_.exchange(true)) return;
  calls_.StopAsking();
  // The server is shut down: each call it had not matched comes back
  // (ok=false) and it matches no more; calls it matched are answered,
  // some later by the ledger's recorder (cancelled after the server's
  // grace). Every one's last event must find its queue open, so the
  // queues close only once no call lives.
  while (calls_.any_live()) absl::SleepFor(absl::Milliseconds(1));
  for (const std::unique_ptr<grpc::ServerCompletionQueue>& queue : queues_) {
    queue->Shutdown();
  }
  // Each thread takes what is left on its queue until Next says it is
  // shut down and empty.
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
