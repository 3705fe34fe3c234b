// `treatctl status`: which policy each treatd replica runs. With several
// comma-separated --target addresses it asks each replica directly (not
// through a load balancer) and says whether they all serve the same policy
// digest — the check after a policy rollout to replicas that each watch
// their own copy of the file.
#ifndef TREATD_CLIENT_TREATCTL_STATUS_COMMAND_H_
#define TREATD_CLIENT_TREATCTL_STATUS_COMMAND_H_

#include <ostream>

#include "CLI/CLI.hpp"
#include "client/treatctl/connection.h"

namespace treatd {

struct StatusFlags {
  ConnectionFlags connection;  // target: one address or a comma list
  double timeout_seconds = 5;  // per replica
};

// Adds `status` to `app` and returns it.
CLI::App* AddStatusCommand(CLI::App* app, StatusFlags* flags);

// Prints one row per target (address, policy name, version, digest, when
// loaded, reloads, last reload) and a closing line naming how many
// distinct digests were seen. Returns kExitOk when every target answered
// with the same digest, kExitFailures when the digests differ,
// kExitRpcFailure when a target did not answer, kExitUsage on bad flags.
int RunStatus(const StatusFlags& flags, std::ostream& out, std::ostream& err);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_STATUS_COMMAND_H_
