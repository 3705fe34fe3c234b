// The SQLite plans of the queries that run over the whole ledger: the
// Prometheus gauges (on every scrape) and the KPIs must read indexes only,
// never the findings table, whose rows lie among the events' pages in a
// large file (seconds over a million findings; bench/ledger_bench.cc).
// Without table statistics SQLite picks plans by heuristics, so a new index
// or a reworded query can change them silently: this test notices.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/ledger/ledger.h"
#include "common/ledger/sql_rows.h"
#include "gtest/gtest.h"

namespace treatd::ledger {
namespace {

class SqliteQueryPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("treatd-ledger-plan-", getpid());
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "ledger.db").string();
    LedgerOptions options;
    options.url = path_;
    ASSERT_TRUE(Ledger::Open(options).ok());  // creates the schema
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db_), SQLITE_OK);
  }
  void TearDown() override {
    sqlite3_close(db_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // The EXPLAIN QUERY PLAN lines of `sql`, one per line.
  std::string Plan(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    const std::string explain = "EXPLAIN QUERY PLAN " + sql;
    EXPECT_EQ(sqlite3_prepare_v2(db_, explain.c_str(), -1, &stmt, nullptr),
              SQLITE_OK)
        << sqlite3_errmsg(db_);
    std::string plan;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      plan += "\n";
    }
    sqlite3_finalize(stmt);
    return plan;
  }

  static int Count(const std::string& text, const std::string& what) {
    int n = 0;
    for (size_t at = text.find(what); at != std::string::npos;
         at = text.find(what, at + 1)) {
      ++n;
    }
    return n;
  }

  std::filesystem::path dir_;
  std::string path_;
  sqlite3* db_ = nullptr;
};

TEST_F(SqliteQueryPlanTest, GaugesCountInCoveringIndexRanges) {
  const std::string plan = Plan(sql::kGauges);
  EXPECT_EQ(Count(plan, "SEARCH findings USING COVERING INDEX"), 3) << plan;
  EXPECT_EQ(
      Count(plan, "findings_by_state_due (state=? AND remediate_by_us<?)"), 1)
      << plan;
  EXPECT_EQ(
      Count(plan, "findings_by_state_review (state=? AND review_by_us<?)"), 1)
      << plan;
  EXPECT_EQ(Count(plan, "SCAN findings"), 0) << plan;
}

// The sweep's page after its cursor seeks into the (state, review_by_us)
// range instead of walking every expired candidate before the cursor.
TEST_F(SqliteQueryPlanTest, SweepCandidatesSeekTheReviewRangeAfterTheCursor) {
  const std::string plan = Plan(sql::kSweepCandidates);
  EXPECT_EQ(Count(plan,
                  "findings_by_state_review (state=? AND "
                  "review_by_us>? AND review_by_us<?)"),
            1)
      << plan;
  EXPECT_EQ(Count(plan, "SCAN findings"), 0) << plan;
}

TEST_F(SqliteQueryPlanTest, KpiEpisodesReadTheKpiIndexNotTheTable) {
  const std::string plan = Plan(sql::kKpiEpisodes);
  EXPECT_EQ(Count(plan, "SEARCH findings USING COVERING INDEX findings_kpi"), 2)
      << plan;
  EXPECT_EQ(Count(plan, "SCAN findings"), 0) << plan;
}

}  // namespace
}  // namespace treatd::ledger
