#include "server/server_config.h"

#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/install/data_files.h"
#include "common/time/time_text.h"

namespace treatd {
namespace {

// A flag in seconds (fractions allowed) stored as a Duration.
void AddSecondsOption(CLI::App& app, const std::string& name,
                      absl::Duration* target, const std::string& help) {
  app.add_option_function<double>(
         name, [target](double value) { *target = absl::Seconds(value); }, help)
      ->check(CLI::Range(0.0, 86400.0 * 7))
      ->default_str(absl::StrCat(absl::ToDoubleSeconds(*target)));
}

// TLS, tokens, limits, metrics and drain flags (issue 6).
void AddProductionFlags(CLI::App& app, ServerConfig& config) {
  config.metrics_listen = kDefaultMetricsListen;
  app.add_option("--tls-cert", config.security.tls_cert_path,
                 "PEM certificate chain to serve TLS with (with --tls-key)");
  app.add_option("--tls-key", config.security.tls_key_path,
                 "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", config.security.tls_client_ca_path,
                 "PEM CA bundle client certificates must chain to; makes a "
                 "valid client certificate mandatory (mTLS)");
  app.add_option("--tokens-file", config.security.tokens_path,
                 "Bearer tokens and mTLS identities with their roles (decide "
                 "or admin); turns authentication on; needs TLS; re-read on "
                 "change and on SIGHUP");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "host:port for Prometheus /metrics over HTTP; \"\" "
                 "disables")
      ->capture_default_str();
  app.add_option("--max-concurrent-calls",
                 config.call_limits.max_concurrent_calls,
                 "Calls handled at once; more get RESOURCE_EXHAUSTED")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--max-concurrent-streams",
                 config.call_limits.max_concurrent_streams,
                 "StreamDecide calls open at once; more get "
                 "RESOURCE_EXHAUSTED")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--max-streams-per-connection",
                 config.max_streams_per_connection,
                 "HTTP/2 concurrent streams per client connection")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  AddSecondsOption(app, "--max-call-seconds",
                   &config.call_limits.max_call_duration,
                   "Longest a unary or batch call may run, whatever deadline "
                   "the client set (DEADLINE_EXCEEDED after)");
  AddSecondsOption(app, "--max-stream-seconds",
                   &config.call_limits.max_stream_duration,
                   "Longest a StreamDecide stream or a WatchEvents ledger "
                   "watch may stay open (DEADLINE_EXCEEDED after; treatctl "
                   "ledger watch resumes)");
  AddSecondsOption(app, "--stream-idle-seconds",
                   &config.call_limits.stream_idle_timeout,
                   "A stream that neither sends nor receives a message for "
                   "this long is closed (DEADLINE_EXCEEDED); not a "
                   "WatchEvents watch");
  app.add_option("--max-policy-bytes", config.call_limits.max_policy_bytes,
                 "Largest policy document ValidatePolicy and Simulate take")
      ->check(CLI::Range(1024, 1 << 28))
      ->capture_default_str();
  AddSecondsOption(app, "--drain-delay-seconds", &config.drain_delay,
                   "After SIGTERM, report NOT_SERVING for this long while "
                   "still accepting calls, then drain");
  AddSecondsOption(app, "--keepalive-seconds", &config.keepalive_time,
                   "Ping idle client connections this often");
  AddSecondsOption(app, "--keepalive-timeout-seconds",
                   &config.keepalive_timeout,
                   "Close a connection whose ping goes unanswered this long");
  AddSecondsOption(app, "--max-connection-idle-seconds",
                   &config.max_connection_idle,
                   "Close connections with no calls for this long; 0 never "
                   "does");
}

// The ledger flags (issue 10). Resolved into config.ledger_url after
// parsing by ResolveLedgerFlags.
struct LedgerFlags {
  std::string file = kDefaultLedgerFile;
  std::string postgres;
  bool off = false;
  std::string down = "fail-closed";
};

