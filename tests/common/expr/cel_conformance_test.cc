// CEL's own conformance suite (google/cel-spec's simple tests, vendored from
// the npm package @bufbuild/cel-spec: cel_conformance/ATTRIBUTION.md) run
// through treatd's expression language. Every case without variables is
// compiled as a policy condition would be (parse, strict check, plan) and,
// when it compiles, evaluated by both evaluators (the tree and the array
// form). The rules:
//   - a claimed case (cel_conformance/claimed.txt) compiles and gives CEL's
//     answer: the value CEL gives, or an error where CEL errors;
//   - any case, claimed or not, is either refused at load with a message or
//     answered as CEL answers it: never a different answer;
//   - the two evaluators agree on every case they run.
// The test prints the counts per suite section (cases, accepted, CEL's
// answer, wrong, refused); docs/policy-language.md quotes them.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/expr/checker/checker.h"
#include "common/expr/runtime/program.h"
#include "common/io/read_file.h"
#include "google/protobuf/empty.pb.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace treatd::expr {
namespace {

using nlohmann::json;

constexpr char kDir[] = TREATD_CEL_CONFORMANCE_DIR;

// No variables: CEL's cases that declare some are not run (they need a
// binding mechanism policies do not have), so the environment knows no
// names at all.
class NoVariablesEnv : public Env {
 public:
  const google::protobuf::Descriptor* root() const override {
    return google::protobuf::Empty::descriptor();
  }
  absl::StatusOr<Binding> Lookup(absl::string_view name) override {
    return absl::NotFoundError(name);
  }
  bool IsNamespace(absl::string_view) const override { return false; }
  MapGetter MapGetterFor(
      const google::protobuf::FieldDescriptor*) const override {
    return nullptr;
  }
};

class NoSlots : public SlotResolver {
 public:
  Value Resolve(int, Frame& frame) override {
    return frame.Error("no slots in conformance cases");
  }
};

// The vendored file `name`; an empty text (and a test failure) when it
// cannot be read.
std::string ReadData(absl::string_view name) {
  absl::StatusOr<std::string> text =
      ReadFileToString(absl::StrCat(kDir, "/", name), "conformance data");
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *std::move(text) : std::string();
}

// A proto3-JSON double: a number, or "NaN", "Infinity", "-Infinity".
bool JsonDouble(const json& j, double* out) {
  if (j.is_number()) {
    *out = j.get<double>();
    return true;
  }
  if (!j.is_string()) return false;
  const std::string s = j.get<std::string>();
  if (s == "NaN") {
    *out = std::nan("");
  } else if (s == "Infinity") {
    *out = HUGE_VAL;
  } else if (s == "-Infinity") {
    *out = -HUGE_VAL;
  } else {
    return absl::SimpleAtod(s, out);
  }
  return true;
}

// Whether `v` is the cel.expr.Value `expected` (proto3 JSON form).
bool Matches(const Value& v, const json& expected);

bool MatchesMapEntry(const Value& map, const json& entry) {
  bool found = false;
  map.ForEachEntry([&](const Value& key, const Value& value) {
    if (!Matches(key, entry.at("key"))) return true;
    found = Matches(value, entry.at("value"));
    return false;
  });
  return found;
}

bool Matches(const Value& v, const json& expected) {
  if (v.is_error() || !expected.is_object() || expected.size() != 1) {
    return false;
  }
  // Not `*expected.items().begin()`: that dereferences a temporary
  // iteration proxy (AddressSanitizer: stack-use-after-scope).
  const json::const_iterator entry = expected.cbegin();
  const std::string& kind = entry.key();
  const json& want = entry.value();
  if (kind == "boolValue") {
    return v.kind() == ValueKind::kBool && v.bool_value() == want.get<bool>();
  }
  if (kind == "int64Value") {
    int64_t i = 0;
    return v.kind() == ValueKind::kInt &&
           absl::SimpleAtoi(want.get<std::string>(), &i) && v.int_value() == i;
  }
  if (kind == "doubleValue") {
    double d = 0;
    if (v.kind() != ValueKind::kDouble || !JsonDouble(want, &d)) return false;
    return std::isnan(d) ? std::isnan(v.double_value()) : v.double_value() == d;
  }
  if (kind == "stringValue") {
    return v.kind() == ValueKind::kString &&
           v.string_value() == want.get<std::string>();
  }
  if (kind == "nullValue") return v.kind() == ValueKind::kNull;
  if (kind == "typeValue") {
    return v.kind() == ValueKind::kType &&
           v.string_value() == want.get<std::string>();
  }
  if (kind == "listValue") {
    if (v.kind() != ValueKind::kList) return false;
    const json values = want.value("values", json::array());
    if (v.ListSize() != values.size()) return false;
    for (size_t i = 0; i < values.size(); ++i) {
      if (!Matches(v.ListElement(i), values[i])) return false;
    }
    return true;
  }
  if (kind == "mapValue") {
    if (v.kind() != ValueKind::kMap) return false;
    const json entries = want.value("entries", json::array());
    if (v.MapSize() != entries.size()) return false;
    for (const json& entry : entries) {
      if (!MatchesMapEntry(v, entry)) return false;
    }
    return true;
  }
  // bytes, enums, messages, durations and timestamps as values: the
  // language has no literal for them, so no accepted case yields one.
  return false;
}

struct Case {
  std::string section;
  std::string id;  // section/suite/name
  json test;
};

// The cases without variables, in file order. (A malformed file throws
// from json::at(), which the test reports as a failure.)
std::vector<Case> LoadCases() {
  const json doc = json::parse(ReadData("conformance.json"), nullptr,
                               /*allow_exceptions=*/false);
  std::vector<Case> cases;
  if (doc.is_discarded()) {
    ADD_FAILURE() << "conformance.json is not valid JSON";
    return cases;
  }
  for (const json& section : doc.at("sections")) {
    const std::string s = section.at("name").get<std::string>();
    for (const json& suite : section.at("suites")) {
      const std::string u = suite.at("name").get<std::string>();
      for (const json& test : suite.at("tests")) {
        if (test.contains("bindings") || test.contains("typeEnv") ||
            test.value("checkOnly", false)) {
          continue;
        }
        const std::string name =
            test.value("name", test.at("expr").get<std::string>());
        cases.push_back({s, absl::StrCat(s, "/", u, "/", name), test});
      }
    }
  }
  return cases;
}

// claimed.txt: one entry a line, "section", "section/suite" or
// "section/suite/test" claims those cases; "!entry" takes one back; '#'
// starts a comment.
struct Claims {
  std::vector<std::string> claimed;
  std::vector<std::string> excluded;

