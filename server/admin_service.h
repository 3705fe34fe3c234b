// AdminServiceImpl: the gRPC handlers of treatd.v1.AdminService: reload the
// sources, report what is serving (policy, feeds, reload history, shadow
// divergences), and simulate a candidate policy against the active one.
//
// Thread-safe: handlers keep no state of their own; Simulate decides on one
// store snapshot taken at the start of the call.
#ifndef TREATD_SERVER_ADMIN_SERVICE_H_
#define TREATD_SERVER_ADMIN_SERVICE_H_

#include "grpcpp/grpcpp.h"
#include "server/policy_store.h"
#include "server/reloader.h"
#include "server/shadow.h"
#include "server/treatment_service.h"
#include "treatd/v1/admin_service.grpc.pb.h"

namespace treatd {

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  // None is owned; all must outlive the service. `reloader` may be null
  // (Reload then answers FAILED_PRECONDITION), and `shadow` too (no shadow
  // status).
  AdminServiceImpl(PolicyStore* store, Reloader* reloader,
                   const ShadowRecorder* shadow, ServiceLimits limits,
                   Clock clock = absl::Now);

  grpc::Status Reload(grpc::ServerContext* context,
                      const v1::ReloadRequest* request,
                      v1::ReloadResponse* response) override;
  grpc::Status GetStatus(grpc::ServerContext* context,
                         const v1::GetStatusRequest* request,
                         v1::GetStatusResponse* response) override;
  grpc::Status Simulate(grpc::ServerContext* context,
                        const v1::SimulateRequest* request,
                        v1::SimulateResponse* response) override;

 private:
  PolicyStore* const store_;
  Reloader* const reloader_;
  const ShadowRecorder* const shadow_;
  const ServiceLimits limits_;
  const Clock clock_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_ADMIN_SERVICE_H_
