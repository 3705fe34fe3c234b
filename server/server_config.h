// ServerConfig: everything the treatd binary can be told, from flags or a
// config file (CLI11 --config, TOML/INI), with the defaults documented in
// docs/server.md. A plain value; copy it freely.
#ifndef TREATD_SERVER_SERVER_CONFIG_H_
#define TREATD_SERVER_SERVER_CONFIG_H_

#include <optional>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "common/validation/finding_validator.h"
#include "server/logging.h"

namespace treatd {

struct ServerConfig {
  // host:port to bind; loopback unless told otherwise. Port 0 picks a free
  // port (the real one is logged).
  std::string listen = "127.0.0.1:50051";
  // The policy to load at start.
  std::string policy_path = "policies/default.yaml";
  // Most findings per BatchDecide call.
  int max_batch = 10000;
  // Largest request or response message.
  int max_message_bytes = 16 * 1024 * 1024;
  // Per-finding string and list limits.
  FindingLimits finding_limits;
  // How long in-flight calls may run on after SIGTERM/SIGINT.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Log lines below this level are dropped.
  LogLevel log_level = LogLevel::kInfo;
};

// Outcome of parsing the command line.
struct ParsedServerFlags {
  ServerConfig config;
  // Set when the process should exit right away with this code: 0 after
  // --help, 2 after a usage error (the message is already printed).
  std::optional<int> exit_code;
};

// Parses `argv` (CLI11; `--config FILE` reads the same options from a file,
// flags given on the command line win). Help goes to `out`, errors to `err`.
ParsedServerFlags ParseServerFlags(int argc, const char* const* argv,
                                   std::ostream& out, std::ostream& err);

}  // namespace treatd

#endif  // TREATD_SERVER_SERVER_CONFIG_H_
