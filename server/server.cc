#include "server/server.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/ledger/ledger_metrics.h"
#include "server/logging.h"
#include "server/transport.h"

namespace treatd {
namespace {

constexpr char kServiceName[] = "treatd.v1.TreatmentService";

// "127.0.0.1:0" with port 43117 -> "127.0.0.1:43117"; "[::1]:0" likewise.
std::string WithPort(absl::string_view listen, int port) {
  const size_t colon = listen.rfind(':');
  const absl::string_view host =
      colon == absl::string_view::npos ? listen : listen.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ledger::Ledger>> TreatdServer::OpenLedger(
    const ServerConfig& config) {
  if (config.ledger_url.empty()) return nullptr;
  ledger::LedgerOptions options;
  options.url = config.ledger_url;
  options.sqlite_synchronous = config.ledger_sqlite_sync;
  options.sqlite_cache_mib = config.ledger_sqlite_cache_mib;
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> ledger =
      ledger::Ledger::Open(std::move(options));
  if (!ledger.ok()) {
    return absl::Status(ledger.status().code(),
                        absl::StrCat("cannot open the ledger (",
                                     DescribeLedger(config.ledger_url),
                                     "): ", ledger.status().message()));
  }
  return ledger;
}

absl::StatusOr<std::unique_ptr<TreatdServer>> TreatdServer::Start(
    const ServerConfig& config, PolicyStore* store, Clock clock,
    Reloader* reloader, std::unique_ptr<ledger::Ledger> ledger) {
  if (ledger == nullptr) {
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened = OpenLedger(config);
    if (!opened.ok()) return opened.status();
    ledger = *std::move(opened);
  }
  std::unique_ptr<DecisionRecorder> recorder;
  std::unique_ptr<RevisitSweep> sweep;
  if (ledger != nullptr) {
    recorder =
        std::make_unique<DecisionRecorder>(ledger.get(), config.ledger_down);
    if (config.sweep_interval > absl::ZeroDuration()) {
      SweepOptions sweep_options;
      sweep_options.interval = config.sweep_interval;
      sweep_options.lease_ttl = 3 * config.sweep_interval;
      sweep_options.holder = SweepHolderId();
      sweep_options.clock = clock;
      sweep = std::make_unique<RevisitSweep>(ledger.get(), store,
                                             std::move(sweep_options));
    }
  }
  auto ledger_service =
      std::make_unique<LedgerServiceImpl>(ledger.get(), clock);
  const bool event_loop = config.event_loop_threads > 0;
  // Process-wide switches; both must be set before a builder is created.
  // treatd serves grpc.health.v1 itself (HealthService): gRPC 1.51's
  // default service keeps a Watch open after NOT_SERVING, which holds the
  // shutdown for its whole grace, and is on the callback API, whose
  // polling threads a server on an event loop is without.
  grpc::EnableDefaultHealthCheckService(false);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  const ServiceLimits limits{config.max_batch, config.finding_limits};
  auto shadow = std::make_unique<ShadowRecorder>();
  auto service = std::make_unique<TreatmentServiceImpl>(store, limits, clock,
                                                        shadow.get());
  auto admin = std::make_unique<AdminServiceImpl>(store, reloader, shadow.get(),
                                                  limits, std::move(clock));
  absl::StatusOr<std::unique_ptr<ServerSecurity>> security =
      ServerSecurity::Create(config.security);
  if (!security.ok()) return security.status();
  absl::StatusOr<std::unique_ptr<ServerMetrics>> metrics =
      ServerMetrics::Create(config.metrics_listen, store, config.intel_max_age);
  if (!metrics.ok()) {
    // Decisions matter more than their metrics: serve on, loudly.
    LogError("metrics endpoint unavailable",
             {{"metrics_listen", config.metrics_listen},
              {"error", metrics.status().message()}});
    metrics = ServerMetrics::Create("", store, config.intel_max_age);
  }
  // Metrics nobody can scrape are not recorded: about 1,200 instructions
  // per Decide call (three series and a histogram; 10,600 before
  // ServerMetrics kept its series).
  std::unique_ptr<CallGovernor> governor = CallGovernor::Create(
      config.call_limits, (*metrics)->port() != 0 ? metrics->get() : nullptr);
  service->set_governor(governor.get());
  service->set_recorder(recorder.get());
  if (ledger != nullptr) {
    (*metrics)->AddCollectable(std::make_shared<LedgerCollector>(
        ledger.get(), recorder.get(), sweep.get()));
  }
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, (*security)->credentials(), &port);
  ConfigureTransport(config, governor.get(), &builder);
  // gRPC sets SO_REUSEPORT by default, which would let a second treatd
  // silently share (and split) the port of a running one.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  std::unique_ptr<EventLoopTreatmentService> loop_service;
  auto health_service = std::make_unique<HealthService>();
  // No callback method on an event loop (health_service.h): its queues
  // serve health too.
  builder.RegisterService(event_loop ? health_service->async_service()
                                     : health_service->callback_service());
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> loop_queues;
  if (event_loop) {
    loop_service = std::make_unique<EventLoopTreatmentService>(service.get());
    builder.RegisterService(loop_service.get());
    for (int i = 0; i < config.event_loop_threads; ++i) {
      loop_queues.push_back(builder.AddCompletionQueue());
    }
  } else {
    builder.RegisterService(service.get());
  }
  builder.RegisterService(admin.get());
  builder.RegisterService(ledger_service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (loop_service != nullptr) {
    if (server != nullptr && port != 0) {
      loop_service->Start(std::move(loop_queues),
                          {health_service->async_calls()});
    } else {
      for (const auto& queue : loop_queues) queue->Shutdown();
      for (const auto& queue : loop_queues) {
        void* tag = nullptr;
        bool ok = false;
        while (queue->Next(&tag, &ok)) {
        }
      }
    }
  }
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     " (address in use, or not an address of this host?)"));
  }

