// HealthService: grpc.health.v1.Health (Check and Watch), treatd's health
// service in both server modes. gRPC 1.51's default one keeps a Watch
// open after NOT_SERVING until the shutdown grace cancels it. Otherwise
// it behaves as gRPC's default service does: Check answers a known
// service's status and NOT_FOUND for any other; Watch sends the status at
// once (SERVICE_UNKNOWN for an unknown service) and again whenever it
// changes; after Shutdown() every service is NOT_SERVING for good, and
// each Watch, once it has sent that, ends with CANCELLED "not writing due
// to shutdown" (so open watches do not hold the server's shutdown for its
// whole grace).
//
// The server registers one of two faces of the same statuses; on either
// an open Watch holds no thread, only a state object that writes when the
// status changes, so neither the sync thread cap nor the call governor
// limits how many are open:
//  - callback_service(), on the callback API (the default mode): a Watch
//    is a reactor;
//  - async_service(), on the async API (--event-loop-threads N): its calls
//    are asked for on the event loop's queues (async_calls(), given to
//    EventLoopTreatmentService::Start), whose threads answer Check and
//    take each Watch's events. A callback method would start gRPC's
//    "nexting" threads, which poll the event loop's connections too and
//    double its context switches per Decide (docs/performance.md).
//
// Thread-safe. Destroy it after the server's Wait() (and the event loop's
// Stop()): the destructor waits until every Watch has ended.
#ifndef TREATD_SERVER_HEALTH_SERVICE_H_
#define TREATD_SERVER_HEALTH_SERVICE_H_

#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/event_loop.h"

namespace treatd {

class HealthService final : public grpc::HealthCheckServiceInterface {
 public:
  HealthService();
  ~HealthService() override;
  HealthService(const HealthService&) = delete;
  HealthService& operator=(const HealthService&) = delete;

  // The service to register (one of them), owned by this.
  grpc::Service* callback_service();
  grpc::Service* async_service();
  // async_service()'s calls, for the event loop to ask for.
  LoopService* async_calls();

  // Watches open (registered with this), of either face.
  int open_watches() const ABSL_LOCKS_EXCLUDED(mu_);

  // grpc::HealthCheckServiceInterface.
  void SetServingStatus(const std::string& service_name, bool serving) override;
  // Every known service's, "" included.
  void SetServingStatus(bool serving) override;
  void Shutdown() override;

 private:
  class Watcher;
  class WatchReactor;
  class LoopCall;
  class LoopWatch;
  class LoopCheck;
  class CallbackHealth;
  class AsyncHealth;
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // Check's answer.
  grpc::Status Check(const grpc::health::v1::HealthCheckRequest& request,
                     grpc::health::v1::HealthCheckResponse* response)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The status Watch reports for `service`.
  Status StatusOf(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A change: tells every open watch its service's status.
  void Changed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A watch registers when it opens (and is told its status at once) and
  // leaves when it is done.
  void AddWatcher(Watcher* watcher) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveWatcher(Watcher* watcher) ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Status> statuses_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<CallbackHealth> callback_;
  std::unique_ptr<AsyncHealth> async_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_HEALTH_SERVICE_H_
