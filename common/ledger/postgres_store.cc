#include "common/ledger/postgres_store.h"

#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "common/ledger/connection_pool.h"
#include "common/ledger/schema.h"
#include "common/ledger/sql_rows.h"
#include "common/ledger/write_transaction.h"
#include "common/status/status_macros.h"

namespace treatd::ledger {
namespace {

// Store::EventHashes: $1 an array of sequence numbers.
constexpr char kSelectEventHashes[] =
    "SELECT seq, hash FROM events WHERE seq = ANY($1::bigint[])";

// Events per INSERT statement at most (a power of two; 8 parameters each,
// far below PostgreSQL's limit of 65,535).
constexpr int kMaxRowsPerInsert = 32;

// Advisory lock keys ("treatd" chain / migration), fixed forever.
constexpr int64_t kChainLockKey = 0x7472656174640001;
constexpr int64_t kMigrationLockKey = 0x7472656174640002;

std::string ConnectionMessage(PGconn* conn) {
  std::string message =
      conn != nullptr ? PQerrorMessage(conn) : "out of memory";
  return std::string(absl::StripTrailingAsciiWhitespace(message));
}

// Maps a failed result to the status the ledger promises, by SQLSTATE.
absl::Status ResultError(PGconn* conn, PGresult* result) {
  const char* state = result != nullptr
                          ? PQresultErrorField(result, PG_DIAG_SQLSTATE)
                          : nullptr;
  std::string message =
      absl::StrCat("ledger postgresql: ",
                   absl::StripTrailingAsciiWhitespace(
                       result != nullptr ? PQresultErrorMessage(result) : ""),
                   result == nullptr || *PQresultErrorMessage(result) == '\0'
                       ? ConnectionMessage(conn)
                       : "");
  absl::string_view code = state != nullptr ? state : "";
  // UNAVAILABLE: the database cannot do it now, a later try may succeed.
  // No SQLSTATE is libpq's own error, not the server's (the connection
  // broke; after a server restart libpq may say so before it marks the
  // connection bad). 08: connection; 53: insufficient resources (disk
  // full, out of memory, too many connections); 57: operator intervention
  // (shutdown, cancel); 58: system error (I/O); 55P03 lock timeout; 40001
  // and 40P01 serialization failure and deadlock; 25006: a read-only
  // transaction (a standby after a failover).
  if (code.empty() || PQstatus(conn) != CONNECTION_OK ||
      absl::StartsWith(code, "08") || absl::StartsWith(code, "53") ||
      absl::StartsWith(code, "57") || absl::StartsWith(code, "58") ||
      code == "55P03" || code == "40001" || code == "40P01" ||
      code == "25006") {
    return absl::UnavailableError(message);
  }
  // XX001 data corrupted, XX002 index corrupted: as SQLite's CORRUPT.
  if (code == "XX001" || code == "XX002") {
    return absl::DataLossError(message);
  }
  return absl::InternalError(message);
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Parameters in libpq's text format (bytes in binary format).
class Params : public sql::ParamWriter {
 public:
  void Null(int n) override { Slot(n).null = true; }
  void Int(int n, int64_t value) override {
    Slot(n).text = absl::StrCat(value);
  }
  void Double(int n, double value) override {
    char text[32];
    snprintf(text, sizeof(text), "%.17g", value);  // round-trips exactly
    Slot(n).text = text;
  }
  void Text(int n, absl::string_view value) override {
    Slot(n).text = std::string(value);
  }
  void Bytes(int n, absl::string_view value) override {
    Slot(n).text = std::string(value);
    Slot(n).binary = true;
  }

  int count() const { return static_cast<int>(slots_.size()); }
  // Pointers stay valid while this object is unchanged.
  void Arrays(std::vector<const char*>* values, std::vector<int>* lengths,
              std::vector<int>* formats) const {
    for (const Param& p : slots_) {
      values->push_back(p.null ? nullptr : p.text.c_str());
      lengths->push_back(static_cast<int>(p.text.size()));
      formats->push_back(p.binary ? 1 : 0);
    }
  }

 private:
  struct Param {
    std::string text;
    bool null = false;
    bool binary = false;
  };
  Param& Slot(int n) {
    if (static_cast<int>(slots_.size()) < n) slots_.resize(n);
    return slots_[n - 1];
  }
  std::vector<Param> slots_;
};

// One row of a text-format result.
class Row : public sql::ColumnReader {
 public:
  Row(const PGresult* result, int row) : result_(result), row_(row) {}
  bool IsNull(int i) const override { return PQgetisnull(result_, row_, i); }
  int64_t Int(int i) const override {
    int64_t value = 0;
    (void)absl::SimpleAtoi(PQgetvalue(result_, row_, i), &value);
    return value;
  }
  double Double(int i) const override {
    return std::strtod(PQgetvalue(result_, row_, i), nullptr);
  }
  std::string Text(int i) const override {
    return std::string(PQgetvalue(result_, row_, i),
                       PQgetlength(result_, row_, i));
  }

 private:
  const PGresult* result_;
  int row_;
};

// Big-endian fields of PostgreSQL's binary result format.
uint32_t ReadBe32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{u[0]} << 24 | uint32_t{u[1]} << 16 | uint32_t{u[2]} << 8 |
         uint32_t{u[3]};
}
uint64_t ReadBe64(const char* p) {
  return uint64_t{ReadBe32(p)} << 32 | ReadBe32(p + 4);
}

// One tuple of a binary COPY: int4/int8, float8 and text fields. Fields
// are located once (Parse); a field of unexpected size reads as 0.
class CopyTuple : public sql::ColumnReader {
 public:
  // Parses the tuple that starts at data[0, size). Returns the bytes it
  // takes, or 0 when `size` does not hold all of it yet. *end is set for
  // the end-of-data marker (2 bytes).
  size_t Parse(const char* data, size_t size, bool* end) {
    *end = false;
    fields_.clear();
    if (size < 2) return 0;
    const auto* u = reinterpret_cast<const unsigned char*>(data);
    const int16_t count = static_cast<int16_t>(u[0] << 8 | u[1]);
    if (count == -1) {
      *end = true;
      return 2;
    }
    size_t at = 2;
    for (int i = 0; i < count; ++i) {
      if (at + 4 > size) return 0;
      const int32_t length = static_cast<int32_t>(ReadBe32(data + at));
      at += 4;
      if (length < 0) {
        fields_.push_back({nullptr, 0});
        continue;
      }
      if (at + length > size) return 0;
      fields_.push_back({data + at, static_cast<size_t>(length)});
      at += length;
    }
    return at;
  }

