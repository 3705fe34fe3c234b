// A minimal expression environment for tests: Finding fields, `now`, and
// two fixed slots (`answer` = 42, `tables.t` = "act") served by
// TestSlots. Single-threaded test helper.
#ifndef TREATD_TESTS_COMMON_EXPR_TEST_ENV_H_
#define TREATD_TESTS_COMMON_EXPR_TEST_ENV_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/expr/checker/checker.h"
#include "common/expr/runtime/program.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::expr {

class TestEnv : public Env {
 public:
  const google::protobuf::Descriptor* root() const override {
    return v1::Finding::descriptor();
  }
  absl::StatusOr<Binding> Lookup(absl::string_view name) override {
    if (name == "now") {
      return Binding{Binding::Kind::kNow, 0, Type::Of(ValueKind::kTimestamp)};
    }
    if (name == "answer") {
      return Binding{Binding::Kind::kSlot, 0, Type::Of(ValueKind::kInt)};
    }
    if (name == "tables.t") {
      return Binding{Binding::Kind::kSlot, 1, Type::Of(ValueKind::kString)};
    }
    if (absl::StartsWith(name, "tables.")) {
      return absl::NotFoundError(
          absl::StrCat("unknown table '", name.substr(7), "'"));
    }
    return absl::NotFoundError(name);
  }
  bool IsNamespace(absl::string_view name) const override {
    return name == "tables";
  }
  MapGetter MapGetterFor(
      const google::protobuf::FieldDescriptor* field) const override {
    if (field->name() == "attributes") {
      return [](const google::protobuf::Message& m) {
        return &static_cast<const v1::Finding&>(m).attributes();
      };
    }
    if (field->name() == "labels") {
      return [](const google::protobuf::Message& m) {
        return &static_cast<const v1::Asset&>(m).labels();
      };
    }
    return nullptr;
  }
};

class TestSlots : public SlotResolver {
 public:
  Value Resolve(int slot, Frame&) override {
    ++calls;
    return slot == 0 ? Value::Int(42) : Value::String("act");
  }
  int calls = 0;
};

// 2026-12-01T00:00:00Z.
inline absl::Time TestNow() { return absl::FromUnixSeconds(1796083200); }

// Compiles and evaluates `text` over `finding`; returns the value in its
// quoted text form, "error: <message>" for an evaluation error, or
// "check: <first error>" when it does not compile.
inline std::string Eval(absl::string_view text, const v1::Finding& finding) {
  TestEnv env;
  std::vector<ExprError> errors;
  auto checked = CheckAndPlan(text, env, std::nullopt, &errors);
  if (!checked.ok()) {
    return absl::StrCat("check: ", errors.empty() ? "?" : errors[0].message);
  }
  TestSlots slots;
  Frame frame(&finding, TestNow(), &slots);
  Value v = checked->program->Evaluate(frame);
  if (v.is_error()) return absl::StrCat("error: ", v.error());
  return ValueToString(v, /*quote_strings=*/true);
}

inline std::string Eval(absl::string_view text) {
  return Eval(text, v1::Finding());
}

// The first check error of `text` as "line:col: message", or "" if none.
inline std::string CheckError(absl::string_view text) {
  TestEnv env;
  std::vector<ExprError> errors;
  auto checked = CheckAndPlan(text, env, std::nullopt, &errors);
  if (checked.ok() || errors.empty()) return "";
  const LineColumn lc = OffsetToLineColumn(text, errors[0].offset);
  return absl::StrCat(lc.line, ":", lc.column, ": ", errors[0].message);
}

}  // namespace treatd::expr

#endif  // TREATD_TESTS_COMMON_EXPR_TEST_ENV_H_
