// The ledger over both stores: every test runs on a real SQLite file in a
// temporary directory and on a real PostgreSQL server started for the suite
// (skipped, with the reason, when the PostgreSQL binaries are absent).
#include "common/ledger/ledger.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/ledger/chain.h"
#include "common/ledger/schema.h"
#include "gtest/gtest.h"
#include "tests/common/ledger/kpi_scenario.h"
#include "tests/support/postgres_server.h"

namespace treatd::ledger {
namespace {

using testing::Day;

enum class Backend { kSqlite, kPostgres };

class LedgerTest : public ::testing::TestWithParam<Backend> {
 protected:
  static void SetUpTestSuite() {
    pg_ = treatd::testing::PostgresServer::Start(&pg_why_).release();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    static std::atomic<int> counter{0};
    const int n = counter++;
    if (GetParam() == Backend::kPostgres) {
      if (pg_ == nullptr) GTEST_SKIP() << pg_why_;
      database_ = absl::StrCat("ledger_", getpid(), "_", n);
      std::string conninfo = pg_->CreateDatabase(database_);
      ASSERT_FALSE(conninfo.empty()) << "CREATE DATABASE failed";
      url_ = "postgresql:" + conninfo;
    } else {
      dir_ = std::filesystem::temp_directory_path() /
             absl::StrCat("treatd-ledger-", getpid(), "-", n);
      std::filesystem::create_directories(dir_);
      url_ = (dir_ / "ledger.db").string();
    }
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<Ledger> Open(absl::Time now = Day(1)) {
    LedgerOptions options;
    options.url = url_;
    options.clock = [now] { return now; };
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(options);
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    return ledger.ok() ? *std::move(ledger) : nullptr;
  }

  // Runs SQL on the database behind the ledger, outside the ledger (to
  // tamper with it).
  void Tamper(const std::string& sql) {
    if (GetParam() == Backend::kPostgres) {
      ASSERT_TRUE(pg_->Execute(sql, database_)) << sql;
      return;
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(url_.c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << message;
  }

  // The first column of the first row of `sql` as an integer, read outside
  // the ledger; -1 when the query fails or returns no row.
  int64_t QueryInt(const std::string& sql) {
    int64_t value = -1;
    if (GetParam() == Backend::kPostgres) {
      PGconn* conn = PQconnectdb(url_.substr(strlen("postgresql:")).c_str());
      PGresult* result = PQexec(conn, sql.c_str());
      if (PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0) {
        value = std::atoll(PQgetvalue(result, 0, 0));
      }
      PQclear(result);
      PQfinish(conn);
      return value;
    }
    sqlite3* db = nullptr;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_open(url_.c_str(), &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      value = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }

  // Turns the ledger's database back into schema version 1 as that version
  // shipped: version 1's tables are unchanged since, so it drops every index
  // a migration creates and every table a later one adds, creates version
  // 1's indexes and forgets the later versions.
  void BackToSchemaVersion1() {
    const SqlDialect dialect = GetParam() == Backend::kPostgres
                                   ? SqlDialect::kPostgres
                                   : SqlDialect::kSqlite;
    const std::vector<Migration> migrations = Migrations(dialect);
    constexpr absl::string_view kCreateIndex = "CREATE INDEX ";
    for (const Migration& migration : migrations) {
      for (const std::string& statement : migration.statements) {
        if (!absl::StartsWith(statement, kCreateIndex)) continue;
        const absl::string_view rest =
            absl::StripPrefix(statement, kCreateIndex);
        const std::string name(rest.substr(0, rest.find(' ')));
        Tamper("DROP INDEX IF EXISTS " + name);
      }
    }
    constexpr absl::string_view kCreateTable = "CREATE TABLE ";
    for (size_t i = 1; i < migrations.size(); ++i) {
      for (const std::string& statement : migrations[i].statements) {
        if (!absl::StartsWith(statement, kCreateTable)) continue;
        const absl::string_view rest =
            absl::StripPrefix(statement, kCreateTable);
        const std::string name(rest.substr(0, rest.find_first_of(" (")));
        Tamper("DROP TABLE IF EXISTS " + name);
      }
    }
    for (const std::string& statement : migrations[0].statements) {
      if (absl::StartsWith(statement, kCreateIndex)) Tamper(statement);
    }
    Tamper("DELETE FROM ledger_schema WHERE version > 1");
  }

  static Event Decision(const std::string& key, absl::Time at,
                        const std::string& priority = "p1") {
    Event e;
    e.kind = EventKind::kDecision;
    e.finding_key = key;
    e.occurred_at = at;
    e.decision.decision_id = absl::StrCat(key, "@", absl::ToUnixSeconds(at));
    e.decision.treatment = v1::TREATMENT_REMEDIATE;
    e.decision.priority = priority;
    e.decision.kind = v1::FINDING_KIND_VULNERABILITY;
    e.decision.owner = "team-a";
    e.decision.asset = "id=host-1";
    e.decision.remediate_by = at + absl::Hours(24 * 7);
    return e;
  }
  static Event Outcome(EventKind kind, const std::string& key, absl::Time at) {
    Event e;
    e.kind = kind;
    e.finding_key = key;
    e.occurred_at = at;
    e.actor = "alice";
    if (kind == EventKind::kAccepted) e.until = at + absl::Hours(24 * 30);
    return e;
  }

  static absl::StatusOr<Appended> One(Ledger& ledger, Event e) {
    std::vector<Event> events;
    events.push_back(std::move(e));
    return std::move(ledger.Append(std::move(events))[0]);
  }

  static treatd::testing::PostgresServer* pg_;
  static std::string pg_why_;
  std::string url_;
  std::string database_;
  std::filesystem::path dir_;
};

treatd::testing::PostgresServer* LedgerTest::pg_ = nullptr;
std::string LedgerTest::pg_why_;

TEST_P(LedgerTest, DecisionCreatesTheFindingWithItsFacts) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  Event e = Decision("k1", Day(-3));
  e.decision.first_seen = Day(-10);
  e.decision.finding_snapshot = "snapshot-bytes";
  absl::StatusOr<Appended> a = One(*ledger, e);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->seq, 1);
  EXPECT_FALSE(a->duplicate);
  EXPECT_EQ(a->state, FindingState::kOpen);

  absl::StatusOr<FindingHistory> h = ledger->GetFinding("k1");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->finding.state, FindingState::kOpen);
  EXPECT_EQ(h->finding.first_seen, Day(-10));
  EXPECT_EQ(h->finding.priority, "p1");
  EXPECT_EQ(h->finding.owner, "team-a");
  EXPECT_EQ(h->finding.remediate_by, Day(4));
  ASSERT_EQ(h->events.size(), 1u);
  EXPECT_EQ(h->events[0].decision.decision_id, e.decision.decision_id);
  EXPECT_EQ(h->events[0].prev_hash, std::string(64, '0'));
  EXPECT_EQ(*ledger->FindingSnapshot("k1"), "snapshot-bytes");
  EXPECT_EQ(ledger->GetFinding("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(LedgerTest, ASnapshotSourceIsSerializedOnlyWhenTheRowChanges) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  v1::Finding first, second, third;
  first.set_id("first");
  second.set_id("second");
  third.set_id("third");
  Event e = Decision("k1", Day(-3));
  e.decision.snapshot_source = &first;
  ASSERT_TRUE(One(*ledger, e).ok());
  EXPECT_EQ(*ledger->FindingSnapshot("k1"), first.SerializeAsString());

  // The same facts again: only the event is written, the snapshot stays.
  Event same = Decision("k1", Day(-2));
  same.decision.remediate_by = e.decision.remediate_by;
  same.decision.snapshot_source = &second;
  ASSERT_TRUE(One(*ledger, same).ok());
  EXPECT_EQ(*ledger->FindingSnapshot("k1"), first.SerializeAsString());

  // New facts: the row and the snapshot are rewritten. Within one append
  // the last decision's finding wins; bytes given directly still count.
  Event changed = Decision("k1", Day(-1), "p2");
  changed.decision.snapshot_source = &second;
  Event again = Decision("k1", Day(0), "p3");
  again.decision.snapshot_source = &third;
  Event other = Decision("k2", Day(0));
  other.decision.finding_snapshot = "bytes";
  other.decision.snapshot_source = &third;  // ignored: bytes are set
  std::vector<Event> events;
  events.push_back(changed);
  events.push_back(again);
  events.push_back(other);
  for (const auto& appended : ledger->Append(std::move(events))) {
    ASSERT_TRUE(appended.ok()) << appended.status();
  }
  EXPECT_EQ(*ledger->FindingSnapshot("k1"), third.SerializeAsString());
  EXPECT_EQ(*ledger->FindingSnapshot("k2"), "bytes");
}

TEST_P(LedgerTest, TheSameReportTwiceIsOneEvent) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(One(*ledger, Decision("k1", Day(-3))).ok());
  Event keyed = Outcome(EventKind::kMitigated, "k1", Day(-2));
  keyed.idempotency_key = "report-17";
  absl::StatusOr<Appended> first = One(*ledger, keyed);
  keyed.note = "a retry may differ; the key decides";
  absl::StatusOr<Appended> retry = One(*ledger, keyed);
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(retry->duplicate);
  EXPECT_EQ(retry->seq, first->seq);

  // Without a key, identical content is the key; both copies in one call too.
  std::vector<Event> twice = {Decision("k2", Day(-1)), Decision("k2", Day(-1))};
  auto results = ledger->Append(twice);
  ASSERT_TRUE(results[0].ok() && results[1].ok());
  EXPECT_FALSE(results[0]->duplicate);
  EXPECT_TRUE(results[1]->duplicate);
  EXPECT_EQ(results[1]->seq, results[0]->seq);
  EXPECT_TRUE(One(*ledger, Decision("k2", Day(-1)))->duplicate);

  absl::StatusOr<std::vector<Event>> all = ledger->ListEvents(0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
}

TEST_P(LedgerTest, DecisionKeysGrowWithTheEvaluationTime) {
  const absl::Time t = absl::FromUnixMicros(1796541499314905);
  EXPECT_EQ(DecisionIdempotencyKey(false, t, "06b5"),
            "decision:t1796541499314905:06b5");
  EXPECT_EQ(DecisionIdempotencyKey(true, t, "06b5"),
            "sweep:t1796541499314905:06b5");
  EXPECT_EQ(DecisionIdempotencyKey(false, absl::UnixEpoch(), "x"),
            "decision:t0000000000000000:x");
  // Later decisions sort after earlier ones whatever their ids, and every
  // current key sorts after every legacy one ("decision:<hex id>").
  EXPECT_LT(DecisionIdempotencyKey(false, t, "ffff"),
            DecisionIdempotencyKey(false, t + absl::Microseconds(1), "0000"));
  EXPECT_LT(LegacyDecisionIdempotencyKey(false, "ffffffff"),
            DecisionIdempotencyKey(false, absl::UnixEpoch(), "0000"));
  EXPECT_EQ(LegacyDecisionIdempotencyKey(true, "ab"), "sweep:ab");
}

// The appender probes ranges of decision keys instead of looking each up:
// retries anywhere in a batch's key order, of decisions and sweep
// decisions, among new ones, are still found (on both stores' orders).
TEST_P(LedgerTest, RetriedDecisionKeysAmongNewerOnesAreDuplicates) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  auto decision = [](int i, bool sweep) {
    Event e = Decision(absl::StrCat("k", i % 3), Day(-3) + absl::Seconds(i));
    e.kind = sweep ? EventKind::kSweepDecision : EventKind::kDecision;
    e.decision.decision_id = absl::StrCat("00ab", i, "cd");
    e.idempotency_key =
        DecisionIdempotencyKey(sweep, e.occurred_at, e.decision.decision_id);
    return e;
  };
  std::vector<Event> earlier;
  for (int i : {1, 3, 5, 8}) earlier.push_back(decision(i, i == 8));
  for (const auto& a : ledger->Append(std::move(earlier))) {
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_FALSE(a->duplicate);
  }
  std::vector<Event> batch;
  std::vector<bool> expect_duplicate;
  for (int i = 9; i >= 0; --i) {  // not in key order
    for (bool sweep : {false, true}) {
      batch.push_back(decision(i, sweep));
      expect_duplicate.push_back((!sweep && (i == 1 || i == 3 || i == 5)) ||
                                 (sweep && i == 8));
    }
  }
  // A retry within the batch itself.
  batch.push_back(decision(9, false));
  expect_duplicate.push_back(true);
  const auto appended = ledger->Append(std::move(batch));
  ASSERT_EQ(appended.size(), expect_duplicate.size());
  for (size_t i = 0; i < appended.size(); ++i) {
    ASSERT_TRUE(appended[i].ok()) << appended[i].status();
    EXPECT_EQ(appended[i]->duplicate, expect_duplicate[i]) << "event " << i;
  }
  absl::StatusOr<LedgerGauges> gauges = ledger->Gauges(Day(0));
  ASSERT_TRUE(gauges.ok()) << gauges.status();
  EXPECT_EQ(gauges->events, 4 + 20 - 4);
}

TEST_P(LedgerTest, RetryOfADecisionRecordedUnderItsLegacyKeyIsADuplicate) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  const std::string id = "0123456789abcdef0123456789abcdef";
  // As a treatd before time-ordered keys recorded it (a rolling upgrade:
  // another replica, or this one before the upgrade).
  Event old = Decision("k1", Day(-3));
  old.decision.decision_id = id;
  old.idempotency_key = LegacyDecisionIdempotencyKey(false, id);
  absl::StatusOr<Appended> first = One(*ledger, old);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_FALSE(first->duplicate);

  // The same call retried here: the same id, now under its current key.
  Event retry = old;
  retry.idempotency_key = DecisionIdempotencyKey(false, retry.occurred_at, id);
  absl::StatusOr<Appended> again = One(*ledger, retry);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->seq, first->seq);

