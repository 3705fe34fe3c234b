// The PolicyCompiler class behind CompilePolicy() (policy_compiler.h), shared
// by the files that implement it, one job each:
//   policy_compiler.cc  the compiler: priorities, slots, lets, actions, risk,
//                       rules and exceptions, in document order;
//   name_resolver.cc    the expr::Env that resolves the names expressions use
//                       (lets, tables.*, risk.*, intel.*, now, Finding fields);
//   table_compiler.cc   decision tables: cells, row index, coverage warnings;
//   policy_lint.cc      whole-policy checks: SLA sources, rule ids,
//                       unreachable rules, cycles among lets and tables.
// Not part of the engine's API: include it only from those files.
//
// Thread safety: a PolicyCompiler is used once, by one thread.
#ifndef TREATD_COMMON_POLICY_ENGINE_POLICY_COMPILER_INTERNAL_H_
#define TREATD_COMMON_POLICY_ENGINE_POLICY_COMPILER_INTERNAL_H_

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/expr/checker/checker.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/loader/yaml_proto.h"
#include "treatd/v1/policy.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::internal {

using expr::Binding;
using expr::ExprError;
using expr::Type;
using expr::ValueKind;
using google::protobuf::FieldDescriptor;

class PolicyCompiler : public expr::Env {
 public:
  PolicyCompiler(const v1::Policy& policy, const SourceMap& map,
                 absl::string_view filename,
                 std::vector<v1::PolicyIssue>* issues)
      : policy_(policy), map_(map), filename_(filename), issues_(issues) {
    for (const auto& issue : *issues_) {
      if (issue.severity() == v1::ISSUE_SEVERITY_ERROR) {
        loader_error_paths_.insert(issue.path());
      }
    }
  }

  absl::StatusOr<std::unique_ptr<CompiledPolicyImpl>> Run();

  // expr::Env (name_resolver.cc): the names expressions may use.
  const google::protobuf::Descriptor* root() const override;

  absl::StatusOr<Binding> Lookup(absl::string_view name) override;

  bool IsNamespace(absl::string_view name) const override;

  expr::MapGetter MapGetterFor(const FieldDescriptor* field) const override;

  expr::FieldAccessor AccessorFor(const FieldDescriptor* field) const override;

 private:
  enum class LetState { kUnchecked, kChecking, kDone, kFailed };
  struct LetInfo {
    int slot = 0;
    LetState state = LetState::kUnchecked;
    Type type;
  };

  // Issues (policy_compiler.cc).
  void AddIssue(v1::IssueSeverity severity, const std::string& path,
                const std::string& element, const std::string& message,
                SourcePosition pos);
  void Error(const std::string& path, const std::string& element,
             const std::string& message);
  void Warning(const std::string& path, const std::string& element,
               const std::string& message);
  void ExprErrors(const std::string& path, const std::string& element,
                  absl::string_view text, const std::vector<ExprError>& errs);

  // Compiles one expression; reports its errors. `expected` as in
  // CheckAndPlan.
  std::unique_ptr<expr::Program> CompileExpr(const std::string& text,
                                             const std::string& path,
                                             const std::string& element,
                                             std::optional<ValueKind> expected,
                                             Type* type = nullptr);

  std::optional<TextTemplate> CompileTemplate(const std::string& text,
                                              const std::string& path,
                                              const std::string& element);

  std::optional<absl::Duration> PositiveDuration(
      bool present, const google::protobuf::Duration& d,
      const std::string& path, const std::string& element);

  // The compiler (policy_compiler.cc), in the order Run() calls it.
  void CompilePriorities();

  // Slots are numbered before anything is checked so that expressions can
  // refer to lets and tables defined anywhere in the document.
  void DeclareSlots();

  int AddSlot(Slot::Kind kind, std::string name);

  void CompileLet(const std::string& name);

  void CompileActionIds();

  void CompileActions();

  std::vector<int> ResolveActions(
      const google::protobuf::RepeatedPtrField<std::string>& ids,
      const std::string& path, const std::string& element);

  void CompileRisk();

  // The string literals a priority_expr can yield through ?: branches.
  // `*open` becomes true when some branch is not a literal.
  static void PriorityLiterals(const expr::Expr& e,
                               std::vector<const expr::Expr*>* out, bool* open);

  bool CompileRule(const v1::Rule& r, const std::string& path, bool is_default,
                   CompiledRule* out);

  void CompileExceptions();

  // Names (name_resolver.cc).
  // intel.stale (bool), intel.kev_age and intel.epss_age (durations): read
  // from EvalOptions. A slot is added on first use only, so policies that
  // never look at intel pay nothing for it.
  absl::StatusOr<Binding> LookUpIntel(absl::string_view name);

  void NoteRef(int slot);

  // Decision tables (table_compiler.cc).
  // Parses one table cell for an input of type `type`.
  bool ParseCell(const std::string& text, const Type& type,
                 CompiledTable::Cell* cell, std::string* why);

  void CompileTables();

  // Warns when some combination of input values matches no row and the
  // table has no default: such a finding cannot be decided.
  void CheckCoverage(const CompiledTable& t, const std::string& path);

  // Whole-policy checks (policy_lint.cc).
  // Every deadline the treatment needs must come from somewhere.
  void CheckSla(const CompiledRule& rule, const std::vector<int>& possible,
                const std::string& path, const std::string& element);

  std::string PriorityNames() const;

  void CheckRuleIds();

  void CheckUnreachableRules();

  std::string SlotPath(int slot) const;

  // Lets, tables and risk scores are computed lazily by reference, so a
  // cycle among them would recurse forever at evaluation time.
  void CheckCycles();

  const v1::Policy& policy_;
  const SourceMap& map_;
  std::string filename_;
  std::vector<v1::PolicyIssue>* issues_;
  std::set<std::string> loader_error_paths_;
  int errors_ = 0;

  std::unique_ptr<CompiledPolicyImpl> out_;
  absl::flat_hash_map<std::string, int> priority_index_;
  absl::flat_hash_map<std::string, int> action_index_;
  std::map<std::string, LetInfo> lets_;
  std::vector<std::string> let_order_;
  absl::flat_hash_map<std::string, int> table_slot_by_name_;
  std::vector<std::string> table_names_;
  // Slot being compiled (-1: a rule, action or exception) and the slots each
  // slot reads.
  int current_slot_ = -1;
  std::map<int, std::set<int>> edges_;
};

}  // namespace treatd::internal

#endif  // TREATD_COMMON_POLICY_ENGINE_POLICY_COMPILER_INTERNAL_H_