  bool IsNull(int i) const override { return Field(i).data == nullptr; }
  int64_t Int(int i) const override {
    const Span& f = Field(i);
    if (f.size == 8) return static_cast<int64_t>(ReadBe64(f.data));
    if (f.size == 4) return static_cast<int32_t>(ReadBe32(f.data));
    return 0;
  }
  int64_t IntOrZero(int i) const override { return Int(i); }
  double Double(int i) const override {
    const Span& f = Field(i);
    if (f.size != 8) return 0;
    const uint64_t bits = ReadBe64(f.data);
    double value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }
  std::string Text(int i) const override {
    const Span& f = Field(i);
    return f.data == nullptr ? std::string() : std::string(f.data, f.size);
  }

 private:
  struct Span {
    const char* data;
    size_t size;
  };
  const Span& Field(int i) const {
    static const Span kAbsent{nullptr, 0};
    return i >= 0 && static_cast<size_t>(i) < fields_.size() ? fields_[i]
                                                             : kAbsent;
  }
  std::vector<Span> fields_;
};

// A connection with its prepared statements. Used by one thread at a time.
class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const std::string& conninfo) {
    PGconn* conn = PQconnectdb(conninfo.c_str());
    auto connection = std::unique_ptr<Connection>(new Connection(conn));
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
      return absl::UnavailableError(absl::StrCat(
          "ledger postgresql: cannot connect: ", ConnectionMessage(conn)));
    }
    // NOTICEs ("relation already exists, skipping") are not errors; libpq
    // would print them on stderr.
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    return connection;
  }
  ~Connection() { PQfinish(conn_); }

  // Re-establishes a connection that broke (server restart, network), or
  // whose server was read-only (SQLSTATE 25006: a standby after a
  // failover, or a session that defaults to read-only): connected again it
  // may reach the new primary.
  absl::Status EnsureConnected() {
    if (PQstatus(conn_) == CONNECTION_OK && !read_only_) {
      return absl::OkStatus();
    }
    return Reconnect();
  }

  // Whether the last failure was the connection's own (it broke, libpq's
  // error without a SQLSTATE, class 08, or 57P01-57P05: the server shut
  // down or was restarting), so that the statement may succeed once
  // connected again. Not for errors that a new connection meets alike
  // (57014 statement timeout, 55P03 lock timeout, 40001, 53xxx).
  bool LostConnection() const {
    return PQstatus(conn_) != CONNECTION_OK || lost_;
  }

  // Connects again, whatever the connection's state.
  absl::Status Reconnect() {
    prepared_.clear();
    read_only_ = false;
    lost_ = false;
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      return absl::UnavailableError(absl::StrCat(
          "ledger postgresql: cannot reconnect: ", ConnectionMessage(conn_)));
    }
    return absl::OkStatus();
  }

  absl::Status Exec(const std::string& sql) {
    Result result(PQexec(conn_, sql.c_str()));
    ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return Failed(result.get());
    }
    return absl::OkStatus();
  }

  // Runs one statement with `params`; binary_result for bytea columns.
  absl::StatusOr<Result> Query(const std::string& sql, const Params& params,
                               bool binary_result = false) {
    TREATD_ASSIGN_OR_RETURN(std::string name, Prepared(sql));
    std::vector<const char*> values;
    std::vector<int> lengths, formats;
    params.Arrays(&values, &lengths, &formats);
    Result result(PQexecPrepared(conn_, name.c_str(), params.count(),
                                 values.data(), lengths.data(), formats.data(),
                                 binary_result ? 1 : 0));
    ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return Failed(result.get());
    }
    return result;
  }

  // Runs `copy`, a COPY (...) TO STDOUT (FORMAT binary), and calls `each`
  // for every tuple as it arrives: one message per row, nothing formatted
  // as text, no PGresult per row.
  absl::Status CopyOut(
      const std::string& copy,
      const std::function<void(const sql::ColumnReader&)>& each) {
    Result started(PQexec(conn_, copy.c_str()));
    if (PQresultStatus(started.get()) != PGRES_COPY_OUT) {
      return Failed(started.get());
    }
    // The file header (signature, flags, extension) comes with the first
    // tuple; each later message is one tuple, then the end marker. Bytes of
    // a tuple split across messages wait in `pending`.
    static constexpr char kSignature[] = "PGCOPY\n\377\r\n";
    std::string pending;
    bool header = true, ended = false;
    absl::Status status;
    CopyTuple tuple;
    while (true) {
      char* chunk = nullptr;
      const int n = PQgetCopyData(conn_, &chunk, /*async=*/0);
      if (n == -1) break;
      if (n < 0) {
        status = Lost(absl::StrCat("ledger postgresql: copy: ",
                                   ConnectionMessage(conn_)));
        break;
      }
      if (status.ok() && !ended) {
        const char* data = chunk;
        size_t size = static_cast<size_t>(n);
        if (!pending.empty()) {
          pending.append(chunk, size);
          data = pending.data();
          size = pending.size();
        }
        size_t at = 0;
        if (header && size >= 19) {
          if (std::memcmp(data, kSignature, 11) != 0) {
            status = absl::DataLossError(
                "ledger postgresql: copy: not a binary COPY stream");
          }
          at = 19 + ReadBe32(data + 15);  // + extension area
          header = at > size;
          if (header) at = 0;
        }
        while (status.ok() && !header && !ended && at < size) {
          const size_t used = tuple.Parse(data + at, size - at, &ended);
          if (used == 0) break;
          if (!ended) each(tuple);
          at += used;
        }
        pending = std::string(data + at, size - at);
      }
      PQfreemem(chunk);
    }
    for (Result r(PQgetResult(conn_)); r != nullptr;
         r.reset(PQgetResult(conn_))) {
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && status.ok()) {
        status = Failed(r.get());
      }
    }
    if (status.ok() && !ended) {
      status = absl::DataLossError(
          "ledger postgresql: copy: the stream ended inside a tuple");
    }
    return status;
  }

  // Runs the same statement once per parameter set in pipeline mode: all
  // sent, then all read, one round trip. Results in order.
  absl::StatusOr<std::vector<Result>> Pipeline(
      const std::string& sql, const std::vector<Params>& param_sets) {
    return Pipeline(std::vector<const std::string*>(param_sets.size(), &sql),
                    param_sets);
  }

  // As above, statement `*sqls[i]` with `param_sets[i]`.
  absl::StatusOr<std::vector<Result>> Pipeline(
      const std::vector<const std::string*>& sqls,
      const std::vector<Params>& param_sets) {
    std::vector<Result> results;
    if (param_sets.empty()) return results;
    if (param_sets.size() == 1) {
      TREATD_ASSIGN_OR_RETURN(Result one, Query(*sqls[0], param_sets.front()));
      results.push_back(std::move(one));
      return results;
    }
    std::vector<std::string> names(sqls.size());
    for (size_t i = 0; i < sqls.size(); ++i) {
      if (i > 0 && sqls[i] == sqls[i - 1]) {
        names[i] = names[i - 1];
        continue;
      }
      TREATD_ASSIGN_OR_RETURN(names[i], Prepared(*sqls[i]));
    }
    if (PQenterPipelineMode(conn_) != 1) {
      return Lost(absl::StrCat("ledger postgresql: pipeline mode: ",
                               ConnectionMessage(conn_)));
    }
    absl::Status status;
    for (size_t i = 0; i < param_sets.size(); ++i) {
      const Params& params = param_sets[i];
      const std::string& name = names[i];
      std::vector<const char*> values;
      std::vector<int> lengths, formats;
      params.Arrays(&values, &lengths, &formats);
      if (PQsendQueryPrepared(conn_, name.c_str(), params.count(),
                              values.data(), lengths.data(), formats.data(),
                              0) != 1) {
        status = Lost(absl::StrCat("ledger postgresql: send: ",
                                   ConnectionMessage(conn_)));
        break;
      }
    }
    if (PQpipelineSync(conn_) != 1 && status.ok()) {
      status = Lost(
          absl::StrCat("ledger postgresql: sync: ", ConnectionMessage(conn_)));
    }
    // Drain every result up to the sync, keeping the first error.
    while (true) {
      Result result(PQgetResult(conn_));
      if (result == nullptr) {
        if (PQstatus(conn_) != CONNECTION_OK) break;
        continue;  // end of one query's results
      }
      ExecStatusType type = PQresultStatus(result.get());
      if (type == PGRES_PIPELINE_SYNC) break;
      if (type == PGRES_COMMAND_OK || type == PGRES_TUPLES_OK) {
        results.push_back(std::move(result));
      } else if (type != PGRES_PIPELINE_ABORTED && status.ok()) {
        status = Failed(result.get());
      }
    }
    PQexitPipelineMode(conn_);
    if (status.ok() && results.size() != param_sets.size()) {
      status =
          Lost("ledger postgresql: pipeline ended early (connection lost)");
    }
    if (!status.ok()) return status;
    return results;
  }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}

  // ResultError, noting what the failure says about the connection.
  absl::Status Failed(PGresult* result) {
    const char* state = result != nullptr
                            ? PQresultErrorField(result, PG_DIAG_SQLSTATE)
                            : nullptr;
    const absl::string_view code = state != nullptr ? state : "";
    lost_ = code.empty() || absl::StartsWith(code, "08") ||
            (absl::StartsWith(code, "57P0") && code.size() == 5 &&
             code[4] >= '1' && code[4] <= '5');
    if (code == "25006") read_only_ = true;
    return ResultError(conn_, result);
  }

  // libpq's own failure to talk to the server: UNAVAILABLE, the
  // connection's.
  absl::Status Lost(std::string message) {
    lost_ = true;
    return absl::UnavailableError(std::move(message));
  }

  absl::StatusOr<std::string> Prepared(const std::string& sql) {
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) return it->second;
    std::string name = absl::StrCat("treatd_", prepared_.size());
    Result result(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr));
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      return Failed(result.get());
    }
    prepared_.emplace(sql, name);
    return name;
  }

  PGconn* conn_;
  absl::flat_hash_map<std::string, std::string> prepared_;
  bool lost_ = false;       // see LostConnection
  bool read_only_ = false;  // the server said 25006: reconnect before use
};