  static bool Covers(const std::string& entry, const std::string& id) {
    return id == entry || absl::StartsWith(id, absl::StrCat(entry, "/"));
  }
  bool IsClaimed(const std::string& id) const {
    for (const std::string& e : excluded) {
      if (Covers(e, id)) return false;
    }
    for (const std::string& c : claimed) {
      if (Covers(c, id)) return true;
    }
    return false;
  }
};

Claims LoadClaims() {
  Claims claims;
  for (absl::string_view line : absl::StrSplit(ReadData("claimed.txt"), '\n')) {
    line = line.substr(0, line.find('#'));
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (absl::ConsumePrefix(&line, "!")) {
      claims.excluded.emplace_back(line);
    } else {
      claims.claimed.emplace_back(line);
    }
  }
  return claims;
}

struct Counts {
  int cases = 0, accepted = 0, right = 0, wrong = 0, refused = 0;
  void Add(const Counts& o) {
    cases += o.cases;
    accepted += o.accepted;
    right += o.right;
    wrong += o.wrong;
    refused += o.refused;
  }
};

enum class Result { kRefused, kRight, kWrong };

struct CaseRun {
  Result result = Result::kRefused;
  std::string detail;  // The refusal, or what we answered instead.
};

std::string Describe(const Value& v) {
  if (v.is_error()) return absl::StrCat("error: ", v.error());
  return ValueToString(v, /*quote_strings=*/true);
}

CaseRun RunCase(const json& test) {
  CaseRun run;
  const std::string text = test.at("expr").get<std::string>();
  NoVariablesEnv env;
  std::vector<ExprError> errors;
  absl::StatusOr<CheckedProgram> checked =
      CheckAndPlan(text, env, std::nullopt, &errors);
  if (!checked.ok()) {
    run.detail = errors.empty() ? std::string(checked.status().message())
                                : errors[0].message;
    return run;
  }
  NoSlots slots;
  Frame frame(&google::protobuf::Empty::default_instance(), absl::UnixEpoch(),
              &slots);
  const Value array = checked->program->Evaluate(frame);
  const Value tree = EvaluateNode(checked->program->root(), frame);
  if (Describe(array) != Describe(tree)) {
    run.result = Result::kWrong;
    run.detail = absl::StrCat("the evaluators disagree: array form ",
                              Describe(array), ", tree ", Describe(tree));
    return run;
  }
  const json expected = test.contains("typedResult")
                            ? test.at("typedResult").at("result")
                            : test.value("value", json());
  bool right = false;
  if (test.contains("evalError")) {
    right = array.is_error() && !array.error().empty();
  } else if (!expected.is_null()) {
    right = Matches(array, expected);
  }
  run.result = right ? Result::kRight : Result::kWrong;
  if (!right) run.detail = absl::StrCat("answered ", Describe(array));
  return run;
}

std::string Expected(const json& test) {
  if (test.contains("evalError")) return "an error";
  if (test.contains("typedResult")) {
    return test.at("typedResult").at("result").dump();
  }
  return test.value("value", json()).dump();
}

void PrintRow(const std::string& name, const Counts& c) {
  printf("%-18s %6d %9d %12d %6d %8d\n", name.c_str(), c.cases, c.accepted,
         c.right, c.wrong, c.refused);
}

TEST(CelConformanceTest, ClaimedCasesGiveCelsAnswerAndTheRestAreRefused) {
  const std::vector<Case> cases = LoadCases();
  const Claims claims = LoadClaims();
  ASSERT_GT(cases.size(), 1000u) << "conformance.json did not load";

  // CEL_CONFORMANCE_VERBOSE=1 lists the refusals and unclaimed answers.
  const bool verbose = getenv("CEL_CONFORMANCE_VERBOSE") != nullptr;
  std::map<std::string, Counts> all, bools;
  std::set<std::string> used_claims;
  int claimed = 0;
  for (const Case& c : cases) {
    const CaseRun run = RunCase(c.test);
    const bool is_claimed = claims.IsClaimed(c.id);
    claimed += is_claimed ? 1 : 0;
    const bool boolean =
        c.test.contains("value") && c.test.at("value").contains("boolValue");
    for (auto* table : {&all, boolean ? &bools : nullptr}) {
      if (table == nullptr) continue;
      Counts& n = (*table)[c.section];
      ++n.cases;
      if (run.result == Result::kRefused) {
        ++n.refused;
      } else {
        ++n.accepted;
        ++(run.result == Result::kRight ? n.right : n.wrong);
      }
    }
    const std::string where =
        absl::StrCat(c.id, ": `", c.test.at("expr").get<std::string>(),
                     "` (CEL: ", Expected(c.test), ")");
    EXPECT_NE(run.result, Result::kWrong) << where << " " << run.detail;
    if (is_claimed) {
      EXPECT_EQ(run.result, Result::kRight)
          << "claimed " << where << " " << run.detail;
    }
    if (run.result == Result::kRefused) {
      EXPECT_FALSE(run.detail.empty()) << where << " refused without a reason";
      // For reviewing claimed.txt: every refusal and its reason.
      if (verbose)
        printf("refused %s: %s\n", where.c_str(), run.detail.c_str());
    } else if (verbose && !is_claimed) {
      printf("accepted, not claimed %s\n", where.c_str());
    }
  }
  for (const std::string& entry : claims.claimed) {
    bool matches = false;
    for (const Case& c : cases)
      matches = matches || Claims::Covers(entry, c.id);
    EXPECT_TRUE(matches) << "claimed.txt names no case: " << entry;
  }

  for (const auto& [title, table] :
       {std::pair<const char*, const std::map<std::string, Counts>*>{
            "all cases without variables", &all},
        {"boolean-valued cases without variables", &bools}}) {
    printf("\nCEL conformance (%s)\n", title);
    printf("%-18s %6s %9s %12s %6s %8s\n", "section", "cases", "accepted",
           "CEL's answer", "wrong", "refused");
    Counts total;
    for (const auto& [section, counts] : *table) {
      PrintRow(section, counts);
      total.Add(counts);
    }
    PrintRow("total", total);
  }
  printf("\nclaimed in claimed.txt: %d cases\n", claimed);
}

}  // namespace
}  // namespace treatd::expr
