// `treatctl policy diff`: what a candidate policy would change, over a set
// of findings, compared with an old policy file (offline) or with a
// server's active policy (--target, AdminService.Simulate). Also the
// offline threat-intel flags (--kev, --epss, ...) shared with `policy eval`.
//
// Stateless functions; safe from any thread.
#ifndef TREATD_CLIENT_TREATCTL_POLICY_DIFF_H_
#define TREATD_CLIENT_TREATCTL_POLICY_DIFF_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "treatd/v1/simulation.pb.h"

namespace treatd {

// Feeds to enrich findings from when deciding offline.
struct IntelFlags {
  std::string kev;
  std::string epss;
  std::string max_age = "0s";
  bool feed_wins = false;
};

// Adds --kev, --epss, --intel-max-age and --intel-feed-wins to `command`.
void AddIntelFlags(CLI::App* command, IntelFlags* flags);

// The pipeline for `policy` with the feeds `flags` name (none when both
// paths are empty). INVALID_ARGUMENT for a bad --intel-max-age; the feed's
// error (naming it) when a feed cannot be loaded.
absl::StatusOr<std::shared_ptr<const DecisionPipeline>> MakeOfflinePipeline(
    std::shared_ptr<const CompiledPolicy> policy, const IntelFlags& flags);

struct PolicyDiffFlags {
  // OLD NEW FINDINGS offline; NEW FINDINGS with --target.
  std::vector<std::string> args;
  std::string target;
  std::string as_of;
  std::string format = "text";
  int max_moved = 100;
  IntelFlags intel;
};

// Registers `diff` under `policy`; parse results land in `flags`.
CLI::App* AddPolicyDiffCommand(CLI::App* policy, PolicyDiffFlags* flags);

// Runs the command; returns the treatctl exit code (0 also when decisions
// change: the diff is the answer, not a failure).
int RunPolicyDiff(const PolicyDiffFlags& flags, std::ostream& out,
                  std::ostream& err);

// Writes `report` as text: counts, transitions, moved findings and the
// workload table.
void PrintSimulationReport(const v1::SimulationReport& report,
                           std::ostream& out);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_POLICY_DIFF_H_