  // Another decision is recorded, and its retry is a duplicate by its
  // current key; a sweep decision with the same id is another event.
  Event next = Decision("k2", Day(-2));
  next.idempotency_key = DecisionIdempotencyKey(false, next.occurred_at,
                                                next.decision.decision_id);
  absl::StatusOr<Appended> second = One(*ledger, next);
  ASSERT_TRUE(second.ok() && !second->duplicate);
  EXPECT_TRUE(One(*ledger, next)->duplicate);
  Event sweep = retry;
  sweep.kind = EventKind::kSweepDecision;
  sweep.idempotency_key = DecisionIdempotencyKey(true, sweep.occurred_at, id);
  absl::StatusOr<Appended> swept = One(*ledger, sweep);
  ASSERT_TRUE(swept.ok()) << swept.status();
  EXPECT_FALSE(swept->duplicate);

  absl::StatusOr<std::vector<Event>> all = ledger->ListEvents(0, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  absl::StatusOr<VerifyReport> report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
}

TEST_P(LedgerTest, BadReportsGetClearErrors) {
  auto ledger = Open(/*now=*/Day(0));
  ASSERT_NE(ledger, nullptr);
  absl::StatusOr<Appended> unknown =
      One(*ledger, Outcome(EventKind::kRemediated, "ghost", Day(-1)));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(One(*ledger, Decision("k1", Day(-5))).ok());
  absl::StatusOr<Appended> future =
      One(*ledger, Outcome(EventKind::kRemediated, "k1", Day(2)));
  EXPECT_EQ(future.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(future.status().message().find("future"), absl::string_view::npos)
      << future.status();
  absl::StatusOr<Appended> early =
      One(*ledger, Outcome(EventKind::kRemediated, "k1", Day(-6)));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(early.status().message().find("first seen"),
            absl::string_view::npos)
      << early.status();
  EXPECT_EQ(One(*ledger, Decision("bad\xff", Day(-1))).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Checked in every text the database keys or stores as text, also when
  // the rest is ASCII; valid UTF-8 beyond ASCII is recorded.
  Event bad_rule = Decision("k2", Day(-1));
  bad_rule.decision.rule = "rule-\xc3";
  EXPECT_EQ(One(*ledger, bad_rule).status().code(),
            absl::StatusCode::kInvalidArgument);
  Event accented = Decision("k\xc3\xa9", Day(-1));
  accented.decision.owner = "\xc3\xa9quipe";
  EXPECT_TRUE(One(*ledger, accented).ok());
  Event no_until = Outcome(EventKind::kAccepted, "k1", Day(-1));
  no_until.until.reset();
  EXPECT_EQ(One(*ledger, no_until).status().code(),
            absl::StatusCode::kInvalidArgument);

  // One bad event does not fail the others of its call.
  auto results =
      ledger->Append({Outcome(EventKind::kMitigated, "ghost", Day(-1)),
                      Outcome(EventKind::kMitigated, "k1", Day(-1))});
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(results[1].ok()) << results[1].status();
  EXPECT_EQ(results[1]->state, FindingState::kMitigated);

  ASSERT_TRUE(
      One(*ledger, Outcome(EventKind::kRemediated, "k1", Day(-1))).ok());
  Event late_mitigation = Outcome(EventKind::kMitigated, "k1", Day(-1));
  late_mitigation.control = "waf";  // not the same report as before
  EXPECT_EQ(One(*ledger, late_mitigation).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Several callers' events in one append (the server's recorder): each
// group gets its own results, in order, and a bad event fails no other.
TEST_P(LedgerTest, AppendGroupsAnswersEachGroupInOrder) {
  auto ledger = Open(/*now=*/Day(0));
  ASSERT_NE(ledger, nullptr);
  std::vector<std::vector<Event>> groups(3);
  groups[0] = {Decision("g1", Day(-3)), Decision("g2", Day(-3))};
  groups[2] = {Outcome(EventKind::kMitigated, "ghost", Day(-1)),
               Outcome(EventKind::kMitigated, "g1", Day(-1))};
  auto results = ledger->AppendGroups(std::move(groups));
  ASSERT_EQ(results.size(), 3u);
  ASSERT_EQ(results[0].size(), 2u);
  ASSERT_TRUE(results[0][0].ok()) << results[0][0].status();
  ASSERT_TRUE(results[0][1].ok()) << results[0][1].status();
  EXPECT_EQ(results[0][0]->seq, 1);
  EXPECT_EQ(results[0][1]->seq, 2);
  EXPECT_TRUE(results[1].empty());
  ASSERT_EQ(results[2].size(), 2u);
  EXPECT_EQ(results[2][0].status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(results[2][1].ok()) << results[2][1].status();
  EXPECT_EQ(results[2][1]->seq, 3);
  EXPECT_EQ(results[2][1]->state, FindingState::kMitigated);
}

TEST_P(LedgerTest, RemediatedFindingSeenAgainIsReopenedAsARecurrence) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(One(*ledger, Decision("k1", Day(-30))).ok());
  ASSERT_TRUE(
      One(*ledger, Outcome(EventKind::kMitigated, "k1", Day(-29))).ok());
  ASSERT_TRUE(One(*ledger, Outcome(EventKind::kAccepted, "k1", Day(-28))).ok());
  ASSERT_TRUE(
      One(*ledger, Outcome(EventKind::kRemediated, "k1", Day(-20))).ok());
  absl::StatusOr<Appended> again = One(*ledger, Decision("k1", Day(-10)));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->recurrence);
  EXPECT_EQ(again->state, FindingState::kOpen);

  absl::StatusOr<FindingHistory> h = ledger->GetFinding("k1");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->finding.recurrences, 1);
  EXPECT_EQ(h->finding.episode, 2);
  EXPECT_EQ(h->finding.opened_at, Day(-10));
  EXPECT_EQ(h->finding.first_seen, Day(-30));
  EXPECT_FALSE(h->finding.closed_at.has_value());
  ASSERT_EQ(h->events.size(), 5u);
  EXPECT_EQ(h->events[4].state_before, FindingState::kRemediated);
  EXPECT_TRUE(h->events[4].recurrence);

  // A decision recorded late, dated before the remediation, reopens nothing;
  // a reopen dated then is refused.
  ASSERT_TRUE(
      One(*ledger, Outcome(EventKind::kRemediated, "k1", Day(-9))).ok());
  absl::StatusOr<Appended> late =
      One(*ledger, Decision("k1", Day(-10) + absl::Hours(12)));
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_FALSE(late->recurrence);
  EXPECT_EQ(late->state, FindingState::kRemediated);
  EXPECT_EQ(One(*ledger, Outcome(EventKind::kReopened, "k1", Day(-9)))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ledger->GetFinding("k1")->finding.recurrences, 1);
}

TEST_P(LedgerTest, ScanRemediatesAbsentFindingsAndReopensPresentOnes) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  for (const char* key : {"a", "b", "c"}) {
    ASSERT_TRUE(One(*ledger, Decision(key, Day(-10))).ok());
  }
  Event other = Decision("elsewhere", Day(-10));
  other.decision.asset = "id=host-2";
  ASSERT_TRUE(One(*ledger, other).ok());
  ASSERT_TRUE(One(*ledger, Outcome(EventKind::kRemediated, "c", Day(-8))).ok());

  ScanObservation scan;
  scan.scope = "id=host-1";
  scan.scanned_at = Day(-5);
  scan.present_keys = {"a", "c", "new-one"};
  scan.scanner = "trivy";
  absl::StatusOr<ScanResult> result = ledger->RecordScan(scan);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->remediated, 1);     // b
  EXPECT_EQ(result->reopened, 1);       // c
  EXPECT_EQ(result->still_present, 1);  // a
  EXPECT_EQ(result->unknown, 1);        // new-one
  EXPECT_EQ(ledger->GetFinding("b")->finding.state, FindingState::kRemediated);
  EXPECT_EQ(ledger->GetFinding("c")->finding.state, FindingState::kOpen);
  EXPECT_EQ(ledger->GetFinding("c")->finding.recurrences, 1);
  EXPECT_EQ(ledger->GetFinding("elsewhere")->finding.state,
            FindingState::kOpen);

