#include "common/ledger/schema.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status/status_macros.h"

namespace treatd::ledger {
namespace {

// Written once with placeholders for the types that differ:
// {i64} 64-bit integer, {real} double, {blob} bytes.
// State numbers in partial indexes: 1 open, 2 mitigated, 4 accepted
// (event.h; never renumbered).
const char* const kVersion1[] = {
    R"(CREATE TABLE events (
  seq {i64} PRIMARY KEY,
  finding_key TEXT NOT NULL,
  kind INTEGER NOT NULL,
  occurred_us {i64} NOT NULL,
  recorded_us {i64} NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL,
  hash TEXT NOT NULL))",
    "CREATE INDEX events_by_finding ON events (finding_key, seq)",
    R"(CREATE TABLE chain_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq {i64} NOT NULL,
  hash TEXT NOT NULL))",
    "INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, "
    "'0000000000000000000000000000000000000000000000000000000000000000')",
    R"(CREATE TABLE findings (
  finding_key TEXT PRIMARY KEY,
  state INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  owner TEXT NOT NULL,
  asset TEXT NOT NULL,
  vulnerability TEXT NOT NULL,
  priority TEXT NOT NULL,
  priority_rank INTEGER NOT NULL,
  treatment INTEGER NOT NULL,
  rule TEXT NOT NULL,
  decision_id TEXT NOT NULL,
  policy_digest TEXT NOT NULL,
  first_seen_us {i64} NOT NULL,
  opened_us {i64} NOT NULL,
  state_us {i64} NOT NULL,
  updated_us {i64} NOT NULL,
  mitigated_us {i64},
  accepted_us {i64},
  closed_us {i64},
  mitigate_by_us {i64},
  remediate_by_us {i64},
  review_by_us {i64},
  accepted_until_us {i64},
  residual_risk {real} NOT NULL,
  recurrences INTEGER NOT NULL,
  episode INTEGER NOT NULL,
  last_seq {i64} NOT NULL))",
    // Single-column indexes on purpose: a new finding's entry then lands at
    // the end of its value's run (SQLite appends the rowid), so a commit
    // touches few index pages. A (value, finding_key) index would serve
    // key-ordered pages better but costs a random page per index per new
    // finding on the decision path.
    "CREATE INDEX findings_by_state ON findings (state)",
    "CREATE INDEX findings_by_owner ON findings (owner)",
    "CREATE INDEX findings_by_asset ON findings (asset)",
    "CREATE INDEX findings_by_priority ON findings (priority)",
    "CREATE INDEX findings_by_vulnerability ON findings (vulnerability) "
    "WHERE vulnerability <> ''",
    "CREATE INDEX findings_by_updated ON findings (updated_us)",
    "CREATE INDEX findings_review_due ON findings (review_by_us) "
    "WHERE state IN (2, 4)",
    "CREATE INDEX findings_due ON findings (remediate_by_us) "
    "WHERE state IN (1, 2)",
    R"(CREATE TABLE episodes (
  finding_key TEXT NOT NULL,
  episode INTEGER NOT NULL,
  state INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  owner TEXT NOT NULL,
  priority TEXT NOT NULL,
  opened_us {i64} NOT NULL,
  mitigated_us {i64},
  accepted_us {i64},
  closed_us {i64},
  remediate_by_us {i64},
  review_by_us {i64},
  residual_risk {real} NOT NULL,
  reopened_us {i64} NOT NULL,
  PRIMARY KEY (finding_key, episode)))",
    "CREATE INDEX episodes_by_closed ON episodes (closed_us)",
    R"(CREATE TABLE snapshots (
  finding_key TEXT PRIMARY KEY,
  finding {blob} NOT NULL))",
    R"(CREATE TABLE scans (
  idempotency_key TEXT PRIMARY KEY,
  scope TEXT NOT NULL,
  scanned_us {i64} NOT NULL,
  recorded_us {i64} NOT NULL))",
    R"(CREATE TABLE leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_us {i64} NOT NULL))",
};

