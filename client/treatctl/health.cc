#include "client/treatctl/health.h"

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/faults/raw_calls.h"
#include "client/treatctl/treatctl.h"

namespace treatd {
namespace {

// grpc.health.v1 messages by hand (their protos are not installed):
// HealthCheckRequest { string service = 1; }
// HealthCheckResponse { ServingStatus status = 1; } with UNKNOWN = 0,
// SERVING = 1, NOT_SERVING = 2, SERVICE_UNKNOWN = 3.
std::string EncodeRequest(const std::string& service) {
  if (service.empty()) return "";
  std::string out = "\x0a";
  for (size_t n = service.size();; n >>= 7) {
    if (n < 0x80) {
      out.push_back(static_cast<char>(n));
      break;
    }
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
  }
  return out + service;
}

// The status number, or -1 when the bytes are not a HealthCheckResponse
// this code understands.
int DecodeStatus(const std::string& response) {
  if (response.empty()) return 0;  // proto3 default: UNKNOWN
  if (response.size() == 2 && response[0] == '\x08' &&
      static_cast<unsigned char>(response[1]) < 0x80) {
    return response[1];
  }
  return -1;
}

const char* StatusName(int status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return "UNREADABLE";
  }
}

}  // namespace

CLI::App* AddHealthCommand(CLI::App* app, HealthFlags* flags) {
  CLI::App* health = app->add_subcommand(
      "health",
      "Ask a treatd server's grpc.health.v1 service whether it is serving "
      "(exit 0 when SERVING; for probes and healthchecks)");
  AddConnectionFlags(health, &flags->connection);
  health->add_option("--service", flags->service,
                     "Service name to ask about (default: the server)");
  health
      ->add_option("--timeout", flags->timeout_seconds,
                   "Give up after this many seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  return health;
}

int RunHealth(const HealthFlags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::unique_ptr<Client>> client =
      ConnectClient(flags.connection);
  if (!client.ok()) {
    err << "treatctl health: " << client.status().message() << "\n";
    return kExitUsage;
  }
  std::string response;
  const grpc::Status status = RawUnaryCall(
      (*client)->channel().get(), "/grpc.health.v1.Health/Check",
      EncodeRequest(flags.service), &response,
      absl::Milliseconds(static_cast<int64_t>(flags.timeout_seconds * 1000)));
  if (!status.ok()) {
    err << "treatctl health: " << flags.connection.target << ": "
        << status.error_message() << " (code " << status.error_code() << ")\n";
    return kExitRpcFailure;
  }
  const int serving = DecodeStatus(response);
  out << StatusName(serving) << "\n";
  return serving == 1 ? kExitOk : kExitFailures;
}

}  // namespace treatd
