// Offline use of a compiled policy in treatctl: running policy test suites
// (`policy test`). Findings are decided as the server decides them, with
// DecideInto (common/policy/pipeline/decide_item.h).
//
// Stateless functions; safe from any thread (CompiledPolicy is immutable).
#ifndef TREATD_CLIENT_TREATCTL_OFFLINE_H_
#define TREATD_CLIENT_TREATCTL_OFFLINE_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "common/validation/finding_validator.h"
#include "treatd/v1/policy.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// Compares the fields set in `expect` with `decision`; returns one line per
// mismatch, "FIELD: want X, got Y", empty when everything matches.
std::vector<std::string> CompareDecision(
    const v1::PolicyTestExpectation& expect, const v1::Decision& decision);

// The outcome of one test case.
struct TestCaseOutcome {
  std::string name;
  bool passed = false;
  // Mismatches, or the error that kept the case from being decided.
  std::vector<std::string> problems;
};

// Runs every case of `suite` against `policy`. Each case is evaluated at its
// own as_of, else the suite's, else `fallback_as_of`.
std::vector<TestCaseOutcome> RunPolicyTests(const CompiledPolicy& policy,
                                            const v1::PolicyTestSuite& suite,
                                            absl::Time fallback_as_of);

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_OFFLINE_H_
