#include "common/ledger/sql_rows.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace treatd::ledger::sql {
namespace {

#define TREATD_FINDING_COLUMNS                                              \
  "finding_key, state, kind, owner, asset, vulnerability, priority, "       \
  "priority_rank, treatment, rule, decision_id, policy_digest, "            \
  "first_seen_us, opened_us, state_us, updated_us, mitigated_us, "          \
  "accepted_us, closed_us, mitigate_by_us, remediate_by_us, review_by_us, " \
  "accepted_until_us, residual_risk, recurrences, episode, last_seq"
constexpr int kFindingColumnCount = 27;

#define TREATD_EVENT_COLUMNS                                            \
  "seq, finding_key, kind, occurred_us, recorded_us, idempotency_key, " \
  "body, hash"

// Columns of kKpiEpisodes, shared by both halves of its UNION.
#define TREATD_KPI_COLUMNS                                        \
  "priority, kind, owner, opened_us, mitigated_us, accepted_us, " \
  "closed_us, state, remediate_by_us, review_by_us, residual_risk"

std::string Placeholders(int from, int count) {
  std::vector<std::string> marks;
  for (int i = 0; i < count; ++i) marks.push_back(absl::StrCat("$", from + i));
  return absl::StrJoin(marks, ", ");
}

}  // namespace

const std::string& UpsertFindingSql() {
  static const std::string* const sql = new std::string([] {
    std::vector<std::string> sets;
    for (absl::string_view column :
         std::vector<absl::string_view>{"state",          "kind",
                                        "owner",          "asset",
                                        "vulnerability",  "priority",
                                        "priority_rank",  "treatment",
                                        "rule",           "decision_id",
                                        "policy_digest",  "first_seen_us",
                                        "opened_us",      "state_us",
                                        "updated_us",     "mitigated_us",
                                        "accepted_us",    "closed_us",
                                        "mitigate_by_us", "remediate_by_us",
                                        "review_by_us",   "accepted_until_us",
                                        "residual_risk",  "recurrences",
                                        "episode",        "last_seq"}) {
      sets.push_back(absl::StrCat(column, " = excluded.", column));
    }
    return absl::StrCat("INSERT INTO findings (" TREATD_FINDING_COLUMNS
                        ") VALUES (",
                        Placeholders(1, kFindingColumnCount),
                        ") ON CONFLICT (finding_key) DO UPDATE SET ",
                        absl::StrJoin(sets, ", "));
  }());
  return *sql;
}

namespace {

std::optional<absl::Time> OptionalTime(const ColumnReader& row, int i) {
  if (row.IsNull(i)) return std::nullopt;
  return FromMicros(row.Int(i));
}

void BindOptionalTime(ParamWriter& params, int n,
                      const std::optional<absl::Time>& t) {
  if (t.has_value()) {
    params.Int(n, ToMicros(*t));
  } else {
    params.Null(n);
  }
}

}  // namespace

const char* const kSchemaVersion =
    "SELECT COALESCE(MAX(version), 0) FROM ledger_schema";
const char* const kReadHead = "SELECT seq, hash FROM chain_head WHERE id = 1";
const char* const kWriteHead =
    "UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1";
const char* const kFindIdempotencyKey =
    "SELECT seq FROM events WHERE idempotency_key = $1";
const char* const kAnyIdempotencyKeyBetween =
    "SELECT 1 FROM events WHERE idempotency_key >= $1 AND "
    "idempotency_key < $2 LIMIT 1";

