#include "common/ledger/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/ledger/connection_pool.h"
#include "common/ledger/schema.h"
#include "common/ledger/sql_rows.h"
#include "common/ledger/thread_name.h"
#include "common/ledger/write_transaction.h"
#include "common/status/status_macros.h"

namespace treatd::ledger {
namespace {

// Store::EventHashes: $1 a JSON array of sequence numbers.
constexpr char kSelectEventHashes[] =
    "SELECT seq, hash FROM events WHERE seq IN (SELECT value FROM "
    "json_each($1))";

// Maps a SQLite result code to the status the ledger promises. The
// message names the file, so that "disk I/O error" says which disk.
absl::Status SqliteError(int code, absl::string_view what, sqlite3* db) {
  std::string message(what);
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  if (file != nullptr && *file != '\0' && !absl::StrContains(what, file)) {
    absl::StrAppend(&message, " ", file);
  }
  absl::StrAppend(&message, ": ",
                  db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(
          absl::StrCat(message, " (locked by another connection or process)"));
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return absl::DataLossError(message);
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

// A prepared statement and where its "$n" parameters sit: SQLite numbers
// named parameters in order of first appearance, and a statement may use
// one twice or out of order, so the positions are looked up once, when it
// is prepared, not on every bind.
struct Prepared {
  sqlite3_stmt* stmt = nullptr;
  std::vector<int> index;  // index[n]: SQLite's index of "$n"; 0 if absent
};

// One prepared statement, reset and unbound when the Query ends (or on
// Reset, to run it again with new parameters). Binds "$n" by name.
class Query : public sql::ColumnReader, public sql::ParamWriter {
 public:
  Query(sqlite3* db, const Prepared* prepared)
      : db_(db), stmt_(prepared->stmt), index_(&prepared->index) {}
  ~Query() override { Reset(); }

  // Ready to bind and run again.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // True with a row, false when done.
  absl::StatusOr<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteError(rc, "ledger sqlite", db_);
  }
  absl::Status Run() {
    TREATD_ASSIGN_OR_RETURN(bool row, Step());
    while (row) {
      TREATD_ASSIGN_OR_RETURN(row, Step());
    }
    return absl::OkStatus();
  }

  bool IsNull(int i) const override {
    return sqlite3_column_type(stmt_, i) == SQLITE_NULL;
  }
  int64_t Int(int i) const override { return sqlite3_column_int64(stmt_, i); }
  // sqlite3_column_int64 reads NULL as 0.
  int64_t IntOrZero(int i) const override {
    return sqlite3_column_int64(stmt_, i);
  }
  double Double(int i) const override {
    return sqlite3_column_double(stmt_, i);
  }
  std::string Text(int i) const override {
    const void* data = sqlite3_column_blob(stmt_, i);
    int size = sqlite3_column_bytes(stmt_, i);
    return data == nullptr ? std::string()
                           : std::string(static_cast<const char*>(data), size);
  }

  void Null(int n) override { sqlite3_bind_null(stmt_, Index(n)); }
  void Int(int n, int64_t value) override {
    sqlite3_bind_int64(stmt_, Index(n), value);
  }
  void Double(int n, double value) override {
    sqlite3_bind_double(stmt_, Index(n), value);
  }
  // SQLITE_STATIC: no copy of the value (an event's body is ~1 KB); the
  // caller keeps it alive until the statement is reset (ParamWriter).
  void Text(int n, absl::string_view value) override {
    sqlite3_bind_text(stmt_, Index(n), value.data(),
                      static_cast<int>(value.size()), SQLITE_STATIC);
  }
  void Bytes(int n, absl::string_view value) override {
    sqlite3_bind_blob(stmt_, Index(n), value.data(),
                      static_cast<int>(value.size()), SQLITE_STATIC);
  }

 private:
  int Index(int n) const {
    return n > 0 && static_cast<size_t>(n) < index_->size() ? (*index_)[n] : 0;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  const std::vector<int>* index_;
};

// fdatasync of `path` (a file or a directory), opened for the call.
absl::Status SyncFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open ", path, " to sync it: ", strerror(errno)));
  }
  const int rc = fdatasync(fd);
  const int error = errno;
  close(fd);
  if (rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("fdatasync of ", path, " failed: ", strerror(error)));
  }
  return absl::OkStatus();
}

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Events per INSERT statement at most (a power of two; 8 parameters each,
// far below SQLite's limit of 32,766).
constexpr int kMaxRowsPerInsert = 32;

// A connection with its prepared-statement cache. Used by one thread at a
// time (the owner serializes).
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const SqliteOptions& options, bool read_only) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(
        options.path.c_str(), &db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        nullptr);
    auto connection = std::unique_ptr<Connection>(new Connection(db));
    if (rc != SQLITE_OK) {
      return SqliteError(rc, absl::StrCat("ledger ", options.path), db);
    }
    sqlite3_busy_timeout(
        db, static_cast<int>(absl::ToInt64Milliseconds(options.busy_timeout)));
    TREATD_RETURN_IF_ERROR(connection->Exec("PRAGMA journal_mode = WAL"));
    // Under "full" the store syncs the WAL itself (SyncCommitted), off
    // the writer thread; SQLite's own sync stays what NORMAL does (the WAL
    // before a checkpoint, the database after it, the WAL header when the
    // WAL restarts).
    TREATD_RETURN_IF_ERROR(connection->Exec("PRAGMA synchronous = NORMAL"));
    // Negative: KiB. Per connection, so the process holds up to
    // (1 + readers) times this; the server's RSS then stays flat while the
    // ledger grows (bench/run_ledger_rss.sh).
    TREATD_RETURN_IF_ERROR(connection->Exec(
        absl::StrCat("PRAGMA cache_size = -", options.cache_mib * 1024)));
    // No automatic checkpoint at commit: the store's Checkpointer runs them
    // on its own connection (SqliteStore::OnWalCommit).
    TREATD_RETURN_IF_ERROR(connection->Exec("PRAGMA wal_autocheckpoint = 0"));
    if (read_only) {
      TREATD_RETURN_IF_ERROR(connection->Exec("PRAGMA query_only = 1"));
    }
    return connection;
  }

  ~Connection() {
    for (auto& [sql, prepared] : cache_) sqlite3_finalize(prepared.stmt);
    sqlite3_close_v2(db_);
  }

  sqlite3* db() const { return db_; }

  absl::Status Exec(const std::string& sql) {
    // The transaction statements run once or twice per append: prepared
    // once and kept, not parsed on every commit.
    if (sql == "BEGIN IMMEDIATE" || sql == "COMMIT" || sql == "ROLLBACK") {
      TREATD_ASSIGN_OR_RETURN(std::unique_ptr<Query> q, Prepare(sql));
      return q->Run();
    }
    char* error = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    if (error != nullptr) sqlite3_free(error);
    if (rc != SQLITE_OK) return SqliteError(rc, "ledger sqlite", db_);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Query>> Prepare(absl::string_view sql) {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      Prepared prepared;
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                  SQLITE_PREPARE_PERSISTENT, &prepared.stmt,
                                  nullptr);
      if (rc != SQLITE_OK) return SqliteError(rc, "ledger sqlite", db_);
      const int count = sqlite3_bind_parameter_count(prepared.stmt);
      prepared.index.assign(count + 1, 0);
      for (int n = 1; n <= count; ++n) {
        const std::string name = absl::StrCat("$", n);
        prepared.index[n] =
            sqlite3_bind_parameter_index(prepared.stmt, name.c_str());
      }
      it = cache_.emplace(std::string(sql), std::move(prepared)).first;
    }
    return std::make_unique<Query>(db_, &it->second);
  }

 private:
  explicit Connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  // node_hash_map: a Query keeps a pointer to its entry while another
  // statement is prepared.
  absl::node_hash_map<std::string, Prepared> cache_;
};