  absl::StatusOr<ScanResult> replay = ledger->RecordScan(scan);
  ASSERT_TRUE(replay.ok()) << replay.status();
  EXPECT_TRUE(replay->duplicate);
  EXPECT_TRUE(replay->seqs.empty());

  scan.scanned_at = Day(30);
  EXPECT_EQ(ledger->RecordScan(scan).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(LedgerTest, ListsFindingsByFilterPageByPage) {
  auto ledger = Open(/*now=*/Day(0));
  ASSERT_NE(ledger, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 25; ++i) {
    events.push_back(Decision(absl::StrCat("k", i / 10, i % 10), Day(-20),
                              i % 2 ? "p1" : "p2"));
  }
  for (const auto& r : ledger->Append(events)) ASSERT_TRUE(r.ok());
  ASSERT_TRUE(
      One(*ledger, Outcome(EventKind::kMitigated, "k03", Day(-1))).ok());

  FindingFilter p1;
  p1.priority = "p1";
  std::vector<std::string> keys;
  PageRequest page{5, ""};
  do {
    absl::StatusOr<FindingPage> got = ledger->ListFindings(p1, page);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const FindingRecord& f : got->findings) keys.push_back(f.key);
    page.page_token = got->next_page_token;
  } while (!page.page_token.empty());
  ASSERT_EQ(keys.size(), 12u);
  EXPECT_EQ(keys.front(), "k01");
  EXPECT_EQ(keys.back(), "k23");
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));

  FindingFilter mitigated;
  mitigated.state = FindingState::kMitigated;
  EXPECT_EQ(ledger->ListFindings(mitigated, {})->findings.size(), 1u);

  FindingFilter overdue;  // due at day -13, so every open one is overdue
  overdue.overdue = true;
  overdue.as_of = Day(0);
  EXPECT_EQ(ledger->ListFindings(overdue, {100, ""})->findings.size(), 25u);
  overdue.as_of = Day(-14);
  EXPECT_TRUE(ledger->ListFindings(overdue, {})->findings.empty());

