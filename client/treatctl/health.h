// `treatctl health`: one grpc.health.v1.Health/Check call, the exit code
// saying whether the server is SERVING. For liveness/readiness probes where
// the kubelet's built-in gRPC probe cannot be used because the port is TLS
// (deploy/kubernetes/treatd.yaml), and for docker-compose healthchecks.
// Not thread-safe: one command at a time.
#ifndef TREATD_CLIENT_TREATCTL_HEALTH_H_
#define TREATD_CLIENT_TREATCTL_HEALTH_H_

#include <ostream>
#include <string>

#include "CLI/CLI.hpp"
#include "client/treatctl/connection.h"

namespace treatd {

struct HealthFlags {
  ConnectionFlags connection;  // health needs no token; mTLS may apply
  std::string service;         // "" = the server as a whole
  double timeout_seconds = 5;
};

// Adds `health` to `app`; returns it.
CLI::App* AddHealthCommand(CLI::App* app, HealthFlags* flags);

// Prints the serving status ("SERVING", "NOT_SERVING", ...) to `out`.
// Returns kExitOk when SERVING, kExitFailures for any other status,
// kExitRpcFailure when the call fails (unreachable, TLS, deadline; the
// error on `err`), kExitUsage for bad flags.
int RunHealth(const HealthFlags& flags, std::ostream& out, std::ostream& err);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_HEALTH_H_
