#include "server/server_config.h"

#include <map>
#include <string>

#include "CLI/CLI.hpp"

namespace treatd {

ParsedServerFlags ParseServerFlags(int argc, const char* const* argv,
                                   std::ostream& out, std::ostream& err) {
  ParsedServerFlags parsed;
  ServerConfig& config = parsed.config;

  CLI::App app("treatd: decides how to treat security findings (gRPC).",
               "treatd");
  app.set_config("--config", "",
                 "Read options from a TOML/INI file (keys are the long flag "
                 "names, e.g. listen = \"127.0.0.1:50051\"); command-line "
                 "flags win");
  app.add_option("--listen", config.listen,
                 "host:port to listen on; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--policy", config.policy_path, "Policy file to load")
      ->capture_default_str();
  app.add_option("--max-batch", config.max_batch,
                 "Most findings per BatchDecide call")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  app.add_option("--max-message-bytes", config.max_message_bytes,
                 "Largest request or response message, in bytes")
      ->check(CLI::Range(4096, 1 << 30))
      ->capture_default_str();
  app.add_option("--max-string-bytes", config.finding_limits.max_string_bytes,
                 "Longest string field of a finding, in bytes")
      ->check(CLI::Range(1, 1 << 24))
      ->capture_default_str();
  app.add_option("--max-list-entries", config.finding_limits.max_repeated,
                 "Most entries in a list or map field of a finding")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  double grace_seconds = absl::ToDoubleSeconds(config.shutdown_grace);
  app.add_option("--shutdown-grace-seconds", grace_seconds,
                 "How long in-flight calls may finish after SIGTERM/SIGINT")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  const std::map<std::string, LogLevel> levels = {
      {"debug", LogLevel::kDebug},
      {"info", LogLevel::kInfo},
      {"warning", LogLevel::kWarning},
      {"error", LogLevel::kError}};
  app.add_option("--log-level", config.log_level,
                 "Least severe log level written: debug, info, warning, error")
      ->transform(CLI::CheckedTransformer(levels, CLI::ignore_case))
      ->default_str("info");
  app.footer(
      "Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the "
      "server cannot start (e.g. the address is in use), 2 on a usage error, "
      "3 when the policy cannot be loaded.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    parsed.exit_code = code == 0 ? 0 : 2;
    return parsed;
  }
  config.shutdown_grace = absl::Seconds(grace_seconds);
  return parsed;
}

}  // namespace treatd