std::vector<FindingRecord> ReadFindings(const PGresult* result) {
  std::vector<FindingRecord> rows;
  for (int i = 0; i < PQntuples(result); ++i) {
    rows.push_back(sql::ReadFinding(Row(result, i)));
  }
  return rows;
}

class PostgresStore : public Store {
 public:
  PostgresStore(PostgresOptions options, std::unique_ptr<Connection> writer)
      : options_(std::move(options)),
        writer_(std::move(writer)),
        readers_([this] { return Connection::Open(options_.conninfo); },
                 [](Connection& c) { return c.EnsureConnected(); },
                 [](Connection& c) { return c.Reconnect(); },
                 [](const Connection& c) { return c.LostConnection(); }) {}

  const char* backend() const override { return "postgresql"; }

  absl::Status Migrate() {
    absl::MutexLock lock(&writer_mu_);
    TREATD_RETURN_IF_ERROR(writer_->Exec("BEGIN"));
    absl::Status status = writer_->Exec(LockStatements(kMigrationLockKey));
    if (status.ok()) {
      status = ledger::Migrate(
          SqlDialect::kPostgres, "postgresql",
          [this](const std::string& sql) { return writer_->Exec(sql); },
          [this]() -> absl::StatusOr<int> {
            TREATD_ASSIGN_OR_RETURN(Result r,
                                    writer_->Query(sql::kSchemaVersion, {}));
            return PQntuples(r.get()) > 0
                       ? static_cast<int>(Row(r.get(), 0).Int(0))
                       : 0;
          });
    }
    if (status.ok()) status = writer_->Exec("COMMIT");
    if (!status.ok()) (void)writer_->Exec("ROLLBACK");
    return status;
  }

