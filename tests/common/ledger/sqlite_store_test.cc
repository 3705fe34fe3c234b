// The SQLite store's WAL checkpoints: run on the store's own thread, they
// keep the WAL bounded and move every committed page into the database.
#include "common/ledger/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace treatd::ledger {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat(
               "treatd-sqlite-store-", getpid(), "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::filesystem::path dir_;
};

// `count` events from seq `first`, each with a ~2 KB body.
std::vector<StoredEvent> Events(int64_t first, int count) {
  std::vector<StoredEvent> events;
  for (int64_t seq = first; seq < first + count; ++seq) {
    StoredEvent e;
    e.seq = seq;
    e.finding_key = absl::StrCat("k", seq % 7);
    e.occurred_us = seq;
    e.recorded_us = seq;
    e.idempotency_key = absl::StrCat("key-", seq);
    e.body = std::string(2000, static_cast<char>('a' + seq % 26));
    e.hash = std::string(64, '0');
    events.push_back(std::move(e));
  }
  return events;
}

TEST_F(SqliteStoreTest, CheckpointsKeepTheWalBoundedAndLoseNothing) {
  const std::string path = (dir_ / "ledger.db").string();
  constexpr int kCommits = 60;
  constexpr int kPerCommit = 100;  // ~50 pages of WAL per commit
  uintmax_t largest_wal = 0;
  {
    SqliteOptions options;
    options.path = path;
    options.checkpoint_pages = 16;
    absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(options);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < kCommits; ++i) {
      ASSERT_TRUE((*store)->BeginAppend().ok());
      ASSERT_TRUE(
          (*store)->InsertEvents(Events(1 + i * kPerCommit, kPerCommit)).ok());
      ASSERT_TRUE((*store)
                      ->WriteHead({(i + 1) * kPerCommit, std::string(64, '0')})
                      .ok());
      ASSERT_TRUE((*store)->CommitAppend().ok());
      std::error_code ignored;
      largest_wal = std::max(
          largest_wal, std::filesystem::file_size(path + "-wal", ignored));
    }
    // The events reached the database file, not only the WAL: ~12 MB
    // written, and without checkpoints the WAL would hold all of it.
    EXPECT_GT(std::filesystem::file_size(path), 4u << 20);
    EXPECT_LT(largest_wal, 4u << 20);
    absl::StatusOr<ChainHead> head = (*store)->StoredHead();
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(head->seq, kCommits * kPerCommit);
  }
  // Every event is there for another connection after the store closed.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT COUNT(*), MAX(seq) FROM events", -1,
                               &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(stmt, 0), kCommits * kPerCommit);
  EXPECT_EQ(sqlite3_column_int64(stmt, 1), kCommits * kPerCommit);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

}  // namespace
}  // namespace treatd::ledger
