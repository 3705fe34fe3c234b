#include "server/transport.h"

#include <memory>
#include <utility>
#include <vector>

#include "grpcpp/resource_quota.h"
#include "server/call_interceptor.h"

namespace treatd {
namespace {

int Millis(absl::Duration duration) {
  const int64_t ms = absl::ToInt64Milliseconds(duration);
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

}  // namespace

void ConfigureTransport(const ServerConfig& config, CallGovernor* governor,
                        grpc::ServerBuilder* builder) {
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      creators;
  creators.push_back(NewCallInterceptorFactory(governor));
  builder->experimental().SetInterceptorCreators(std::move(creators));

  // The governor refuses calls over its limit with a clear message; the
  // thread cap is the backstop (gRPC answers RESOURCE_EXHAUSTED itself),
  // leaving room for pollers and the refused calls (health checks hold
  // none of these threads in either mode: health_service.h).
  grpc::ResourceQuota quota("treatd");
  quota.SetMaxThreads(config.call_limits.max_concurrent_calls * 2 + 32);
  builder->SetResourceQuota(quota);

  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                              config.max_streams_per_connection);
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 * 1024);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                              Millis(config.keepalive_time));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                              Millis(config.keepalive_timeout));
  // gRPC closes idle connections with a filter that every call of the
  // connection passes through (its max-age filter); 0 leaves it out.
  if (config.max_connection_idle > absl::ZeroDuration()) {
    builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                                Millis(config.max_connection_idle));
  }
  // Clients may ping at most every 10 s without data; abusers are dropped
  // after two strikes.
  builder->AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
}

}  // namespace treatd
