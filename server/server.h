// TreatdServer: a running gRPC server with the TreatmentService, the
// AdminService (reload, status, simulate), the grpc.health.v1 service
// (treatd's HealthService: SERVING while a policy is loaded, a rejected
// reload does not change it; NOT_SERVING from the start of Shutdown(),
// which also ends open Watch streams) and server reflection, bound to the
// configured address.
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
#include "server/admin_service.h"
#include "server/call_governor.h"
#include "server/event_loop_service.h"
#include "server/health_service.h"
#include "server/ledger/decision_recorder.h"
#include "server/ledger/ledger_service.h"
#include "server/ledger/revisit_sweep.h"
#include "server/metrics/metrics.h"
#include "server/policy_store.h"
#include "server/reloader.h"
#include "server/security/auth.h"
#include "server/server_config.h"
#include "server/shadow.h"
#include "server/treatment_service.h"

namespace treatd {

class TreatdServer {
 public:
  // Binds `config.listen` and starts serving. `store` and `reloader` (may
  // be null: AdminService.Reload is then unavailable) are not owned and
  // must outlive the server. `ledger` is the opened ledger (OpenLedger);
  // when null, the server opens config.ledger_url itself (if set). Returns
  // UNAVAILABLE when the address cannot be bound (in use, bad host), or
  // OpenLedger's error.
  static absl::StatusOr<std::unique_ptr<TreatdServer>> Start(
      const ServerConfig& config, PolicyStore* store, Clock clock = absl::Now,
      Reloader* reloader = nullptr,
      std::unique_ptr<ledger::Ledger> ledger = nullptr);

  // Opens config.ledger_url (null when it is empty: the ledger is off).
  // Errors are Ledger::Open's, prefixed with the ledger's description:
  // FAILED_PRECONDITION for a corrupt file or a newer schema, UNAVAILABLE
  // for a locked file or an unreachable database, INVALID_ARGUMENT for a
  // malformed url.
  static absl::StatusOr<std::unique_ptr<ledger::Ledger>> OpenLedger(
      const ServerConfig& config);

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

  // The Prometheus HTTP port, 0 when metrics are not served.
  int metrics_port() const { return metrics_->port(); }
  // The server's metrics (never null). Calls are recorded only while the
  // metrics are served (a metrics listen address is configured).
  ServerMetrics* metrics() const { return metrics_.get(); }
  // The ledger, its recorder and the revisit sweep; null when the ledger
  // is off (the sweep also when --ledger-sweep-seconds is 0).
  ledger::Ledger* ledger() const { return ledger_.get(); }
  DecisionRecorder* recorder() const { return recorder_.get(); }
  RevisitSweep* sweep() const { return sweep_.get(); }
  // The call limits and their watchdog (never null).
  CallGovernor* governor() const { return governor_.get(); }
  // grpc.health.v1 (never null).
  HealthService* health() const { return health_service_.get(); }
  // Re-reads the tokens file (SIGHUP); OK without one.
  absl::Status ReloadCredentials() { return security_->ReloadTokens(); }

 private:
  // Shared with the PolicyStore listener, which may outlive the server.
  struct HealthGate {
    absl::Mutex mu;
    grpc::HealthCheckServiceInterface* health ABSL_GUARDED_BY(mu) = nullptr;
  };

  TreatdServer(std::unique_ptr<ShadowRecorder> shadow,
               std::unique_ptr<TreatmentServiceImpl> service,
               std::unique_ptr<AdminServiceImpl> admin, int port,
               std::string address);

  // Constant after Start(). The ledger parts come first so that they are
  // destroyed last: calls finishing during the server's shutdown are
  // finished by the recorder, and the metrics read the ledger.
  std::unique_ptr<ledger::Ledger> ledger_;
  std::unique_ptr<DecisionRecorder> recorder_;
  std::unique_ptr<RevisitSweep> sweep_;
  std::unique_ptr<LedgerServiceImpl> ledger_service_;
  std::unique_ptr<ShadowRecorder> shadow_;
  std::unique_ptr<TreatmentServiceImpl> service_;
  // With --event-loop-threads: the TreatmentService the server serves
  // (over service_); null otherwise.
  std::unique_ptr<EventLoopTreatmentService> loop_service_;
  // grpc.health.v1, in either mode.
  std::unique_ptr<HealthService> health_service_;
  std::unique_ptr<AdminServiceImpl> admin_;
  // Declared before server_ so that they outlive it.
  std::unique_ptr<ServerSecurity> security_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<CallGovernor> governor_;
  absl::Duration drain_delay_ = absl::ZeroDuration();
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<HealthGate> health_gate_;
  const int port_;
  const std::string address_;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace treatd

#endif  // TREATD_SERVER_SERVER_H_
