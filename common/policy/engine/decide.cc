// Decision assembly: "How a decision is made" in docs/policy-language.md,
// step by step, over a compiled policy.
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/engine/digest.h"
#include "common/status/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace treatd {
namespace {

using expr::Value;
using expr::ValueKind;

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

std::string Rfc3339(absl::Time t) { return expr::RenderTimestamp(t); }

absl::string_view TreatmentName(v1::Treatment t) {
  static const auto* const kTreatment = v1::Treatment_descriptor();
  return expr::EnumShortName(kTreatment, t);
}

bool IsTrue(const Value& v) {
  return v.kind() == ValueKind::kBool && v.bool_value();
}

double Clamp(double d) {
  if (!(d >= 0)) return 0;  // Also NaN.
  return d > 10 ? 10 : d;
}

// Per-evaluation memo of lets, tables and risk scores. Lives on the
// stack of Evaluate(); small policies need no heap for it.
class EvalState : public expr::SlotResolver {
 public:
  explicit EvalState(const CompiledPolicyImpl& policy)
      : policy_(policy),
        values_(policy.slots.size()),
        done_(policy.slots.size(), false),
        table_rows_(policy.tables.size(), -1) {
    size_t inputs = 0;
    for (const auto& t : policy.tables) inputs += t.inputs.size();
    table_inputs_.resize(inputs);
  }

  Value Resolve(int slot, expr::Frame& frame) override {
    if (done_[slot]) return values_[slot];
    Value v = Compute(slot, frame);
    values_[slot] = v;
    done_[slot] = true;
    return v;
  }

  int table_row(int table) const { return table_rows_[table]; }
  // Input values of `table` after it was resolved.
  const Value* table_inputs(int table) const {
    return table_inputs_.data() + InputOffset(table);
  }

 private:
  Value Compute(int slot, expr::Frame& frame) {
    const Slot& s = policy_.slots[slot];
    switch (s.kind) {
      case Slot::Kind::kLet:
        return s.program->Evaluate(frame);
      case Slot::Kind::kTable:
        return LookUpTable(s.table, frame);
      case Slot::Kind::kRiskInherent:
      case Slot::Kind::kRiskResidual: {
        if (s.program == nullptr) {
          // No residual expression: nothing reduces the inherent risk.
          return s.kind == Slot::Kind::kRiskResidual
                     ? Resolve(policy_.inherent_slot, frame)
                     : Value::Double(0);
        }
        Value v = s.program->Evaluate(frame);
        if (v.is_error()) return v;
        return Value::Double(Clamp(v.AsDouble()));
      }
    }
    return Value::Error("unknown slot");
  }

  Value LookUpTable(int index, expr::Frame& frame) {
    const CompiledTable& t = policy_.tables[index];
    Value* inputs = table_inputs_.data() + InputOffset(index);
    for (size_t i = 0; i < t.inputs.size(); ++i) {
      inputs[i] = t.inputs[i].program->Evaluate(frame);
      if (inputs[i].is_error()) {
        return frame.Error(absl::StrCat("table ", t.name, ": input ",
                                        t.inputs[i].name,
                                        " failed: ", inputs[i].error()));
      }
    }
    for (size_t r = 0; r < t.rows.size(); ++r) {
      const auto& cells = t.rows[r].cells;
      bool match = true;
      for (size_t c = 0; c < cells.size() && match; ++c) {
        if (cells[c].any) continue;
        const Value& in = inputs[c];
        const Value& cell = cells[c].value;
        switch (in.kind()) {
          case ValueKind::kBool:
            match = in.bool_value() == cell.bool_value();
            break;
          case ValueKind::kInt:
            match = in.int_value() == cell.int_value();
            break;
          case ValueKind::kEnum:
            match = in.enum_number() == cell.enum_number();
            break;
          case ValueKind::kString:
            match = in.string_value() == cell.string_value();
            break;
          default:
            match = false;
        }
      }
      if (match) {
        table_rows_[index] = static_cast<int>(r);
        return Value::String(t.rows[r].outcome);
      }
    }
    if (!t.default_outcome.empty()) {
      table_rows_[index] = -1;
      return Value::String(t.default_outcome);
    }
    std::vector<std::string> shown;
    for (size_t i = 0; i < t.inputs.size(); ++i) {
      shown.push_back(absl::StrCat(t.inputs[i].name, "=",
                                   expr::ValueToString(inputs[i], true)));
    }
    return frame.Error(absl::StrCat("table ", t.name, ": no row matches (",
                                    absl::StrJoin(shown, ", "),
                                    ") and the table has no default"));
  }