// Copies the WAL back into the database file (checkpoints) mostly on its
// own connection and thread. SQLite's automatic checkpoint runs inside the
// commit that crosses the threshold, on the writer: that was the ledger's
// one serial thread, the committer, reading ~40 MB of frames back and
// writing them into the database (about a sixth of its CPU under load,
// docs/performance.md). A PASSIVE checkpoint takes no lock the writer
// needs, so here it overlaps the next commits on another core.
//
// It cannot finish the job alone: SQLite restarts the WAL from its start
// only when a write transaction begins with every frame copied, which
// under continuous commits a concurrent checkpoint never sees. So the
// writer still checkpoints once the WAL reaches the threshold — what the
// background pass left, the frames of the last commit or two — and the
// next transaction restarts the WAL. See SqliteStore::WalHook.
//
// Thread safety: Wake and OnWriter may be called from any thread.
class Checkpointer {
 public:
  explicit Checkpointer(std::unique_ptr<Connection> connection)
      : connection_(std::move(connection)), thread_([this] {
          NameCurrentThread(kCheckpointThreadName);
          Loop();
        }) {}
  ~Checkpointer() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Asks the background thread for a checkpoint (again, when one is
  // running).
  void Wake() {
    absl::MutexLock lock(&mu_);
    wanted_ = true;
  }

  // Checkpoints on `db` (the writer's connection) on the calling thread.
  // Returns at once when the background pass is running, unless `wait`.
  void OnWriter(sqlite3* db, bool wait) {
    if (wait) {
      run_mu_.Lock();
    } else if (!run_mu_.TryLock()) {
      return;
    }
    Checkpoint(db);
    run_mu_.Unlock();
  }

 private:
  // A failure (an I/O error) leaves the frames in the WAL, where readers
  // still find them: nothing is lost, and the next commit tries again.
  static void Checkpoint(sqlite3* db) {
    (void)sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                    nullptr, nullptr);
  }

