#include "server/server.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/logging.h"

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

absl::StatusOr<std::unique_ptr<TreatdServer>> TreatdServer::Start(
    const ServerConfig& config, PolicyStore* store, Clock clock) {
  // Process-wide switches; both must be set before a builder is created.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  auto service = std::make_unique<TreatmentServiceImpl>(
      store, ServiceLimits{config.max_batch, config.finding_limits},
      std::move(clock));
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &port);
  // gRPC sets SO_REUSEPORT by default, which would let a second treatd
  // silently share (and split) the port of a running one.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  builder.RegisterService(service.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     " (address in use, or not an address of this host?)"));
  }

  auto result = absl::WrapUnique(new TreatdServer(
      std::move(service), port, WithPort(config.listen, port)));
  result->server_ = std::move(server);
  result->health_gate_ = std::make_shared<HealthGate>();
  grpc::HealthCheckServiceInterface* health =
      result->server_->GetHealthCheckService();
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

TreatdServer::TreatdServer(std::unique_ptr<TreatmentServiceImpl> service,
                           int port, std::string address)
    : service_(std::move(service)), port_(port), address_(std::move(address)) {}

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
  LogInfo("shutting down", {{"grace_seconds", absl::ToDoubleSeconds(grace)},
                            {"address", address_}});
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
  LogInfo("stopped", {{"address", address_}});
}

void TreatdServer::Wait() { server_->Wait(); }

}  // namespace treatd
