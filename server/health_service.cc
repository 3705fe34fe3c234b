#include "server/health_service.h"

#include <optional>
#include <string>
#include <utility>

namespace treatd {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

namespace {

// Check and Watch calls each of the event loop's queues asks gRPC for
// ahead (each call matched asks for the next).
constexpr int kLoopCallsRequestedAhead = 2;

const grpc::Status& ShutdownStatus() {
  static const grpc::Status* const status = new grpc::Status(
      grpc::StatusCode::CANCELLED, "not writing due to shutdown");
  return *status;
}

const grpc::Status& EndedStatus() {
  static const grpc::Status* const status =
      new grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
  return *status;
}

}  // namespace

// One open Watch, on either face: what it has written and is to write.
// The service calls Notify (holding its mutex, so a watcher it holds in
// watchers_ is not yet done); the face calls WriteDone and Cancelled as
// gRPC reports. At most one write is in flight; a status that changes
// meanwhile is written when it completes (only the latest). gRPC reports
// on its own threads (the event loop's for the async face), never inside
// StartWriting or StartFinishing, so these are called with mu_ held.
class HealthService::Watcher {
 public:
  Watcher() = default;
  virtual ~Watcher() = default;
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Set before the watch is registered, constant after.
  const std::string& name() const { return name_; }

  // The watched service's status is `status`; `shut_down`: the last one.
  void Notify(Status status, bool shut_down) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    if (writing_) {
      // Back to the status being written (A, then B queued, then A): the
      // client has it once the write completes, nothing more to write.
      if (status == last_) {
        next_.reset();
      } else {
        next_ = status;
      }
    } else if (status != last_) {
      WriteLocked(status);
    }
    if (shut_down) {
      // The watch ends at shutdown, its last word NOT_SERVING, rather than
      // hold the server's drain for its grace (as gRPC 1.51's default
      // service does).
      ending_ = true;
      if (!writing_) {
        FinishLocked(ShutdownStatus());
      }
    }
  }

 protected:
  void set_name(std::string name) { name_ = std::move(name); }

  // The write in flight is done (`ok`: written).
  void WriteDone(bool ok) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (finished_) return;
    if (!ok) {
      FinishLocked(EndedStatus());
    } else if (next_.has_value()) {
      const Status status = *next_;
      next_.reset();
      WriteLocked(status);
    } else if (ending_) {
      FinishLocked(ShutdownStatus());
    }
  }

  // The client has gone: nothing more is written.
  void Cancelled() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    FinishLocked(EndedStatus());
  }

  bool writing() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return writing_; }

  // Start the write of `response` (which stays put until WriteDone) and
  // the call's end.
  virtual void StartWriting(const HealthCheckResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  virtual void StartFinishing(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;

  absl::Mutex mu_;

 private:
  void WriteLocked(Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    response_.set_status(status);
    last_ = status;
    writing_ = true;
    StartWriting(response_);
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    StartFinishing(status);
  }

  std::string name_;
  HealthCheckResponse response_ ABSL_GUARDED_BY(mu_);
  // The status last written (or being written), none at first.
  std::optional<Status> last_ ABSL_GUARDED_BY(mu_);
  // The status to write once the write in flight is done.
  std::optional<Status> next_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Shut down: finish once the writes are done.
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

// A Watch on the callback API: gRPC calls OnWriteDone, OnCancel and
// OnDone.
class HealthService::WatchReactor final
    : public grpc::ServerWriteReactor<HealthCheckResponse>,
      public Watcher {
 public:
  WatchReactor(HealthService* service, std::string name) : service_(service) {
    set_name(std::move(name));
  }

  void OnWriteDone(bool ok) override { WriteDone(ok); }
  void OnCancel() override { Cancelled(); }
  void OnDone() override {
    service_->RemoveWatcher(this);
    delete this;
  }

 private:
  void StartWriting(const HealthCheckResponse& response) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    StartWrite(&response);
  }
  void StartFinishing(const grpc::Status& status) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Finish(status);
  }

  HealthService* const service_;
};

