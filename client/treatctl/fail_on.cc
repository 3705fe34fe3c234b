#include "client/treatctl/fail_on.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/expr/checker/checker.h"
#include "common/expr/parser/source.h"

namespace treatd {
namespace {

constexpr int kFindingSlot = 0;

// The names of a --fail-on expression: DecisionResult fields at the top,
// `finding` as a slot holding the decided Finding, and `now`.
class GateEnv : public expr::Env {
 public:
  const google::protobuf::Descriptor* root() const override {
    return v1::DecisionResult::descriptor();
  }
  absl::StatusOr<expr::Binding> Lookup(absl::string_view name) override {
    if (name == "now") {
      return expr::Binding{expr::Binding::Kind::kNow, 0,
                           expr::Type::Of(expr::ValueKind::kTimestamp)};
    }
    if (name == "finding") {
      return expr::Binding{expr::Binding::Kind::kSlot, kFindingSlot,
                           expr::Type::Message(v1::Finding::descriptor())};
    }
    return absl::NotFoundError(name);
  }
  bool IsNamespace(absl::string_view) const override { return false; }
  expr::MapGetter MapGetterFor(
      const google::protobuf::FieldDescriptor* field) const override {
    if (field == v1::Finding::descriptor()->FindFieldByName("attributes")) {
      return [](const google::protobuf::Message& m) {
        return &static_cast<const v1::Finding&>(m).attributes();
      };
    }
    if (field == v1::Asset::descriptor()->FindFieldByName("labels")) {
      return [](const google::protobuf::Message& m) {
        return &static_cast<const v1::Asset&>(m).labels();
      };
    }
    return nullptr;
  }
};

class FindingSlot : public expr::SlotResolver {
 public:
  explicit FindingSlot(const v1::Finding* finding) : finding_(finding) {}
  expr::Value Resolve(int, expr::Frame&) override {
    return expr::Value::Message(finding_);
  }

 private:
  const v1::Finding* finding_;
};

}  // namespace

absl::StatusOr<FailOnGate> FailOnGate::Compile(absl::string_view expression) {
  GateEnv env;
  std::vector<expr::ExprError> errors;
  absl::StatusOr<expr::CheckedProgram> checked =
      expr::CheckAndPlan(expression, env, expr::ValueKind::kBool, &errors);
  if (!checked.ok()) {
    std::vector<std::string> lines;
    for (const expr::ExprError& error : errors) {
      const expr::LineColumn position =
          expr::OffsetToLineColumn(expression, error.offset);
      lines.push_back(
          absl::StrCat("--fail-on:", position.column, ": ", error.message));
    }
    if (lines.empty()) lines.push_back(std::string(checked.status().message()));
    return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
  }
  std::string warning;
  if (expr::PrecedenceChangedMeaning(expression, env, expr::ValueKind::kBool)) {
    warning =
        absl::StrCat("--fail-on: warning: ", expr::kPrecedenceChangedWarning);
  }
  return FailOnGate(
      std::shared_ptr<const expr::Program>(std::move(checked->program)),
      std::move(warning));
}

absl::StatusOr<bool> FailOnGate::Trips(const v1::Finding* finding,
                                       const v1::DecisionResult& result,
                                       absl::Time now) const {
  FindingSlot slot(finding != nullptr ? finding
                                      : &v1::Finding::default_instance());
  expr::Frame frame(&result, now, &slot);
  const expr::Value value = program_->Evaluate(frame);
  if (value.is_error()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--fail-on `", program_->source(), "`: ", value.error()));
  }
  return value.bool_value();
}

}  // namespace treatd
