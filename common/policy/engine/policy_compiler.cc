#include "common/policy/engine/policy_compiler.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/expr/checker/checker.h"
#include "common/expr/parser/parser.h"
#include "common/policy/engine/finding_accessors.h"
#include "google/protobuf/util/time_util.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

using expr::Binding;
using expr::ExprError;
using expr::Type;
using expr::ValueKind;
using google::protobuf::FieldDescriptor;

const expr::StringMap* FindingAttributes(const google::protobuf::Message& m) {
  return &static_cast<const v1::Finding&>(m).attributes();
}
const expr::StringMap* AssetLabels(const google::protobuf::Message& m) {
  return &static_cast<const v1::Asset&>(m).labels();
}

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

bool IsIdentifier(absl::string_view s) {
  if (s.empty() || !(absl::ascii_isalpha(s[0]) || s[0] == '_')) return false;
  for (char c : s) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

const char* TreatmentName(v1::Treatment t) {
  switch (t) {
    case v1::TREATMENT_REMEDIATE:
      return "REMEDIATE";
    case v1::TREATMENT_MITIGATE:
      return "MITIGATE";
    case v1::TREATMENT_MITIGATE_THEN_REMEDIATE:
      return "MITIGATE_THEN_REMEDIATE";
    case v1::TREATMENT_ACCEPT:
      return "ACCEPT";
    default:
      return "UNSPECIFIED";
  }
}

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

  absl::StatusOr<std::unique_ptr<CompiledPolicyImpl>> Run() {
    out_ = std::make_unique<CompiledPolicyImpl>();
    out_->policy = policy_;
    if (policy_.name().empty()) {
      Error("name", "", "the policy needs a name");
    }
    CompilePriorities();
    DeclareSlots();
    CompileActionIds();
    for (const std::string& name : let_order_) CompileLet(name);
    CompileTables();
    CompileRisk();
    CompileActions();
    for (int i = 0; i < policy_.rules_size(); ++i) {
      CompiledRule rule;
      if (CompileRule(policy_.rules(i), absl::StrCat("rules[", i, "]"),
                      /*is_default=*/false, &rule)) {
        out_->rules.push_back(std::move(rule));
      }
    }
    CheckRuleIds();
    CheckUnreachableRules();
    if (!policy_.has_default_()) {
      Error("default", "default",
            "the policy needs a `default` rule for findings no rule matches");
    } else {
      CompileRule(policy_.default_(), "default", /*is_default=*/true,
                  &out_->default_rule);
      out_->default_rule.id = "default";
    }
    CompileExceptions();
    CheckCycles();
    if (errors_ > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("policy has ", errors_, " error(s)"));
    }
    out_->ComputeSlotFacts();
    out_->ComputeTexts();
    return std::move(out_);
  }

  // expr::Env.
  const google::protobuf::Descriptor* root() const override {
    return v1::Finding::descriptor();
  }

  absl::StatusOr<Binding> Lookup(absl::string_view name) override {
    if (name == "now")
      return Binding{Binding::Kind::kNow, 0, Type::Of(ValueKind::kTimestamp)};
    if (absl::StartsWith(name, "tables.")) {
      const std::string table(name.substr(7));
      auto it = table_slot_by_name_.find(table);
      if (it == table_slot_by_name_.end()) {
        return absl::NotFoundError(absl::StrCat(
            "unknown table '", table, "'; tables: ",
            table_names_.empty() ? "(none)"
                                 : absl::StrJoin(table_names_, ", ")));
      }
      NoteRef(it->second);
      return Binding{Binding::Kind::kSlot, it->second,
                     Type::Of(ValueKind::kString)};
    }
    if (absl::StartsWith(name, "risk.")) {
      const absl::string_view which = name.substr(5);
      if (which != "inherent" && which != "residual") {
        return absl::NotFoundError(
            absl::StrCat("unknown risk score '", which,
                         "'; use risk.inherent or risk.residual"));
      }
      const int slot =
          which == "inherent" ? out_->inherent_slot : out_->residual_slot;
      NoteRef(slot);
      return Binding{Binding::Kind::kSlot, slot, Type::Of(ValueKind::kDouble)};
    }
    if (absl::StartsWith(name, "intel.")) return LookUpIntel(name);
    auto it = lets_.find(std::string(name));
    if (it == lets_.end()) return absl::NotFoundError(name);
    LetInfo& let = it->second;
    NoteRef(let.slot);
    if (let.state == LetState::kUnchecked) CompileLet(it->first);
    // A let still being checked is part of a cycle; CheckCycles() reports
    // it, so the reference is typed as "already reported" here.
    return Binding{Binding::Kind::kSlot, let.slot,
                   let.state == LetState::kDone ? let.type : Type()};
  }

  bool IsNamespace(absl::string_view name) const override {
    return name == "tables" || name == "risk" || name == "intel";
  }

  expr::MapGetter MapGetterFor(const FieldDescriptor* field) const override {
    if (field == v1::Finding::descriptor()->FindFieldByName("attributes")) {
      return &FindingAttributes;
    }
    if (field == v1::Asset::descriptor()->FindFieldByName("labels")) {
      return &AssetLabels;
    }
    return nullptr;
  }

  expr::FieldAccessor AccessorFor(const FieldDescriptor* field) const override {
    return FindingFieldAccessor(field);
  }

 private:
  enum class LetState { kUnchecked, kChecking, kDone, kFailed };
  struct LetInfo {
    int slot = 0;
    LetState state = LetState::kUnchecked;
    Type type;
  };

  // Issues.
  void AddIssue(v1::IssueSeverity severity, const std::string& path,
                const std::string& element, const std::string& message,
                SourcePosition pos) {
    v1::PolicyIssue issue;
    issue.set_severity(severity);
    issue.set_file(filename_);
    issue.set_line(pos.line);
    issue.set_column(pos.column);
    issue.set_element(element);
    issue.set_path(path);
    issue.set_message(message);
    issues_->push_back(std::move(issue));
    if (severity == v1::ISSUE_SEVERITY_ERROR) ++errors_;
  }
  void Error(const std::string& path, const std::string& element,
             const std::string& message) {
    // The loader already explained what is wrong with this node.
    if (loader_error_paths_.count(path) > 0) {
      ++errors_;
      return;
    }
    AddIssue(v1::ISSUE_SEVERITY_ERROR, path, element, message, map_.Find(path));
  }
  void Warning(const std::string& path, const std::string& element,
               const std::string& message) {
    AddIssue(v1::ISSUE_SEVERITY_WARNING, path, element, message,
             map_.Find(path));
  }
  void ExprErrors(const std::string& path, const std::string& element,
                  absl::string_view text, const std::vector<ExprError>& errs) {
    for (const ExprError& e : errs) {
      const expr::LineColumn lc = expr::OffsetToLineColumn(text, e.offset);
      AddIssue(v1::ISSUE_SEVERITY_ERROR, path, element, e.message,
               map_.Resolve(path, lc.line, lc.column));
    }
  }

  void NoteRef(int slot) {
    if (current_slot_ >= 0) edges_[current_slot_].insert(slot);
  }

  // Compiles one expression; reports its errors. `expected` as in
  // CheckAndPlan.
  std::unique_ptr<expr::Program> CompileExpr(const std::string& text,
                                             const std::string& path,
                                             const std::string& element,
                                             std::optional<ValueKind> expected,
                                             Type* type = nullptr) {
    std::vector<ExprError> errs;
    auto checked = expr::CheckAndPlan(text, *this, expected, &errs);
    if (!checked.ok()) {
      if (errs.empty()) {
        errs.push_back({0, std::string(checked.status().message())});
      }
      ExprErrors(path, element, text, errs);
      return nullptr;
    }
    if (type != nullptr) *type = checked->type;
    return std::move(checked->program);
  }

  std::optional<TextTemplate> CompileTemplate(const std::string& text,
                                              const std::string& path,
                                              const std::string& element) {
    std::vector<ExprError> errs;
    auto t = TextTemplate::Compile(text, *this, &errs);
    if (!t.ok()) {
      ExprErrors(path, element, text, errs);
      return std::nullopt;
    }
    return std::move(*t);
  }

  std::optional<absl::Duration> PositiveDuration(
      bool present, const google::protobuf::Duration& d,
      const std::string& path, const std::string& element) {
    if (!present) return std::nullopt;
    const absl::Duration v = ToDuration(d);
    if (v <= absl::ZeroDuration()) {
      Error(path, element, "durations must be positive, e.g. 72h or 14d");
      return std::nullopt;
    }
    return v;
  }

  void CompilePriorities() {
    if (policy_.priorities_size() == 0) {
      Error("priorities", "",
            "the policy needs at least one priority (most urgent first)");
    }
    for (int i = 0; i < policy_.priorities_size(); ++i) {
      const v1::Priority& p = policy_.priorities(i);
      const std::string path = absl::StrCat("priorities[", i, "]");
      CompiledPriority cp;
      cp.name = p.name();
      if (p.name().empty()) {
        Error(path + ".name", "", "a priority needs a name, e.g. P1");
      } else if (!priority_index_.emplace(p.name(), i).second) {
        Error(path + ".name", p.name(),
              absl::StrCat("priority '", p.name(), "' is defined twice"));
      }
      cp.mitigate_within =
          PositiveDuration(p.has_mitigate_within(), p.mitigate_within(),
                           path + ".mitigate_within", p.name());
      cp.remediate_within =
          PositiveDuration(p.has_remediate_within(), p.remediate_within(),
                           path + ".remediate_within", p.name());
      cp.review_within =
          PositiveDuration(p.has_review_within(), p.review_within(),
                           path + ".review_within", p.name());
      if (cp.mitigate_within)
        cp.mitigate_text = expr::RenderDuration(*cp.mitigate_within);
      if (cp.remediate_within)
        cp.remediate_text = expr::RenderDuration(*cp.remediate_within);
      if (cp.review_within)
        cp.review_text = expr::RenderDuration(*cp.review_within);
      out_->priorities.push_back(std::move(cp));
    }
  }

  // Slots are numbered before anything is checked so that expressions can
  // refer to lets and tables defined anywhere in the document.
  void DeclareSlots() {
    std::vector<std::string> names;
    for (const auto& [name, text] : policy_.let()) names.push_back(name);
    std::sort(names.begin(), names.end());  // Map order is unspecified.
    for (const std::string& name : names) {
      const std::string path = absl::StrCat("let.", name);
      if (!IsIdentifier(name) || name == "now" || IsNamespace(name) ||
          v1::Finding::descriptor()->FindFieldByName(name) != nullptr) {
        Error(path, name,
              absl::StrCat(
                  "let name '", name,
                  "' must be an identifier and not `now`, `tables`, `intel`, "
                  "`risk` or a field of Finding"));
        continue;
      }
      LetInfo info;
      info.slot = AddSlot(Slot::Kind::kLet, name);
      lets_.emplace(name, info);
      let_order_.push_back(name);
    }
    for (int i = 0; i < policy_.tables_size(); ++i) {
      const v1::DecisionTable& t = policy_.tables(i);
      const std::string path = absl::StrCat("tables[", i, "].name");
      if (!IsIdentifier(t.name())) {
        Error(path, t.name(),
              t.name().empty() ? "a table needs a name"
                               : absl::StrCat("table name '", t.name(),
                                              "' must be an identifier"));
      } else if (table_slot_by_name_.count(t.name()) > 0) {
        Error(path, t.name(),
              absl::StrCat("table '", t.name(), "' is defined twice"));
      } else {
        table_names_.push_back(t.name());
        table_slot_by_name_[t.name()] =
            AddSlot(Slot::Kind::kTable, absl::StrCat("tables.", t.name()));
      }
    }
    out_->inherent_slot = AddSlot(Slot::Kind::kRiskInherent, "risk.inherent");
    out_->residual_slot = AddSlot(Slot::Kind::kRiskResidual, "risk.residual");
  }

  // intel.stale (bool), intel.kev_age and intel.epss_age (durations): read
  // from EvalOptions. A slot is added on first use only, so policies that
  // never look at intel pay nothing for it.
  absl::StatusOr<Binding> LookUpIntel(absl::string_view name) {
    struct Known {
      absl::string_view name;
      Slot::IntelValue value;
      ValueKind kind;
    };
    static constexpr Known kKnown[] = {
        {"intel.stale", Slot::IntelValue::kStale, ValueKind::kBool},
        {"intel.kev_age", Slot::IntelValue::kKevAge, ValueKind::kDuration},
        {"intel.epss_age", Slot::IntelValue::kEpssAge, ValueKind::kDuration},
    };
    for (const Known& known : kKnown) {
      if (known.name != name) continue;
      for (size_t i = 0; i < out_->slots.size(); ++i) {
        if (out_->slots[i].kind == Slot::Kind::kIntel &&
            out_->slots[i].intel == known.value) {
          return Binding{Binding::Kind::kSlot, static_cast<int>(i),
                         Type::Of(known.kind)};
        }
      }
      const int slot = AddSlot(Slot::Kind::kIntel, std::string(name));
      out_->slots[slot].intel = known.value;
      return Binding{Binding::Kind::kSlot, slot, Type::Of(known.kind)};
    }
    return absl::NotFoundError(
        absl::StrCat("unknown intel value '", name.substr(6),
                     "'; use intel.stale, intel.kev_age or intel.epss_age"));
  }

  int AddSlot(Slot::Kind kind, std::string name) {
    Slot slot;
    slot.kind = kind;
    slot.name = std::move(name);
    out_->slots.push_back(std::move(slot));
    return static_cast<int>(out_->slots.size()) - 1;
  }

  void CompileLet(const std::string& name) {
    LetInfo& let = lets_.at(name);
    if (let.state != LetState::kUnchecked) return;
    let.state = LetState::kChecking;
    const int saved = current_slot_;
    current_slot_ = let.slot;
    Type type;
    const std::string& text = policy_.let().at(name);
    auto program = CompileExpr(text, absl::StrCat("let.", name), name,
                               std::nullopt, &type);
    current_slot_ = saved;
    // `lets_` does not rehash during checking (no inserts), so `let` is
    // still valid.
    if (program == nullptr) {
      let.state = LetState::kFailed;
      return;
    }
    let.type = type;
    let.state = LetState::kDone;
    out_->slots[let.slot].program = std::move(program);
  }

  void CompileActionIds() {
    for (int i = 0; i < policy_.actions_size(); ++i) {
      const v1::ActionTemplate& a = policy_.actions(i);
      const std::string path = absl::StrCat("actions[", i, "]");
      if (a.id().empty()) {
        Error(path + ".id", "", "an action needs an id");
      } else if (!action_index_.emplace(a.id(), i).second) {
        Error(path + ".id", a.id(),
              absl::StrCat("action '", a.id(), "' is defined twice"));
      }
    }
  }

  void CompileActions() {
    for (int i = 0; i < policy_.actions_size(); ++i) {
      const v1::ActionTemplate& a = policy_.actions(i);
      const std::string path = absl::StrCat("actions[", i, "]");
      CompiledAction ca;
      ca.id = a.id();
      ca.category = a.category();
      if (a.category() == v1::ACTION_CATEGORY_UNSPECIFIED) {
        Error(path + ".category", a.id(),
              "an action needs a category: REMEDIATION, MITIGATION, "
              "MONITORING or INVESTIGATION");
      }
      if (a.text().empty()) {
        Error(path + ".text", a.id(), "an action needs a text");
      } else if (auto t = CompileTemplate(a.text(), path + ".text", a.id())) {
        ca.text = std::move(*t);
      }
      if (!a.when().empty()) {
        ca.when =
            CompileExpr(a.when(), path + ".when", a.id(), ValueKind::kBool);
      }
      out_->actions.push_back(std::move(ca));
    }
  }

  std::vector<int> ResolveActions(
      const google::protobuf::RepeatedPtrField<std::string>& ids,
      const std::string& path, const std::string& element) {
    std::vector<int> out;
    for (int i = 0; i < ids.size(); ++i) {
      auto it = action_index_.find(ids[i]);
      if (it == action_index_.end()) {
        std::vector<std::string> known;
        for (const auto& a : policy_.actions()) known.push_back(a.id());
        Error(absl::StrCat(path, "[", i, "]"), element,
              absl::StrCat(
                  "unknown action '", ids[i], "'; actions: ",
                  known.empty() ? "(none)" : absl::StrJoin(known, ", ")));
        continue;
      }
      out.push_back(it->second);
    }
    return out;
  }

  // Parses one table cell for an input of type `type`.
  bool ParseCell(const std::string& text, const Type& type,
                 CompiledTable::Cell* cell, std::string* why) {
    if (text == "*") {
      cell->any = true;
      return true;
    }
    switch (type.kind) {
      case ValueKind::kBool: {
        const std::string lower = absl::AsciiStrToLower(text);
        if (lower == "yes" || lower == "true") {
          cell->value = expr::Value::Bool(true);
        } else if (lower == "no" || lower == "false") {
          cell->value = expr::Value::Bool(false);
        } else {
          *why = "use yes/no, true/false or *";
          return false;
        }
        return true;
      }
      case ValueKind::kInt: {
        int64_t i = 0;
        if (!absl::SimpleAtoi(text, &i)) {
          *why = "use an integer or *";
          return false;
        }
        cell->value = expr::Value::Int(i);
        return true;
      }
      case ValueKind::kEnum: {
        const auto* v = expr::FindEnumValue(type.enum_type, text);
        if (v == nullptr) {
          std::vector<std::string> names;
          for (int i = 0; i < type.enum_type->value_count(); ++i) {
            names.emplace_back(expr::EnumShortName(
                type.enum_type, type.enum_type->value(i)->number()));
          }
          *why =
              absl::StrCat("not a value of ", type.enum_type->full_name(),
                           "; values: ", absl::StrJoin(names, ", "), " or *");
          return false;
        }
        cell->value = expr::Value::Enum(v->number(), type.enum_type);
        return true;
      }
      case ValueKind::kString:
        cell->text = text;
        return true;  // The Value is set once the cell has its final home.
      default:
        *why = "the input's type cannot be used in a table";
        return false;
    }
  }

  void CompileTables() {
    for (int i = 0; i < policy_.tables_size(); ++i) {
      const v1::DecisionTable& t = policy_.tables(i);
      const std::string path = absl::StrCat("tables[", i, "]");
      auto slot_it = table_slot_by_name_.find(t.name());
      const bool declared = slot_it != table_slot_by_name_.end() &&
                            out_->slots[slot_it->second].table < 0;
      const int slot = declared ? slot_it->second : -1;
      const int saved = current_slot_;
      current_slot_ = slot;
      CompiledTable ct;
      ct.name = t.name();
      ct.default_outcome = t.default_();
      if (t.inputs_size() == 0) {
        Error(path + ".inputs", t.name(), "a table needs at least one input");
      }
      bool inputs_ok = true;
      for (int j = 0; j < t.inputs_size(); ++j) {
        const v1::TableInput& in = t.inputs(j);
        const std::string ipath = absl::StrCat(path, ".inputs[", j, "]");
        CompiledTable::Input input;
        input.name = in.name();
        if (in.name().empty()) {
          Error(ipath + ".name", t.name(), "a table input needs a name");
        }
        if (in.expr().empty()) {
          Error(ipath + ".expr", t.name(), "a table input needs an expr");
          inputs_ok = false;
        } else {
          input.program = CompileExpr(in.expr(), ipath + ".expr", t.name(),
                                      std::nullopt, &input.type);
          if (input.program == nullptr) {
            inputs_ok = false;
          } else if (input.type.kind != ValueKind::kBool &&
                     input.type.kind != ValueKind::kString &&
                     input.type.kind != ValueKind::kInt &&
                     input.type.kind != ValueKind::kEnum) {
            Error(ipath + ".expr", t.name(),
                  absl::StrCat("a table input must be bool, string, int or "
                               "an enum, got ",
                               input.type.Name()));
            inputs_ok = false;
          }
        }
        ct.inputs.push_back(std::move(input));
      }
      current_slot_ = saved;
      if (t.rows_size() == 0) {
        Error(path + ".rows", t.name(), "a table needs at least one row");
      }
      for (int r = 0; r < t.rows_size(); ++r) {
        const v1::TableRow& row = t.rows(r);
        const std::string rpath = absl::StrCat(path, ".rows[", r, "]");
        CompiledTable::Row cr;
        cr.outcome = row.then();
        if (row.then().empty()) {
          Error(rpath + ".then", t.name(),
                "a table row needs a `then` outcome");
        }
        if (row.when_size() != t.inputs_size()) {
          Error(rpath + ".when", t.name(),
                absl::StrCat("row has ", row.when_size(),
                             " cell(s) but the "
                             "table has ",
                             t.inputs_size(), " input(s)"));
          ct.rows.push_back(std::move(cr));
          continue;
        }
        cr.cells.resize(row.when_size());
        for (int c = 0; c < row.when_size(); ++c) {
          if (!inputs_ok) break;
          std::string why;
          if (!ParseCell(row.when(c), ct.inputs[c].type, &cr.cells[c], &why)) {
            Error(absl::StrCat(rpath, ".when[", c, "]"), t.name(),
                  absl::StrCat("cell '", row.when(c), "' for input '",
                               ct.inputs[c].name, "' (",
                               ct.inputs[c].type.Name(), "): ", why));
          }
        }
        ct.rows.push_back(std::move(cr));
      }
      // String cells point at their own text, now that rows stopped moving.
      for (auto& row : ct.rows) {
        for (auto& cell : row.cells) {
          if (!cell.any && !cell.text.empty()) {
            cell.value = expr::Value::String(cell.text);
          }
        }
      }
      if (inputs_ok && ct.default_outcome.empty() && t.rows_size() > 0) {
        CheckCoverage(ct, path);
      }
      if (inputs_ok) ct.BuildIndex();
      out_->tables.push_back(std::move(ct));
      out_->table_slots.push_back(slot);
      if (slot >= 0)
        out_->slots[slot].table = static_cast<int>(out_->tables.size()) - 1;
    }
  }

  // Warns when some combination of input values matches no row and the
  // table has no default: such a finding cannot be decided.
  void CheckCoverage(const CompiledTable& t, const std::string& path) {
    // Each input's domain: every value of a bool or enum; for strings and
    // ints, the values the rows name plus one value that no row names.
    std::vector<std::vector<CompiledTable::Cell>> domains;
    size_t combinations = 1;
    for (size_t c = 0; c < t.inputs.size(); ++c) {
      const Type& type = t.inputs[c].type;
      std::vector<CompiledTable::Cell> domain;
      if (type.kind == ValueKind::kBool) {
        for (bool b : {false, true}) {
          CompiledTable::Cell cell;
          cell.value = expr::Value::Bool(b);
          domain.push_back(cell);
        }
      } else if (type.kind == ValueKind::kEnum) {
        for (int i = 0; i < type.enum_type->value_count(); ++i) {
          CompiledTable::Cell cell;
          cell.value = expr::Value::Enum(type.enum_type->value(i)->number(),
                                         type.enum_type);
          domain.push_back(cell);
        }
      } else {
        std::set<std::string> seen;
        for (const auto& row : t.rows) {
          if (c < row.cells.size() && !row.cells[c].any &&
              seen.insert(expr::ValueToString(row.cells[c].value)).second) {
            domain.push_back(row.cells[c]);
          }
        }
        CompiledTable::Cell other;
        other.any = true;  // Stands for "a value no row names".
        domain.push_back(other);
      }
      combinations *= domain.size();
      domains.push_back(std::move(domain));
    }
    constexpr size_t kMaxCombinations = 100000;
    if (combinations > kMaxCombinations) return;
    std::vector<size_t> index(domains.size(), 0);
    for (size_t n = 0; n < combinations; ++n) {
      size_t rest = n;
      for (size_t c = 0; c < domains.size(); ++c) {
        index[c] = rest % domains[c].size();
        rest /= domains[c].size();
      }
      bool covered = false;
      for (const auto& row : t.rows) {
        if (row.cells.size() != domains.size()) continue;
        bool all = true;
        for (size_t c = 0; c < domains.size() && all; ++c) {
          const auto& probe = domains[c][index[c]];
          all = row.cells[c].any ||
                (!probe.any && expr::ValueToString(row.cells[c].value) ==
                                   expr::ValueToString(probe.value));
        }
        if (all) {
          covered = true;
          break;
        }
      }
      if (!covered) {
        std::vector<std::string> example;
        for (size_t c = 0; c < domains.size(); ++c) {
          const auto& probe = domains[c][index[c]];
          example.push_back(
              absl::StrCat(t.inputs[c].name, "=",
                           probe.any ? "(another value)"
                                     : expr::ValueToString(probe.value)));
        }
        Warning(path, t.name,
                absl::StrCat("rows do not cover every combination and the "
                             "table has no default; e.g. ",
                             absl::StrJoin(example, ", "),
                             " matches no row and fails the decision"));
        return;
      }
    }
  }

  void CompileRisk() {
    const v1::RiskModel& risk = policy_.risk();
    struct Part {
      const std::string& text;
      int slot;
      const char* path;
    } parts[] = {{risk.inherent(), out_->inherent_slot, "risk.inherent"},
                 {risk.residual(), out_->residual_slot, "risk.residual"}};
    for (const Part& part : parts) {
      if (part.text.empty()) continue;
      const int saved = current_slot_;
      current_slot_ = part.slot;
      out_->slots[part.slot].program =
          CompileExpr(part.text, part.path, part.path, ValueKind::kDouble);
      current_slot_ = saved;
    }
  }

  // The string literals a priority_expr can yield through ?: branches.
  // `*open` becomes true when some branch is not a literal.
  static void PriorityLiterals(const expr::Expr& e,
                               std::vector<const expr::Expr*>* out,
                               bool* open) {
    if (e.kind == expr::ExprKind::kLiteral &&
        e.literal == expr::LiteralKind::kString) {
      out->push_back(&e);
    } else if (e.kind == expr::ExprKind::kConditional) {
      PriorityLiterals(*e.args[1], out, open);
      PriorityLiterals(*e.args[2], out, open);
    } else {
      *open = true;
    }
  }

  bool CompileRule(const v1::Rule& r, const std::string& path, bool is_default,
                   CompiledRule* out) {
    const std::string element = is_default ? "default" : r.id();
    out->id = r.id();
    if (!is_default) {
      if (r.id().empty()) {
        Error(path + ".id", "", "a rule needs an id");
      } else if (r.id() == "default") {
        Error(path + ".id", r.id(),
              "'default' names the policy's default rule; choose another id");
      }
      if (r.when().empty()) {
        Error(path + ".when", element,
              "a rule needs a `when` condition (the default takes none)");
      } else {
        out->when =
            CompileExpr(r.when(), path + ".when", element, ValueKind::kBool);
        if (out->when != nullptr) {
          out->matched_explanation =
              absl::StrCat("`", out->when->source(), "` is true");
        }
      }
    } else if (!r.when().empty()) {
      Error(path + ".when", element,
            "the default rule applies when no rule matches and takes no "
            "`when`");
    }
    out->treatment = r.treatment();
    if (r.treatment() == v1::TREATMENT_UNSPECIFIED) {
      Error(path + ".treatment", element,
            "a rule needs a treatment: REMEDIATE, MITIGATE, "
            "MITIGATE_THEN_REMEDIATE or ACCEPT");
    }
    // The priorities this rule can end up with, for the SLA checks below.
    std::vector<int> possible;
    if (r.priority().empty() == r.priority_expr().empty()) {
      Error(path + ".priority", element,
            "set exactly one of `priority` and `priority_expr`");
    } else if (!r.priority().empty()) {
      auto it = priority_index_.find(r.priority());
      if (it == priority_index_.end()) {
        Error(path + ".priority", element,
              absl::StrCat("unknown priority '", r.priority(),
                           "'; priorities: ", PriorityNames()));
      } else {
        out->priority = it->second;
        possible.push_back(it->second);
      }
    } else {
      const std::string epath = path + ".priority_expr";
      out->priority_expr =
          CompileExpr(r.priority_expr(), epath, element, ValueKind::kString);
      if (out->priority_expr != nullptr) {
        auto parsed = expr::Parse(r.priority_expr(), nullptr);
        std::vector<const expr::Expr*> literals;
        bool open = false;
        if (parsed.ok()) PriorityLiterals(**parsed, &literals, &open);
        for (const expr::Expr* lit : literals) {
          auto it = priority_index_.find(lit->text);
          if (it == priority_index_.end()) {
            ExprErrors(epath, element, r.priority_expr(),
                       {{lit->begin,
                         absl::StrCat("priority_expr can yield '", lit->text,
                                      "', which is not a priority; "
                                      "priorities: ",
                                      PriorityNames())}});
          } else {
            possible.push_back(it->second);
          }
        }
        if (open) {
          Warning(epath, element,
                  "priority_expr can yield a value that is not a string "
                  "literal; it is checked against the priorities only when "
                  "a decision is made");
        }
      }
    }
    out->actions = ResolveActions(r.actions(), path + ".actions", element);
    out->review_within =
        PositiveDuration(r.has_review_within(), r.review_within(),
                         path + ".review_within", element);
    if (!r.reason().empty()) {
      if (auto t = CompileTemplate(r.reason(), path + ".reason", element)) {
        out->reason = std::move(*t);
      }
    }
    CheckSla(*out, possible, path, element);
    return true;
  }

  // Every deadline the treatment needs must come from somewhere.
  void CheckSla(const CompiledRule& rule, const std::vector<int>& possible,
                const std::string& path, const std::string& element) {
    const v1::Treatment t = rule.treatment;
    for (int p : possible) {
      const CompiledPriority& prio = out_->priorities[p];
      std::vector<std::string> missing;
      if ((t == v1::TREATMENT_MITIGATE ||
           t == v1::TREATMENT_MITIGATE_THEN_REMEDIATE) &&
          !prio.mitigate_within.has_value()) {
        missing.push_back("mitigate_within");
      }
      if ((t == v1::TREATMENT_REMEDIATE ||
           t == v1::TREATMENT_MITIGATE_THEN_REMEDIATE) &&
          !prio.remediate_within.has_value()) {
        missing.push_back("remediate_within");
      }
      if ((t == v1::TREATMENT_MITIGATE || t == v1::TREATMENT_ACCEPT) &&
          !prio.review_within.has_value() && !rule.review_within.has_value()) {
        missing.push_back("review_within (on the rule or the priority)");
      }
      if (!missing.empty()) {
        Error(path + ".treatment", element,
              absl::StrCat(TreatmentName(t), " with priority ", prio.name,
                           " needs ", absl::StrJoin(missing, " and "),
                           ", which priority ", prio.name, " does not set"));
      }
    }
  }

  std::string PriorityNames() const {
    std::vector<std::string> names;
    for (const auto& p : policy_.priorities()) names.push_back(p.name());
    return names.empty() ? "(none)" : absl::StrJoin(names, ", ");
  }

  void CheckRuleIds() {
    absl::flat_hash_set<std::string> seen;
    for (int i = 0; i < policy_.rules_size(); ++i) {
      const std::string& id = policy_.rules(i).id();
      if (!id.empty() && !seen.insert(id).second) {
        Error(absl::StrCat("rules[", i, "].id"), id,
              absl::StrCat("rule id '", id, "' is used twice"));
      }
    }
  }

  void CheckUnreachableRules() {
    for (size_t i = 0; i < out_->rules.size(); ++i) {
      const auto& when = out_->rules[i].when;
      if (when == nullptr || !when->IsConstantTrue()) continue;
      for (size_t j = i + 1; j < out_->rules.size(); ++j) {
        Warning(absl::StrCat("rules[", j, "]"), out_->rules[j].id,
                absl::StrCat("rule is never tried: rule '", out_->rules[i].id,
                             "' before it always matches"));
      }
      if (policy_.has_default_()) {
        Warning("default", "default",
                absl::StrCat("the default is never used: rule '",
                             out_->rules[i].id, "' always matches"));
      }
      return;
    }
  }

  void CompileExceptions() {
    absl::flat_hash_set<std::string> seen;
    for (int i = 0; i < policy_.exceptions_size(); ++i) {
      const v1::PolicyException& e = policy_.exceptions(i);
      const std::string path = absl::StrCat("exceptions[", i, "]");
      CompiledException ce;
      ce.id = e.id();
      if (e.id().empty()) {
        Error(path + ".id", "", "an exception needs an id");
      } else if (!seen.insert(e.id()).second) {
        Error(path + ".id", e.id(),
              absl::StrCat("exception id '", e.id(), "' is used twice"));
      }
      if (e.when().empty()) {
        Error(path + ".when", e.id(),
              "an exception needs a `when` saying which findings it covers");
      } else {
        ce.when =
            CompileExpr(e.when(), path + ".when", e.id(), ValueKind::kBool);
      }
      if (e.approver().empty()) {
        Error(path + ".approver", e.id(), "an exception needs an approver");
      }
      if (e.reason().empty()) {
        Error(path + ".reason", e.id(), "an exception needs a reason");
      }
      if (!e.has_expires()) {
        Error(path + ".expires", e.id(),
              "an exception needs an `expires` time; exceptions are never "
              "open-ended");
      }
      ce.treatment = e.treatment() == v1::TREATMENT_UNSPECIFIED
                         ? v1::TREATMENT_ACCEPT
                         : e.treatment();
      ce.approver = e.approver();
      ce.reason = e.reason();
      ce.ticket = e.ticket();
      ce.expires_proto = e.expires();
      ce.expires = absl::FromUnixSeconds(e.expires().seconds()) +
                   absl::Nanoseconds(e.expires().nanos());
      ce.actions = ResolveActions(e.actions(), path + ".actions", e.id());
      out_->exceptions.push_back(std::move(ce));
    }
  }

  std::string SlotPath(int slot) const {
    const Slot& s = out_->slots[slot];
    switch (s.kind) {
      case Slot::Kind::kLet:
        return absl::StrCat("let.", s.name);
      case Slot::Kind::kTable:
        for (int i = 0; i < policy_.tables_size(); ++i) {
          if (absl::StrCat("tables.", policy_.tables(i).name()) == s.name) {
            return absl::StrCat("tables[", i, "]");
          }
        }
        return "tables";
      default:
        return s.name;
    }
  }

  // Lets, tables and risk scores are computed lazily by reference, so a
  // cycle among them would recurse forever at evaluation time.
  void CheckCycles() {
    const int n = static_cast<int>(out_->slots.size());
    std::vector<int> color(n, 0);  // 0 new, 1 on stack, 2 done.
    std::vector<int> stack;
    std::set<std::set<int>> reported;
    std::function<void(int)> visit = [&](int s) {
      color[s] = 1;
      stack.push_back(s);
      auto it = edges_.find(s);
      if (it != edges_.end()) {
        for (int next : it->second) {
          if (color[next] == 1) {
            auto begin = std::find(stack.begin(), stack.end(), next);
            std::vector<int> cycle(begin, stack.end());
            std::set<int> key(cycle.begin(), cycle.end());
            if (reported.insert(key).second) {
              std::vector<std::string> names;
              for (int c : cycle) names.push_back(out_->slots[c].name);
              names.push_back(out_->slots[next].name);
              Error(SlotPath(next), out_->slots[next].name,
                    absl::StrCat("cycle: ", absl::StrJoin(names, " -> "),
                                 "; a value cannot depend on itself"));
            }
          } else if (color[next] == 0) {
            visit(next);
          }
        }
      }
      stack.pop_back();
      color[s] = 2;
    };
    for (int s = 0; s < n; ++s) {
      if (color[s] == 0) visit(s);
    }
  }

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

}  // namespace

absl::StatusOr<std::unique_ptr<CompiledPolicyImpl>> CompilePolicy(
    const v1::Policy& policy, const SourceMap& source_map,
    absl::string_view filename, std::vector<v1::PolicyIssue>* issues) {
  PolicyCompiler compiler(policy, source_map, filename, issues);
  return compiler.Run();
}

}  // namespace treatd
