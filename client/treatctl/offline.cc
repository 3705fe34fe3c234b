#include "client/treatctl/offline.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy/pipeline/decide_item.h"
#include "common/time/proto_time.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd {
namespace {

std::string TimeText(bool set, const google::protobuf::Timestamp& time) {
  if (!set) return "(unset)";
  return absl::FormatTime(absl::RFC3339_full, FromProtoTime(time),
                          absl::UTCTimeZone());
}

void CompareText(absl::string_view field, const std::string& want,
                 const std::string& got, std::vector<std::string>* problems) {
  if (want != got) {
    problems->push_back(absl::StrCat(field, ": want ", want, ", got ",
                                     got.empty() ? "(empty)" : got));
  }
}

void CompareTime(absl::string_view field, bool want_set,
                 const google::protobuf::Timestamp& want, bool got_set,
                 const google::protobuf::Timestamp& got,
                 std::vector<std::string>* problems) {
  if (!want_set) return;
  CompareText(field, TimeText(true, want), TimeText(got_set, got), problems);
}

}  // namespace

std::vector<std::string> CompareDecision(
    const v1::PolicyTestExpectation& expect, const v1::Decision& decision) {
  std::vector<std::string> problems;
  if (expect.treatment() != v1::TREATMENT_UNSPECIFIED) {
    CompareText("treatment", v1::Treatment_Name(expect.treatment()),
                v1::Treatment_Name(decision.treatment()), &problems);
  }
  if (!expect.priority().empty()) {
    CompareText("priority", expect.priority(), decision.priority(), &problems);
  }
  if (!expect.matched_rule().empty()) {
    CompareText("matched_rule", expect.matched_rule(), decision.matched_rule(),
                &problems);
  }
  if (!expect.exception().empty()) {
    std::string got = "(none)";
    if (decision.has_exception()) {
      got = decision.exception().applied()
                ? decision.exception().id()
                : absl::StrCat(decision.exception().id(),
                               " (matched but expired, not applied)");
    }
    CompareText("exception", expect.exception(), got, &problems);
  }
  if (expect.actions_size() > 0) {
    std::vector<std::string> got;
    for (const v1::Action& action : decision.actions())
      got.push_back(action.id());
    CompareText("actions",
                absl::StrCat("[", absl::StrJoin(expect.actions(), ", "), "]"),
                absl::StrCat("[", absl::StrJoin(got, ", "), "]"), &problems);
  }
  // Sorted, so that the report does not depend on map iteration order.
  const std::map<std::string, std::string> tables(expect.tables().begin(),
                                                  expect.tables().end());
  for (const auto& [table, outcome] : tables) {
    std::string got = "(no outcome)";
    for (const v1::TableOutcome& table_outcome : decision.table_outcomes()) {
      if (table_outcome.table() == table) got = table_outcome.outcome();
    }
    CompareText(absl::StrCat("tables.", table), outcome, got, &problems);
  }
  CompareTime("remediate_by", expect.has_remediate_by(), expect.remediate_by(),
              decision.has_remediate_by(), decision.remediate_by(), &problems);
  CompareTime("mitigate_by", expect.has_mitigate_by(), expect.mitigate_by(),
              decision.has_mitigate_by(), decision.mitigate_by(), &problems);
  CompareTime("review_by", expect.has_review_by(), expect.review_by(),
              decision.has_review_by(), decision.review_by(), &problems);
  if (expect.match_kind() != v1::MATCH_KIND_UNSPECIFIED) {
    CompareText("match_kind", v1::MatchKind_Name(expect.match_kind()),
                v1::MatchKind_Name(decision.match_kind()), &problems);
  }
  return problems;
}

std::vector<TestCaseOutcome> RunPolicyTests(const CompiledPolicy& policy,
                                            const v1::PolicyTestSuite& suite,
                                            absl::Time fallback_as_of) {
  std::vector<TestCaseOutcome> outcomes;
  outcomes.reserve(suite.cases_size());
  for (int i = 0; i < suite.cases_size(); ++i) {
    const v1::PolicyTestCase& test_case = suite.cases(i);
    TestCaseOutcome outcome;
    outcome.name = test_case.name().empty() ? absl::StrCat("cases[", i, "]")
                                            : test_case.name();
    EvalOptions options;
    options.as_of = test_case.has_as_of() ? FromProtoTime(test_case.as_of())
                    : suite.has_as_of()   ? FromProtoTime(suite.as_of())
                                          : fallback_as_of;
    v1::DecisionResult result;
    DecideInto(policy, test_case.finding(), options, FindingLimits(),
               /*field_prefix=*/"", &result);
    if (result.has_error()) {
      outcome.problems.push_back(
          absl::StrCat("error: ", result.error().message()));
    } else {
      outcome.problems = CompareDecision(test_case.expect(), result.decision());
    }
    outcome.passed = outcome.problems.empty();
    outcomes.push_back(std::move(outcome));
  }
  return outcomes;
}

}  // namespace treatd