void AddLedgerFlags(CLI::App& app, LedgerFlags& flags, ServerConfig& config) {
  auto* file =
      app.add_option("--ledger", flags.file,
                     "SQLite file to record every decision, outcome and scan "
                     "in (created when absent; WAL mode)")
          ->capture_default_str();
  auto* postgres =
      app.add_option("--ledger-postgres", flags.postgres,
                     "Record in PostgreSQL instead (a libpq conninfo: "
                     "\"host=db dbname=treatd user=treatd\" or "
                     "\"postgresql://treatd@db/treatd\"); several replicas "
                     "may share one database")
          ->excludes(file);
  app.add_flag("--ledger-off", flags.off,
               "Record nothing (LedgerService answers UNAVAILABLE)")
      ->excludes(file)
      ->excludes(postgres);
  app.add_option("--ledger-down", flags.down,
                 "When the ledger cannot commit: fail-closed (decide calls "
                 "get UNAVAILABLE) or answer-and-count (answer, and count "
                 "each unrecorded decision in "
                 "treatd_ledger_decisions_unrecorded_total)")
      ->check(CLI::IsMember({"fail-closed", "answer-and-count"}))
      ->capture_default_str();
  app.add_option("--ledger-sqlite-sync", config.ledger_sqlite_sync,
                 "SQLite ledger durability: full (fsync every commit; "
                 "survives kill -9 and power loss) or normal (survives kill "
                 "-9; the last commits may be lost on power loss)")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  app.add_option("--ledger-sqlite-cache-mib", config.ledger_sqlite_cache_mib,
                 "SQLite ledger page cache per connection (the writer and "
                 "each reader), MiB; bounds the server's memory while the "
                 "ledger grows")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  AddSecondsOption(app, "--ledger-sweep-seconds", &config.sweep_interval,
                   "Run the revisit sweep this often (review-due "
                   "mitigations and acceptances, revisit conditions after a "
                   "feed reload); 0 disables it");
}

void ResolveLedgerFlags(const LedgerFlags& flags, ServerConfig& config) {
  config.ledger_down = flags.down == "answer-and-count"
                           ? LedgerDownPolicy::kAnswerAndCount
                           : LedgerDownPolicy::kFailClosed;
  if (flags.off) {
    config.ledger_url.clear();
  } else if (!flags.postgres.empty()) {
    const absl::string_view conninfo = flags.postgres;
    config.ledger_url = absl::StartsWith(conninfo, "postgres://") ||
                                absl::StartsWith(conninfo, "postgresql://")
                            ? flags.postgres
                            : absl::StrCat("postgresql:", flags.postgres);
  } else {
    config.ledger_url = flags.file;
  }
}

}  // namespace

std::string DescribeLedger(const std::string& ledger_url) {
  absl::string_view url = ledger_url;
  if (url.empty()) return "off";
  if (absl::StartsWith(url, "postgres://") ||
      absl::StartsWith(url, "postgresql://")) {
    // A URI's password sits between ':' and '@' of the authority.
    std::string shown(url);
    const size_t scheme = shown.find("://") + 3;
    const size_t at = shown.find('@', scheme);
    const size_t colon = shown.find(':', scheme);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      shown.replace(colon, at - colon, ":***");
    }
    return absl::StrCat("PostgreSQL ", shown);
  }
  if (absl::ConsumePrefix(&url, "postgresql:")) {
    std::vector<std::string> parts;
    for (absl::string_view part : absl::StrSplit(url, ' ', absl::SkipEmpty())) {
      parts.push_back(absl::StartsWith(part, "password=") ? "password=***"
                                                          : std::string(part));
    }
    return absl::StrCat("PostgreSQL ", absl::StrJoin(parts, " "));
  }
  absl::ConsumePrefix(&url, "sqlite:");
  return absl::StrCat("SQLite file ", url);
}

