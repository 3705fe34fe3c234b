// TreatdServer: a running gRPC server with the TreatmentService, the
// grpc.health.v1 service (SERVING while a policy is loaded) and server
// reflection, bound to the configured address.
//
// Thread-safe: Shutdown() may be called from any thread, once or many
// times; Wait() blocks until the server has stopped.
#ifndef TREATD_SERVER_SERVER_H_
#define TREATD_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/policy_store.h"
#include "server/server_config.h"
#include "server/treatment_service.h"

namespace treatd {

class TreatdServer {
 public:
  // Binds `config.listen` and starts serving. `store` is not owned and must
  // outlive the server. Returns UNAVAILABLE when the address cannot be
  // bound (in use, bad host).
  static absl::StatusOr<std::unique_ptr<TreatdServer>> Start(
      const ServerConfig& config, PolicyStore* store, Clock clock = absl::Now);

  // Shuts down with no grace period if Shutdown() was not called.
  ~TreatdServer();
  TreatdServer(const TreatdServer&) = delete;
  TreatdServer& operator=(const TreatdServer&) = delete;

  // The port actually bound (the real one when the config asked for 0).
  int port() const { return port_; }
  // host:port actually bound, e.g. "127.0.0.1:43117".
  const std::string& address() const { return address_; }

  // Drains: health turns NOT_SERVING, no new calls are accepted, calls in
  // flight get `grace` to finish and are cancelled after that. Returns when
  // the server has stopped.
  void Shutdown(absl::Duration grace);

  // Blocks until the server has been shut down.
  void Wait();

 private:
  // Shared with the PolicyStore listener, which may outlive the server.
  struct HealthGate {
    absl::Mutex mu;
    grpc::HealthCheckServiceInterface* health ABSL_GUARDED_BY(mu) = nullptr;
  };

  TreatdServer(std::unique_ptr<TreatmentServiceImpl> service, int port,
               std::string address);

  // Constant after Start().
  std::unique_ptr<TreatmentServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<HealthGate> health_gate_;
  const int port_;
  const std::string address_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace treatd

#endif  // TREATD_SERVER_SERVER_H_