  auto result = absl::WrapUnique(
      new TreatdServer(std::move(shadow), std::move(service), std::move(admin),
                       port, WithPort(config.listen, port)));
  result->ledger_ = std::move(ledger);
  result->recorder_ = std::move(recorder);
  result->sweep_ = std::move(sweep);
  result->ledger_service_ = std::move(ledger_service);
  result->loop_service_ = std::move(loop_service);
  result->health_service_ = std::move(health_service);
  if (result->sweep_ != nullptr) result->sweep_->Start();
  result->security_ = *std::move(security);
  result->metrics_ = *std::move(metrics);
  result->governor_ = std::move(governor);
  result->drain_delay_ = config.drain_delay;
  result->security_->StartTokenPolling(config.reload_poll);
  result->server_ = std::move(server);
  result->health_gate_ = std::make_shared<HealthGate>();
  grpc::HealthCheckServiceInterface* health = result->health_service_.get();
  {
    absl::MutexLock lock(&result->health_gate_->mu);
    result->health_gate_->health = health;
    const bool serving = store->Get() != nullptr;
    health->SetServingStatus("", serving);
    health->SetServingStatus(kServiceName, serving);
  }
  store->AddListener(
      [gate = result->health_gate_](const ActivePolicy& /*active*/) {
        absl::MutexLock lock(&gate->mu);
        if (gate->health == nullptr) return;
        gate->health->SetServingStatus("", true);
        gate->health->SetServingStatus(kServiceName, true);
      });
  return result;
}

TreatdServer::TreatdServer(std::unique_ptr<ShadowRecorder> shadow,
                           std::unique_ptr<TreatmentServiceImpl> service,
                           std::unique_ptr<AdminServiceImpl> admin, int port,
                           std::string address)
    : shadow_(std::move(shadow)),
      service_(std::move(service)),
      admin_(std::move(admin)),
      port_(port),
      address_(std::move(address)) {}

TreatdServer::~TreatdServer() { Shutdown(absl::ZeroDuration()); }

void TreatdServer::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock gate_lock(&health_gate_->mu);
    // Load balancers and probes see NOT_SERVING while calls drain.
    // HealthCheckServiceInterface::Shutdown() also freezes the status so a
    // policy swap during the drain cannot flip it back.
    health_gate_->health->Shutdown();
    health_gate_->health = nullptr;
  }
  if (drain_delay_ > absl::ZeroDuration()) {
    LogInfo("not serving; draining soon",
            {{"drain_delay_seconds", absl::ToDoubleSeconds(drain_delay_)}});
    absl::SleepFor(drain_delay_);
  }
  LogInfo("shutting down", {{"grace_seconds", absl::ToDoubleSeconds(grace)},
                            {"address", address_}});
  // The sweep stops first: it gives its lease to another replica at once.
  if (sweep_ != nullptr) sweep_->Stop();
  const absl::Time cut_off = absl::Now() + grace;
  // Streams still open then are cancelled by the server: errors.
  if (governor_ != nullptr) governor_->ShuttingDownAt(cut_off);
  server_->Shutdown(absl::ToChronoTime(cut_off));
  if (loop_service_ != nullptr) loop_service_->Stop();
  server_->Wait();
  LogInfo("stopped", {{"address", address_}});
}

void TreatdServer::Wait() { server_->Wait(); }

}  // namespace treatd