  size_t InputOffset(int table) const {
    size_t offset = 0;
    for (int i = 0; i < table; ++i) offset += policy_.tables[i].inputs.size();
    return offset;
  }

  const CompiledPolicyImpl& policy_;
  absl::InlinedVector<Value, 16> values_;
  absl::InlinedVector<bool, 16> done_;
  absl::InlinedVector<int, 4> table_rows_;
  absl::InlinedVector<Value, 16> table_inputs_;
};

absl::StatusOr<std::string> DecisionId(const v1::PolicyRef& ref,
                                       absl::Time as_of,
                                       const v1::Finding& finding) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    // Map fields would otherwise serialize in hash order.
    coded.SetSerializationDeterministic(true);
    finding.SerializeToCodedStream(&coded);
  }
  const std::string when = Rfc3339(as_of);
  TREATD_ASSIGN_OR_RETURN(std::string hex,
                          Sha256Hex({ref.digest(), "\n", when, "\n", bytes}));
  return hex.substr(0, 32);
}

}  // namespace

absl::Status CompiledPolicyImpl::Evaluate(const v1::Finding& finding,
                                          const EvalOptions& options,
                                          v1::Decision* decision) const {
  decision->Clear();
  EvalState state(*this);
  expr::Frame frame(&finding, options.as_of, &state);

  // 2. Rules, first match wins; else the default.
  const CompiledRule* rule = nullptr;
  for (const CompiledRule& r : rules) {
    const Value v = r.when->Evaluate(frame);
    const bool matched = IsTrue(v);
    if (options.trace) {
      v1::RuleTrace* t = decision->add_trace();
      t->set_rule(r.id);
      t->set_matched(matched);
      t->set_explanation(matched
                             ? absl::StrCat("`", r.when->source(), "` is true")
                             : r.when->ExplainNotTrue(frame));
    }
    if (matched) {
      rule = &r;
      break;
    }
  }
  const bool by_default = rule == nullptr;
  if (by_default) rule = &default_rule;

  int priority = rule->priority;
  if (rule->priority_expr != nullptr) {
    const Value v = rule->priority_expr->Evaluate(frame);
    if (v.is_error()) {
      return absl::InternalError(absl::StrCat(
          "rule ", rule->id, ": priority_expr failed: ", v.error()));
    }
    for (size_t i = 0; i < priorities.size(); ++i) {
      if (priorities[i].name == v.string_value())
        priority = static_cast<int>(i);
    }
    if (priority < 0) {
      return absl::InternalError(absl::StrCat(
          "rule ", rule->id, ": priority_expr yielded '", v.string_value(),
          "', which is not a priority of the policy"));
    }
  }
  const CompiledPriority& prio = priorities[priority];

  // 3. Exceptions: the first matching one that has not expired applies.
  const CompiledException* applied = nullptr;
  std::vector<const CompiledException*> expired;
  for (const CompiledException& e : exceptions) {
    if (!IsTrue(e.when->Evaluate(frame))) continue;
    if (options.as_of < e.expires) {
      applied = &e;
      break;
    }
    expired.push_back(&e);
  }
  const CompiledException* shown = applied != nullptr ? applied
                                   : expired.empty()  ? nullptr
                                                      : expired.front();
  const v1::Treatment treatment =
      applied != nullptr ? applied->treatment : rule->treatment;

  decision->set_finding_id(finding.id());
  decision->set_treatment(treatment);
  decision->set_priority(prio.name);
  decision->set_priority_rank(priority + 1);
  decision->set_match_kind(applied != nullptr ? v1::MATCH_KIND_EXCEPTION
                           : by_default       ? v1::MATCH_KIND_DEFAULT
                                              : v1::MATCH_KIND_RULE);
  decision->set_matched_rule(by_default ? "default" : rule->id);
  if (shown != nullptr) {
    v1::ExceptionRef* ref = decision->mutable_exception();
    ref->set_id(shown->id);
    ref->set_approver(shown->approver);
    ref->set_reason(shown->reason);
    *ref->mutable_expires() = shown->expires_proto;
    ref->set_applied(shown == applied);
    ref->set_ticket(shown->ticket);
  }

  // 4. Deadlines.
  const bool from_first_seen = finding.has_first_seen();
  const absl::Time start =
      from_first_seen ? FromProto(finding.first_seen()) : options.as_of;
  const char* clock = from_first_seen ? "first_seen" : "as_of";
  const bool mitigates = treatment == v1::TREATMENT_MITIGATE ||
                         treatment == v1::TREATMENT_MITIGATE_THEN_REMEDIATE;
  const bool remediates = treatment == v1::TREATMENT_REMEDIATE ||
                          treatment == v1::TREATMENT_MITIGATE_THEN_REMEDIATE;
  const bool reviews =
      treatment == v1::TREATMENT_MITIGATE || treatment == v1::TREATMENT_ACCEPT;
  std::optional<absl::Time> mitigate_by, remediate_by, review_by;
  std::vector<std::string> reasons;
  if (mitigates && prio.mitigate_within.has_value()) {
    mitigate_by = start + *prio.mitigate_within;
    decision->add_deadline_sources(absl::StrCat(
        "mitigate_by: priority ", prio.name, " mitigate_within ",
        expr::RenderDuration(*prio.mitigate_within), " from ", clock));
  }
  if (remediates && prio.remediate_within.has_value()) {
    remediate_by = start + *prio.remediate_within;
    std::string source = absl::StrCat(
        "remediate_by: priority ", prio.name, " remediate_within ",
        expr::RenderDuration(*prio.remediate_within), " from ", clock);
    const auto& kev = finding.vulnerability().kev();
    if (kev.has_due_date() && FromProto(kev.due_date()) < *remediate_by) {
      remediate_by = FromProto(kev.due_date());
      source = absl::StrCat(
          "remediate_by: CISA KEV due date ", Rfc3339(*remediate_by),
          " (earlier than ", prio.name, " remediate_within ",
          expr::RenderDuration(*prio.remediate_within), " from ", clock, ")");
      reasons.push_back(absl::StrCat(
          "The CISA KEV due date ", Rfc3339(*remediate_by),
          " comes before the ", prio.name, " deadline and sets remediate_by"));
    }
    decision->add_deadline_sources(std::move(source));
  }
  if (applied != nullptr) {
    review_by = applied->expires;
    decision->add_deadline_sources(
        absl::StrCat("review_by: expiry of exception ", applied->id));
  } else if (reviews) {
    const bool own = rule->review_within.has_value();
    const std::optional<absl::Duration> within =
        own ? rule->review_within : prio.review_within;
    if (within.has_value()) {
      review_by = options.as_of + *within;
      decision->add_deadline_sources(absl::StrCat(
          "review_by: ",
          own ? absl::StrCat("rule ", decision->matched_rule())
              : absl::StrCat("priority ", prio.name),
          " review_within ", expr::RenderDuration(*within), " from as_of"));
    }
  }
  if (reviews && !review_by.has_value()) {
    return absl::InternalError(absl::StrCat(
        "rule ", decision->matched_rule(), ": ", TreatmentName(treatment),
        " needs a review_within, which neither the rule nor priority ",
        prio.name, " sets"));
  }
  if (mitigate_by) ToProto(*mitigate_by, decision->mutable_mitigate_by());
  if (remediate_by) ToProto(*remediate_by, decision->mutable_remediate_by());
  if (review_by) ToProto(*review_by, decision->mutable_review_by());

  // Actions, from the exception when one applies.
  const std::vector<int>& action_ids =
      applied != nullptr ? applied->actions : rule->actions;
  for (int index : action_ids) {
    const CompiledAction& a = actions[index];
    if (a.when != nullptr && !IsTrue(a.when->Evaluate(frame))) continue;
    v1::Action* out = decision->add_actions();
    out->set_id(a.id);
    out->set_category(a.category);
    out->set_text(a.text.Render(frame));
    std::optional<absl::Time> due;
    switch (a.category) {
      case v1::ACTION_CATEGORY_REMEDIATION:
        due = remediate_by;
        break;
      case v1::ACTION_CATEGORY_MITIGATION:
        due = mitigate_by;
        break;
      case v1::ACTION_CATEGORY_MONITORING:
        due = review_by;
        break;
      default:
        // Investigation is due with the most urgent deadline there is.
        due = mitigate_by    ? mitigate_by
              : remediate_by ? remediate_by
                             : review_by;
    }
    if (due) ToProto(*due, out->mutable_due_by());
  }

  // 5. Risk.
  for (int slot : {inherent_slot, residual_slot}) {
    const Value v = state.Resolve(slot, frame);
    const double score = v.is_error() ? 0 : v.double_value();
    if (v.is_error()) {
      reasons.push_back(absl::StrCat(slots[slot].name,
                                     " could not be computed (", v.error(),
                                     "); it is reported as 0"));
    }
    if (slot == inherent_slot) {
      decision->set_inherent_risk(score);
    } else {
      decision->set_residual_risk(score);
    }
  }

  for (size_t t = 0; t < tables.size(); ++t) {
    const Value v = state.Resolve(table_slots[t], frame);
    if (v.is_error()) return absl::InternalError(std::string(v.error()));
    v1::TableOutcome* out = decision->add_table_outcomes();
    out->set_table(tables[t].name);
    out->set_outcome(std::string(v.string_value()));
    out->set_row(state.table_row(static_cast<int>(t)));
    const Value* inputs = state.table_inputs(static_cast<int>(t));
    for (size_t i = 0; i < tables[t].inputs.size(); ++i) {
      out->add_inputs(expr::ValueToString(inputs[i]));
    }
  }

  // Reasons: the rule's own words first, then how the decision came about.
  if (!rule->reason.empty()) decision->add_reasons(rule->reason.Render(frame));
  if (by_default) {
    decision->add_reasons(absl::StrCat("No rule matched; the default applies: ",
                                       TreatmentName(rule->treatment),
                                       " with priority ", prio.name));
  } else {
    decision->add_reasons(absl::StrCat(
        "Rule ", rule->id, " matched: `", rule->when->source(), "`; ",
        TreatmentName(rule->treatment), " with priority ", prio.name));
  }
  if (applied != nullptr) {
    decision->add_reasons(absl::StrCat(
        "Exception ", applied->id, " applies: ", TreatmentName(treatment),
        " approved by ", applied->approver, " until ",
        Rfc3339(applied->expires), " (", applied->reason, ")"));
  }
  for (const CompiledException* e : expired) {
    decision->add_reasons(
        absl::StrCat("Exception ", e->id, " matches but expired on ",
                     Rfc3339(e->expires), "; it does not apply"));
  }
  for (std::string& r : reasons) decision->add_reasons(std::move(r));

  *decision->mutable_policy() = ref;
  ToProto(options.as_of, decision->mutable_evaluated_at());
  TREATD_ASSIGN_OR_RETURN(std::string id,
                          DecisionId(ref, options.as_of, finding));
  decision->set_decision_id(std::move(id));
  return absl::OkStatus();
}

}  // namespace treatd