  // --- write side ---

  absl::Status BeginAppend() override {
    writer_mu_.Lock();
    absl::Status status = writer_->EnsureConnected();
    if (status.ok()) {
      status = writer_->Exec("BEGIN");
      if (!status.ok() && writer_->LostConnection()) {
        // The connection broke while idle (the server restarted since the
        // last transaction), which libpq learns only now. Nothing of the
        // transaction ran: connected again, it can begin. (Not when
        // EnsureConnected itself failed: the server is down, and a second
        // attempt at once would only wait for it again.)
        status = writer_->Reconnect();
        if (status.ok()) status = writer_->Exec("BEGIN");
      }
    }
    if (status.ok()) status = writer_->Exec(LockStatements(kChainLockKey));
    if (!status.ok()) {
      (void)writer_->Exec("ROLLBACK");
      writer_mu_.Unlock();
    }
    return status;
  }

  absl::StatusOr<ChainHead> ReadHead() override {
    TREATD_ASSIGN_OR_RETURN(Result r, writer_->Query(sql::kReadHead, {}));
    if (PQntuples(r.get()) == 0) {
      return absl::DataLossError("ledger: chain_head row missing");
    }
    Row row(r.get(), 0);
    return ChainHead{row.Int(0), row.Text(1)};
  }

  absl::StatusOr<absl::flat_hash_map<std::string, int64_t>> FindIdempotencyKeys(
      const std::vector<std::string>& keys) override {
    std::vector<Params> sets(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) sets[i].Text(1, keys[i]);
    TREATD_ASSIGN_OR_RETURN(std::vector<Result> results,
                            writer_->Pipeline(sql::kFindIdempotencyKey, sets));
    absl::flat_hash_map<std::string, int64_t> found;
    for (size_t i = 0; i < results.size(); ++i) {
      if (PQntuples(results[i].get()) > 0) {
        found.emplace(keys[i], Row(results[i].get(), 0).Int(0));
      }
    }
    return found;
  }