std::string InsertEventsSql(int rows, SqlDialect dialect) {
  // OR ROLLBACK: a statement that writes several rows and may fail half
  // way (ABORT, the default) makes SQLite keep a statement journal, a copy
  // of every page it changes, in a temporary file: it tripled the bytes
  // written per event. A conflict here is a bug (the appender has looked
  // every key up under the write lock) and fails the whole transaction
  // anyway, as any failed statement does on PostgreSQL.
  std::string text = absl::StrCat(
      dialect == SqlDialect::kSqlite ? "INSERT OR ROLLBACK" : "INSERT",
      " INTO events (" TREATD_EVENT_COLUMNS ") VALUES ");
  for (int i = 0; i < rows; ++i) {
    absl::StrAppend(&text, i == 0 ? "(" : ", (");
    for (int n = 1; n <= kEventParams; ++n) {
      absl::StrAppend(&text, n == 1 ? "$" : ", $", i * kEventParams + n);
    }
    absl::StrAppend(&text, ")");
  }
  return text;
}

const char* const kSelectFinding =
    "SELECT " TREATD_FINDING_COLUMNS " FROM findings WHERE finding_key = $1";
const char* const kSelectScope =
    "SELECT " TREATD_FINDING_COLUMNS " FROM findings WHERE asset = $1";
const char* const kInsertEpisode =
    "INSERT INTO episodes (finding_key, episode, state, kind, owner, "
    "priority, opened_us, mitigated_us, accepted_us, closed_us, "
    "remediate_by_us, review_by_us, residual_risk, reopened_us) VALUES "
    "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
const char* const kUpsertSnapshot =
    "INSERT INTO snapshots (finding_key, finding) VALUES ($1, $2) "
    "ON CONFLICT (finding_key) DO UPDATE SET finding = excluded.finding";
const char* const kSelectSnapshot =
    "SELECT finding FROM snapshots WHERE finding_key = $1";
const char* const kFindScan = "SELECT 1 FROM scans WHERE idempotency_key = $1";
const char* const kInsertScan =
    "INSERT INTO scans (idempotency_key, scope, scanned_us, recorded_us) "
    "VALUES ($1, $2, $3, $4)";
const char* const kSelectEvents = "SELECT " TREATD_EVENT_COLUMNS
                                  " FROM events WHERE seq > $1 "
                                  "ORDER BY seq LIMIT $2";
const char* const kSelectFindingEvents =
    "SELECT " TREATD_EVENT_COLUMNS
    " FROM events WHERE finding_key = $1 AND seq > $2 ORDER BY seq LIMIT $3";
const char* const kSweepCandidates =
    "SELECT " TREATD_FINDING_COLUMNS
    " FROM findings WHERE state IN (2, 4) AND review_by_us <= $1 AND "
    // The first term keeps the index range (state, review_by_us) seekable;
    // the second is the exact cursor.
    "review_by_us >= $3 AND (review_by_us > $3 OR finding_key > $4) "
    "ORDER BY review_by_us, finding_key LIMIT $2";
// The current episodes come from the covering index findings_kpi (schema
// v2) in two ranges, open ones (the NULL run) and those closed in the
// window, never from the table. One OR over both ranges would make SQLite
// collect and deduplicate rowids first (slower than a full scan); the two
// ranges are disjoint, so UNION ALL is exact. reopened_us is 0 for the
// current episodes, typed as the episodes' column so that PostgreSQL
// appends the three scans as they are instead of converting every row.
const char* const kKpiEpisodes =
    "SELECT " TREATD_KPI_COLUMNS
    ", CAST(0 AS BIGINT) FROM findings WHERE closed_us IS NULL AND "
    "opened_us <= $2 "
    "UNION ALL SELECT " TREATD_KPI_COLUMNS
    ", CAST(0 AS BIGINT) FROM findings WHERE closed_us > $1 AND "
    "opened_us <= $2 "
    "UNION ALL SELECT " TREATD_KPI_COLUMNS
    ", reopened_us FROM episodes WHERE opened_us <= $2 AND "
    "(closed_us IS NULL OR closed_us > $1)";

