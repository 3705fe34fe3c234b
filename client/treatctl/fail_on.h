// The `--fail-on EXPR` CI gate of treatctl: a condition in the policy
// expression language (common/expr), checked against each decision.
//
// The expression's names are the fields of treatd.v1.DecisionResult
// (`decision`, `error`, `finding_id`, `index`), `finding` (the
// treatd.v1.Finding that was decided, as sent) and `now` (the evaluation
// time). Examples:
//   decision.treatment == "MITIGATE_THEN_REMEDIATE"
//   has(decision.remediate_by) && decision.remediate_by < now + duration("3d")
//   finding.vulnerability.kev.listed && decision.priority == "P1"
//
// A FailOnGate is immutable after Compile(); Trips() is const and may run on
// any thread.
#ifndef TREATD_CLIENT_TREATCTL_FAIL_ON_H_
#define TREATD_CLIENT_TREATCTL_FAIL_ON_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/expr/runtime/program.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

class FailOnGate {
 public:
  // Parses and type-checks `expression` (it must be a bool). Returns
  // INVALID_ARGUMENT with every error as "--fail-on:COL: message" otherwise.
  static absl::StatusOr<FailOnGate> Compile(absl::string_view expression);

  // Whether `result` trips the gate. `finding` may be null (its fields then
  // read as defaults). An evaluation error (e.g. an index out of range) is
  // returned as INVALID_ARGUMENT naming the expression.
  absl::StatusOr<bool> Trips(const v1::Finding* finding,
                             const v1::DecisionResult& result,
                             absl::Time now) const;

  const std::string& expression() const { return program_->source(); }
  // A warning about the expression ("--fail-on: warning: ..."), or empty:
  // set when CEL's operator precedence gives it another meaning than the
  // grammar treatd parsed before.
  const std::string& warning() const { return warning_; }

 private:
  FailOnGate(std::shared_ptr<const expr::Program> program, std::string warning)
      : program_(std::move(program)), warning_(std::move(warning)) {}

  std::shared_ptr<const expr::Program> program_;
  std::string warning_;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_FAIL_ON_H_