  overdue.as_of = absl::InfinitePast();
  EXPECT_EQ(ledger->ListFindings(overdue, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<FindingPage> first = ledger->ListFindings(p1, {5, ""});
  FindingFilter other;
  other.priority = "p2";
  EXPECT_EQ(
      ledger->ListFindings(other, {5, first->next_page_token}).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_P(LedgerTest, EventsResumeFromTheLastSequenceSeen) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(One(*ledger, Decision(absl::StrCat("k", i), Day(-2))).ok());
  }
  absl::StatusOr<std::vector<Event>> head = ledger->ListEvents(0, 3);
  ASSERT_TRUE(head.ok());
  ASSERT_EQ(head->size(), 3u);
  absl::StatusOr<std::vector<Event>> rest =
      ledger->ListEvents(head->back().seq, 100);
  ASSERT_EQ(rest->size(), 4u);
  EXPECT_EQ(rest->front().seq, 4);
  EXPECT_EQ(ledger->WaitForEvents(6, absl::Milliseconds(10)), 7);
  EXPECT_EQ(ledger->ListEvents(0, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Issue 10 audit: prev_hash is the hash of event seq - 1 on every event,
// also the first of a page or resume and one finding's events among
// others' (it was empty there: an export resumed at 28 began without it).
TEST_P(LedgerTest, EveryListedEventCarriesThePreviousEventsHash) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(
        One(*ledger, Decision(absl::StrCat("k", i % 2), Day(-7 + i))).ok());
  }
  absl::StatusOr<std::vector<Event>> all = ledger->ListEvents(0, 100);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 7u);
  EXPECT_EQ((*all)[0].prev_hash, std::string(64, '0'));
  for (size_t i = 1; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].prev_hash, (*all)[i - 1].hash) << "seq " << i + 1;
  }
  // Pages of 3 and resumes from every point.
  for (int64_t after = 1; after < 7; ++after) {
    absl::StatusOr<std::vector<Event>> page = ledger->ListEvents(after, 3);
    ASSERT_TRUE(page.ok());
    ASSERT_FALSE(page->empty());
    for (const Event& event : *page) {
      EXPECT_EQ(event.prev_hash, (*all)[event.seq - 2].hash)
          << "after " << after << ", seq " << event.seq;
    }
  }
  // One finding's events: seq 2, 4, 6.
  absl::StatusOr<std::vector<Event>> k1 = ledger->ListEvents(0, 100, "k1");
  ASSERT_TRUE(k1.ok());
  ASSERT_EQ(k1->size(), 3u);
  for (const Event& event : *k1) {
    EXPECT_EQ(event.prev_hash, (*all)[event.seq - 2].hash)
        << "seq " << event.seq;
  }
}

// One finding's events among another's: each one's predecessor is read
// from the store, all of them together (more than one statement's worth,
// Store::EventHashes takes 1,000 at a time).
TEST_P(LedgerTest, ScatteredEventsOfOneFindingAllCarryThePreviousHash) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  constexpr int kEvents = 2402;
  for (int batch = 0; batch < kEvents / 200 + 1; ++batch) {
    std::vector<Event> events;
    for (int n = batch * 200; n < std::min(kEvents, (batch + 1) * 200); ++n) {
      events.push_back(Decision(absl::StrCat("k", n % 2), Day(-2)));
      events.back().decision.decision_id = absl::StrCat("d", n);
      events.back().idempotency_key = absl::StrCat("req-", n);
    }
    for (const auto& appended : ledger->Append(std::move(events))) {
      ASSERT_TRUE(appended.ok()) << appended.status();
    }
  }
  absl::StatusOr<std::vector<Event>> all = ledger->ListEvents(0, 10000);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), static_cast<size_t>(kEvents));
  absl::StatusOr<std::vector<Event>> k1 = ledger->ListEvents(0, 10000, "k1");
  ASSERT_TRUE(k1.ok()) << k1.status();
  ASSERT_EQ(k1->size(), static_cast<size_t>(kEvents / 2));
  for (const Event& event : *k1) {
    ASSERT_EQ(event.prev_hash, (*all)[event.seq - 2].hash)
        << "seq " << event.seq;
  }
}

// The SQLite store inserts events in statements of 32, 16, ... 1 rows: every
// batch size must come out whole, in order, and verify.
TEST_P(LedgerTest, BatchesOfAnySizeAreStoredInOrder) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  std::vector<std::string> appended;  // finding keys in append order
  int n = 0;
  for (int size : {1, 2, 3, 31, 32, 33, 64, 95, 100}) {
    std::vector<Event> events;
    for (int i = 0; i < size; ++i, ++n) {
      events.push_back(Decision(absl::StrCat("k", n % 40), Day(-2)));
      // Distinct decisions (Decision() derives the id from key and time).
      events.back().decision.decision_id = absl::StrCat("d", n);
      events.back().idempotency_key = absl::StrCat("req-", n);
      appended.push_back(events.back().finding_key);
    }
    // A retry inside the batch is no row of its own.
    if (size > 2) events.push_back(events[1]);
    std::vector<absl::StatusOr<Appended>> results =
        ledger->Append(std::move(events));
    for (size_t i = 0; i < results.size(); ++i) {
      ASSERT_TRUE(results[i].ok()) << results[i].status();
      EXPECT_EQ(results[i]->duplicate, i == static_cast<size_t>(size));
    }
  }
  absl::StatusOr<std::vector<Event>> events = ledger->ListEvents(0, 1000);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), appended.size());
  for (size_t i = 0; i < appended.size(); ++i) {
    EXPECT_EQ((*events)[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ((*events)[i].finding_key, appended[i]);
    EXPECT_EQ((*events)[i].idempotency_key, absl::StrCat("req-", i));
  }
  absl::StatusOr<VerifyReport> report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, static_cast<int64_t>(appended.size()));
}

TEST_P(LedgerTest, SweepCandidatesAreMitigationsAndAcceptancesPastReview) {
  auto ledger = Open(/*now=*/Day(0));
  ASSERT_NE(ledger, nullptr);
  Event mitigate = Decision("m", Day(-20));
  mitigate.decision.review_by = Day(-5);
  ASSERT_TRUE(One(*ledger, mitigate).ok());
  ASSERT_TRUE(One(*ledger, Outcome(EventKind::kMitigated, "m", Day(-19))).ok());
  ASSERT_TRUE(One(*ledger, Decision("a", Day(-20))).ok());
  Event accept = Outcome(EventKind::kAccepted, "a", Day(-19));
  accept.until = Day(-1);
  ASSERT_TRUE(One(*ledger, accept).ok());
  Event open = Decision("o", Day(-20));
  open.decision.review_by = Day(-5);
  ASSERT_TRUE(One(*ledger, open).ok());

  absl::StatusOr<std::vector<FindingRecord>> due =
      ledger->SweepCandidates(Day(0), 10);
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].key, "m");  // oldest review first
  EXPECT_EQ((*due)[1].key, "a");
  EXPECT_EQ(ledger->SweepCandidates(Day(-3), 10)->size(), 1u);
  // A page after a position: the next candidate in (review_by, key) order.
  auto next = ledger->SweepCandidates(Day(0), 1, SweepPosition{Day(-5), "m"});
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ(next->front().key, "a");
  EXPECT_TRUE(
      ledger->SweepCandidates(Day(0), 1, SweepPosition{Day(-1), "a"})->empty());
  absl::StatusOr<LedgerGauges> gauges = ledger->Gauges(Day(0));
  ASSERT_TRUE(gauges.ok());
  EXPECT_EQ(gauges->open, 3);
  EXPECT_EQ(gauges->mitigation_debt, 2);
  EXPECT_EQ(gauges->overdue, 2);  // m and o: due day -13; a is accepted
  EXPECT_EQ(gauges->events, 5);
}

TEST_P(LedgerTest, OnlyOneHolderHasTheSweepLease) {
  auto first = Open();
  auto second = Open();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_TRUE(*first->AcquireLease("sweep", "replica-1", absl::Minutes(1)));
  EXPECT_FALSE(*second->AcquireLease("sweep", "replica-2", absl::Minutes(1)));
  EXPECT_TRUE(*first->AcquireLease("sweep", "replica-1", absl::Minutes(1)));
  ASSERT_TRUE(first->ReleaseLease("sweep", "replica-1").ok());
  EXPECT_TRUE(*second->AcquireLease("sweep", "replica-2", absl::Minutes(1)));
  // An expired lease is free: a later clock takes it over.
  auto later = Open(/*now=*/Day(2));
  EXPECT_TRUE(*later->AcquireLease("sweep", "replica-3", absl::Minutes(1)));
}

