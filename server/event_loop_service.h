// EventLoopTreatmentService: treatd.v1.TreatmentService for a server that
// polls on threads of its own (--event-loop-threads N, N >= 1) instead of
// gRPC's callback API.
//
// gRPC 1.51 runs callback methods on two or more internal "nexting"
// threads that take turns polling: on one CPU, a unary Decide call costs
// about a third of a voluntary context switch and 2.4-3.7 times the
// syscalls of a server whose one thread polls, reads, answers and writes
// (docs/performance.md). Here Decide is served from completion queues of
// the async API, one thread each, and no method is on the callback API:
// BatchDecide and StreamDecide are sync handlers on bytes. A server with
// a frequently polled queue and sync methods makes the sync methods'
// queues non-polling (gRPC's "hybrid" server), so the queue threads are
// the only pollers. The work of each method is TreatmentServiceImpl's:
// answers, errors, call accounting, metrics and ledger recording are the
// same byte for byte. The queues also serve the other LoopServices the
// server gives Start() (grpc.health.v1: HealthService's async face here,
// its callback face in the default mode). The price: an open
// StreamDecide stream holds a sync thread, as it did before StreamDecide moved
// to the callback API; the call governor's stream limit
// (--max-concurrent-streams) bounds how many, and the server's thread cap
// (transport.cc) all sync threads.
//
// Thread-safe. Start() and Stop() are called once each, by the server.
#ifndef TREATD_SERVER_EVENT_LOOP_SERVICE_H_
#define TREATD_SERVER_EVENT_LOOP_SERVICE_H_

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "server/event_loop.h"
#include "server/treatment_service.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {

class EventLoopTreatmentService final
    : public v1::TreatmentService::WithRawMethod_Decide<
          v1::TreatmentService::Service> {
 public:
  // `impl` does every method's work; not owned, must outlive this.
  explicit EventLoopTreatmentService(TreatmentServiceImpl* impl);
  // Stop()s if the server did not.
  ~EventLoopTreatmentService() override;
  EventLoopTreatmentService(const EventLoopTreatmentService&) = delete;
  EventLoopTreatmentService& operator=(const EventLoopTreatmentService&) =
      delete;

  // Serves Decide and the calls of `services` (not owned; they must
  // outlive Stop()) from `queues` (ServerBuilder::AddCompletionQueue(),
  // the server built and started), one thread each. The first calls are
  // asked for before Start() returns.
  void Start(std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues,
             const std::vector<LoopService*>& services = {});
  // Once the server's Shutdown() has returned: asks for no more calls,
  // waits until every call asked for has ended (those gRPC had not matched
  // come back failed; a matched one may wait for a ledger commit), then
  // shuts the queues down and joins their threads.
  void Stop();

  grpc::Status GetPolicy(grpc::ServerContext* context,
                         const v1::GetPolicyRequest* request,
                         v1::GetPolicyResponse* response) override;
  grpc::Status ValidatePolicy(grpc::ServerContext* context,
                              const v1::ValidatePolicyRequest* request,
                              v1::ValidatePolicyResponse* response) override;

 private:
  class DecideCall;

  // One queue's thread: takes its events until the queue is shut down.
  void Serve(grpc::ServerCompletionQueue* queue);
  // BatchDecide, on a sync thread: waits for the answer (which the
  // ledger's thread may give).
  grpc::Status BatchDecideBytes(
      grpc::ServerContext* context,
      grpc::ServerUnaryStreamer<grpc::ByteBuffer, grpc::ByteBuffer>* stream);

  TreatmentServiceImpl* const impl_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  // The calls alive on the queues (DecideCalls and the services'): asked
  // for, matched or being answered. Stop() stops asking for more.
  LoopCalls calls_;
  std::atomic<bool> stopped_{false};
};

}  // namespace treatd

#endif  // TREATD_SERVER_EVENT_LOOP_SERVICE_H_
