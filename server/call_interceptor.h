// The gRPC server interceptor that governs every call of every method but
// Decide and BatchDecide (CallGovernor::HandlesInline): it keeps a
// CallAccount per call (request id, admission, deadline watch, call metrics
// and log line), refuses policies over --max-policy-bytes in
// ValidatePolicy and Simulate, and touches stream watches on every
// message. (StreamDecide's handler records its decisions in the metrics:
// its messages are bytes to gRPC, treatment_service.h.)
//
// Thread-safe: the factory is called concurrently by gRPC; each call's
// interceptor is used by that call only.
#ifndef TREATD_SERVER_CALL_INTERCEPTOR_H_
#define TREATD_SERVER_CALL_INTERCEPTOR_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"
#include "server/call_governor.h"

namespace treatd {

// A factory for grpc::ServerBuilder::experimental().SetInterceptorCreators.
// `governor` must outlive the server it is installed in.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewCallInterceptorFactory(CallGovernor* governor);

}  // namespace treatd

#endif  // TREATD_SERVER_CALL_INTERCEPTOR_H_
