// The ledger's schema as versioned migrations, written once for both SQL
// dialects. A store applies, at open and in one transaction, every migration
// newer than the version recorded in ledger_schema; a database with a newer
// version than this build knows is refused (FAILED_PRECONDITION), so an old
// binary never writes into a schema it does not understand.
//
// Tables (docs/ledger.md has the columns):
//   events       append-only log: seq, indexed columns, canonical body, hash
//   chain_head   one row: the last seq and hash (detects a truncated tail)
//   findings     current state: one row per finding, its latest episode
//   episodes     earlier episodes of reopened findings, for the KPIs
//   snapshots    the latest v1::Finding per finding, for the revisit sweep
//   scans        idempotency keys of recorded scans
//   leases       named leases (the sweep) with holder and expiry
//   marks        named values kept across restarts (v3: the sweep's feed
//                baseline and overdue watermark)
//
// Pure data; thread-safe.
#ifndef TREATD_COMMON_LEDGER_SCHEMA_H_
#define TREATD_COMMON_LEDGER_SCHEMA_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace treatd::ledger {

enum class SqlDialect { kSqlite, kPostgres };

struct Migration {
  int version;
  std::vector<std::string> statements;  // in this dialect
};

// Every migration in version order, rendered for `dialect`. Versions may
// have gaps (branches add them in parallel); each is applied once.
std::vector<Migration> Migrations(SqlDialect dialect);

// The newest schema version this build knows.
int LatestSchemaVersion();

// Brings the schema up to date inside the caller's open transaction:
// creates ledger_schema when absent, reads the recorded version with
// `query_version` (0 when none) and runs every newer migration through
// `exec`. FAILED_PRECONDITION naming `database` when the recorded version is
// newer than LatestSchemaVersion(); errors of exec/query_version as they are.
absl::Status Migrate(
    SqlDialect dialect, absl::string_view database,
    const std::function<absl::Status(const std::string&)>& exec,
    const std::function<absl::StatusOr<int>()>& query_version);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_SCHEMA_H_
