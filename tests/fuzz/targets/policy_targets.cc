// Fuzz bodies of the policy engine's inputs: policy YAML, expressions and
// Finding protobufs (tests/fuzz/fuzz_targets.h).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/expr/checker/checker.h"
#include "common/expr/runtime/program.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/loader/yaml_proto.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "common/policy/revisit/revisit.h"
#include "common/validation/finding_validator.h"
#include "tests/common/expr/accessor_env.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/policy.pb.h"

namespace treatd::fuzz {
namespace {

// Decides `finding` with trace, checks that DecideTreatment() agrees with
// Evaluate() (also when reusing the memo), then adds revisit conditions.
void DecideAndCheck(const CompiledPolicy& policy,
                    const RevisitAnalyzer& revisit,
                    const v1::Finding& finding) {
  EvalOptions options;
  options.as_of = FuzzNow();
  options.trace = true;
  v1::Decision decision;
  EvaluationMemo memo;
  const absl::Status evaluated =
      policy.Evaluate(finding, options, &decision, &memo);
  ExpectOkOr(absl::StatusCode::kInternal, evaluated, "Evaluate");
  if (!evaluated.ok()) return;
  for (const uint32_t changed :
       {uint32_t{kAllFacts}, uint32_t{kFactExposure}}) {
    TreatmentOutcome outcome;
    const absl::Status decided =
        policy.DecideTreatment(finding, options, &outcome,
                               changed == kAllFacts ? nullptr : &memo, changed);
    ExpectOkOr(absl::StatusCode::kInternal, decided, "DecideTreatment");
    if (!decided.ok()) continue;
    if (outcome.treatment != decision.treatment() ||
        outcome.matched_rule != decision.matched_rule() ||
        outcome.priority != decision.priority()) {
      FuzzFail(absl::StrCat("DecideTreatment chose ", outcome.matched_rule, "/",
                            outcome.priority, ", Evaluate chose ",
                            decision.matched_rule(), "/", decision.priority(),
                            " for finding ", finding.id()));
    }
  }
  ExpectOkOr(absl::StatusCode::kInternal,
             revisit.AddConditions(finding, options, &decision, &memo),
             "AddConditions");
}

}  // namespace

int PolicyYaml(const uint8_t* data, size_t size) {
  std::vector<v1::PolicyIssue> issues;
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> policy =
      CompiledPolicy::Compile(AsText(data, size), "fuzz.yaml", &issues);
  FormatIssues(issues);
  if (!policy.ok()) {
    if (policy.status().code() != absl::StatusCode::kInvalidArgument) {
      FuzzFail(absl::StrCat("Compile: ", policy.status().ToString()));
    }
    return 0;
  }
  absl::StatusOr<std::shared_ptr<const RevisitAnalyzer>> revisit =
      RevisitAnalyzer::Create(*policy);
  if (!revisit.ok()) {
    FuzzFail(absl::StrCat("RevisitAnalyzer: ", revisit.status().ToString()));
  }
  // A few findings of different kinds are enough to run every compiled
  // part of the policy; all of them would slow the search down.
  const std::vector<v1::Finding>& findings = SampleFindings();
  for (size_t i = 0; i < findings.size(); i += 4) {
    DecideAndCheck(**policy, **revisit, findings[i]);
  }
  return 0;
}

namespace {

// The value as text, for comparing two evaluations.
std::string Render(const expr::Value& v) {
  if (v.is_error()) return absl::StrCat("error: ", v.error());
  return expr::ValueToString(v, /*quote_strings=*/true);
}

}  // namespace

int Expression(const uint8_t* data, size_t size) {
  // Policy expressions are short; longer inputs only slow the search down.
  if (size > 4096) return 0;
  const absl::string_view text = AsText(data, size);
  expr::AccessorTestEnv env;
  std::vector<expr::ExprError> errors;
  absl::StatusOr<expr::CheckedProgram> checked =
      expr::CheckAndPlan(text, env, std::nullopt, &errors);
  if (!checked.ok()) {
    for (const expr::ExprError& error : errors) {
      if (error.offset < 0 || static_cast<size_t>(error.offset) > size) {
        FuzzFail(absl::StrCat("error offset ", error.offset,
                              " outside the text: ", error.message));
      }
      expr::OffsetToLineColumn(text, error.offset);
    }
    return 0;
  }
  const expr::Program& program = *checked->program;
  for (const v1::Finding& finding : SampleFindings()) {
    expr::TestSlots slots;
    expr::Frame array_frame(&finding, FuzzNow(), &slots);
    expr::Frame tree_frame(&finding, FuzzNow(), &slots);
    const expr::Value array_value = program.Evaluate(array_frame);
    const expr::Value tree_value =
        expr::EvaluateNode(program.root(), tree_frame);
    const std::string array_text = Render(array_value);
    const std::string tree_text = Render(tree_value);
    if (array_text != tree_text) {
      FuzzFail(absl::StrCat("evaluators disagree on `", text, "` for ",
                            finding.id(), ": array form ", array_text,
                            ", tree ", tree_text));
    }
    if (!array_value.is_error() && array_value.kind() != program.kind()) {
      FuzzFail(absl::StrCat("`", text, "` was checked as kind ",
                            static_cast<int>(program.kind()), " but gave ",
                            array_text));
    }
    if (program.kind() == expr::ValueKind::kBool &&
        (array_value.is_error() || !array_value.bool_value())) {
      program.ExplainNotTrue(array_frame);
    }
  }
  return 0;
}

namespace {

// The default policy with the repository's feeds, as the server runs it.
const DecisionPipeline& DefaultPipeline() {
  static const std::shared_ptr<const DecisionPipeline>* const pipeline = [] {
    absl::StatusOr<std::shared_ptr<const CompiledPolicy>> policy =
        CompiledPolicy::Compile(ReadSourceFile("policies/default.yaml"),
                                "policies/default.yaml");
    if (!policy.ok()) FuzzFail(policy.status().ToString());
    intel::IntelSources sources;
    sources.kev_path = absl::StrCat(
        TREATD_SOURCE_DIR, "/intel/known_exploited_vulnerabilities.json");
    sources.epss_path =
        absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv");
    absl::StatusOr<std::shared_ptr<const intel::IntelSnapshot>> intel =
        intel::IntelSnapshot::Load(sources);
    if (!intel.ok()) FuzzFail(intel.status().ToString());
    absl::StatusOr<std::shared_ptr<const DecisionPipeline>> created =
        DecisionPipeline::Create(*policy, *intel, IntelSettings{});
    if (!created.ok()) FuzzFail(created.status().ToString());
    return new std::shared_ptr<const DecisionPipeline>(*std::move(created));
  }();
  return **pipeline;
}

}  // namespace

int FindingProto(const uint8_t* data, size_t size) {
  const DecisionPipeline& pipeline = DefaultPipeline();
  v1::Finding finding;
  if (!finding.ParseFromArray(data, static_cast<int>(size))) return 0;
  const FindingLimits limits;
  // The fast path may only say yes when the reflection walk finds nothing.
  const bool fast =
      finding_validator_internal::FastPathAccepts(finding, limits);
  const absl::Status walked =
      finding_validator_internal::ValidateByReflection(finding, limits);
  if (fast != walked.ok()) {
    FuzzFail(absl::StrCat("validator fast path says ",
                          fast ? "valid" : "invalid", ", reflection walk says ",
                          walked.ToString()));
  }
  const absl::Status status = ValidateFinding(finding, limits);
  if (status.ok() != walked.ok()) {
    FuzzFail(absl::StrCat("ValidateFinding says ", status.ToString(),
                          ", reflection walk says ", walked.ToString()));
  }
  if (!status.ok()) return 0;
  EvalOptions options;
  options.as_of = FuzzNow();
  options.trace = true;
  v1::Decision decision;
  ExpectOkOr(absl::StatusCode::kInternal,
             pipeline.Decide(finding, options, &decision), "Decide");
  return 0;
}

int PolicyTestsYaml(const uint8_t* data, size_t size) {
  v1::PolicyTestSuite suite;
  std::vector<v1::PolicyIssue> issues;
  const absl::Status parsed =
      YamlToMessage(AsText(data, size), "fuzz.yaml", &suite, nullptr, &issues);
  ExpectOkOr(absl::StatusCode::kInvalidArgument, parsed, "YamlToMessage");
  FormatIssues(issues);
  if (!parsed.ok()) {
    if (issues.empty()) FuzzFail("a test suite refused without an issue");
    return 0;
  }
  // The first few cases' findings go on as FindingProto's input, as
  // `treatctl test` validates and decides them.
  for (int i = 0; i < suite.cases_size() && i < 4; ++i) {
    const std::string bytes = suite.cases(i).finding().SerializeAsString();
    FindingProto(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  return 0;
}

}  // namespace treatd::fuzz
