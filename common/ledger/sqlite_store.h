// The ledger store on a local SQLite file (Debian libsqlite3): the default,
// no setup. WAL journal, so readers never block the writer; one write
// connection (the committer's, also used for leases) and a pool of read
// connections opened on demand.
//
// Durability (see ledger.h): synchronous=FULL fsyncs the WAL at every
// commit; NORMAL leaves that to the OS and still survives kill -9.
//
// Thread safety: as Store (store.h).
#ifndef TREATD_COMMON_LEDGER_SQLITE_STORE_H_
#define TREATD_COMMON_LEDGER_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/ledger/store.h"

namespace treatd::ledger {

struct SqliteOptions {
  std::string path;
  bool synchronous_full = true;
  absl::Duration busy_timeout = absl::Seconds(10);
};

// Opens or creates the file and migrates the schema. FAILED_PRECONDITION
// for a file that is not a SQLite database, is corrupt or cannot be
// created; UNAVAILABLE when it stays locked by another process for longer
// than busy_timeout. Messages name the file.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteOptions& options);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_SQLITE_STORE_H_