TEST_P(LedgerTest, ConcurrentAppendersRecordEveryEventExactlyOnce) {
  // Two ledgers on one database (two replicas), eight threads each; every
  // event is sent twice (a retry), some by the other replica.
  auto a = Open();
  auto b = Open();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr int kThreads = 8, kPerThread = 60;
  std::atomic<int> failures{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Event e = Decision(absl::StrCat("k", t, "-", i % 20), Day(-1));
        e.idempotency_key = absl::StrCat("req-", t, "-", i);
        for (Ledger* ledger : {a.get(), b.get()}) {
          absl::StatusOr<Appended> r = One(*ledger, e);
          if (!r.ok()) ++failures;
          if (r.ok() && r->duplicate) ++duplicates;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(duplicates, kThreads * kPerThread);
  absl::StatusOr<VerifyReport> report = a->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, kThreads * kPerThread);
}

// AppendAsync (a unary Decide's way in) returns at once; each callback
// runs exactly once, with every event's result, and only once the events
// are committed; a submission larger than a transaction is split and
// still answered once.
TEST_P(LedgerTest, AppendAsyncCallsBackOnceWithEveryResultWhenCommitted) {
  LedgerOptions options;
  options.url = url_;
  options.clock = [] { return Day(1); };
  options.max_batch_events = 2;  // The five-event call takes three.
  absl::StatusOr<std::unique_ptr<Ledger>> opened = Ledger::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  Ledger& ledger = **opened;
  constexpr int kCalls = 40;
  absl::Mutex mu;
  std::vector<int> answered(kCalls + 1, 0);
  std::vector<std::vector<absl::StatusOr<Appended>>> results(kCalls + 1);
  int64_t rows_seen_by_last = -1;
  for (int call = 0; call <= kCalls; ++call) {
    std::vector<Event> events;
    const int n = call == kCalls ? 5 : 1;
    for (int i = 0; i < n; ++i) {
      Event e = Decision(absl::StrCat("async-", call, "-", i), Day(-1));
      // The last call repeats the first one's key: a duplicate.
      e.idempotency_key = call == kCalls && i == 0
                              ? std::string("req-0")
                              : absl::StrCat("req-", call, "-", i);
      if (call == 0) e.idempotency_key = "req-0";
      events.push_back(std::move(e));
    }
    ledger.AppendAsync(
        std::move(events),
        [&, call](std::vector<absl::StatusOr<Appended>> appended) {
          // On the ledger's thread: read the database outside the ledger
          // only for the last call (it is the slow part).
          int64_t rows = -1;
          if (call == kCalls) rows = QueryInt("SELECT COUNT(*) FROM events");
          absl::MutexLock lock(&mu);
          ++answered[call];
          results[call] = std::move(appended);
          if (call == kCalls) rows_seen_by_last = rows;
        });
  }
  absl::MutexLock lock(&mu);
  auto all_answered = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (int count : answered) {
      if (count == 0) return false;
    }
    return true;
  };
  ASSERT_TRUE(
      mu.AwaitWithTimeout(absl::Condition(&all_answered), absl::Seconds(30)));
  std::set<int64_t> seqs;
  for (int call = 0; call <= kCalls; ++call) {
    EXPECT_EQ(answered[call], 1) << call;
    ASSERT_EQ(results[call].size(), call == kCalls ? 5u : 1u) << call;
    for (size_t i = 0; i < results[call].size(); ++i) {
      const absl::StatusOr<Appended>& r = results[call][i];
      ASSERT_TRUE(r.ok()) << call << ": " << r.status();
      if (call == kCalls && i == 0) {
        EXPECT_TRUE(r->duplicate);
        EXPECT_EQ(r->seq, results[0][0]->seq);
        continue;
      }
      EXPECT_FALSE(r->duplicate);
      EXPECT_TRUE(seqs.insert(r->seq).second) << r->seq;
    }
  }
  // Committed before the callback ran: another connection saw every event.
  EXPECT_EQ(rows_seen_by_last, kCalls + 4);
  absl::StatusOr<VerifyReport> report = ledger.Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, kCalls + 4);
}

// A decision fact that PostgreSQL indexes, too long for a btree entry
// (~2,704 bytes; 3,000 bytes of text that does not compress): refused as
// that event's INVALID_ARGUMENT naming the field, on both stores alike,
// while the other callers' events of the same transaction are recorded.
// Before, PostgreSQL failed the upsert (SQLSTATE 54000) and with it every
// event of the batch, as UNAVAILABLE, which a client retries forever.
TEST_P(LedgerTest, AnIndexedFactTooLongFailsOnlyItsOwnEvent) {
  auto ledger = Open(/*now=*/Day(0));
  ASSERT_NE(ledger, nullptr);
  std::string noise;
  uint32_t x = 12345;
  for (int i = 0; i < 3000; ++i) {
    x = x * 1103515245 + 12345;
    noise.push_back(static_cast<char>('!' + (x >> 16) % 94));
  }
  std::vector<std::vector<Event>> groups(3);
  groups[0] = {Decision("fine-1", Day(-3))};
  for (const char* field : {"owner", "asset", "vulnerability", "priority"}) {
    Event e = Decision(absl::StrCat("long-", field), Day(-3));
    DecisionFacts& d = e.decision;
    std::string* text = field == std::string("owner")   ? &d.owner
                        : field == std::string("asset") ? &d.asset
                        : field == std::string("vulnerability")
                            ? &d.vulnerability
                            : &d.priority;
    *text = noise;
    groups[1].push_back(std::move(e));
  }
  Event at_bound = Decision("at-bound", Day(-3));
  at_bound.decision.owner = noise.substr(0, 1024);
  groups[1].push_back(std::move(at_bound));
  groups[2] = {Decision("fine-2", Day(-3))};
  auto results = ledger->AppendGroups(std::move(groups));
  ASSERT_EQ(results.size(), 3u);
  ASSERT_EQ(results[0].size(), 1u);
  EXPECT_TRUE(results[0][0].ok()) << results[0][0].status();
  ASSERT_EQ(results[1].size(), 5u);
  const char* fields[] = {"owner", "asset", "vulnerability", "priority"};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(results[1][i].status().code(), absl::StatusCode::kInvalidArgument)
        << results[1][i].status();
    EXPECT_TRUE(absl::StartsWith(results[1][i].status().message(),
                                 absl::StrCat(fields[i], ": 3000 bytes")))
        << results[1][i].status();
  }
  EXPECT_TRUE(results[1][4].ok()) << results[1][4].status();
  ASSERT_EQ(results[2].size(), 1u);
  EXPECT_TRUE(results[2][0].ok()) << results[2][0].status();
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM events"), 3);
  EXPECT_EQ(ledger->Stats().failed_commits, 0);

  // A scan's idempotency key is indexed as well (and prefixes its derived
  // events' keys).
  ScanObservation scan;
  scan.scope = "id=host-1";
  scan.scanned_at = Day(-1);
  scan.idempotency_key = noise;
  absl::StatusOr<ScanResult> scanned = ledger->RecordScan(scan);
  EXPECT_EQ(scanned.status().code(), absl::StatusCode::kInvalidArgument)
      << scanned.status();
  EXPECT_TRUE(ledger->Verify()->ok);
}

// Holds the ledger's write lock from outside it until destroyed: SQLite's
// write lock, or the advisory lock of PostgreSQL's chain.
class OutsideWriteLock {
 public:
  OutsideWriteLock(Backend backend, const std::string& url) {
    if (backend == Backend::kPostgres) {
      pg_ = PQconnectdb(url.substr(strlen("postgresql:")).c_str());
      PGresult* result =
          PQexec(pg_, "SELECT pg_advisory_lock(8390880524983599105)");
      EXPECT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << PQerrorMessage(pg_);
      PQclear(result);
      return;
    }
    EXPECT_EQ(sqlite3_open(url.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  ~OutsideWriteLock() {
    if (pg_ != nullptr) PQfinish(pg_);
    if (db_ != nullptr) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db_);
    }
  }

 private:
  PGconn* pg_ = nullptr;
  sqlite3* db_ = nullptr;
};

// A batch that cannot take the write lock fails whole and writes nothing;
// sent again (the caller's retry: the ledger itself retries nothing) it is
// recorded once, each event encoded and hashed as if the failure had never
// been: the chain equals that of a ledger that recorded the same events
// without it.
TEST_P(LedgerTest, ABatchThatFailedIsRecordedOnceWhenSentAgain) {
  auto batch = [] {
    std::vector<Event> events;
    events.push_back(Decision("k1", Day(-1)));
    events.push_back(Outcome(EventKind::kMitigated, "k0", Day(-1)));
    Event keyed = Decision("k2", Day(-1), "p2");
    keyed.idempotency_key = "req-k2";
    events.push_back(std::move(keyed));
    return events;
  };
  auto record = [&](const std::string& url, bool fail_first) -> std::string {
    LedgerOptions options;
    options.url = url;
    options.lock_timeout = absl::Milliseconds(200);
    options.clock = [] { return Day(1); };
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(options);
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    if (!ledger.ok()) return "";
    EXPECT_TRUE(One(**ledger, Decision("k0", Day(-2))).ok());
    if (fail_first) {
      OutsideWriteLock lock(GetParam(), url);
      for (const absl::StatusOr<Appended>& r : (*ledger)->Append(batch())) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable)
            << r.status();
      }
      EXPECT_EQ((*ledger)->Stats().failed_commits, 1);
      EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM events"), 1);
    }
    std::vector<absl::StatusOr<Appended>> sent = (*ledger)->Append(batch());
    for (size_t i = 0; i < sent.size(); ++i) {
      EXPECT_TRUE(sent[i].ok()) << sent[i].status();
      if (!sent[i].ok()) continue;
      EXPECT_FALSE(sent[i]->duplicate);
      EXPECT_EQ(sent[i]->seq, static_cast<int64_t>(i) + 2);
    }
    // Once more: every event is already there.
    for (const absl::StatusOr<Appended>& r : (*ledger)->Append(batch())) {
      EXPECT_TRUE(r.ok() && r->duplicate) << r.status();
    }
    absl::StatusOr<VerifyReport> report = (*ledger)->Verify();
    EXPECT_TRUE(report.ok()) << report.status();
    if (!report.ok()) return "";
    EXPECT_TRUE(report->ok) << report->problem;
    EXPECT_EQ(report->events_checked, 4);
    absl::StatusOr<FindingHistory> k0 = (*ledger)->GetFinding("k0");
    EXPECT_TRUE(k0.ok()) << k0.status();
    if (k0.ok()) {
      EXPECT_EQ(k0->finding.state, FindingState::kMitigated);
      EXPECT_EQ(k0->events.size(), 2u);
    }
    return report->head_hash;
  };
  const std::string retried = record(url_, /*fail_first=*/true);
  std::string reference_url;
  if (GetParam() == Backend::kPostgres) {
    reference_url =
        "postgresql:" + pg_->CreateDatabase(database_ + "_reference");
  } else {
    reference_url = (dir_ / "reference.db").string();
  }
  const std::string reference = record(reference_url, /*fail_first=*/false);
  EXPECT_EQ(retried.size(), 64u);
  EXPECT_EQ(retried, reference);
}

