// The SQL both stores run and the mapping between rows and ledger values,
// written once. Statements use $1, $2, ... placeholders, which PostgreSQL
// takes natively and SQLite takes as named parameters numbered in order of
// appearance. A store supplies a ColumnReader / ParamWriter over its own
// client library.
//
// Pure; thread-safe.
#ifndef TREATD_COMMON_LEDGER_SQL_ROWS_H_
#define TREATD_COMMON_LEDGER_SQL_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/ledger/kpi.h"
#include "common/ledger/query.h"
#include "common/ledger/schema.h"
#include "common/ledger/store.h"

namespace treatd::ledger::sql {

// Reads column `i` (0-based) of the current row.
class ColumnReader {
 public:
  virtual ~ColumnReader() = default;
  virtual bool IsNull(int i) const = 0;
  virtual int64_t Int(int i) const = 0;
  virtual double Double(int i) const = 0;
  virtual std::string Text(int i) const = 0;
  // Int(i), or 0 when the column is NULL. A reader whose library already
  // reads NULL as 0 overrides it to save the IsNull call (the KPI query
  // reads six such columns for each of a million rows).
  virtual int64_t IntOrZero(int i) const { return IsNull(i) ? 0 : Int(i); }
};

// Binds parameter $n (1-based) of a statement. Text and Bytes may keep a
// view of `value` (the SQLite store does not copy it): it must stay valid
// until the statement has run.
class ParamWriter {
 public:
  virtual ~ParamWriter() = default;
  virtual void Null(int n) = 0;
  virtual void Int(int n, int64_t value) = 0;
  virtual void Double(int n, double value) = 0;
  virtual void Text(int n, absl::string_view value) = 0;
  virtual void Bytes(int n, absl::string_view value) = 0;
};

// Binds $n of `inner` as $(n + shift): one row of a multi-row statement.
class ShiftedParams : public ParamWriter {
 public:
  ShiftedParams(ParamWriter& inner, int shift) : inner_(inner), shift_(shift) {}
  void Null(int n) override { inner_.Null(n + shift_); }
  void Int(int n, int64_t value) override { inner_.Int(n + shift_, value); }
  void Double(int n, double value) override {
    inner_.Double(n + shift_, value);
  }
  void Text(int n, absl::string_view value) override {
    inner_.Text(n + shift_, value);
  }
  void Bytes(int n, absl::string_view value) override {
    inner_.Bytes(n + shift_, value);
  }

 private:
  ParamWriter& inner_;
  const int shift_;
};

// --- statements ---
extern const char* const kSchemaVersion;             // -> version
extern const char* const kReadHead;                  // -> seq, hash
extern const char* const kWriteHead;                 // $1 seq, $2 hash
extern const char* const kFindIdempotencyKey;        // $1 key -> seq
extern const char* const kAnyIdempotencyKeyBetween;  // $1 <= key < $2
// The INSERT of `rows` events in one statement (multi-row VALUES): row i
// (0-based) takes $(8i+1) .. $(8i+8), bound by BindEvent through
// ShiftedParams(params, 8 * i). SQLite then opens the table's and the
// indexes' cursors once per statement instead of once per event, and
// PostgreSQL plans and runs one statement instead of one per event.
// SQLite's is INSERT OR ROLLBACK (see sql_rows.cc).
inline constexpr int kEventParams = 8;
std::string InsertEventsSql(int rows, SqlDialect dialect);
extern const char* const kSelectFinding;   // $1 key -> finding columns
extern const char* const kSelectScope;     // $1 asset -> finding columns
const std::string& UpsertFindingSql();     // BindFinding
extern const char* const kInsertEpisode;   // BindEpisode
extern const char* const kUpsertSnapshot;  // $1 key, $2 bytes
extern const char* const kSelectSnapshot;  // $1 key -> bytes
extern const char* const kFindScan;        // $1 key -> a row when recorded
// $1 key, $2 scope, $3 scanned_us, $4 recorded_us
extern const char* const kInsertScan;
extern const char* const kSelectEvents;         // $1 after, $2 limit -> event
extern const char* const kSelectFindingEvents;  // $1 key, $2 after, $3 limit
// $1 as_of_us, $2 limit, $3 after review_by_us, $4 after key.
extern const char* const kSweepCandidates;
extern const char* const kKpiEpisodes;  // $1 window_start, $2 as_of
// The rows of kKpiEpisodes for `query` as disjoint SELECTs with the times
// written in (for COPY, which takes no parameters), the same columns, each
// column KpiBuilder does not read for that SELECT's rows (a dimension not
// grouped by; a closed finding's review date...) sent as NULL: a binary
// COPY sends a NULL as a length, every other value through a type's send
// function (with the 12 columns all sent, about a fifth of the server's
// CPU per row went to send functions and their buffers).
std::vector<std::string> KpiEpisodeSelects(const KpiQuery& query);
extern const char* const kGauges;  // $1 as_of -> 4 counts
// Lease: $1 name, $2 holder, $3 now_us, $4 expires_us; a row back = held.
extern const char* const kAcquireLease;
extern const char* const kReleaseLease;  // $1 name, $2 holder
extern const char* const kSelectMark;    // $1 name -> value
// $1 name, $2 value, $3 updated_us; inserts or replaces.
extern const char* const kPutMark;

// A ListFindings statement for `query` with its parameters bound through
// `params` when they are applied (ParamBinder). Columns: finding columns.
struct FindingListSql {
  std::string text;
  // Call after preparing `text`.
  void Bind(const FindingQuery& query, ParamWriter& params) const;
};
FindingListSql ListFindingsSql(const FindingQuery& query);

// --- row mapping ---
FindingRecord ReadFinding(const ColumnReader& row);  // finding columns
StoredEvent ReadEvent(const ColumnReader& row);      // event columns
EpisodeRow ReadEpisode(const ColumnReader& row);     // kKpiEpisodes columns
void BindEvent(const StoredEvent& event, ParamWriter& params);
void BindFinding(const FindingRecord& finding, ParamWriter& params);
void BindEpisode(const FindingRecord& episode, absl::Time reopened_at,
                 ParamWriter& params);

int64_t ToMicros(absl::Time t);
absl::Time FromMicros(int64_t us);

}  // namespace treatd::ledger::sql

#endif  // TREATD_COMMON_LEDGER_SQL_ROWS_H_
