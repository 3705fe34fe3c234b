// Names the ledger's threads, so that top -H, perf and
// /proc/<pid>/task/*/comm tell them apart from the server's others (they
// would all be called after the process): bench/ledger_thread_cpu.sh
// reports each one's CPU per finding.
#ifndef TREATD_COMMON_LEDGER_THREAD_NAME_H_
#define TREATD_COMMON_LEDGER_THREAD_NAME_H_

#include "absl/strings/string_view.h"

namespace treatd::ledger {

// The ledger's thread names (at most 15 bytes, the kernel's limit).
inline constexpr absl::string_view kCommitterThreadName = "ledger-commit";
inline constexpr absl::string_view kSyncThreadName = "ledger-sync";
inline constexpr absl::string_view kCheckpointThreadName = "ledger-ckpt";
inline constexpr absl::string_view kRecorderThreadName = "ledger-record";

// Names the calling thread `name` (cut to 15 bytes). Best effort: a
// failure leaves the inherited name.
void NameCurrentThread(absl::string_view name);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_THREAD_NAME_H_
