// The one line treatd prints when it is ready: where it listens and the exact
// next command to try. Stateless (it only looks at the file system).
#ifndef TREATD_SERVER_STARTUP_BANNER_H_
#define TREATD_SERVER_STARTUP_BANNER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd {

// The treatctl binary that goes with the treatd binary `argv0`: beside it
// when it is there (an install: "/opt/treatd/bin/treatd" ->
// "/opt/treatd/bin/treatctl"), else where a build tree has it
// ("./build/server/treatd" -> "./build/client/treatctl"), or plain
// "treatctl" when treatd was found on PATH.
std::string SiblingTreatctlPath(absl::string_view argv0);

// "treatd listening on ADDR; try: TREATCTL decide --target ADDR
// examples/findings.jsonl" (no trailing newline).
std::string StartupBanner(absl::string_view argv0, absl::string_view address);

// The line after it: where decisions are recorded and how to look, e.g.
// "ledger: recording decisions in SQLite file treatd-ledger.db; try:
// ./build/client/treatctl ledger kpi --target ADDR" or "ledger: off
// (--ledger-off): decisions are not recorded".
std::string LedgerBanner(absl::string_view argv0, absl::string_view address,
                         absl::string_view ledger_description);

}  // namespace treatd

#endif  // TREATD_SERVER_STARTUP_BANNER_H_