// PostgreSQL restarting under a running ledger: while it is down an
// append fails UNAVAILABLE and writes nothing; once it is back the next
// append is recorded (the writer reconnects; its old connection broke while
// idle, which it learns only when it sends BEGIN), and so is the retry of
// the one that failed, once.
TEST_P(LedgerTest, PostgresRestartFailsAppendsUnavailableUntilItIsBack) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(One(*ledger, Decision("k0", Day(-2))).ok());

  // Restarted between two transactions: the first one after it commits.
  ASSERT_TRUE(pg_->Stop());
  ASSERT_TRUE(pg_->Restart());
  absl::StatusOr<Appended> after_restart =
      One(*ledger, Decision("k1", Day(-2)));
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_EQ(after_restart->seq, 2);

  // Down: appends fail, clearly, and nothing is recorded.
  ASSERT_TRUE(pg_->Stop());
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Appended> down = One(*ledger, Decision("k2", Day(-2)));
    EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable)
        << down.status();
    EXPECT_TRUE(absl::StrContains(down.status().message(), "postgresql"))
        << down.status();
  }
  ASSERT_TRUE(pg_->Restart());
  absl::StatusOr<Appended> retried = One(*ledger, Decision("k2", Day(-2)));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_FALSE(retried->duplicate);
  EXPECT_EQ(retried->seq, 3);
  EXPECT_EQ(ledger->Stats().failed_commits, 2);
  absl::StatusOr<VerifyReport> report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, 3);
}

// What PostgreSQL answers when it cannot write (its disk is full, an I/O
// error, a standby after a failover) is UNAVAILABLE, not INTERNAL;
// corruption is DATA_LOSS. Each error is raised, with its real SQLSTATE,
// by a trigger on the events table. An append that fails on any of them
// is UNAVAILABLE (the database could not commit, and the server's
// --ledger-down applies), naming the store's code when it is another. The
// retry once the error is gone is recorded once.
TEST_P(LedgerTest, PostgresWriteFailuresFailTheAppendUnavailable) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(One(*ledger, Decision("k0", Day(-2))).ok());
  const struct {
    const char* sqlstate;
    absl::StatusCode code;
  } cases[] = {
      {"53100", absl::StatusCode::kUnavailable},  // disk_full
      {"58030", absl::StatusCode::kUnavailable},  // io_error
      {"25006", absl::StatusCode::kUnavailable},  // read_only_sql_transaction
      {"XX001", absl::StatusCode::kDataLoss},     // data_corrupted
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sqlstate);
    Tamper(absl::StrCat(
        "CREATE OR REPLACE FUNCTION fail_insert() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'simulated' USING ERRCODE = '",
        c.sqlstate,
        "'; END $$ LANGUAGE plpgsql; "
        "DROP TRIGGER IF EXISTS fail_insert ON events; "
        "CREATE TRIGGER fail_insert BEFORE INSERT ON events "
        "FOR EACH ROW EXECUTE FUNCTION fail_insert()"));
    absl::StatusOr<Appended> failed = One(*ledger, Decision("k1", Day(-2)));
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable)
        << failed.status();
    EXPECT_TRUE(absl::StrContains(failed.status().message(), "simulated"))
        << failed.status();
    // The store's own code, named when it is not UNAVAILABLE.
    EXPECT_FALSE(absl::StrContains(failed.status().message(), "(INTERNAL)"))
        << failed.status();
    EXPECT_EQ(absl::StrContains(failed.status().message(), "(DATA_LOSS)"),
              c.code == absl::StatusCode::kDataLoss)
        << failed.status();
    // Failed before COMMIT: known not to be written.
    EXPECT_FALSE(absl::StrContains(failed.status().message(), "unknown"))
        << failed.status();
  }
  Tamper("DROP TRIGGER fail_insert ON events");
  absl::StatusOr<Appended> retried = One(*ledger, Decision("k1", Day(-2)));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->seq, 2);
  EXPECT_TRUE(ledger->Verify()->ok);
}

// The connection breaking during COMMIT (a deferred trigger terminates the
// server's own session at COMMIT time): the reply is lost, so whether the
// transaction committed is unknown, and the message says so instead of
// "nothing written". Sent again it is recorded once.
TEST_P(LedgerTest, PostgresCommitWhoseReplyIsLostIsReportedUnknown) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(One(*ledger, Decision("k0", Day(-2))).ok());
  Tamper(
      "CREATE FUNCTION lose_commit() RETURNS trigger AS $$ "
      "BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; "
      "END $$ LANGUAGE plpgsql; "
      "CREATE CONSTRAINT TRIGGER lose_commit AFTER INSERT ON events "
      "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
      "EXECUTE FUNCTION lose_commit()");
  absl::StatusOr<Appended> lost = One(*ledger, Decision("k1", Day(-2)));
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable)
      << lost.status();
  EXPECT_TRUE(absl::StrContains(lost.status().message(),
                                "the outcome is unknown; sent again with the "
                                "same idempotency key it is recorded once"))
      << lost.status();
  Tamper("DROP TRIGGER lose_commit ON events");
  absl::StatusOr<Appended> retried = One(*ledger, Decision("k1", Day(-2)));
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(retried->seq, 2);
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM events"), 2);
}

// A writer whose session is read-only (SQLSTATE 25006: connected to a
// standby after a failover, here a database whose sessions default to
// read-only) connects again after that error, so once the database takes
// writes again (the new primary) the next append is recorded instead of
// failing on the old session forever.
TEST_P(LedgerTest, PostgresWriterConnectsAgainAfterAReadOnlyError) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(One(*ledger, Decision("k0", Day(-2))).ok());
  ASSERT_TRUE(pg_->Execute("ALTER DATABASE " + database_ +
                           " SET default_transaction_read_only = on"));
  // The ledger's sessions end; the writer's next one is read-only.
  ASSERT_TRUE(
      pg_->Execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = '" +
                   database_ + "' AND pid <> pg_backend_pid()"));
  absl::StatusOr<Appended> read_only = One(*ledger, Decision("k1", Day(-2)));
  EXPECT_EQ(read_only.status().code(), absl::StatusCode::kUnavailable)
      << read_only.status();
  EXPECT_TRUE(absl::StrContains(read_only.status().message(), "read-only"))
      << read_only.status();
  ASSERT_TRUE(pg_->Execute("ALTER DATABASE " + database_ +
                           " RESET default_transaction_read_only"));
  absl::StatusOr<Appended> writable = One(*ledger, Decision("k1", Day(-2)));
  ASSERT_TRUE(writable.ok()) << writable.status();
  EXPECT_EQ(writable->seq, 2);
}