  absl::StatusOr<bool> AnyIdempotencyKeyBetween(
      const std::string& from, const std::string& to) override {
    Params params;
    params.Text(1, from);
    params.Text(2, to);
    TREATD_ASSIGN_OR_RETURN(
        Result r, writer_->Query(sql::kAnyIdempotencyKeyBetween, params));
    return PQntuples(r.get()) > 0;
  }

  absl::StatusOr<absl::flat_hash_map<std::string, FindingRecord>> LoadFindings(
      const std::vector<std::string>& keys) override {
    std::vector<Params> sets(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) sets[i].Text(1, keys[i]);
    TREATD_ASSIGN_OR_RETURN(std::vector<Result> results,
                            writer_->Pipeline(sql::kSelectFinding, sets));
    absl::flat_hash_map<std::string, FindingRecord> found;
    for (const Result& result : results) {
      if (PQntuples(result.get()) > 0) {
        FindingRecord row = sql::ReadFinding(Row(result.get(), 0));
        std::string key = row.key;
        found.emplace(std::move(key), std::move(row));
      }
    }
    return found;
  }

  absl::StatusOr<std::vector<FindingRecord>> LoadScope(
      const std::string& scope,
      const std::vector<v1::FindingKind>& kinds) override {
    (void)kinds;  // the appender filters by kind
    Params params;
    params.Text(1, scope);
    TREATD_ASSIGN_OR_RETURN(Result r,
                            writer_->Query(sql::kSelectScope, params));
    return ReadFindings(r.get());
  }

