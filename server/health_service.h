// HealthService: grpc.health.v1.Health (Check and Watch) on the sync API,
// treatd's health service in both server modes. gRPC 1.51's default one
// keeps a Watch open after NOT_SERVING until the shutdown grace cancels
// it, and is on the callback API, whose polling threads a server on an
// event loop (--event-loop-threads, see event_loop_service.h) is without.
// Otherwise it behaves as gRPC's default service does: Check answers a
// known service's status and NOT_FOUND for any other; Watch sends the
// status at once (SERVICE_UNKNOWN for an unknown service) and again
// whenever it changes; after Shutdown() every service is NOT_SERVING for
// good, and each Watch, once it has sent that, ends with CANCELLED "not
// writing due to shutdown" (so open watches do not hold the server's
// shutdown for its whole grace). An open Watch holds a sync thread.
//
// Thread-safe.
#ifndef TREATD_SERVER_HEALTH_SERVICE_H_
#define TREATD_SERVER_HEALTH_SERVICE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"

namespace treatd {

class HealthService final : public grpc::health::v1::Health::Service,
                            public grpc::HealthCheckServiceInterface {
 public:
  HealthService() = default;

  // grpc::HealthCheckServiceInterface.
  void SetServingStatus(const std::string& service_name, bool serving) override;
  // Every known service's, "" included.
  void SetServingStatus(bool serving) override;
  void Shutdown() override;

  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>*
                         writer) override;

 private:
  using Status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // The status Watch reports for `service`.
  Status StatusOf(const std::string& service) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Status> statuses_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Counts changes, for watchers to wait on.
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace treatd

#endif  // TREATD_SERVER_HEALTH_SERVICE_H_