  void Loop() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Checkpointer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
              return c->stopping_ || c->wanted_;
            },
            this));
        if (stopping_) return;
        wanted_ = false;
      }
      absl::MutexLock run(&run_mu_);
      Checkpoint(connection_->db());
    }
  }

  const std::unique_ptr<Connection> connection_;
  absl::Mutex mu_;
  bool wanted_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Held while a checkpoint runs, by either thread: two at once would only
  // make one of them fail with SQLITE_BUSY.
  absl::Mutex run_mu_;
  std::thread thread_;  // last: starts once the rest is constructed
};

class SqliteStore : public Store {
 public:
  SqliteStore(SqliteOptions options, std::unique_ptr<Connection> writer)
      : options_(std::move(options)),
        writer_(std::move(writer)),
        readers_([this] {
          return Connection::Open(options_, /*read_only=*/true);
        }) {}

  ~SqliteStore() override {
    // The hook points here; the checkpointer goes first (members are
    // destroyed in reverse order, and it is declared last).
    sqlite3_wal_hook(writer_->db(), nullptr, nullptr);
  }

  const char* backend() const override { return "sqlite"; }

  // Starts checkpointing the WAL off the writer (Checkpointer), on a
  // connection of its own. Call once, after Migrate.
  absl::Status StartCheckpointer() {
    TREATD_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection,
                            Connection::Open(options_, /*read_only=*/false));
    checkpointer_ = std::make_unique<Checkpointer>(std::move(connection));
    sqlite3_wal_hook(writer_->db(), &SqliteStore::WalHook, this);
    return absl::OkStatus();
  }

  absl::Status Migrate() {
    absl::MutexLock lock(&writer_mu_);
    TREATD_RETURN_IF_ERROR(writer_->Exec("BEGIN IMMEDIATE"));
    absl::Status status = ledger::Migrate(
        SqlDialect::kSqlite, options_.path,
        [this](const std::string& sql) { return writer_->Exec(sql); },
        [this]() -> absl::StatusOr<int> {
          TREATD_ASSIGN_OR_RETURN(auto q,
                                  writer_->Prepare(sql::kSchemaVersion));
          TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
          return row ? static_cast<int>(q->Int(0)) : 0;
        });
    if (status.ok()) status = writer_->Exec("COMMIT");
    if (!status.ok()) (void)writer_->Exec("ROLLBACK");
    return status;
  }

  // --- write side ---

  absl::Status BeginAppend() override {
    writer_mu_.Lock();
    absl::Status status = writer_->Exec("BEGIN IMMEDIATE");
    if (!status.ok()) writer_mu_.Unlock();
    return status;
  }

  absl::StatusOr<ChainHead> ReadHead() override {
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kReadHead));
    TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
    if (!row) return absl::DataLossError("ledger: chain_head row missing");
    return ChainHead{q->Int(0), q->Text(1)};
  }

  absl::StatusOr<absl::flat_hash_map<std::string, int64_t>> FindIdempotencyKeys(
      const std::vector<std::string>& keys) override {
    absl::flat_hash_map<std::string, int64_t> found;
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kFindIdempotencyKey));
    for (const std::string& key : keys) {
      q->Text(1, key);
      TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
      if (row) found.emplace(key, q->Int(0));
      q->Reset();
    }
    return found;
  }

  absl::StatusOr<bool> AnyIdempotencyKeyBetween(
      const std::string& from, const std::string& to) override {
    TREATD_ASSIGN_OR_RETURN(auto q,
                            writer_->Prepare(sql::kAnyIdempotencyKeyBetween));
    q->Text(1, from);
    q->Text(2, to);
    return q->Step();
  }

  absl::StatusOr<absl::flat_hash_map<std::string, FindingRecord>> LoadFindings(
      const std::vector<std::string>& keys) override {
    absl::flat_hash_map<std::string, FindingRecord> found;
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kSelectFinding));
    for (const std::string& key : keys) {
      if (found.contains(key)) continue;
      q->Text(1, key);
      TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
      if (row) found.emplace(key, sql::ReadFinding(*q));
      q->Reset();
    }
    return found;
  }

  absl::StatusOr<std::vector<FindingRecord>> LoadScope(
      const std::string& scope,
      const std::vector<v1::FindingKind>& kinds) override {
    (void)kinds;  // the appender filters by kind
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kSelectScope));
    q->Text(1, scope);
    return ReadFindings(*q);
  }

  // In statements of 32, 16, ... 1 rows (multi-row VALUES): per statement
  // SQLite opens a cursor on the table and on each of its indexes and runs
  // its prologue; per row it then only builds the record and inserts it.
  // Callgrind, BatchDecide x 1,000: docs/performance.md (ledger-batch).
  absl::Status InsertEvents(const std::vector<StoredEvent>& events) override {
    static const std::vector<std::string>* const kStatements = [] {
      auto* statements = new std::vector<std::string>();
      for (int rows = kMaxRowsPerInsert; rows >= 1; rows /= 2) {
        statements->push_back(sql::InsertEventsSql(rows, SqlDialect::kSqlite));
      }
      return statements;
    }();
    size_t next = 0;
    for (int shape = 0, rows = kMaxRowsPerInsert; rows >= 1;
         ++shape, rows /= 2) {
      if (events.size() - next < static_cast<size_t>(rows)) continue;
      TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare((*kStatements)[shape]));
      while (events.size() - next >= static_cast<size_t>(rows)) {
        for (int i = 0; i < rows; ++i) {
          sql::ShiftedParams params(*q, i * sql::kEventParams);
          sql::BindEvent(events[next + i], params);
        }
        TREATD_RETURN_IF_ERROR(q->Run());
        q->Reset();
        next += rows;
      }
    }
    return absl::OkStatus();
  }

  absl::Status SaveFindings(
      const std::vector<const FindingRecord*>& findings) override {
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::UpsertFindingSql()));
    for (const FindingRecord* finding : findings) {
      sql::BindFinding(*finding, *q);
      TREATD_RETURN_IF_ERROR(q->Run());
      q->Reset();
    }
    return absl::OkStatus();
  }

  absl::Status ArchiveEpisode(const FindingRecord& episode,
                              absl::Time reopened_at) override {
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kInsertEpisode));
    sql::BindEpisode(episode, reopened_at, *q);
    return q->Run();
  }

  absl::Status SaveSnapshots(
      const std::vector<std::pair<std::string, const std::string*>>& snapshots)
      override {
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kUpsertSnapshot));
    for (const auto& [key, bytes] : snapshots) {
      q->Text(1, key);
      q->Bytes(2, *bytes);
      TREATD_RETURN_IF_ERROR(q->Run());
      q->Reset();
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> ScanRecorded(const std::string& key) override {
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kFindScan));
    q->Text(1, key);
    return q->Step();
  }

  absl::Status SaveScan(const std::string& key, const std::string& scope,
                        absl::Time scanned_at,
                        absl::Time recorded_at) override {
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kInsertScan));
    q->Text(1, key);
    q->Text(2, scope);
    q->Int(3, sql::ToMicros(scanned_at));
    q->Int(4, sql::ToMicros(recorded_at));
    return q->Run();
  }

  absl::Status WriteHead(const ChainHead& head) override {
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kWriteHead));
    q->Int(1, head.seq);
    q->Text(2, head.hash);
    return q->Run();
  }

  absl::Status CommitAppend() override {
    return CommitAndUnlock(*writer_, writer_mu_);
  }

  void RollbackAppend() override { RollbackAndUnlock(*writer_, writer_mu_); }

  bool DefersSync() const override { return options_.synchronous_full; }

  absl::Status SyncCommitted() override {
    // The WAL file exists from the first write transaction until the last
    // connection closes (this store keeps its writer open), so opening it
    // by name reaches the file the commits went to.
    const std::string wal = options_.path + "-wal";
    absl::Status status = SyncFile(wal);
    if (status.ok() && !directory_synced_.load()) {
      // As SQLite does when it creates a WAL under synchronous=FULL: the
      // directory entry of the new file must survive a power loss too.
      status = SyncFile(DirectoryOf(options_.path));
      if (status.ok()) directory_synced_.store(true);
    }
    if (!status.ok()) {
      return absl::UnavailableError(
          absl::StrCat("ledger ", options_.path, ": ", status.message()));
    }
    return absl::OkStatus();
  }

  // --- read side ---

  absl::StatusOr<std::optional<FindingRecord>> GetFinding(
      const std::string& key) const override {
    return readers_.With(
        [&](Connection& c) -> absl::StatusOr<std::optional<FindingRecord>> {
          TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(sql::kSelectFinding));
          q->Text(1, key);
          TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
          if (!row) return std::nullopt;
          return sql::ReadFinding(*q);
        });
  }

  absl::StatusOr<std::vector<FindingRecord>> ListFindings(
      const FindingQuery& query) const override {
    return readers_.With(
        [&](Connection& c) -> absl::StatusOr<std::vector<FindingRecord>> {
          sql::FindingListSql statement = sql::ListFindingsSql(query);
          TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(statement.text));
          statement.Bind(query, *q);
          return ReadFindings(*q);
        });
  }

  absl::StatusOr<std::vector<StoredEvent>> ListEvents(
      int64_t after_seq, int limit,
      const std::string& finding_key) const override {
    return readers_.With(
        [&](Connection& c) -> absl::StatusOr<std::vector<StoredEvent>> {
          std::unique_ptr<Query> q;
          if (finding_key.empty()) {
            TREATD_ASSIGN_OR_RETURN(q, c.Prepare(sql::kSelectEvents));
            q->Int(1, after_seq);
            q->Int(2, limit);
          } else {
            TREATD_ASSIGN_OR_RETURN(q, c.Prepare(sql::kSelectFindingEvents));
            q->Text(1, finding_key);
            q->Int(2, after_seq);
            q->Int(3, limit);
          }
          std::vector<StoredEvent> events;
          while (true) {
            TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
            if (!row) break;
            events.push_back(sql::ReadEvent(*q));
          }
          return events;
        });
  }

  absl::StatusOr<absl::flat_hash_map<int64_t, std::string>> EventHashes(
      const std::vector<int64_t>& seqs) const override {
    // One statement for any count: the numbers as a JSON array.
    const std::string list = absl::StrCat("[", absl::StrJoin(seqs, ","), "]");
    return readers_.With(
        [&](Connection& c)
            -> absl::StatusOr<absl::flat_hash_map<int64_t, std::string>> {
          TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(kSelectEventHashes));
          q->Text(1, list);
          absl::flat_hash_map<int64_t, std::string> hashes;
          while (true) {
            TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
            if (!row) break;
            hashes[q->Int(0)] = q->Text(1);
          }
          return hashes;
        });
  }

  absl::StatusOr<std::vector<FindingRecord>> SweepCandidates(
      absl::Time as_of, int limit, const SweepPosition& after) const override {
    return readers_.With(
        [&](Connection& c) -> absl::StatusOr<std::vector<FindingRecord>> {
          TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(sql::kSweepCandidates));
          q->Int(1, sql::ToMicros(as_of));
          q->Int(2, limit);
          q->Int(3, sql::ToMicros(after.review_by));
          q->Text(4, after.key);
          return ReadFindings(*q);
        });
  }

  absl::StatusOr<std::optional<std::string>> FindingSnapshot(
      const std::string& key) const override {
    return readers_.With(
        [&](Connection& c) -> absl::StatusOr<std::optional<std::string>> {
          TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(sql::kSelectSnapshot));
          q->Text(1, key);
          TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
          if (!row) return std::nullopt;
          return q->Text(0);
        });
  }

  // Row by row: SQLite runs in this process, so handing each index row to
  // the builder costs no more than aggregating it in SQL would.
  absl::Status AddKpiEpisodes(const KpiQuery& query,
                              KpiBuilder& builder) const override {
    return readers_.With([&](Connection& c) -> absl::Status {
      TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(sql::kKpiEpisodes));
      q->Int(1, sql::ToMicros(query.as_of - query.window));
      q->Int(2, sql::ToMicros(query.as_of));
      while (true) {
        TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
        if (!row) return absl::OkStatus();
        builder.Add(sql::ReadEpisode(*q));
      }
    });
  }

  absl::StatusOr<LedgerGauges> Gauges(absl::Time as_of) const override {
    return readers_.With([&](Connection& c) -> absl::StatusOr<LedgerGauges> {
      TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(sql::kGauges));
      q->Int(1, sql::ToMicros(as_of));
      TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
      LedgerGauges gauges;
      if (row) {
        gauges.open = q->Int(0);
        gauges.overdue = q->Int(1);
        gauges.mitigation_debt = q->Int(2);
        gauges.events = q->Int(3);
      }
      return gauges;
    });
  }

  absl::StatusOr<ChainHead> StoredHead() const override {
    return readers_.With([&](Connection& c) -> absl::StatusOr<ChainHead> {
      TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(sql::kReadHead));
      TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
      if (!row) return absl::DataLossError("ledger: chain_head row missing");
      return ChainHead{q->Int(0), q->Text(1)};
    });
  }

  absl::StatusOr<bool> AcquireLease(const std::string& name,
                                    const std::string& holder, absl::Time now,
                                    absl::Time expires) override {
    absl::MutexLock lock(&writer_mu_);
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kAcquireLease));
    q->Text(1, name);
    q->Text(2, holder);
    q->Int(3, sql::ToMicros(now));
    q->Int(4, sql::ToMicros(expires));
    TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
    bool held = row && q->Text(0) == holder;
    TREATD_RETURN_IF_ERROR(q->Run());
    return held;
  }

  absl::Status ReleaseLease(const std::string& name,
                            const std::string& holder) override {
    absl::MutexLock lock(&writer_mu_);
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kReleaseLease));
    q->Text(1, name);
    q->Text(2, holder);
    return q->Run();
  }

  absl::StatusOr<std::optional<std::string>> GetMark(
      const std::string& name) const override {
    return readers_.With(
        [&](Connection& c) -> absl::StatusOr<std::optional<std::string>> {
          TREATD_ASSIGN_OR_RETURN(auto q, c.Prepare(sql::kSelectMark));
          q->Text(1, name);
          TREATD_ASSIGN_OR_RETURN(bool row, q->Step());
          if (!row) return std::nullopt;
          return q->Text(0);
        });
  }

  absl::Status PutMark(const std::string& name, const std::string& value,
                       absl::Time now) override {
    absl::MutexLock lock(&writer_mu_);
    TREATD_ASSIGN_OR_RETURN(auto q, writer_->Prepare(sql::kPutMark));
    q->Text(1, name);
    q->Text(2, value);
    q->Int(3, sql::ToMicros(now));
    return q->Run();
  }

 private:
  static absl::StatusOr<std::vector<FindingRecord>> ReadFindings(Query& q) {
    std::vector<FindingRecord> rows;
    while (true) {
      TREATD_ASSIGN_OR_RETURN(bool row, q.Step());
      if (!row) break;
      rows.push_back(sql::ReadFinding(q));
    }
    return rows;
  }

  // Called by SQLite on the writer's thread after each of its commits, with
  // the WAL's size in pages. From half the threshold the background thread
  // copies frames; from the threshold the writer copies the rest (skipped
  // while the background pass still runs, until twice the threshold), so
  // the next transaction restarts the WAL.
  static int WalHook(void* self, sqlite3* db, const char* /*schema*/,
                     int pages) {
    SqliteStore& store = *static_cast<SqliteStore*>(self);
    const int threshold = std::max(2, store.options_.checkpoint_pages);
    if (pages >= threshold / 2) store.checkpointer_->Wake();
    if (pages >= threshold) {
      store.checkpointer_->OnWriter(db, /*wait=*/pages >= 2 * threshold);
    }
    return SQLITE_OK;
  }

  const SqliteOptions options_;
  // Set by SyncCommitted, which runs on several sync threads at once.
  std::atomic<bool> directory_synced_{false};
  // Held from BeginAppend to CommitAppend/RollbackAppend, and by leases.
  absl::Mutex writer_mu_;
  std::unique_ptr<Connection> writer_;
  ConnectionPool<Connection> readers_;
  std::unique_ptr<Checkpointer> checkpointer_;  // set by StartCheckpointer
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteOptions& options) {
  auto where = [&options](const absl::Status& status) {
    absl::StatusCode code = status.code();
    if (code == absl::StatusCode::kDataLoss ||
        code == absl::StatusCode::kInternal) {
      code = absl::StatusCode::kFailedPrecondition;
    }
    return absl::Status(
        code,
        absl::StrCat("ledger ", options.path,
                     ": cannot open the SQLite database: ", status.message()));
  };
  absl::StatusOr<std::unique_ptr<Connection>> writer =
      Connection::Open(options, /*read_only=*/false);
  if (!writer.ok()) return where(writer.status());
  auto store = std::make_unique<SqliteStore>(options, *std::move(writer));
  absl::Status migrated = store->Migrate();
  if (!migrated.ok()) {
    if (migrated.code() == absl::StatusCode::kFailedPrecondition) {
      return migrated;  // newer schema: already names the file
    }
    return where(migrated);
  }
  absl::Status checkpointer = store->StartCheckpointer();
  if (!checkpointer.ok()) return where(checkpointer);
  return store;
}

}  // namespace treatd::ledger
