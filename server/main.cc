// treatd: wires flags, the policy store, the gRPC server and signal handling
// together. All logic lives in treatd_server_lib.
#include <iostream>
#include <memory>

#include "server/logging.h"
#include "server/policy_store.h"
#include "server/server.h"
#include "server/server_config.h"
#include "server/signals.h"
#include "server/startup_banner.h"

int main(int argc, char** argv) {
  // Before any thread exists, so every gRPC thread inherits the mask.
  if (absl::Status blocked = treatd::BlockTerminationSignals(); !blocked.ok()) {
    std::cerr << "treatd: " << blocked << "\n";
    return 1;
  }
  treatd::ParsedServerFlags flags =
      treatd::ParseServerFlags(argc, argv, std::cout, std::cerr);
  if (flags.exit_code.has_value()) return *flags.exit_code;
  const treatd::ServerConfig& config = flags.config;
  treatd::SetLogSink(nullptr, config.log_level);

  treatd::PolicyStore store;
  if (absl::Status loaded = store.LoadFile(config.policy_path); !loaded.ok()) {
    treatd::LogError("cannot load policy",
                     {{"path", config.policy_path},
                      {"code", absl::StatusCodeToString(loaded.code())},
                      {"error", loaded.message()}});
    return 3;
  }
  const auto active = store.Get();
  treatd::LogInfo("policy loaded",
                  {{"path", config.policy_path},
                   {"name", active->policy->ref().name()},
                   {"version", active->policy->ref().version()},
                   {"digest", active->policy->ref().digest()}});

  absl::StatusOr<std::unique_ptr<treatd::TreatdServer>> server =
      treatd::TreatdServer::Start(config, &store);
  if (!server.ok()) {
    treatd::LogError("cannot start", {{"listen", config.listen},
                                      {"error", server.status().message()}});
    return 1;
  }
  treatd::LogInfo("listening",
                  {{"address", (*server)->address()},
                   {"port", (*server)->port()},
                   {"max_batch", config.max_batch},
                   {"max_message_bytes", config.max_message_bytes}});
  std::cout << treatd::StartupBanner(argv[0], (*server)->address())
            << std::endl;

  const int signal_number = treatd::WaitForTerminationSignal();
  treatd::LogInfo("signal received", {{"signal", signal_number}});
  (*server)->Shutdown(config.shutdown_grace);
  return 0;
}
