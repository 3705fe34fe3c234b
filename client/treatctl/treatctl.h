// treatctl: the command-line client of treatd. RunTreatctl() is the whole
// program minus main(), so tests can run it in-process as well as as a
// binary.
//
// Not thread-safe: run one command at a time per set of streams.
#ifndef TREATD_CLIENT_TREATCTL_TREATCTL_H_
#define TREATD_CLIENT_TREATCTL_TREATCTL_H_

#include <istream>
#include <ostream>

namespace treatd {

// Exit codes, also listed in `treatctl --help` and docs/treatctl.md.
enum TreatctlExitCode : int {
  kExitOk = 0,
  // Some findings could not be decided, or some policy test cases failed.
  kExitFailures = 1,
  // Bad flags or arguments, or an input file that cannot be read or parsed.
  kExitUsage = 2,
  // The policy is invalid.
  kExitInvalidPolicy = 3,
  // The server is unreachable or the RPC failed.
  kExitRpcFailure = 4,
  // --fail-on: at least one decision matched the condition (takes
  // precedence over kExitFailures).
  kExitGateTripped = 5,
};

// Runs treatctl with `argv`, reading "-" inputs from `in`, writing results
// to `out` and diagnostics to `err`. Returns the exit code.
int RunTreatctl(int argc, const char* const* argv, std::istream& in,
                std::ostream& out, std::ostream& err);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_TREATCTL_H_
