#include "server/health_service.h"

#include <string>

#include "absl/time/time.h"

namespace treatd {
namespace {

using grpc::health::v1::HealthCheckResponse;

// How often a watcher with nothing to send checks whether its client has
// gone (the sync API has no cancellation callback).
constexpr absl::Duration kWatchCancelPoll = absl::Milliseconds(100);

}  // namespace

void HealthService::SetServingStatus(const std::string& service_name,
                                     bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  statuses_[service_name] =
      serving ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
  ++version_;
}

void HealthService::SetServingStatus(bool serving) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, status] : statuses_) {
    status = serving ? HealthCheckResponse::SERVING
                     : HealthCheckResponse::NOT_SERVING;
  }
  ++version_;
}

void HealthService::Shutdown() {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return;
  for (auto& [name, status] : statuses_) {
    status = HealthCheckResponse::NOT_SERVING;
  }
  shut_down_ = true;
  ++version_;
}

HealthService::Status HealthService::StatusOf(
    const std::string& service) const {
  const auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN
                               : it->second;
}

grpc::Status HealthService::Check(
    grpc::ServerContext* /*context*/,
    const grpc::health::v1::HealthCheckRequest* request,
    HealthCheckResponse* response) {
  absl::MutexLock lock(&mu_);
  const Status status = StatusOf(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "service name unknown");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(
    grpc::ServerContext* context,
    const grpc::health::v1::HealthCheckRequest* request,
    grpc::ServerWriter<HealthCheckResponse>* writer) {
  uint64_t seen = 0;
  bool sent = false;
  Status last = HealthCheckResponse::UNKNOWN;
  const auto changed = [this, &seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return version_ != seen;
  };
  while (!context->IsCancelled()) {
    Status status;
    bool shut_down;
    {
      absl::MutexLock lock(&mu_);
      if (sent && !shut_down_ &&
          !mu_.AwaitWithTimeout(absl::Condition(&changed), kWatchCancelPoll)) {
        continue;
      }
      seen = version_;
      status = StatusOf(request->service());
      shut_down = shut_down_;
    }
    if (!sent || status != last) {
      HealthCheckResponse response;
      response.set_status(status);
      if (!writer->Write(response)) break;
      sent = true;
      last = status;
    }
    // The watch ends at shutdown, its last word NOT_SERVING, rather than
    // hold the server's drain for its grace (as gRPC 1.51's default
    // service does).
    if (shut_down) {
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "not writing due to shutdown");
    }
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "the watch ended");
}

}  // namespace treatd
