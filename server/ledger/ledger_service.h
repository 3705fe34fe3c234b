// LedgerServiceImpl: the gRPC handlers of treatd.v1.LedgerService. Each
// handler checks and converts its request (common/ledger_wire), asks the
// ledger (common/ledger) and converts the answer; the logic lives in those
// libraries.
//
// Thread-safe: handlers keep no state of their own; the ledger is
// thread-safe. WatchEvents holds a sync-API thread per open watch (a watch
// spends its life waiting for events; there are few of them).
#ifndef TREATD_SERVER_LEDGER_LEDGER_SERVICE_H_
#define TREATD_SERVER_LEDGER_LEDGER_SERVICE_H_

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/ledger.h"
#include "grpcpp/grpcpp.h"
#include "treatd/v1/ledger_service.grpc.pb.h"

namespace treatd {

class LedgerServiceImpl final : public v1::LedgerService::Service {
 public:
  // `ledger` (null when the server runs with --ledger-off: every method is
  // then UNAVAILABLE, saying so) is not owned and must outlive the service.
  // `clock` fills unset times.
  LedgerServiceImpl(ledger::Ledger* ledger,
                    std::function<absl::Time()> clock = absl::Now);

  grpc::Status ReportOutcome(grpc::ServerContext* context,
                             const v1::ReportOutcomeRequest* request,
                             v1::ReportOutcomeResponse* response) override;
  grpc::Status ObserveScan(grpc::ServerContext* context,
                           const v1::ObserveScanRequest* request,
                           v1::ObserveScanResponse* response) override;
  grpc::Status GetFinding(grpc::ServerContext* context,
                          const v1::GetFindingRequest* request,
                          v1::GetFindingResponse* response) override;
  grpc::Status ListFindings(grpc::ServerContext* context,
                            const v1::ListFindingsRequest* request,
                            v1::ListFindingsResponse* response) override;
  grpc::Status ListEvents(grpc::ServerContext* context,
                          const v1::ListEventsRequest* request,
                          v1::ListEventsResponse* response) override;
  grpc::Status GetKpis(grpc::ServerContext* context,
                       const v1::GetKpisRequest* request,
                       v1::GetKpisResponse* response) override;
  grpc::Status WatchEvents(
      grpc::ServerContext* context, const v1::WatchEventsRequest* request,
      grpc::ServerWriter<v1::WatchEventsResponse>* writer) override;
  grpc::Status VerifyLedger(grpc::ServerContext* context,
                            const v1::VerifyLedgerRequest* request,
                            v1::VerifyLedgerResponse* response) override;

 private:
  // The ledger, or UNAVAILABLE when it is off.
  absl::StatusOr<ledger::Ledger*> LedgerOrError() const;

  ledger::Ledger* const ledger_;
  const std::function<absl::Time()> clock_;
};

// The page token of ListEvents after the event `sequence`, and back.
std::string EventPageToken(uint64_t sequence);
absl::StatusOr<uint64_t> ParseEventPageToken(absl::string_view token);

}  // namespace treatd

#endif  // TREATD_SERVER_LEDGER_LEDGER_SERVICE_H_
