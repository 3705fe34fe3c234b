// TreatmentServiceImpl: the gRPC handlers of treatd.v1.TreatmentService.
// Each handler only translates between the wire and decider.h, and between
// absl::Status and grpc::Status.
//
// Thread-safe: the handlers keep no per-call state of their own; the
// policy comes from a PolicyStore snapshot taken per call (per message on
// a stream).
#ifndef TREATD_SERVER_TREATMENT_SERVICE_H_
#define TREATD_SERVER_TREATMENT_SERVICE_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/validation/finding_validator.h"
#include "grpcpp/grpcpp.h"
#include "server/policy_store.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {

// Request limits the service enforces.
struct ServiceLimits {
  // Most findings per BatchDecide call.
  int max_batch = 10000;
  // Per-finding string and list limits.
  FindingLimits finding;
};

// The server clock; tests pass a fixed one.
using Clock = std::function<absl::Time()>;

// Converts an absl::Status to a grpc::Status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

class TreatmentServiceImpl final : public v1::TreatmentService::Service {
 public:
  // `store` is not owned and must outlive the service.
  TreatmentServiceImpl(const PolicyStore* store, ServiceLimits limits,
                       Clock clock = absl::Now);

  grpc::Status Decide(grpc::ServerContext* context,
                      const v1::DecideRequest* request,
                      v1::DecideResponse* response) override;
  grpc::Status BatchDecide(grpc::ServerContext* context,
                           const v1::BatchDecideRequest* request,
                           v1::BatchDecideResponse* response) override;
  grpc::Status StreamDecide(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::StreamDecideResponse,
                               v1::StreamDecideRequest>* stream) override;
  grpc::Status GetPolicy(grpc::ServerContext* context,
                         const v1::GetPolicyRequest* request,
                         v1::GetPolicyResponse* response) override;
  grpc::Status ValidatePolicy(grpc::ServerContext* context,
                              const v1::ValidatePolicyRequest* request,
                              v1::ValidatePolicyResponse* response) override;

 private:
  // The active policy, or FAILED_PRECONDITION when none is loaded.
  absl::StatusOr<std::shared_ptr<const ActivePolicy>> ActiveOrError() const;

  const PolicyStore* const store_;
  const ServiceLimits limits_;
  const Clock clock_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_TREATMENT_SERVICE_H_
