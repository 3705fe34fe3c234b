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
#include "common/policy/engine/policy_compiler_internal.h"
#include "common/text/treatment_name.h"
#include "common/time/proto_time.h"
#include "google/protobuf/util/time_util.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace internal {
namespace {

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

}  // namespace

absl::StatusOr<std::unique_ptr<CompiledPolicyImpl>> PolicyCompiler::Run() {
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
  out_->ComputeCoreProjection();
  return std::move(out_);
}

void PolicyCompiler::AddIssue(v1::IssueSeverity severity,
                              const std::string& path,
                              const std::string& element,
                              const std::string& message, SourcePosition pos) {
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

void PolicyCompiler::Error(const std::string& path, const std::string& element,
                           const std::string& message) {
  // The loader already explained what is wrong with this node.
  if (loader_error_paths_.count(path) > 0) {
    ++errors_;
    return;
  }
  AddIssue(v1::ISSUE_SEVERITY_ERROR, path, element, message, map_.Find(path));
}

void PolicyCompiler::Warning(const std::string& path,
                             const std::string& element,
                             const std::string& message) {
  AddIssue(v1::ISSUE_SEVERITY_WARNING, path, element, message, map_.Find(path));
}

void PolicyCompiler::ExprErrors(const std::string& path,
                                const std::string& element,
                                absl::string_view text,
                                const std::vector<ExprError>& errs) {
  for (const ExprError& e : errs) {
    const expr::LineColumn lc = expr::OffsetToLineColumn(text, e.offset);
    AddIssue(v1::ISSUE_SEVERITY_ERROR, path, element, e.message,
             map_.Resolve(path, lc.line, lc.column));
  }
}

std::unique_ptr<expr::Program> PolicyCompiler::CompileExpr(
    const std::string& text, const std::string& path,
    const std::string& element, std::optional<ValueKind> expected, Type* type) {
  if (expr::PrecedenceChangedMeaning(text, *this, expected)) {
    Warning(path, element, std::string(expr::kPrecedenceChangedWarning));
  }
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

std::optional<TextTemplate> PolicyCompiler::CompileTemplate(
    const std::string& text, const std::string& path,
    const std::string& element) {
  std::vector<ExprError> errs;
  auto t = TextTemplate::Compile(text, *this, &errs);
  if (!t.ok()) {
    ExprErrors(path, element, text, errs);
    return std::nullopt;
  }
  return std::move(*t);
}

std::optional<absl::Duration> PolicyCompiler::PositiveDuration(
    bool present, const google::protobuf::Duration& d, const std::string& path,
    const std::string& element) {
  if (!present) return std::nullopt;
  const absl::Duration v = ToDuration(d);
  if (v <= absl::ZeroDuration()) {
    Error(path, element, "durations must be positive, e.g. 72h or 14d");
    return std::nullopt;
  }
  return v;
}

void PolicyCompiler::CompilePriorities() {
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

void PolicyCompiler::DeclareSlots() {
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

int PolicyCompiler::AddSlot(Slot::Kind kind, std::string name) {
  Slot slot;
  slot.kind = kind;
  slot.name = std::move(name);
  out_->slots.push_back(std::move(slot));
  return static_cast<int>(out_->slots.size()) - 1;
}

void PolicyCompiler::CompileLet(const std::string& name) {
  LetInfo& let = lets_.at(name);
  if (let.state != LetState::kUnchecked) return;
  let.state = LetState::kChecking;
  const int saved = current_slot_;
  current_slot_ = let.slot;
  Type type;
  const std::string& text = policy_.let().at(name);
  auto program =
      CompileExpr(text, absl::StrCat("let.", name), name, std::nullopt, &type);
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

void PolicyCompiler::CompileActionIds() {
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

void PolicyCompiler::CompileActions() {
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
      ca.when = CompileExpr(a.when(), path + ".when", a.id(), ValueKind::kBool);
    }
    out_->actions.push_back(std::move(ca));
  }
}

std::vector<int> PolicyCompiler::ResolveActions(
    const google::protobuf::RepeatedPtrField<std::string>& ids,
    const std::string& path, const std::string& element) {
  std::vector<int> out;
  for (int i = 0; i < ids.size(); ++i) {
    auto it = action_index_.find(ids[i]);
    if (it == action_index_.end()) {
      std::vector<std::string> known;
      for (const auto& a : policy_.actions()) known.push_back(a.id());
      Error(
          absl::StrCat(path, "[", i, "]"), element,
          absl::StrCat("unknown action '", ids[i], "'; actions: ",
                       known.empty() ? "(none)" : absl::StrJoin(known, ", ")));
      continue;
    }
    out.push_back(it->second);
  }
  return out;
}

void PolicyCompiler::CompileRisk() {
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

void PolicyCompiler::PriorityLiterals(const expr::Expr& e,
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

bool PolicyCompiler::CompileRule(const v1::Rule& r, const std::string& path,
                                 bool is_default, CompiledRule* out) {
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
          ExprErrors(
              epath, element, r.priority_expr(),
              {{lit->begin, absl::StrCat("priority_expr can yield '", lit->text,
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

void PolicyCompiler::CompileExceptions() {
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
      ce.when = CompileExpr(e.when(), path + ".when", e.id(), ValueKind::kBool);
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
    ce.expires = FromProtoTime(e.expires());
    ce.actions = ResolveActions(e.actions(), path + ".actions", e.id());
    out_->exceptions.push_back(std::move(ce));
  }
}

}  // namespace internal

absl::StatusOr<std::unique_ptr<CompiledPolicyImpl>> CompilePolicy(
    const v1::Policy& policy, const SourceMap& source_map,
    absl::string_view filename, std::vector<v1::PolicyIssue>* issues) {
  internal::PolicyCompiler compiler(policy, source_map, filename, issues);
  return compiler.Run();
}

void CompiledPolicyImpl::ComputeTexts() {
  for (CompiledPriority& p : priorities) {
    for (int c = 0; c < 2; ++c) {
      const char* clock = c == 0 ? "first_seen" : "as_of";
      p.mitigate_source[c] =
          absl::StrCat("mitigate_by: priority ", p.name, " mitigate_within ",
                       p.mitigate_text, " from ", clock);
      p.remediate_source[c] =
          absl::StrCat("remediate_by: priority ", p.name, " remediate_within ",
                       p.remediate_text, " from ", clock);
    }
    p.review_source =
        absl::StrCat("review_by: priority ", p.name, " review_within ",
                     p.review_text, " from as_of");
  }
  auto texts = [this](CompiledRule& rule, bool is_default) {
    rule.reason_by_priority.clear();
    for (const CompiledPriority& p : priorities) {
      rule.reason_by_priority.push_back(
          is_default
              ? absl::StrCat("No rule matched; the default applies: ",
                             TreatmentName(rule.treatment), " with priority ",
                             p.name)
              : absl::StrCat(
                    "Rule ", rule.id, " matched: `", rule.when->source(), "`; ",
                    TreatmentName(rule.treatment), " with priority ", p.name));
    }
    if (rule.review_within.has_value()) {
      rule.review_source = absl::StrCat(
          "review_by: rule ", is_default ? "default" : rule.id,
          " review_within ", expr::RenderDuration(*rule.review_within),
          " from as_of");
    }
  };
  for (CompiledRule& rule : rules) texts(rule, false);
  texts(default_rule, true);
}

}  // namespace treatd