std::vector<std::string> KpiEpisodeSelects(const KpiQuery& query) {
  const std::string start = absl::StrCat(ToMicros(query.as_of - query.window));
  const std::string as_of = absl::StrCat(ToMicros(query.as_of));
  auto grouped = [&query](KpiGroupBy g) {
    return std::find(query.group_by.begin(), query.group_by.end(), g) !=
           query.group_by.end();
  };
  // NULL reads as "" / 0 (ReadEpisode), which KpiBuilder never looks at
  // for a dimension not grouped by.
  const std::string group_columns = absl::StrCat(
      grouped(KpiGroupBy::kPriority) ? "priority" : "CAST(NULL AS TEXT)", ", ",
      grouped(KpiGroupBy::kKind) ? "kind" : "CAST(NULL AS INTEGER)", ", ",
      grouped(KpiGroupBy::kOwner) ? "owner" : "CAST(NULL AS TEXT)");
  const std::string opened = absl::StrCat(" AND opened_us <= ", as_of);
  return {
      // Open now (so at as_of): no closed_us, state or reopened_us.
      absl::StrCat("SELECT ", group_columns,
                   ", opened_us, mitigated_us, accepted_us, "
                   "CAST(NULL AS BIGINT), CAST(NULL AS INTEGER), "
                   "remediate_by_us, review_by_us, residual_risk, "
                   "CAST(NULL AS BIGINT) FROM findings WHERE closed_us IS NULL",
                   opened),
      // Closed in the window, so closed at as_of: only the remediation and
      // mitigation figures read them (no acceptance, review or risk).
      absl::StrCat("SELECT ", group_columns,
                   ", opened_us, mitigated_us, CAST(NULL AS BIGINT), "
                   "closed_us, state, remediate_by_us, CAST(NULL AS BIGINT), "
                   "CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS BIGINT) "
                   "FROM findings WHERE closed_us > ",
                   start, " AND closed_us <= ", as_of, opened),
      // Closed after as_of (open at as_of: a KPI of the past): everything.
      absl::StrCat("SELECT ", group_columns,
                   ", opened_us, mitigated_us, accepted_us, closed_us, state, "
                   "remediate_by_us, review_by_us, residual_risk, "
                   "CAST(NULL AS BIGINT) FROM findings WHERE closed_us > ",
                   as_of, opened),
      absl::StrCat("SELECT ", group_columns,
                   ", opened_us, mitigated_us, accepted_us, closed_us, state, "
                   "remediate_by_us, review_by_us, residual_risk, reopened_us "
                   "FROM episodes WHERE opened_us <= ",
                   as_of, " AND (closed_us IS NULL OR closed_us > ", start,
                   ")"),
  };
}

const char* const kGauges =
    "SELECT (SELECT COUNT(*) FROM findings WHERE state IN (1, 2, 4)), "
    "(SELECT COUNT(*) FROM findings WHERE state IN (1, 2) AND "
    "remediate_by_us < $1), "
    "(SELECT COUNT(*) FROM findings WHERE state IN (2, 4) AND "
    "review_by_us < $1), "
    "(SELECT seq FROM chain_head WHERE id = 1)";
const char* const kAcquireLease =
    "INSERT INTO leases (name, holder, expires_us) VALUES ($1, $2, $4) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
    "expires_us = excluded.expires_us "
    "WHERE leases.holder = excluded.holder OR leases.expires_us <= $3 "
    "RETURNING holder";
const char* const kReleaseLease =
    "DELETE FROM leases WHERE name = $1 AND holder = $2";
const char* const kSelectMark = "SELECT value FROM marks WHERE name = $1";
const char* const kPutMark =
    "INSERT INTO marks (name, value, updated_us) VALUES ($1, $2, $3) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
    "updated_us = excluded.updated_us";

