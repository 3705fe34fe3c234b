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
#include "server/call_governor.h"
#include "server/ledger/decision_recorder.h"
#include "server/logging.h"
#include "server/security/auth.h"

namespace treatd {

inline constexpr char kDefaultMetricsListen[] = "127.0.0.1:9464";
// The SQLite ledger file treatd records into when no ledger flag is given,
// relative to the working directory (the repository root for `make run`).
inline constexpr char kDefaultLedgerFile[] = "treatd-ledger.db";

struct ServerConfig {
  // host:port to bind; loopback unless told otherwise. Port 0 picks a free
  // port (the real one is logged).
  std::string listen = "127.0.0.1:50051";
  // The policy to load at start (and reload on change). The treatd flag
  // defaults to the shipped default policy, found relative to the binary
  // (common/install/data_files.h); relative paths here are relative to
  // the working directory.
  std::string policy_path = "policies/default.yaml";
  // CISA KEV catalog JSON and FIRST EPSS CSV to enrich findings from; empty
  // disables a feed. The treatd flags default to the snapshot shipped with
  // the binary, like the policy.
  std::string kev_path = "intel/known_exploited_vulnerabilities.json";
  std::string epss_path = "intel/epss_scores_sample.csv";
  // Feeds older than this are stale (decisions say so, policies see
  // intel.stale); zero means no limit.
  absl::Duration intel_max_age = absl::ZeroDuration();
  // A feed entry replaces KEV/EPSS facts the caller sent.
  bool intel_feed_wins = false;
  // A candidate policy evaluated beside the active one on live traffic;
  // empty for none.
  std::string shadow_policy_path;
  // How often the source files are checked for changes; zero disables
  // polling (SIGHUP and AdminService.Reload still work).
  absl::Duration reload_poll = absl::Seconds(1);
  // How often memory the allocator holds free beyond memory_keep_free_bytes
  // is returned to the system (server/memory_release.h); zero: never.
  absl::Duration memory_release_interval = absl::Seconds(5);
  size_t memory_keep_free_bytes = size_t{16} << 20;
  // Most findings per BatchDecide call or StreamDecide message.
  int max_batch = 10000;
  // Largest request or response message.
  int max_message_bytes = 16 * 1024 * 1024;
  // Per-finding string and list limits.
  FindingLimits finding_limits;
  // How long in-flight calls may run on after SIGTERM/SIGINT.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // Log lines below this level are dropped.
  LogLevel log_level = LogLevel::kInfo;
  // TLS, mTLS and the tokens file (server/security/auth.h).
  SecuritySettings security;
  // Concurrency, duration and size limits (server/call_governor.h).
  CallLimits call_limits;
  // Prometheus /metrics over HTTP; empty disables. Empty here so that
  // embedded servers (tests) do not compete for a port; the treatd flag
  // defaults to kDefaultMetricsListen.
  std::string metrics_listen;
  // After SIGTERM, how long health reports NOT_SERVING while new calls are
  // still accepted, so load balancers stop routing here before the drain.
  absl::Duration drain_delay = absl::ZeroDuration();
  // HTTP/2 keepalive pings to idle clients, and how long a ping may go
  // unanswered before the connection is closed.
  absl::Duration keepalive_time = absl::Seconds(60);
  absl::Duration keepalive_timeout = absl::Seconds(20);
  // Connections with no calls for this long are closed.
  absl::Duration max_connection_idle = absl::Minutes(5);
  // HTTP/2 streams (calls) at once on one connection.
  int max_streams_per_connection = 100;
  // 0: Decide and BatchDecide run on gRPC's callback API. N >= 1: the
  // server polls on N threads of its own, which answer Decide from
  // completion queues, and no method is on the callback API
  // (event_loop_service.h).
  int event_loop_threads = 0;
  // The ledger (common/ledger/ledger.h LedgerOptions::url): a SQLite file
  // path, or "postgresql://..." / "postgresql:host=... dbname=...". Empty:
  // no ledger (decisions are not recorded; LedgerService is UNAVAILABLE).
  // Empty here so that embedded servers (tests) write no file; the treatd
  // flags default to kDefaultLedgerFile.
  std::string ledger_url;
  // SQLite only: "full" (fsync at every commit: survives kill -9 and power
  // loss) or "normal" (survives kill -9, may lose the last commits on
  // power loss); see common/ledger/ledger.h.
  std::string ledger_sqlite_sync = "full";
  // SQLite only: page cache per connection in MiB (the writer and each
  // reader); see common/ledger/ledger.h.
  int ledger_sqlite_cache_mib = 8;
  // What a decide call does when the ledger cannot commit.
  LedgerDownPolicy ledger_down = LedgerDownPolicy::kFailClosed;
  // How often the revisit sweep runs; zero disables it.
  absl::Duration sweep_interval = absl::Minutes(1);
};

// "SQLite file treatd-ledger.db", "PostgreSQL host=db dbname=treatd" (the
// password, if any, elided) or "off": for the banner and logs.
std::string DescribeLedger(const std::string& ledger_url);

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