  // In statements of 32, 16, ... 1 rows (multi-row VALUES), pipelined:
  // PostgreSQL binds, plans and runs one statement per 32 events instead
  // of one per event.
  absl::Status InsertEvents(const std::vector<StoredEvent>& events) override {
    static const std::vector<std::string>* const kStatements = [] {
      auto* statements = new std::vector<std::string>();
      for (int rows = kMaxRowsPerInsert; rows >= 1; rows /= 2) {
        statements->push_back(
            sql::InsertEventsSql(rows, SqlDialect::kPostgres));
      }
      return statements;
    }();
    std::vector<const std::string*> sqls;
    std::vector<Params> sets;
    size_t next = 0;
    for (int shape = 0, rows = kMaxRowsPerInsert; rows >= 1;
         ++shape, rows /= 2) {
      while (events.size() - next >= static_cast<size_t>(rows)) {
        sets.emplace_back();
        for (int i = 0; i < rows; ++i) {
          sql::ShiftedParams params(sets.back(), i * sql::kEventParams);
          sql::BindEvent(events[next + i], params);
        }
        sqls.push_back(&(*kStatements)[shape]);
        next += rows;
      }
    }
    return writer_->Pipeline(sqls, sets).status();
  }

  absl::Status SaveFindings(
      const std::vector<const FindingRecord*>& findings) override {
    std::vector<Params> sets(findings.size());
    for (size_t i = 0; i < findings.size(); ++i) {
      sql::BindFinding(*findings[i], sets[i]);
    }
    return writer_->Pipeline(sql::UpsertFindingSql(), sets).status();
  }

  absl::Status ArchiveEpisode(const FindingRecord& episode,
                              absl::Time reopened_at) override {
    Params params;
    sql::BindEpisode(episode, reopened_at, params);
    return writer_->Query(sql::kInsertEpisode, params).status();
  }

  absl::Status SaveSnapshots(
      const std::vector<std::pair<std::string, const std::string*>>& snapshots)
      override {
    std::vector<Params> sets(snapshots.size());
    for (size_t i = 0; i < snapshots.size(); ++i) {
      sets[i].Text(1, snapshots[i].first);
      sets[i].Bytes(2, *snapshots[i].second);
    }
    return writer_->Pipeline(sql::kUpsertSnapshot, sets).status();
  }

  absl::StatusOr<bool> ScanRecorded(const std::string& key) override {
    Params params;
    params.Text(1, key);
    TREATD_ASSIGN_OR_RETURN(Result r, writer_->Query(sql::kFindScan, params));
    return PQntuples(r.get()) > 0;
  }

  absl::Status SaveScan(const std::string& key, const std::string& scope,
                        absl::Time scanned_at,
                        absl::Time recorded_at) override {
    Params params;
    params.Text(1, key);
    params.Text(2, scope);
    params.Int(3, sql::ToMicros(scanned_at));
    params.Int(4, sql::ToMicros(recorded_at));
    return writer_->Query(sql::kInsertScan, params).status();
  }

  absl::Status WriteHead(const ChainHead& head) override {
    Params params;
    params.Int(1, head.seq);
    params.Text(2, head.hash);
    return writer_->Query(sql::kWriteHead, params).status();
  }

  absl::Status CommitAppend() override {
    return CommitAndUnlock(*writer_, writer_mu_);
  }

  void RollbackAppend() override { RollbackAndUnlock(*writer_, writer_mu_); }

  // --- read side ---

  absl::StatusOr<std::optional<FindingRecord>> GetFinding(
      const std::string& key) const override {
    Params params;
    params.Text(1, key);
    return readers_.WithRerun(
        [&](Connection& c) -> absl::StatusOr<std::optional<FindingRecord>> {
          TREATD_ASSIGN_OR_RETURN(Result r,
                                  c.Query(sql::kSelectFinding, params));
          if (PQntuples(r.get()) == 0) return std::nullopt;
          return sql::ReadFinding(Row(r.get(), 0));
        });
  }

