#include "server/health_service.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/time/time.h"

namespace treatd {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

namespace {

// How often a sync watcher with nothing to send checks whether its client
// has gone (the sync API has no cancellation callback).
constexpr absl::Duration kWatchCancelPoll = absl::Milliseconds(100);

const grpc::Status& ShutdownStatus() {
  static const grpc::Status* const status = new grpc::Status(
      grpc::StatusCode::CANCELLED, "not writing due to shutdown");
  return *status;
}

}  // namespace

// One open Watch. gRPC calls OnWriteDone, OnCancel and OnDone; the service
// calls Notify (holding its mutex, so a watcher it holds in watchers_ is
// not yet done). At most one write is in flight; a status that changes
// meanwhile is sent when it completes (only the latest). gRPC runs the
// reactions on its own threads, never inside StartWrite or Finish, so they
// may be called with mu_ held.
class HealthService::WatchReactor final
    : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(HealthService* service, std::string name)
      : service_(service), name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // The watched service's status is `status`; `shut_down`: the last one.
  void Notify(Status status, bool shut_down) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    const std::optional<Status> latest = next_.has_value() ? next_ : last_;
    if (latest != status) {
      if (writing_) {
        next_ = status;
      } else {
        WriteLocked(status);
      }
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

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (finished_) return;
    if (!ok) {
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended"));
    } else if (next_.has_value()) {
      const Status status = *next_;
      next_.reset();
      WriteLocked(status);
    } else if (ending_) {
      FinishLocked(ShutdownStatus());
    }
  }

  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended"));
  }

  void OnDone() override {
    service_->RemoveWatcher(this);
    delete this;
  }

 private:
  void WriteLocked(Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    response_.set_status(status);
    last_ = status;
    writing_ = true;
    StartWrite(&response_);
  }

  void FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  HealthService* const service_;
  const std::string name_;
  absl::Mutex mu_;
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

// The sync API's face: a Watch holds its thread, waking on each change.
class HealthService::SyncHealth final
    : public grpc::health::v1::Health::Service {
 public:
  explicit SyncHealth(HealthService* health) : health_(health) {}

  grpc::Status Check(grpc::ServerContext* /*context*/,
                     const HealthCheckRequest* request,
                     HealthCheckResponse* response) override {
    return health_->Check(*request, response);
  }

  grpc::Status Watch(grpc::ServerContext* context,
                     const HealthCheckRequest* request,
                     grpc::ServerWriter<HealthCheckResponse>* writer) override {
    uint64_t seen = 0;
    bool sent = false;
    Status last = HealthCheckResponse::UNKNOWN;
    const auto changed = [this, &seen]()
                             ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_->mu_) {
                               return health_->version_ != seen;
                             };
    while (!context->IsCancelled()) {
      Status status;
      bool shut_down;
      {
        absl::MutexLock lock(&health_->mu_);
        if (sent && !health_->shut_down_ &&
            !health_->mu_.AwaitWithTimeout(absl::Condition(&changed),
                                           kWatchCancelPoll)) {
          continue;
        }
        seen = health_->version_;
        status = health_->StatusOf(request->service());
        shut_down = health_->shut_down_;
      }
      if (!sent || status != last) {
        HealthCheckResponse response;
        response.set_status(status);
        if (!writer->Write(response)) break;
        sent = true;
        last = status;
      }
      if (shut_down) return ShutdownStatus();
    }
    return grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
  }

 private:
  HealthService* const health_;
};

HealthService::HealthService()
    : callback_(std::make_unique<CallbackHealth>(this)),
      sync_(std::make_unique<SyncHealth>(this)) {}

HealthService::~HealthService() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](std::set<WatchReactor*>* watchers) { return watchers->empty(); },
      &watchers_));
}

grpc::Service* HealthService::callback_service() { return callback_.get(); }

grpc::Service* HealthService::sync_service() { return sync_.get(); }

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
  ++version_;
  for (WatchReactor* watcher : watchers_) {
    watcher->Notify(StatusOf(watcher->name()), shut_down_);
  }
}

void HealthService::AddWatcher(WatchReactor* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.insert(watcher);
  watcher->Notify(StatusOf(watcher->name()), shut_down_);
}

void HealthService::RemoveWatcher(WatchReactor* watcher) {
  absl::MutexLock lock(&mu_);
  watchers_.erase(watcher);
}

}  // namespace treatd
