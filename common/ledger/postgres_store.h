// The ledger store on PostgreSQL through libpq (Debian libpq-dev), for
// several treatd replicas sharing one database. Same schema, statements and
// semantics as the SQLite store (sql_rows.h). Every chain append runs in a
// transaction that first takes a transaction-scoped advisory lock, so
// concurrent appenders across processes keep one gap-free chain; a batch's
// statements are sent in libpq pipeline mode, one round trip per step
// instead of one per row.
//
// A lost connection is re-established on the next call (the call that saw
// it fails UNAVAILABLE).
//
// Thread safety: as Store (store.h).
#ifndef TREATD_COMMON_LEDGER_POSTGRES_STORE_H_
#define TREATD_COMMON_LEDGER_POSTGRES_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/store.h"

namespace treatd::ledger {

struct PostgresOptions {
  // A libpq connection string: "postgresql://user@host:port/db?..." or
  // "host=... port=... dbname=...".
  std::string conninfo;
  // lock_timeout for the chain lock and the migration lock.
  absl::Duration lock_timeout = absl::Seconds(10);
};

// Connects and migrates the schema. UNAVAILABLE when the server cannot be
// reached (the message is libpq's, without the password);
// FAILED_PRECONDITION when the schema is newer than this build.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const PostgresOptions& options);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_POSTGRES_STORE_H_