FindingListSql ListFindingsSql(const FindingQuery& query) {
  const FindingFilter& f = query.filter;
  std::vector<std::string> where;
  int n = 0;
  auto param = [&n] { return absl::StrCat("$", ++n); };
  if (!query.after_key.empty()) where.push_back("finding_key > " + param());
  if (f.state.has_value()) where.push_back("state = " + param());
  if (!f.priority.empty()) where.push_back("priority = " + param());
  if (!f.owner.empty()) where.push_back("owner = " + param());
  if (!f.asset.empty()) where.push_back("asset = " + param());
  if (f.kind.has_value()) where.push_back("kind = " + param());
  if (!f.vulnerability.empty()) where.push_back("vulnerability = " + param());
  if (f.overdue) {
    where.push_back("state IN (1, 2) AND remediate_by_us < " + param());
  }
  if (f.review_due) {
    where.push_back("state IN (2, 4) AND review_by_us <= " + param());
  }
  if (f.changed_since.has_value()) {
    where.push_back("updated_us >= " + param());
  }
  if (f.due_after.has_value()) where.push_back("remediate_by_us > " + param());
  std::string text = "SELECT " TREATD_FINDING_COLUMNS " FROM findings";
  if (!where.empty()) {
    absl::StrAppend(&text, " WHERE ", absl::StrJoin(where, " AND "));
  }
  absl::StrAppend(&text, " ORDER BY finding_key LIMIT ", param());
  return {std::move(text)};
}

void FindingListSql::Bind(const FindingQuery& query,
                          ParamWriter& params) const {
  const FindingFilter& f = query.filter;
  int n = 0;
  if (!query.after_key.empty()) params.Text(++n, query.after_key);
  if (f.state.has_value()) params.Int(++n, static_cast<int>(*f.state));
  if (!f.priority.empty()) params.Text(++n, f.priority);
  if (!f.owner.empty()) params.Text(++n, f.owner);
  if (!f.asset.empty()) params.Text(++n, f.asset);
  if (f.kind.has_value()) params.Int(++n, *f.kind);
  if (!f.vulnerability.empty()) params.Text(++n, f.vulnerability);
  if (f.overdue) params.Int(++n, ToMicros(f.as_of));
  if (f.review_due) params.Int(++n, ToMicros(f.as_of));
  if (f.changed_since.has_value()) params.Int(++n, ToMicros(*f.changed_since));
  if (f.due_after.has_value()) params.Int(++n, ToMicros(*f.due_after));
  params.Int(++n, query.limit);
}

FindingRecord ReadFinding(const ColumnReader& row) {
  FindingRecord f;
  f.key = row.Text(0);
  f.state = static_cast<FindingState>(row.Int(1));
  f.kind = static_cast<v1::FindingKind>(row.Int(2));
  f.owner = row.Text(3);
  f.asset = row.Text(4);
  f.vulnerability = row.Text(5);
  f.priority = row.Text(6);
  f.priority_rank = static_cast<int>(row.Int(7));
  f.treatment = static_cast<v1::Treatment>(row.Int(8));
  f.rule = row.Text(9);
  f.decision_id = row.Text(10);
  f.policy_digest = row.Text(11);
  f.first_seen = FromMicros(row.Int(12));
  f.opened_at = FromMicros(row.Int(13));
  f.state_since = FromMicros(row.Int(14));
  f.updated_at = FromMicros(row.Int(15));
  f.mitigated_at = OptionalTime(row, 16);
  f.accepted_at = OptionalTime(row, 17);
  f.closed_at = OptionalTime(row, 18);
  f.mitigate_by = OptionalTime(row, 19);
  f.remediate_by = OptionalTime(row, 20);
  f.review_by = OptionalTime(row, 21);
  f.outcome_until = OptionalTime(row, 22);
  f.residual_risk = row.Double(23);
  f.recurrences = static_cast<int>(row.Int(24));
  f.episode = static_cast<int>(row.Int(25));
  f.last_seq = row.Int(26);
  return f;
}

