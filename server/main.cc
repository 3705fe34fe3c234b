// treatd: wires flags, the reloader, the policy store, the gRPC server and
// signal handling together. All logic lives in treatd_server_lib.
#include <signal.h>

#include <iostream>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "server/logging.h"
#include "server/memory_release.h"
#include "server/policy_store.h"
#include "server/reloader.h"
#include "server/server.h"
#include "server/server_config.h"
#include "server/signals.h"
#include "server/startup_banner.h"

int main(int argc, char** argv) {
  // Debian's Abseil is built with assertions on, so every Mutex operation
  // would also maintain the lock-order graph for deadlock detection: about
  // 75 graph lookups per Decide call in the profile. The tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
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
  treatd::ReloadSources sources;
  sources.policy_path = config.policy_path;
  sources.kev_path = config.kev_path;
  sources.epss_path = config.epss_path;
  sources.shadow_policy_path = config.shadow_policy_path;
  sources.intel.feed_wins = config.intel_feed_wins;
  sources.intel.max_age = config.intel_max_age;
  absl::StatusOr<std::unique_ptr<treatd::Reloader>> reloader =
      treatd::Reloader::Create(sources, &store);
  if (!reloader.ok()) {
    treatd::LogError(
        "cannot load policy or feeds",
        {{"code", absl::StatusCodeToString(reloader.status().code())},
         {"error", reloader.status().message()}});
    return 3;
  }

  absl::StatusOr<std::unique_ptr<treatd::ledger::Ledger>> ledger =
      treatd::TreatdServer::OpenLedger(config);
  if (!ledger.ok()) {
    treatd::LogError(
        "cannot open the ledger",
        {{"ledger", treatd::DescribeLedger(config.ledger_url)},
         {"code", absl::StatusCodeToString(ledger.status().code())},
         {"error", ledger.status().message()}});
    std::cerr << "treatd: " << ledger.status().message() << "\n";
    return 4;
  }

  absl::StatusOr<std::unique_ptr<treatd::TreatdServer>> server =
      treatd::TreatdServer::Start(config, &store, absl::Now, reloader->get(),
                                  *std::move(ledger));
  if (!server.ok()) {
    treatd::LogError("cannot start", {{"listen", config.listen},
                                      {"error", server.status().message()}});
    return 1;
  }
  (*reloader)->StartPolling(config.reload_poll);
  treatd::FreeMemoryReleaser memory_releaser(config.memory_release_interval,
                                             config.memory_keep_free_bytes);
  treatd::LogInfo(
      "listening",
      {{"address", (*server)->address()},
       {"port", (*server)->port()},
       {"max_batch", config.max_batch},
       {"max_message_bytes", config.max_message_bytes},
       {"reload_poll_ms", absl::ToInt64Milliseconds(config.reload_poll)},
       {"memory_release_ms",
        absl::ToInt64Milliseconds(config.memory_release_interval)},
       {"metrics_port", (*server)->metrics_port()},
       {"tls", !config.security.tls_cert_path.empty()},
       {"mtls", !config.security.tls_client_ca_path.empty()},
       {"auth", !config.security.tokens_path.empty()},
       {"max_concurrent_calls", config.call_limits.max_concurrent_calls},
       {"ledger", treatd::DescribeLedger(config.ledger_url)}});
  std::cout << treatd::StartupBanner(argv[0], (*server)->address()) << "\n"
            << treatd::LedgerBanner(argv[0], (*server)->address(),
                                    treatd::DescribeLedger(config.ledger_url))
            << std::endl;

  int signal_number = treatd::WaitForSignal();
  while (signal_number == SIGHUP) {
    treatd::LogInfo("signal received", {{"signal", signal_number}});
    (*reloader)->Reload("sighup", /*force=*/false);
    (*server)->ReloadCredentials().IgnoreError();  // Logged inside.
    signal_number = treatd::WaitForSignal();
  }
  treatd::LogInfo("signal received", {{"signal", signal_number}});
  treatd::ExitOnNextTerminationSignal();
  (*reloader)->Stop();
  (*server)->Shutdown(config.shutdown_grace);
  return 0;
}