  absl::StatusOr<std::vector<FindingRecord>> ListFindings(
      const FindingQuery& query) const override {
    sql::FindingListSql statement = sql::ListFindingsSql(query);
    Params params;
    statement.Bind(query, params);
    return readers_.WithRerun(
        [&](Connection& c) -> absl::StatusOr<std::vector<FindingRecord>> {
          TREATD_ASSIGN_OR_RETURN(Result r, c.Query(statement.text, params));
          return ReadFindings(r.get());
        });
  }

  absl::StatusOr<std::vector<StoredEvent>> ListEvents(
      int64_t after_seq, int limit,
      const std::string& finding_key) const override {
    Params params;
    const char* statement = sql::kSelectEvents;
    if (finding_key.empty()) {
      params.Int(1, after_seq);
      params.Int(2, limit);
    } else {
      statement = sql::kSelectFindingEvents;
      params.Text(1, finding_key);
      params.Int(2, after_seq);
      params.Int(3, limit);
    }
    return readers_.WithRerun(
        [&](Connection& c) -> absl::StatusOr<std::vector<StoredEvent>> {
          TREATD_ASSIGN_OR_RETURN(Result r, c.Query(statement, params));
          std::vector<StoredEvent> events;
          for (int i = 0; i < PQntuples(r.get()); ++i) {
            events.push_back(sql::ReadEvent(Row(r.get(), i)));
          }
          return events;
        });
  }

  absl::StatusOr<absl::flat_hash_map<int64_t, std::string>> EventHashes(
      const std::vector<int64_t>& seqs) const override {
    // One round trip for any count: the numbers as an array literal.
    Params params;
    params.Text(1, absl::StrCat("{", absl::StrJoin(seqs, ","), "}"));
    return readers_.WithRerun(
        [&](Connection& c)
            -> absl::StatusOr<absl::flat_hash_map<int64_t, std::string>> {
          TREATD_ASSIGN_OR_RETURN(Result r,
                                  c.Query(kSelectEventHashes, params));
          absl::flat_hash_map<int64_t, std::string> hashes;
          for (int i = 0; i < PQntuples(r.get()); ++i) {
            hashes[Row(r.get(), i).Int(0)] = Row(r.get(), i).Text(1);
          }
          return hashes;
        });
  }

  absl::StatusOr<std::vector<FindingRecord>> SweepCandidates(
      absl::Time as_of, int limit, const SweepPosition& after) const override {
    Params params;
    params.Int(1, sql::ToMicros(as_of));
    params.Int(2, limit);
    params.Int(3, sql::ToMicros(after.review_by));
    params.Text(4, after.key);
    return readers_.WithRerun(
        [&](Connection& c) -> absl::StatusOr<std::vector<FindingRecord>> {
          TREATD_ASSIGN_OR_RETURN(Result r,
                                  c.Query(sql::kSweepCandidates, params));
          return ReadFindings(r.get());
        });
  }

  absl::StatusOr<std::optional<std::string>> FindingSnapshot(
      const std::string& key) const override {
    Params params;
    params.Text(1, key);
    return readers_.WithRerun(
        [&](Connection& c) -> absl::StatusOr<std::optional<std::string>> {
          TREATD_ASSIGN_OR_RETURN(Result r,
                                  c.Query(sql::kSelectSnapshot, params,
                                          /*binary_result=*/true));
          if (PQntuples(r.get()) == 0) return std::nullopt;
          return Row(r.get(), 0).Text(0);
        });
  }

  // The episode rows as one binary COPY: as rows of a query (text, one
  // PGresult each) the ~700k episodes of a 1M-finding ledger took seconds
  // of the server's and libpq's time. COPY takes no parameters, so the
  // times (integers) are written into the statement. Rows are decoded and
  // added as they arrive, while the server is still sending.
  // enable_seqscan is off for this one transaction: with a long window
  // the planner preferred reading the whole findings table (every column
  // of every row) to the covering index findings_kpi, which cost the
  // server a third more CPU (a 365-day KPI over 1M findings: 530-660 ms
  // against 410-470 ms).
  absl::Status AddKpiEpisodes(const KpiQuery& query,
                              KpiBuilder& builder) const override {
    const std::string copy = absl::StrCat(
        "COPY (", absl::StrJoin(sql::KpiEpisodeSelects(query), " UNION ALL "),
        ") TO STDOUT (FORMAT binary)");
    // Rerun (a pooled connection that broke while idle) only while the
    // builder has no row of the first run.
    int64_t added = 0;
    absl::Status first_run;
    return readers_.WithRerun([&](Connection& c) -> absl::Status {
      if (added > 0) return first_run;
      first_run = c.Exec("BEGIN READ ONLY; SET LOCAL enable_seqscan = off");
      TREATD_RETURN_IF_ERROR(first_run);
      absl::Status status =
          c.CopyOut(copy, [&builder, &added](const sql::ColumnReader& row) {
            ++added;
            builder.Add(sql::ReadEpisode(row));
          });
      absl::Status ended = c.Exec(status.ok() ? "COMMIT" : "ROLLBACK");
      first_run = status.ok() ? ended : status;
      return first_run;
    });
  }