void BindFinding(const FindingRecord& f, ParamWriter& p) {
  p.Text(1, f.key);
  p.Int(2, static_cast<int>(f.state));
  p.Int(3, f.kind);
  p.Text(4, f.owner);
  p.Text(5, f.asset);
  p.Text(6, f.vulnerability);
  p.Text(7, f.priority);
  p.Int(8, f.priority_rank);
  p.Int(9, f.treatment);
  p.Text(10, f.rule);
  p.Text(11, f.decision_id);
  p.Text(12, f.policy_digest);
  p.Int(13, ToMicros(f.first_seen));
  p.Int(14, ToMicros(f.opened_at));
  p.Int(15, ToMicros(f.state_since));
  p.Int(16, ToMicros(f.updated_at));
  BindOptionalTime(p, 17, f.mitigated_at);
  BindOptionalTime(p, 18, f.accepted_at);
  BindOptionalTime(p, 19, f.closed_at);
  BindOptionalTime(p, 20, f.mitigate_by);
  BindOptionalTime(p, 21, f.remediate_by);
  BindOptionalTime(p, 22, f.review_by);
  BindOptionalTime(p, 23, f.outcome_until);
  p.Double(24, f.residual_risk);
  p.Int(25, f.recurrences);
  p.Int(26, f.episode);
  p.Int(27, f.last_seq);
}

void BindEpisode(const FindingRecord& e, absl::Time reopened_at,
                 ParamWriter& p) {
  p.Text(1, e.key);
  p.Int(2, e.episode);
  p.Int(3, static_cast<int>(e.state));
  p.Int(4, e.kind);
  p.Text(5, e.owner);
  p.Text(6, e.priority);
  p.Int(7, ToMicros(e.opened_at));
  BindOptionalTime(p, 8, e.mitigated_at);
  BindOptionalTime(p, 9, e.accepted_at);
  BindOptionalTime(p, 10, e.closed_at);
  BindOptionalTime(p, 11, e.remediate_by);
  BindOptionalTime(p, 12, e.review_by);
  p.Double(13, e.residual_risk);
  p.Int(14, ToMicros(reopened_at));
}

StoredEvent ReadEvent(const ColumnReader& row) {
  StoredEvent e;
  e.seq = row.Int(0);
  e.finding_key = row.Text(1);
  e.kind = static_cast<EventKind>(row.Int(2));
  e.occurred_us = row.Int(3);
  e.recorded_us = row.Int(4);
  e.idempotency_key = row.Text(5);
  e.hash = row.Text(7);
  std::string stored = row.Text(6);
  absl::StatusOr<std::string> body = RestoreColumnValues(stored, e.columns());
  // A body that cannot be restored stays as stored: it hashes to nothing
  // that links, and Ledger::Verify names the event.
  e.body = body.ok() ? *std::move(body) : std::move(stored);
  return e;
}

void BindEvent(const StoredEvent& e, ParamWriter& p) {
  p.Int(1, e.seq);
  p.Text(2, e.finding_key);
  p.Int(3, static_cast<int>(e.kind));
  p.Int(4, e.occurred_us);
  p.Int(5, e.recorded_us);
  p.Text(6, e.idempotency_key);
  p.Text(7, e.body);
  p.Text(8, e.hash);
}

EpisodeRow ReadEpisode(const ColumnReader& row) {
  EpisodeRow e;
  e.priority = row.Text(0);
  e.kind = static_cast<v1::FindingKind>(row.Int(1));
  e.owner = row.Text(2);
  e.opened_us = row.Int(3);
  e.mitigated_us = row.IntOrZero(4);
  e.accepted_us = row.IntOrZero(5);
  e.closed_us = row.IntOrZero(6);
  e.closed_remediated =
      e.closed_us != 0 &&
      static_cast<FindingState>(row.Int(7)) == FindingState::kRemediated;
  e.remediate_by_us = row.IntOrZero(8);
  e.review_by_us = row.IntOrZero(9);
  e.residual_risk = row.Double(10);
  e.reopened_us = row.Int(11);
  return e;
}

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromMicros(int64_t us) { return absl::FromUnixMicros(us); }

}  // namespace treatd::ledger::sql
