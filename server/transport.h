// Applies the listener-level settings of a ServerConfig to a ServerBuilder:
// the call governor's interceptor, HTTP/2 stream and keepalive limits, a
// thread cap behind the governor's call limit, and the metadata size cap.
//
// Stateless; thread-safe.
#ifndef TREATD_SERVER_TRANSPORT_H_
#define TREATD_SERVER_TRANSPORT_H_

#include "grpcpp/grpcpp.h"
#include "server/call_governor.h"
#include "server/server_config.h"

namespace treatd {

// `governor` is not owned and must outlive the server built.
void ConfigureTransport(const ServerConfig& config, CallGovernor* governor,
                        grpc::ServerBuilder* builder);

}  // namespace treatd

#endif  // TREATD_SERVER_TRANSPORT_H_