// The async API's face, served from the event loop's queues: Check is
// answered by the queue's thread, a Watch is a LoopWatch.
class HealthService::AsyncHealth final
    : public grpc::health::v1::Health::AsyncService,
      public LoopService {
 public:
  explicit AsyncHealth(HealthService* health) : health_(health) {}

  void RequestCalls(grpc::ServerCompletionQueue* queue,
                    LoopCalls* calls) override;

 private:
  HealthService* const health_;
};

// What each call of the async face has: where it was asked for, and its
// count among the loop's live calls (a base, so it outlasts the call's
// gRPC members).
class HealthService::LoopCall {
 protected:
  LoopCall(HealthService* service, AsyncHealth* face,
           grpc::ServerCompletionQueue* queue, LoopCalls* calls)
      : live_(calls), service_(service), face_(face), queue_(queue) {}

  // Asks for the call's successor (a new T on the same queue) while the
  // loop is asking for calls.
  template <typename T>
  void RequestNext() {
    if (live_.calls()->asking()) new T(service_, face_, queue_, live_.calls());
  }
  HealthService* service() const { return service_; }
  AsyncHealth* face() const { return face_; }
  grpc::ServerCompletionQueue* queue() const { return queue_; }
  grpc::ServerContext* context() { return &context_; }

 private:
  const LoopCalls::Live live_;
  HealthService* const service_;
  AsyncHealth* const face_;
  grpc::ServerCompletionQueue* const queue_;
  grpc::ServerContext context_;
};

// A Watch on the event loop, from its request to its end. Its events come
// to the queue it was asked for on (one thread): the match, each write's
// completion, the finish's and the call's end (AsyncNotifyWhenDone, which
// only a matched call gets). It deletes itself once the call has ended and
// no write or finish of it is in flight; only then does it leave the
// service, which notifies it until then (on the service's threads, which
// start writes).
class HealthService::LoopWatch final : public LoopCall, public Watcher {
 public:
  LoopWatch(HealthService* service, AsyncHealth* face,
            grpc::ServerCompletionQueue* queue, LoopCalls* calls)
      : LoopCall(service, face, queue, calls), writer_(context()) {
    context()->AsyncNotifyWhenDone(ended_.tag());
    face->RequestWatch(context(), &request_, &writer_, queue, queue,
                       matched_.tag());
  }

 private:
  // One kind of event of this watch: the tag given to gRPC.
  class Event final : public LoopTag {
   public:
    Event(LoopWatch* watch, void (LoopWatch::*on)(bool))
        : watch_(watch), on_(on) {}
    void Proceed(bool ok) override { (watch_->*on_)(ok); }

   private:
    LoopWatch* const watch_;
    void (LoopWatch::*const on_)(bool);
  };

  void Matched(bool ok) {
    if (!ok) {  // The server is shutting down; no other event will come.
      delete this;
      return;
    }
    RequestNext<LoopWatch>();
    set_name(request_.service());
    service()->AddWatcher(this);
  }

  void Wrote(bool ok) {
    WriteDone(ok);
    EndIfOver();
  }

  void FinishSent(bool /*ok*/) {
    {
      absl::MutexLock lock(&mu_);
      finishing_ = false;
    }
    EndIfOver();
  }

  // The call is over (finished, or cancelled by the client or the
  // server's shutdown).
  void Ended(bool /*ok*/) {
    {
      absl::MutexLock lock(&mu_);
      ended_seen_ = true;
    }
    // Finishes it for the Watcher (no Finish is sent: the call is over).
    Cancelled();
    EndIfOver();
  }

  void EndIfOver() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (!ended_seen_ || finishing_ || writing()) return;
    }
    service()->RemoveWatcher(this);
    delete this;
  }

  void StartWriting(const HealthCheckResponse& response) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writer_.Write(response, wrote_.tag());
  }

  void StartFinishing(const grpc::Status& status) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ended_seen_) return;
    finishing_ = true;
    writer_.Finish(status, finish_sent_.tag());
  }

  grpc::health::v1::HealthCheckRequest request_;
  grpc::ServerAsyncWriter<HealthCheckResponse> writer_;
  Event matched_{this, &LoopWatch::Matched};
  Event wrote_{this, &LoopWatch::Wrote};
  Event finish_sent_{this, &LoopWatch::FinishSent};
  Event ended_{this, &LoopWatch::Ended};
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_seen_ ABSL_GUARDED_BY(mu_) = false;
};