  absl::StatusOr<LedgerGauges> Gauges(absl::Time as_of) const override {
    Params params;
    params.Int(1, sql::ToMicros(as_of));
    return readers_.WithRerun(
        [&](Connection& c) -> absl::StatusOr<LedgerGauges> {
          TREATD_ASSIGN_OR_RETURN(Result r, c.Query(sql::kGauges, params));
          LedgerGauges gauges;
          if (PQntuples(r.get()) > 0) {
            Row row(r.get(), 0);
            gauges.open = row.Int(0);
            gauges.overdue = row.Int(1);
            gauges.mitigation_debt = row.Int(2);
            gauges.events = row.Int(3);
          }
          return gauges;
        });
  }

  absl::StatusOr<ChainHead> StoredHead() const override {
    return readers_.WithRerun([&](Connection& c) -> absl::StatusOr<ChainHead> {
      TREATD_ASSIGN_OR_RETURN(Result r, c.Query(sql::kReadHead, {}));
      if (PQntuples(r.get()) == 0) {
        return absl::DataLossError("ledger: chain_head row missing");
      }
      Row row(r.get(), 0);
      return ChainHead{row.Int(0), row.Text(1)};
    });
  }

  absl::StatusOr<bool> AcquireLease(const std::string& name,
                                    const std::string& holder, absl::Time now,
                                    absl::Time expires) override {
    Params params;
    params.Text(1, name);
    params.Text(2, holder);
    params.Int(3, sql::ToMicros(now));
    params.Int(4, sql::ToMicros(expires));
    return readers_.WithRerun([&](Connection& c) -> absl::StatusOr<bool> {
      TREATD_ASSIGN_OR_RETURN(Result r, c.Query(sql::kAcquireLease, params));
      return PQntuples(r.get()) > 0 && Row(r.get(), 0).Text(0) == holder;
    });
  }

  absl::Status ReleaseLease(const std::string& name,
                            const std::string& holder) override {
    Params params;
    params.Text(1, name);
    params.Text(2, holder);
    return readers_.WithRerun([&](Connection& c) -> absl::Status {
      return c.Query(sql::kReleaseLease, params).status();
    });
  }

  absl::StatusOr<std::optional<std::string>> GetMark(
      const std::string& name) const override {
    Params params;
    params.Text(1, name);
    return readers_.WithRerun(
        [&](Connection& c) -> absl::StatusOr<std::optional<std::string>> {
          TREATD_ASSIGN_OR_RETURN(Result r, c.Query(sql::kSelectMark, params));
          if (PQntuples(r.get()) == 0) return std::nullopt;
          return Row(r.get(), 0).Text(0);
        });
  }

  absl::Status PutMark(const std::string& name, const std::string& value,
                       absl::Time now) override {
    Params params;
    params.Text(1, name);
    params.Text(2, value);
    params.Int(3, sql::ToMicros(now));
    return readers_.WithRerun([&](Connection& c) -> absl::Status {
      return c.Query(sql::kPutMark, params).status();
    });
  }

 private:
  std::string LockStatements(int64_t key) const {
    return absl::StrCat("SET LOCAL lock_timeout = ",
                        absl::ToInt64Milliseconds(options_.lock_timeout),
                        "; SELECT pg_advisory_xact_lock(", key, ")");
  }

  const PostgresOptions options_;
  absl::Mutex writer_mu_;  // held from BeginAppend to Commit/Rollback
  std::unique_ptr<Connection> writer_;
  ConnectionPool<Connection> readers_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const PostgresOptions& options) {
  TREATD_ASSIGN_OR_RETURN(std::unique_ptr<Connection> writer,
                          Connection::Open(options.conninfo));
  auto store = std::make_unique<PostgresStore>(options, std::move(writer));
  TREATD_RETURN_IF_ERROR(store->Migrate());
  return store;
}

}  // namespace treatd::ledger