// A read that fails UNAVAILABLE for a reason a new connection meets alike
// (here SQLSTATE 57014, a statement timeout, raised by the marks the read
// goes through) runs once, not again on a new connection; a read whose
// pooled connection broke (the server restarted) runs again and succeeds.
TEST_P(LedgerTest, PostgresReadsRunAgainOnlyWhenTheConnectionBroke) {
  if (GetParam() != Backend::kPostgres) GTEST_SKIP() << "PostgreSQL only";
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(ledger->PutMark("m", "v").ok());  // a pooled connection
  Tamper(
      "CREATE SEQUENCE read_attempts; "
      "ALTER TABLE marks RENAME TO marks_table; "
      "CREATE FUNCTION timed_out(text) RETURNS text AS $$ "
      "BEGIN PERFORM nextval('read_attempts'); "
      "RAISE EXCEPTION 'simulated' USING ERRCODE = '57014'; "
      "END $$ LANGUAGE plpgsql; "
      "CREATE VIEW marks AS SELECT name, timed_out(value) AS value, "
      "updated_us FROM marks_table");
  absl::StatusOr<std::optional<std::string>> timed_out = ledger->GetMark("m");
  EXPECT_EQ(timed_out.status().code(), absl::StatusCode::kUnavailable)
      << timed_out.status();
  EXPECT_EQ(QueryInt("SELECT last_value FROM read_attempts"), 1);
  Tamper("DROP VIEW marks; ALTER TABLE marks_table RENAME TO marks");

  ASSERT_TRUE(pg_->Stop());
  ASSERT_TRUE(pg_->Restart());
  absl::StatusOr<std::optional<std::string>> after_restart =
      ledger->GetMark("m");
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_EQ(after_restart->value_or(""), "v");
}

// A full disk under SQLite (files may not grow past the WAL's size,
// RLIMIT_FSIZE standing in for the device): appends fail UNAVAILABLE and
// write nothing, nothing crashes, and once there is room again the same
// events are recorded once and the chain verifies, also after reopening.
TEST_P(LedgerTest, SqliteDiskFullFailsAppendsUntilThereIsRoom) {
  if (GetParam() != Backend::kSqlite) GTEST_SKIP() << "SQLite only";
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  ASSERT_TRUE(One(*ledger, Decision("k0", Day(-2))).ok());
  auto batch = [] {
    std::vector<Event> events;
    for (int i = 0; i < 300; ++i) {
      Event e = Decision(absl::StrCat("k", i + 1), Day(-2));
      e.decision.owner = std::string(400, 'o');
      events.push_back(std::move(e));
    }
    return events;
  };
  // Both exist (WAL mode, one commit made); a failed size would be -1 and
  // the limit below would wrap.
  std::error_code error;
  const uintmax_t wal = std::filesystem::file_size(url_ + "-wal", error);
  ASSERT_FALSE(error) << error.message();
  const uintmax_t db = std::filesystem::file_size(url_, error);
  ASSERT_FALSE(error) << error.message();
  // SQLite names the file by its canonical path (symlinks resolved, e.g.
  // a symlinked TMPDIR).
  const std::string canonical = std::filesystem::canonical(url_).string();
  rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit full = saved;
  full.rlim_cur = std::max<uintmax_t>(wal, db) + 4096;
  // Past the limit write() fails (EFBIG) instead of the process being
  // killed by SIGXFSZ.
  auto previous = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &full), 0);
  std::vector<absl::StatusOr<Appended>> failed = ledger->Append(batch());
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  std::signal(SIGXFSZ, previous);
  for (const absl::StatusOr<Appended>& r : failed) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    // Which file.
    EXPECT_TRUE(absl::StrContains(r.status().message(), canonical))
        << r.status();
  }
  EXPECT_EQ(QueryInt("SELECT COUNT(*) FROM events"), 1);

  for (const absl::StatusOr<Appended>& r : ledger->Append(batch())) {
    EXPECT_TRUE(r.ok() && !r->duplicate) << r.status();
  }
  EXPECT_TRUE(ledger->Verify()->ok);
  ledger.reset();
  ledger = Open();
  ASSERT_NE(ledger, nullptr);
  absl::StatusOr<VerifyReport> report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, 301);
}

TEST_P(LedgerTest, VerifyPassesOnAnUntouchedChain) {
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(One(*ledger, Decision(absl::StrCat("k", i), Day(-2))).ok());
  }
  absl::StatusOr<VerifyReport> report = ledger->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, 5);
  EXPECT_EQ(report->head_hash.size(), 64u);
}

struct Tampering {
  const char* name;
  const char* sql;
  int64_t first_bad_seq;
};

TEST_P(LedgerTest, VerifyNamesTheFirstEditedInsertedOrDeletedEvent) {
  const std::vector<Tampering> cases = {
      {"edit body",
       "UPDATE events SET body = replace(body, 'p1', 'p9') "
       "WHERE seq = 3",
       3},
      {"edit column", "UPDATE events SET finding_key = 'x' WHERE seq = 2", 2},
      {"delete middle", "DELETE FROM events WHERE seq = 4", 4},
      {"delete tail", "DELETE FROM events WHERE seq >= 5", 5},
      {"insert after head",
       "INSERT INTO events SELECT seq + 100, finding_key, kind, occurred_us, "
       "recorded_us, idempotency_key || 'x', body, hash FROM events "
       "WHERE seq = 6",
       106},
      {"insert middle",
       "UPDATE events SET seq = seq + 100 WHERE seq >= 3; "
       "UPDATE events SET seq = seq - 99 WHERE seq >= 103; "
       "INSERT INTO events SELECT 3, finding_key, kind, occurred_us, "
       "recorded_us, idempotency_key || 'x', body, hash FROM events "
       "WHERE seq = 2; UPDATE chain_head SET seq = 7",
       3},
  };
  for (const Tampering& c : cases) {
    SCOPED_TRACE(c.name);
    TearDown();
    SetUp();  // a fresh database per case
    auto ledger = Open();
    ASSERT_NE(ledger, nullptr);
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE(One(*ledger, Decision(absl::StrCat("k", i), Day(-2))).ok());
    }
    Tamper(c.sql);
    absl::StatusOr<VerifyReport> report = ledger->Verify();
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_FALSE(report->ok);
    EXPECT_EQ(report->first_bad_seq, c.first_bad_seq) << report->problem;
    EXPECT_FALSE(report->problem.empty());
  }
}

TEST_P(LedgerTest, KpiScenarioThroughTheStoreGivesTheHandComputedFigures) {
  auto ledger = Open(/*now=*/Day(1));
  ASSERT_NE(ledger, nullptr);
  for (Event& e : testing::ScenarioEvents()) {
    absl::StatusOr<Appended> a = One(*ledger, e);
    ASSERT_TRUE(a.ok()) << e.finding_key << " " << EventKindName(e.kind) << ": "
                        << a.status();
  }
  absl::StatusOr<KpiReport> report =
      ledger->Kpis(testing::ScenarioQuery({KpiGroupBy::kPriority}));
  ASSERT_TRUE(report.ok()) << report.status();
  testing::ExpectScenarioFigures(*report);
}