// A Check on the event loop: answered by the queue's thread when matched,
// deleted when its answer has been sent.
class HealthService::LoopCheck final : public LoopCall, public LoopTag {
 public:
  LoopCheck(HealthService* service, AsyncHealth* face,
            grpc::ServerCompletionQueue* queue, LoopCalls* calls)
      : LoopCall(service, face, queue, calls), responder_(context()) {
    face->RequestCheck(context(), &request_, &responder_, queue, queue, tag());
  }

  void Proceed(bool ok) override {
    // Answered, or the server is shutting down.
    if (answered_ || !ok) {
      delete this;
      return;
    }
    RequestNext<LoopCheck>();
    answered_ = true;
    const grpc::Status status = service()->Check(request_, &response_);
    if (status.ok()) {
      responder_.Finish(response_, status, tag());
    } else {
      responder_.FinishWithError(status, tag());
    }
  }

 private:
  HealthCheckRequest request_;
  HealthCheckResponse response_;
  grpc::ServerAsyncResponseWriter<HealthCheckResponse> responder_;
  bool answered_ = false;
};

void HealthService::AsyncHealth::RequestCalls(
    grpc::ServerCompletionQueue* queue, LoopCalls* calls) {
  for (int i = 0; i < kLoopCallsRequestedAhead; ++i) {
    new LoopCheck(health_, this, queue, calls);
    new LoopWatch(health_, this, queue, calls);
  }
}

// The callback API's face: Check answers at once, Watch is a reactor.
class HealthService::CallbackHealth final
    : public grpc::health::v1::Health::CallbackService {
 public:
  explicit CallbackHealth(HealthService* health) : health_(health) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const HealthCheckRequest* request,
                                  HealthCheckResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(health_->Check(*request, response));
    return reactor;
  }

  grpc::ServerWriteReactor<HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* /*context*/,
      const HealthCheckRequest* request) override {
    auto* watcher = new WatchReactor(health_, request->service());
    health_->AddWatcher(watcher);
    return watcher;
  }

 private:
  HealthService* const health_;
};

HealthService::HealthService()
    : callback_(std::make_unique<CallbackHealth>(this)),
      async_(std::make_unique<AsyncHealth>(this)) {}

HealthService::~HealthService() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::set<Watcher*>* watchers) { return watchers->empty(); },
      &watchers_));
}

grpc::Service* HealthService::callback_service() { return callback_.get(); }

grpc::Service* HealthService::async_service() { return async_.get(); }

LoopService* HealthService::async_calls() { return async_.get(); }

int HealthService::open_watches() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(watchers_.size());
}

void HealthService::SetServingStatus(const std::string& service_name,
                                     bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  statuses_[service_name] =
      serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  Changed();
}

void HealthService::SetServingStatus(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, status] : statuses_) {
    status = serving ? HealthCheckResponse::SERVING
                     : HealthCheckResponse::NOT_SERVING;
  }
  Changed();
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, status] : statuses_) {
    status = HealthCheckResponse::NOT_SERVING;
  }
  shut_down_ = true;
  Changed();
}

grpc::Status HealthService::Check(const HealthCheckRequest& request,
                                  HealthCheckResponse* response) {
  absl::MutexLock lock(&mu_);
  const Status status = StatusOf(request.service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "service name unknown");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

HealthService::Status HealthService::StatusOf(
    const std::string& service) const {
  const auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN
                               : it->second;
}

void HealthService::Changed() {
  for (Watcher* watcher : watchers_) {
    watcher->Notify(StatusOf(watcher->name()), shut_down_);
  }
}

void HealthService::AddWatcher(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.insert(watcher);
  watcher->Notify(StatusOf(watcher->name()), shut_down_);
}

void HealthService::RemoveWatcher(Watcher* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

}  // namespace treatd
