// CallLimits: the limits the call governor enforces. Defaults are the
// server's defaults (docs/server.md); server_config.cc sets them from flags.
// A plain value type.
#ifndef TREATD_SERVER_CALL_LIMITS_H_
#define TREATD_SERVER_CALL_LIMITS_H_

#include "absl/time/time.h"

namespace treatd {

struct CallLimits {
  // Calls handled at once, server-wide (streams included).
  int max_concurrent_calls = 256;
  // StreamDecide calls open at once, server-wide.
  int max_concurrent_streams = 64;
  // Longest a unary or batch call may run, whatever deadline it asked for.
  absl::Duration max_call_duration = absl::Seconds(60);
  // Longest a stream may stay open.
  absl::Duration max_stream_duration = absl::Hours(1);
  // A stream on which no message moves either way for this long is cut
  // off; WatchEvents, quiet by design, is exempt (call_account.cc).
  absl::Duration stream_idle_timeout = absl::Seconds(60);
  // Largest policy document accepted by ValidatePolicy and Simulate.
  int max_policy_bytes = 1024 * 1024;
};

}  // namespace treatd

#endif  // TREATD_SERVER_CALL_LIMITS_H_