ParsedServerFlags ParseServerFlags(int argc, const char* const* argv,
                                   std::ostream& out, std::ostream& err) {
  ParsedServerFlags parsed;
  ServerConfig& config = parsed.config;
  // The shipped files, wherever treatd is started from; flags override.
  config.policy_path = DataFilePath(DataFile::kDefaultPolicy);
  config.kev_path = DataFilePath(DataFile::kKevSnapshot);
  config.epss_path = DataFilePath(DataFile::kEpssSnapshot);

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
  app.add_option("--kev", config.kev_path,
                 "CISA KEV catalog JSON to enrich findings from; \"\" "
                 "disables it")
      ->capture_default_str();
  app.add_option("--epss", config.epss_path,
                 "FIRST EPSS scores CSV to enrich findings from; \"\" "
                 "disables it")
      ->capture_default_str();
  std::string max_age = "0s";
  app.add_option("--intel-max-age", max_age,
                 "Feeds older than this are stale, e.g. 7d; 0s: no limit")
      ->capture_default_str();
  app.add_flag("--intel-feed-wins", config.intel_feed_wins,
               "Feed entries replace KEV/EPSS facts the caller sent");
  app.add_option("--shadow-policy", config.shadow_policy_path,
                 "Candidate policy to evaluate beside the active one on live "
                 "traffic (divergences in AdminService.GetStatus)");
  int64_t poll_ms = absl::ToInt64Milliseconds(config.reload_poll);
  app.add_option("--reload-poll-ms", poll_ms,
                 "Check the policy, feed and shadow files for changes every "
                 "N ms; 0 disables (SIGHUP and AdminService.Reload still "
                 "reload)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
      ->capture_default_str();
  int64_t release_ms =
      absl::ToInt64Milliseconds(config.memory_release_interval);
  app.add_option("--memory-release-ms", release_ms,
                 "Every N ms, return memory the allocator holds free beyond "
                 "--memory-keep-free-mib to the system (RSS falls back after "
                 "a burst of large calls); 0 disables")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
      ->capture_default_str();
  int64_t keep_free_mib =
      static_cast<int64_t>(config.memory_keep_free_bytes >> 20);
  app.add_option("--memory-keep-free-mib", keep_free_mib,
                 "Free memory kept for reuse by --memory-release-ms, in MiB")
      ->check(CLI::Range(int64_t{0}, int64_t{65536}))
      ->capture_default_str();
  app.add_option("--event-loop-threads", config.event_loop_threads,
                 "0: Decide on gRPC's callback API; N: the server polls on N "
                 "threads of its own, which answer Decide and "
                 "grpc.health.v1 (fewer thread hand-offs per call)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--max-batch", config.max_batch,
                 "Most findings per BatchDecide call or StreamDecide "
                 "message")
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
  AddProductionFlags(app, config);
  LedgerFlags ledger_flags;
  AddLedgerFlags(app, ledger_flags, config);
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
      "3 when the policy cannot be loaded, 4 when the ledger cannot be opened "
      "(corrupt, locked, newer schema, database unreachable).");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    parsed.exit_code = code == 0 ? 0 : 2;
    return parsed;
  }
  config.shutdown_grace = absl::Seconds(grace_seconds);
  ResolveLedgerFlags(ledger_flags, config);
  config.reload_poll = absl::Milliseconds(poll_ms);
  config.memory_release_interval = absl::Milliseconds(release_ms);
  config.memory_keep_free_bytes = static_cast<size_t>(keep_free_mib) << 20;
  absl::StatusOr<absl::Duration> age = ParseDurationText(max_age);
  if (!age.ok() || *age < absl::ZeroDuration()) {
    err << "--intel-max-age: " << max_age
        << " is not a duration such as 12h or 7d\n";
    parsed.exit_code = 2;
    return parsed;
  }
  config.intel_max_age = *age;
  return parsed;
}

}  // namespace treatd