// Version 2: indexes that answer the Prometheus gauges and the KPI query
// from the index alone, so neither reads the findings table (whose pages
// lie among the events' pages in a large file).
// - (state, remediate_by_us) and (state, review_by_us) replace the state
//   index and the two partial indexes: without table statistics SQLite
//   preferred the state index to a partial one and read the table row of
//   every open finding to test its deadline (seconds over a million
//   findings). The gauges (open, overdue, mitigation debt), the overdue and
//   review-due filters and the sweep now count or seek in one index range.
// - findings_kpi holds every column the KPI arithmetic reads (EpisodeRow),
//   led by closed_us: open episodes are the NULL run at its start, those
//   closed in a window a range at its end.
const char* const kVersion2[] = {
    "DROP INDEX findings_by_state",
    "DROP INDEX findings_due",
    "DROP INDEX findings_review_due",
    "CREATE INDEX findings_by_state_due ON findings (state, remediate_by_us)",
    "CREATE INDEX findings_by_state_review ON findings (state, review_by_us)",
    "CREATE INDEX findings_kpi ON findings (closed_us, opened_us, priority, "
    "kind, owner, state, mitigated_us, accepted_us, remediate_by_us, "
    "review_by_us, residual_risk)",
};

// Version 3: named marks, small values the server keeps across restarts and
// shares between replicas (the revisit sweep's feed baseline and overdue
// watermark).
const char* const kVersion3[] = {
    R"(CREATE TABLE marks (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_us {i64} NOT NULL))",
};

// Version 4 changes no table: from it on an event's body may be stored
// without the values its columns hold (ElideColumnValues, chain.h), which a
// treatd before it would not restore. The version makes that treatd refuse
// the file ("newer than this treatd knows") instead of misreading events.
// Events stored whole before it stay as they are and verify unchanged.
const std::vector<const char*> kVersion4 = {};

std::string Render(const char* statement, SqlDialect dialect) {
  const bool pg = dialect == SqlDialect::kPostgres;
  return absl::StrReplaceAll(statement,
                             {{"{i64}", pg ? "BIGINT" : "INTEGER"},
                              {"{real}", pg ? "DOUBLE PRECISION" : "REAL"},
                              {"{blob}", pg ? "BYTEA" : "BLOB"}});
}

}  // namespace

std::vector<Migration> Migrations(SqlDialect dialect) {
  std::vector<Migration> migrations;
  auto add = [&](int version, const auto& statements) {
    Migration migration{version, {}};
    for (const char* statement : statements) {
      migration.statements.push_back(Render(statement, dialect));
    }
    migrations.push_back(std::move(migration));
  };
  add(1, kVersion1);
  add(2, kVersion2);
  add(3, kVersion3);
  add(4, kVersion4);
  return migrations;
}

int LatestSchemaVersion() { return 4; }

absl::Status Migrate(
    SqlDialect dialect, absl::string_view database,
    const std::function<absl::Status(const std::string&)>& exec,
    const std::function<absl::StatusOr<int>()>& query_version) {
  TREATD_RETURN_IF_ERROR(exec(
      "CREATE TABLE IF NOT EXISTS ledger_schema (version INTEGER NOT NULL)"));
  TREATD_ASSIGN_OR_RETURN(int current, query_version());
  if (current > LatestSchemaVersion()) {
    return absl::FailedPreconditionError(
        absl::StrCat("ledger ", database, ": schema version ", current,
                     " is newer than this treatd knows (",
                     LatestSchemaVersion(), "); upgrade treatd"));
  }
  for (const Migration& migration : Migrations(dialect)) {
    if (migration.version <= current) continue;
    for (const std::string& statement : migration.statements) {
      TREATD_RETURN_IF_ERROR(exec(statement));
    }
    TREATD_RETURN_IF_ERROR(
        exec(absl::StrCat("INSERT INTO ledger_schema (version) VALUES (",
                          migration.version, ")")));
  }
  return absl::OkStatus();
}

}  // namespace treatd::ledger
