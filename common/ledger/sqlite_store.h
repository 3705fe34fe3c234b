// The ledger store on a local SQLite file (Debian libsqlite3): the default,
// no setup. WAL journal, so readers never block the writer; one write
// connection (the committer's, also used for leases) and a pool of read
// connections opened on demand.
//
// Durability (see ledger.h): "full" fsyncs the WAL after every commit;
// "normal" leaves that to the OS and still survives kill -9. Both run
// SQLite with synchronous=NORMAL; under "full" the store defers the fsync
// (DefersSync): SyncCommitted fdatasyncs the -wal file on the committer's
// sync thread while the next transaction is written, and a commit is
// acknowledged only after that. It is the sync SQLite's own
// synchronous=FULL adds at each commit in WAL mode, moved off the writer so
// that writing and syncing overlap.
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
  // Fsync the WAL before a commit is acknowledged ("full"); false:
  // "normal".
  bool synchronous_full = true;
  absl::Duration busy_timeout = absl::Seconds(10);
  // Page cache of each connection (the writer and every pooled reader), in
  // MiB. It holds pages between transactions; a miss reads the page from
  // the file (the OS page cache), so this bounds memory, not correctness.
  int cache_mib = 8;
  // WAL size, in pages, at which it is copied back into the database file
  // and restarted. A thread of the store's own copies from half of it, so
  // the committer copies only what is left (SqliteStore::WalHook). ~40 MB
  // instead of SQLite's 4 MB: index pages that consecutive commits touch
  // again are copied once.
  int checkpoint_pages = 10000;
};

// Opens or creates the file and migrates the schema. FAILED_PRECONDITION
// for a file that is not a SQLite database, is corrupt or cannot be
// created; UNAVAILABLE when it stays locked by another process for longer
// than busy_timeout. Messages name the file.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const SqliteOptions& options);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_SQLITE_STORE_H_
