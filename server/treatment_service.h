// TreatmentServiceImpl: the gRPC handlers of treatd.v1.TreatmentService.
// Each handler only translates between the wire and decider.h, and between
// absl::Status and grpc::Status.
//
// Thread-safe: the handlers keep no per-call state of their own. Decide and
// BatchDecide take one PolicyStore snapshot (policy + feeds + shadow) per
// call and finish on it even if a reload swaps in another meanwhile;
// StreamDecide takes a snapshot per message, so a long stream picks up a
// reload from its next message on (each decision names its policy digest).
// With a shadow policy, each decision is also made under it and compared
// (ShadowRecorder); only the active decision is returned.
#ifndef TREATD_SERVER_TREATMENT_SERVICE_H_
#define TREATD_SERVER_TREATMENT_SERVICE_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/validation/finding_validator.h"
#include "grpcpp/grpcpp.h"
#include "server/policy_store.h"
#include "server/shadow.h"
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
  // `store` and `shadow` (may be null: shadow results are not recorded)
  // are not owned and must outlive the service.
  TreatmentServiceImpl(const PolicyStore* store, ServiceLimits limits,
                       Clock clock = absl::Now,
                       ShadowRecorder* shadow = nullptr);

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

  // Decides `finding` under the snapshot's shadow policy, if any, and
  // records how it compares with `active`.
  void Shadow(const ActivePolicy& snapshot, const v1::Finding& finding,
              const EvalOptions& options, const v1::Decision& active) const;

  const PolicyStore* const store_;
  const ServiceLimits limits_;
  const Clock clock_;
  ShadowRecorder* const shadow_;
};

}  // namespace treatd

#endif  // TREATD_SERVER_TREATMENT_SERVICE_H_
