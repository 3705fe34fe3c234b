// Opening a ledger on something that is not a healthy database gives a clear
// status, never a crash.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ledger/ledger.h"
#include "common/ledger/thread_name.h"
#include "gtest/gtest.h"

namespace treatd::ledger {
namespace {

class LedgerOpenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat(
               "treatd-ledger-open-", getpid(), "-",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  absl::Status OpenStatus(const std::string& url,
                          absl::Duration lock_timeout = absl::Seconds(10)) {
    LedgerOptions options;
    options.url = url;
    options.lock_timeout = lock_timeout;
    return Ledger::Open(options).status();
  }

  std::string Path(const std::string& name) const {
    return (dir_ / name).string();
  }

  std::filesystem::path dir_;
};

TEST_F(LedgerOpenTest, CreatesAMissingFileAndReopensIt) {
  EXPECT_TRUE(OpenStatus(Path("new.db")).ok());
  EXPECT_TRUE(std::filesystem::exists(Path("new.db")));
  EXPECT_TRUE(OpenStatus("sqlite:" + Path("new.db")).ok());
}

// The names of this process's threads (/proc/self/task/*/comm).
std::multiset<std::string> ThreadNames() {
  std::multiset<std::string> names;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    names.insert(name);
  }
  return names;
}

// bench/ledger_thread_cpu.sh tells the ledger's threads apart by name.
TEST_F(LedgerOpenTest, AnOpenSqliteLedgerNamesItsThreads) {
  LedgerOptions options;
  options.url = Path("named.db");
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(options);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  // Each thread names itself once it runs.
  auto count = [](absl::string_view name) {
    return ThreadNames().count(std::string(name));
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (count(kCommitterThreadName) + count(kCheckpointThreadName) +
                 count(kSyncThreadName) <
             4 &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(count(kCommitterThreadName), 1u);
  EXPECT_EQ(count(kCheckpointThreadName), 1u);
  // synchronous "full" (the default): the committer's sync threads.
  EXPECT_EQ(count(kSyncThreadName), 2u);
  ledger->reset();
  EXPECT_EQ(count(kCommitterThreadName), 0u);
}

TEST_F(LedgerOpenTest, AFileThatIsNotADatabaseIsFailedPrecondition) {
  std::ofstream(Path("junk.db")) << std::string(8192, 'x');
  absl::Status status = OpenStatus(Path("junk.db"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find(Path("junk.db")), absl::string_view::npos);
  EXPECT_NE(status.message().find("not a database"), absl::string_view::npos)
      << status;
}

TEST_F(LedgerOpenTest, ACorruptDatabaseIsFailedPrecondition) {
  ASSERT_TRUE(OpenStatus(Path("ledger.db")).ok());
  // Overwrite the schema page (page 1 after the 100-byte header).
  std::fstream file(Path("ledger.db"),
                    std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(100);
  file << std::string(3000, '\x7f');
  file.close();
  std::filesystem::remove(Path("ledger.db-wal"));
  std::filesystem::remove(Path("ledger.db-shm"));
  absl::Status status = OpenStatus(Path("ledger.db"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
}

TEST_F(LedgerOpenTest, AFileLockedByAnotherWriterIsUnavailable) {
  ASSERT_TRUE(OpenStatus(Path("ledger.db")).ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(Path("ledger.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other,
                         "PRAGMA locking_mode = EXCLUSIVE; "
                         "BEGIN EXCLUSIVE;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  absl::Status status = OpenStatus(Path("ledger.db"), absl::Milliseconds(200));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("locked"), absl::string_view::npos) << status;
  sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(other);
}

TEST_F(LedgerOpenTest, ANewerSchemaIsRefused) {
  ASSERT_TRUE(OpenStatus(Path("ledger.db")).ok());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(Path("ledger.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO ledger_schema VALUES (99)", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  absl::Status status = OpenStatus(Path("ledger.db"));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("newer"), absl::string_view::npos);
}

TEST_F(LedgerOpenTest, AMissingDirectoryIsAnError) {
  absl::Status status = OpenStatus(Path("no/such/dir/ledger.db"));
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("no/such/dir"), absl::string_view::npos);
}

TEST_F(LedgerOpenTest, BadUrlsAndOptionsAreInvalidArgument) {
  EXPECT_EQ(OpenStatus("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStatus("mysql://x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OpenStatus("sqlite:").code(), absl::StatusCode::kInvalidArgument);
  LedgerOptions options;
  options.url = Path("x.db");
  options.sqlite_synchronous = "off";
  EXPECT_EQ(Ledger::Open(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.sqlite_synchronous = "full";
  for (int mib : {0, -8, 4097}) {
    options.sqlite_cache_mib = mib;
    absl::Status status = Ledger::Open(options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << mib;
    EXPECT_NE(status.message().find("sqlite_cache_mib"),
              absl::string_view::npos)
        << status;
  }
  options.sqlite_cache_mib = 1;
  EXPECT_TRUE(Ledger::Open(options).ok());
}

TEST_F(LedgerOpenTest, AnUnreachablePostgresIsUnavailable) {
  // A socket directory with no server in it.
  absl::Status status = OpenStatus(absl::StrCat(
      "postgresql:host=", dir_.string(), " port=5432 connect_timeout=2"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("cannot connect"), absl::string_view::npos);
}

}  // namespace
}  // namespace treatd::ledger