// The store's KPI path (SQLite rows; PostgreSQL's binary COPY) hands the
// arithmetic exactly the episodes the ledger holds: the report equals
// ComputeKpis over the current rows read back through ListFindings, to the
// last bit, with risks and times that are not round numbers.
TEST_P(LedgerTest, KpisThroughTheStoreEqualTheArithmeticOverItsFindings) {
  auto ledger = Open(/*now=*/Day(1));
  ASSERT_NE(ledger, nullptr);
  std::vector<Event> events;
  for (int i = 0; i < 120; ++i) {
    const std::string key = absl::StrCat("f", i);
    const absl::Time opened = Day(-150) +
                              absl::Seconds(86400 * (i % 130) + 7 * i) +
                              absl::Microseconds(i * 1013);
    Event d = Decision(key, opened, absl::StrCat("p", 1 + i % 3));
    d.decision.owner = absl::StrCat("team-", i % 4);
    d.decision.residual_risk = 0.1 * (i % 11) + 0.013 * i;
    if (i % 4 == 1) d.decision.review_by = opened + absl::Hours(24 * 9 + i);
    events.push_back(d);
    const absl::Time later = opened + absl::Seconds(3600 * (1 + i % 300));
    if (i % 4 == 0) {
      events.push_back(Outcome(EventKind::kRemediated, key, later));
    } else if (i % 4 == 1) {
      events.push_back(Outcome(EventKind::kMitigated, key, later));
    } else if (i % 8 == 2) {
      events.push_back(Outcome(EventKind::kAccepted, key, later));
    } else if (i % 8 == 6) {
      events.push_back(Outcome(EventKind::kFalsePositive, key, later));
    }
  }
  for (const auto& result : ledger->Append(events)) {
    ASSERT_TRUE(result.ok()) << result.status();
  }
  // One commit of ~200 events (multi-row inserts of 32, 16, ... rows),
  // every one stored in order and chained.
  absl::StatusOr<std::vector<Event>> stored = ledger->ListEvents(0, 1000);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(stored->at(i).seq, static_cast<int64_t>(i + 1));
    ASSERT_EQ(stored->at(i).finding_key, events[i].finding_key);
    ASSERT_EQ(stored->at(i).kind, events[i].kind);
  }
  absl::StatusOr<VerifyReport> verified = ledger->Verify();
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;
  EXPECT_EQ(verified->events_checked, static_cast<int64_t>(events.size()));
  absl::StatusOr<FindingPage> page = ledger->ListFindings({}, {1000, ""});
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->findings.size(), 120u);
  auto us = [](const std::optional<absl::Time>& t) {
    return t.has_value() ? absl::ToUnixMicros(*t) : 0;
  };
  std::vector<EpisodeRow> episodes;
  for (const FindingRecord& f : page->findings) {
    EpisodeRow e;
    e.priority = f.priority;
    e.kind = f.kind;
    e.owner = f.owner;
    e.opened_us = absl::ToUnixMicros(f.opened_at);
    e.mitigated_us = us(f.mitigated_at);
    e.accepted_us = us(f.accepted_at);
    e.closed_us = us(f.closed_at);
    e.closed_remediated =
        f.closed_at.has_value() && f.state == FindingState::kRemediated;
    e.remediate_by_us = us(f.remediate_by);
    e.review_by_us = us(f.review_by);
    e.residual_risk = f.residual_risk;
    episodes.push_back(std::move(e));
  }
  // as_of now, and 40 days back (findings closed since are open at as_of,
  // others not yet opened: the PostgreSQL store reads those rows apart).
  for (const absl::Time as_of :
       {Day(0) + absl::Microseconds(123457), Day(-40) + absl::Seconds(1)}) {
    for (const auto& group_by : std::vector<std::vector<KpiGroupBy>>{
             {},
             {KpiGroupBy::kPriority, KpiGroupBy::kOwner},
             {KpiGroupBy::kKind}}) {
      KpiQuery query = testing::ScenarioQuery(group_by);
      query.as_of = as_of;
      query.window = absl::Hours(24 * 60);
      absl::StatusOr<KpiReport> stored = ledger->Kpis(query);
      absl::StatusOr<KpiReport> computed = ComputeKpis(query, episodes);
      ASSERT_TRUE(stored.ok()) << stored.status();
      ASSERT_TRUE(computed.ok()) << computed.status();
      EXPECT_GT(stored->total.remediated_in_window, 5);
      EXPECT_GT(stored->total.mitigation_debt, 3);
      EXPECT_TRUE(SameFigures(*stored, *computed))
          << "open " << stored->total.open << " vs " << computed->total.open
          << ", risk " << stored->total.residual_risk_sum << " vs "
          << computed->total.residual_risk_sum;
    }
  }
}

TEST_P(LedgerTest, Version1LedgerIsMigratedAndGivesTheSameKpisAndGauges) {
  absl::StatusOr<LedgerGauges> gauges_before;
  {
    auto ledger = Open(/*now=*/Day(1));
    ASSERT_NE(ledger, nullptr);
    for (Event& e : testing::ScenarioEvents()) {
      ASSERT_TRUE(One(*ledger, e).ok()) << e.finding_key;
    }
    gauges_before = ledger->Gauges(testing::ScenarioAsOf());
    ASSERT_TRUE(gauges_before.ok()) << gauges_before.status();
  }
  BackToSchemaVersion1();
  ASSERT_EQ(QueryInt("SELECT MAX(version) FROM ledger_schema"), 1);
  const std::string count_kpi_index =
      GetParam() == Backend::kPostgres
          ? "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'findings_kpi'"
          : "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'findings_kpi'";
  ASSERT_EQ(QueryInt(count_kpi_index), 0);

  auto ledger = Open(/*now=*/Day(1));
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(QueryInt("SELECT MAX(version) FROM ledger_schema"),
            LatestSchemaVersion());
  EXPECT_EQ(QueryInt(count_kpi_index), 1);
  absl::StatusOr<KpiReport> report =
      ledger->Kpis(testing::ScenarioQuery({KpiGroupBy::kPriority}));
  ASSERT_TRUE(report.ok()) << report.status();
  testing::ExpectScenarioFigures(*report);
  absl::StatusOr<LedgerGauges> gauges = ledger->Gauges(testing::ScenarioAsOf());
  ASSERT_TRUE(gauges.ok()) << gauges.status();
  EXPECT_EQ(gauges->open, gauges_before->open);
  EXPECT_EQ(gauges->overdue, gauges_before->overdue);
  EXPECT_EQ(gauges->mitigation_debt, gauges_before->mitigation_debt);
  EXPECT_EQ(gauges->events, gauges_before->events);
  EXPECT_GT(gauges->open, 0);
  EXPECT_GT(gauges->overdue, 0);
  EXPECT_GT(gauges->mitigation_debt, 0);
  EXPECT_TRUE(ledger->Verify()->ok);
}

// A ledger of schema version 3 (main before this change) stored every body
// whole. Its events must keep verifying after the migration to version 4,
// next to new events stored without their column values.
TEST_P(LedgerTest, Version3LedgerWithWholeBodiesIsMigratedAndVerifies) {
  constexpr int kOld = 6, kNew = 5;
  {
    auto ledger = Open();
    ASSERT_NE(ledger, nullptr);
    for (int i = 0; i < kOld; ++i) {
      Event e = Decision(absl::StrCat("k", i % 4), Day(-3));
      e.decision.decision_id = absl::StrCat("old-", i);
      e.idempotency_key = absl::StrCat("old-it's-", i);  // a quote to escape
      ASSERT_TRUE(One(*ledger, e).ok());
    }
    absl::StatusOr<std::vector<Event>> events = ledger->ListEvents(0, 100);
    ASSERT_TRUE(events.ok()) << events.status();
    ASSERT_EQ(events->size(), static_cast<size_t>(kOld));
    // Rewrite each row as version 3 wrote it: the canonical encoding whole.
    for (const Event& e : *events) {
      Tamper(
          absl::StrCat("UPDATE events SET body = '",
                       absl::StrReplaceAll(CanonicalEncoding(e), {{"'", "''"}}),
                       "' WHERE seq = ", e.seq));
    }
  }
  Tamper("DELETE FROM ledger_schema WHERE version > 3");
  const std::string elided =
      "SELECT COUNT(*) FROM events WHERE body LIKE '%\":@%'";
  ASSERT_EQ(QueryInt(elided), 0);
  ASSERT_EQ(QueryInt("SELECT MAX(version) FROM ledger_schema"), 3);

  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(QueryInt("SELECT MAX(version) FROM ledger_schema"),
            LatestSchemaVersion());
  absl::StatusOr<VerifyReport> report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, kOld);
  for (int i = 0; i < kNew; ++i) {
    Event e = Decision(absl::StrCat("k", i % 4), Day(-2));
    e.decision.decision_id = absl::StrCat("new-", i);
    e.idempotency_key = absl::StrCat("new-it's-", i);
    ASSERT_TRUE(One(*ledger, e).ok());
  }
  // The old rows stay whole; the new ones keep each column value once.
  EXPECT_EQ(QueryInt(elided), kNew);
  report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, kOld + kNew);
  absl::StatusOr<FindingHistory> history = ledger->GetFinding("k1");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->events.size(), 3u);  // old 1, old 5, new 1
  EXPECT_EQ(history->events[0].idempotency_key, "old-it's-1");
  EXPECT_EQ(history->events[2].idempotency_key, "new-it's-1");
  EXPECT_EQ(history->events[2].finding_key, "k1");
  EXPECT_EQ(history->events[2].seq, kOld + 2);
  EXPECT_EQ(history->events[2].occurred_at, Day(-2));

  // An edited column of a new event breaks the chain there.
  Tamper(
      absl::StrCat("UPDATE events SET occurred_us = occurred_us + 1 "
                   "WHERE seq = ",
                   kOld + 3));
  report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->first_bad_seq, kOld + 3) << report->problem;
}

TEST_P(LedgerTest, EventsSurviveReopening) {
  {
    auto ledger = Open();
    ASSERT_NE(ledger, nullptr);
    ASSERT_TRUE(One(*ledger, Decision("k1", Day(-2))).ok());
  }
  auto ledger = Open();
  ASSERT_NE(ledger, nullptr);
  EXPECT_EQ(ledger->GetFinding("k1")->events.size(), 1u);
  ASSERT_TRUE(One(*ledger, Decision("k2", Day(-2))).ok());
  EXPECT_TRUE(ledger->Verify()->ok);
}

INSTANTIATE_TEST_SUITE_P(Stores, LedgerTest,
                         ::testing::Values(Backend::kSqlite,
                                           Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "Sqlite"
                                                                 : "Postgres";
                         });

}  // namespace
}  // namespace treatd::ledger
