// Evaluation: "How a decision is made" in docs/policy-language.md, step by
// step, over a compiled policy (CompiledPolicy::Evaluate and
// DecideTreatment start here). Compile-time work lives with the compiler:
// policy_compiler.cc, table_compiler.cc, slot_facts.cc.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/engine/compiled_policy_impl.h"
#include "common/policy/engine/core_cache.h"
#include "common/policy/engine/decision_id.h"
#include "common/policy/engine/unknown_fields.h"
#include "common/policy/engine/xxh3.h"
#include "common/status/status_macros.h"
#include "common/text/treatment_name.h"
#include "common/time/proto_time.h"

namespace treatd {
namespace {

using expr::Value;
using expr::ValueKind;

// Deadlines are computed from the finding's times and the policy's
// durations and may fall outside what a Timestamp can hold (a finding first
// seen on 9999-12-31): they are clamped to its range, so that every decision
// can be written as JSON and RFC 3339.
void DeadlineToProto(absl::Time t, google::protobuf::Timestamp* out) {
  ToProtoTime(ClampToProtoTimeRange(t), out);
}

std::string Rfc3339(absl::Time t) { return expr::RenderTimestamp(t); }

bool IsTrue(const Value& v) {
  return v.kind() == ValueKind::kBool && v.bool_value();
}

double Clamp(double d) {
  if (!(d >= 0)) return 0;  // Also NaN.
  return d > 10 ? 10 : d;
}

// Per-evaluation memo of lets, tables and risk scores. Lives on the
// stack of Evaluate(); small policies need no heap for it. Its storage is
// set up by Own(), or borrowed from a core cache entry by Borrow(): a
// decision whose core is cached reads the entry's values in place instead
// of copying them (BASIC then resolves nothing the core did not), and
// copies them only when it has to compute a slot the core did not.
class EvalState : public expr::SlotResolver {
 public:
  EvalState(const CompiledPolicyImpl& policy, const EvalOptions& options)
      : policy_(policy), options_(options) {}

  Value Resolve(int slot, expr::Frame& frame) override {
    if (done_at_ != nullptr && done_at_[slot]) return value_at_[slot];
    if (borrowed_ != nullptr || done_at_ == nullptr) {
      Own();
      frame.set_memo(values(), done());
    }
    Value v = Compute(slot, frame);
    value_at_[slot] = v;
    done_at_[slot] = true;
    return v;
  }

  // Gives the state storage of its own (a copy of the borrowed entry's
  // values, if any; else empty), once.
  void Own() {
    if (done_at_ != nullptr && borrowed_ == nullptr) return;
    const size_t n = policy_.slots.size();
    values_.resize(n);
    done_.resize(n, false);
    table_rows_.resize(policy_.tables.size(), -1);
    size_t inputs = 0;
    for (const auto& t : policy_.tables) inputs += t.inputs.size();
    table_inputs_.resize(inputs);
    value_at_ = values_.data();
    done_at_ = done_.data();
    rows_at_ = table_rows_.data();
    inputs_at_ = table_inputs_.data();
    if (const internal::CoreEntry* entry = std::exchange(borrowed_, nullptr)) {
      std::copy(entry->values.begin(), entry->values.end(), value_at_);
      std::copy(entry->done.begin(), entry->done.end(), done_at_);
      std::copy(entry->table_rows.begin(), entry->table_rows.end(), rows_at_);
      std::copy(entry->table_inputs.begin(), entry->table_inputs.end(),
                inputs_at_);
    }
  }

  // The state SaveTo() saved, for a finding with the same core key, read
  // in place: `entry` must stay unchanged while this state lives (the
  // thread's next Insert() may change it).
  void Borrow(const internal::CoreEntry& entry) {
    borrowed_ = &entry;
    // Read only: Resolve() copies before it writes.
    value_at_ = const_cast<Value*>(entry.values.data());
    done_at_ = const_cast<bool*>(entry.done.data());
    rows_at_ = const_cast<int*>(entry.table_rows.data());
    inputs_at_ = const_cast<Value*>(entry.table_inputs.data());
  }

  // Takes the values of `base` for the slots that do not depend on the
  // `changed` facts. Call after Own().
  void Seed(const EvaluationMemo::Data& base,
            const std::vector<uint32_t>& slot_facts, uint32_t changed) {
    if (base.values.size() != values_.size()) return;
    for (size_t i = 0; i < values_.size(); ++i) {
      if (base.done[i] && (slot_facts[i] & changed) == 0) {
        values_[i] = base.values[i];
        done_[i] = true;
      }
    }
  }

  // Copies the state into `entry`, strings included. False when a value
  // cannot outlive this evaluation: lists, maps and messages point into
  // the finding or the frame. Call on an owned state.
  bool SaveTo(internal::CoreEntry* entry) const {
    size_t text = 0;
    for (size_t i = 0; i < values_.size(); ++i) {
      if (done_at_[i] && !Storable(value_at_[i], &text)) return false;
    }
    for (const Value& v : table_inputs_) {
      if (!Storable(v, &text)) return false;
    }
    entry->text.reserve(text);  // The views below must not move.
    entry->values.resize(values_.size());
    entry->done.assign(done_at_, done_at_ + done_.size());
    for (size_t i = 0; i < values_.size(); ++i) {
      if (done_at_[i]) entry->values[i] = Store(value_at_[i], &entry->text);
    }
    entry->table_rows.assign(table_rows_.begin(), table_rows_.end());
    entry->table_inputs.resize(table_inputs_.size());
    for (size_t i = 0; i < table_inputs_.size(); ++i) {
      entry->table_inputs[i] = Store(table_inputs_[i], &entry->text);
    }
    return true;
  }

  int table_row(int table) const { return rows_at_[table]; }
  size_t size() const { return policy_.slots.size(); }
  // The memo, for expr::Frame::set_memo() (null before Own() or Borrow()).
  const Value* values() const { return value_at_; }
  const bool* done() const { return done_at_; }
  // Input values of `table` after it was resolved.
  const Value* table_inputs(int table) const {
    return inputs_at_ + InputOffset(table);
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
      case Slot::Kind::kIntel:
        switch (s.intel) {
          case Slot::IntelValue::kStale:
            return Value::Bool(options_.intel_stale);
          case Slot::IntelValue::kKevAge:
            return Value::Duration(options_.intel_kev_age);
          case Slot::IntelValue::kEpssAge:
            return Value::Duration(options_.intel_epss_age);
        }
        break;
    }
    return Value::Error("unknown slot");
  }

  Value LookUpTable(int index, expr::Frame& frame) {
    const CompiledTable& t = policy_.tables[index];
    Value* inputs = inputs_at_ + InputOffset(index);
    for (size_t i = 0; i < t.inputs.size(); ++i) {
      inputs[i] = t.inputs[i].program->Evaluate(frame);
      if (inputs[i].is_error()) {
        return frame.Error(absl::StrCat("table ", t.name, ": input ",
                                        t.inputs[i].name,
                                        " failed: ", inputs[i].error()));
      }
    }
    const int row = t.FindRow(inputs);
    if (row >= 0) {
      rows_at_[index] = row;
      return Value::String(t.rows[row].outcome);
    }
    if (!t.default_outcome.empty()) {
      rows_at_[index] = -1;
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

  static bool HasText(ValueKind kind) {
    return kind == ValueKind::kString || kind == ValueKind::kType ||
           kind == ValueKind::kError;
  }
  // Adds the bytes `v` needs in an entry to `*text`; false for values
  // that point into the finding or the frame.
  static bool Storable(const Value& v, size_t* text) {
    switch (v.kind()) {
      case ValueKind::kList:
      case ValueKind::kMap:
      case ValueKind::kMessage:
        return false;
      default:
        if (HasText(v.kind())) *text += v.string_value().size();
        return true;
    }
  }
  // `v` with its text copied to the end of `*text` (reserved).
  static Value Store(const Value& v, std::string* text) {
    if (!HasText(v.kind())) return v;
    const size_t at = text->size();
    text->append(v.string_value().data(), v.string_value().size());
    const absl::string_view copy(text->data() + at, v.string_value().size());
    switch (v.kind()) {
      case ValueKind::kString:
        return Value::String(copy);
      case ValueKind::kType:
        return Value::TypeValue(copy);
      default:
        return Value::Error(copy);
    }
  }

  size_t InputOffset(int table) const {
    size_t offset = 0;
    for (int i = 0; i < table; ++i) offset += policy_.tables[i].inputs.size();
    return offset;
  }

  const CompiledPolicyImpl& policy_;
  const EvalOptions& options_;
  // Sized so that policies of up to 64 lets, tables and scores keep their
  // memo on the stack.
  absl::InlinedVector<Value, 64> values_;
  absl::InlinedVector<bool, 64> done_;
  absl::InlinedVector<int, 4> table_rows_;
  absl::InlinedVector<Value, 16> table_inputs_;
  // The storage in use: values_.data() etc. after Own() (they do not move
  // after it: InlinedVector's data() tests where the elements live on
  // every call, and Resolve() runs for every let of every decision), or
  // the borrowed entry's.
  Value* value_at_ = nullptr;
  bool* done_at_ = nullptr;
  int* rows_at_ = nullptr;
  Value* inputs_at_ = nullptr;
  const internal::CoreEntry* borrowed_ = nullptr;
};

// Steps 2 and 3 of a decision: the rule that matched (or the default),
// its priority, and the exception that applies.
struct Choice {
  const CompiledRule* rule = nullptr;
  bool by_default = false;
  int priority = -1;
  const CompiledException* applied = nullptr;
  // Exceptions that match but have expired, in policy order.
  absl::InlinedVector<const CompiledException*, 2> expired;
  v1::Treatment treatment = v1::TREATMENT_UNSPECIFIED;
};

// Step 2: the rule that matched (or the default) and its priority. Adds a
// RuleTrace per rule tried to `trace` when not null.
absl::Status ChooseRule(const CompiledPolicyImpl& policy, expr::Frame& frame,
                        v1::Decision* trace, Choice* out) {
  // Rules, first match wins; else the default.
  const CompiledRule* rule = nullptr;
  for (const CompiledRule& r : policy.rules) {
    const Value v = r.when->Evaluate(frame);
    const bool matched = IsTrue(v);
    if (trace != nullptr) {
      v1::RuleTrace* t = trace->add_trace();
      t->set_rule(r.id);
      t->set_matched(matched);
      if (matched) {
        t->set_explanation(r.matched_explanation);
      } else {
        r.when->ExplainNotTrue(frame, t->mutable_explanation());
      }
    }
    if (matched) {
      rule = &r;
      break;
    }
  }
  out->by_default = rule == nullptr;
  if (out->by_default) rule = &policy.default_rule;
  out->rule = rule;

  int priority = rule->priority;
  if (rule->priority_expr != nullptr) {
    const Value v = rule->priority_expr->Evaluate(frame);
    if (v.is_error()) {
      return absl::InternalError(absl::StrCat(
          "rule ", rule->id, ": priority_expr failed: ", v.error()));
    }
    for (size_t i = 0; i < policy.priorities.size(); ++i) {
      if (policy.priorities[i].name == v.string_value())
        priority = static_cast<int>(i);
    }
    if (priority < 0) {
      return absl::InternalError(absl::StrCat(
          "rule ", rule->id, ": priority_expr yielded '", v.string_value(),
          "', which is not a priority of the policy"));
    }
  }
  out->priority = priority;
  return absl::OkStatus();
}

// Steps 2 and 3: fills `*out`; adds a RuleTrace per rule tried to `trace`
// when not null.
absl::Status Choose(const CompiledPolicyImpl& policy, expr::Frame& frame,
                    const EvalOptions& options, v1::Decision* trace,
                    Choice* out) {
  TREATD_RETURN_IF_ERROR(ChooseRule(policy, frame, trace, out));
  // 3. Exceptions: the first matching one that has not expired applies.
  for (const CompiledException& e : policy.exceptions) {
    if (!IsTrue(e.when->Evaluate(frame))) continue;
    if (options.as_of < e.expires) {
      out->applied = &e;
      break;
    }
    out->expired.push_back(&e);
  }
  out->treatment =
      out->applied != nullptr ? out->applied->treatment : out->rule->treatment;
  return absl::OkStatus();
}

// Step 3 from the exceptions that match (indices in policy order): what
// Choose() finds, without evaluating a condition.
void ApplyMatchedExceptions(const CompiledPolicyImpl& policy,
                            absl::Span<const int> matched, absl::Time as_of,
                            Choice* out) {
  for (int index : matched) {
    const CompiledException& e = policy.exceptions[index];
    if (as_of < e.expires) {
      out->applied = &e;
      break;
    }
    out->expired.push_back(&e);
  }
  out->treatment =
      out->applied != nullptr ? out->applied->treatment : out->rule->treatment;
}

// Steps 2 and 3 through the calling thread's core cache (core_cache.h):
// a finding whose projection (CoreProjection) was decided before takes
// that core (rule, priority, matching exceptions, and every let, table and
// risk value it computed) into `state` without running an expression; any
// other is decided by Choose()'s steps and its core stored. The expiry of
// exceptions is checked here, per decision, against as_of. Without a
// cache for this thread, or while a stream that does not hit has it
// bypassed, this is Choose(). `*core_key` is the key looked up (valid
// until this thread's next decision), or left as it is without one;
// `*entry` the valid entry that holds the core, if any (valid until the
// thread's next decision), for the later steps' own memos. With a key,
// `*id` is the decision id's hash, computed in the same walk of `finding`,
// and `*has_id` is set.
absl::Status ChooseCached(const CompiledPolicyImpl& policy,
                          const v1::Finding& finding,
                          const EvalOptions& options, EvalState& state,
                          expr::Frame& frame, Choice* out,
                          absl::string_view* core_key,
                          const internal::CoreEntry** entry_out,
                          internal::Xxh3Hash128* id, bool* has_id) {
  internal::CoreCache* const cache = internal::CoreCache::ForThisThread();
  if (cache == nullptr || cache->Bypass()) {
    state.Own();
    frame.set_memo(state.values(), state.done());
    return Choose(policy, frame, options, nullptr, out);
  }
  static thread_local std::string buffer;
  const absl::string_view key = policy.core_projection.BuildKeyAndId(
      frame, options, policy.ref, finding, id, &buffer);
  *has_id = true;
  *core_key = key;
  const uint64_t hash = internal::Xxh3_64(key.data(), key.size());
  const internal::CoreEntry* hit = cache->Find(key, hash);
  if (hit != nullptr && hit->read_now &&
      (hit->now_seconds != frame.now().seconds() ||
       hit->now_nanos != frame.now().nanos())) {
    hit = nullptr;  // Computed at another as_of, and it read `now`.
  }
  if (hit != nullptr) {
    state.Borrow(*hit);
    frame.set_memo(state.values(), state.done());
    out->by_default = hit->rule < 0;
    out->rule =
        out->by_default ? &policy.default_rule : &policy.rules[hit->rule];
    out->priority = hit->priority;
    ApplyMatchedExceptions(policy, hit->matched_exceptions, options.as_of, out);
    *entry_out = hit;
    return absl::OkStatus();
  }
  state.Own();
  frame.set_memo(state.values(), state.done());
  frame.forget_now_read();
  TREATD_RETURN_IF_ERROR(ChooseRule(policy, frame, nullptr, out));
  // Every exception's condition, not just up to the first that applies:
  // which one applies depends on as_of, which the key may not hold.
  absl::InlinedVector<int, 2> matched;
  for (size_t i = 0; i < policy.exceptions.size(); ++i) {
    if (IsTrue(policy.exceptions[i].when->Evaluate(frame))) {
      matched.push_back(static_cast<int>(i));
    }
  }
  ApplyMatchedExceptions(policy, matched, options.as_of, out);
  // The risk scores and table outcomes every decision reports, computed
  // now so that the entry holds them (later steps read them from `state`).
  state.Resolve(policy.inherent_slot, frame);
  state.Resolve(policy.residual_slot, frame);
  for (int slot : policy.table_slots) state.Resolve(slot, frame);
  internal::CoreEntry* entry = cache->Insert(key, hash);
  if (!state.SaveTo(entry)) return absl::OkStatus();  // Stays invalid.
  entry->rule =
      out->by_default ? -1 : static_cast<int>(out->rule - policy.rules.data());
  entry->priority = out->priority;
  entry->matched_exceptions = matched;
  entry->read_now = frame.now_read();
  if (entry->read_now) {
    entry->now_seconds = frame.now().seconds();
    entry->now_nanos = frame.now().nanos();
  }
  entry->valid = true;
  *entry_out = entry;
  return absl::OkStatus();
}

// Copies the slot values computed so far into `memo`. Values that may
// point into the frame's scratch space (built strings, lists, error
// messages) die with the frame and are left out when it holds any; so are
// those taken from a core cache entry (`from_cache`), which the thread's
// next decision may overwrite.
void Remember(const expr::Frame& frame, const EvalState& state, bool from_cache,
              EvaluationMemo::Data* memo) {
  const size_t n = state.size();
  memo->values.assign(state.values(), state.values() + n);
  memo->done.assign(state.done(), state.done() + n);
  if (!frame.used_scratch() && !from_cache) return;
  for (size_t i = 0; i < n; ++i) {
    const ValueKind kind = memo->values[i].kind();
    if (kind == ValueKind::kString || kind == ValueKind::kList ||
        kind == ValueKind::kError || kind == ValueKind::kType) {
      memo->done[i] = 0;
    }
  }
}

}  // namespace

absl::Status CompiledPolicy::Evaluate(const v1::Finding& finding,
                                      const EvalOptions& options,
                                      v1::Decision* decision,
                                      EvaluationMemo* memo) const {
  absl::Status status = impl_->Evaluate(finding, options, decision, memo);
  // The steps before the error wrote this finding's choice over what a
  // reused decision held (its previous finding's id, rule, table outcomes):
  // none of it is an answer.
  if (ABSL_PREDICT_FALSE(!status.ok())) decision->Clear();
  return status;
}

absl::Status CompiledPolicy::DecideTreatment(const v1::Finding& finding,
                                             const EvalOptions& options,
                                             TreatmentOutcome* outcome,
                                             const EvaluationMemo* base,
                                             uint32_t changed) const {
  return impl_->DecideTreatment(finding, options, outcome, base, changed);
}

int CompiledTable::FindRow(const Value* values) const {
  if (!first_row.empty()) {
    size_t code = 0;
    for (size_t c = 0; c < columns.size(); ++c) {
      const std::vector<Value>& keys = columns[c].keys;
      size_t k = 0;
      while (k < keys.size() && !CellMatches(values[c], keys[k])) ++k;
      code += k * columns[c].stride;
    }
    return first_row[code];
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& cells = rows[r].cells;
    bool match = true;
    for (size_t c = 0; c < cells.size() && match; ++c) {
      match = cells[c].any || CellMatches(values[c], cells[c].value);
    }
    if (match) return static_cast<int>(r);
  }
  return -1;
}

namespace {

// The Timestamps of a reused decision (its deadlines and its actions'
// due_by), taken out before it is cleared: Clear() would free them, and
// most decisions set about as many again. Take() hands one to a deadline
// or an action of the same decision. Those left over are freed with the
// decision's arena, or, on the heap, kept for the thread's next decisions
// (up to kKept; a decision with more actions than the last one then does
// not allocate either).
class SpareDeadlines {
 public:
  explicit SpareDeadlines(v1::Decision* decision)
      : on_heap_(decision->GetArena() == nullptr) {
    Keep(decision->unsafe_arena_release_mitigate_by());
    Keep(decision->unsafe_arena_release_remediate_by());
    Keep(decision->unsafe_arena_release_review_by());
    for (v1::Action& action : *decision->mutable_actions()) {
      Keep(action.unsafe_arena_release_due_by());
    }
  }
  ~SpareDeadlines() {
    if (!on_heap_) return;
    std::vector<google::protobuf::Timestamp*>& kept = Kept().timestamps;
    for (google::protobuf::Timestamp* t : spare_) {
      if (kept.size() < kKept) {
        kept.push_back(t);
      } else {
        delete t;
      }
    }
  }
  SpareDeadlines(const SpareDeadlines&) = delete;
  SpareDeadlines& operator=(const SpareDeadlines&) = delete;

  // A spare Timestamp, cleared, or null; the caller gives it to the
  // decision this was built from (or, on the heap, to any).
  google::protobuf::Timestamp* Take() {
    google::protobuf::Timestamp* t = nullptr;
    if (!spare_.empty()) {
      t = spare_.back();
      spare_.pop_back();
    } else if (on_heap_ && !Kept().timestamps.empty()) {
      t = Kept().timestamps.back();
      Kept().timestamps.pop_back();
    } else {
      return nullptr;
    }
    t->Clear();
    return t;
  }

 private:
  static constexpr size_t kKept = 32;
  // Heap Timestamps left over by this thread's decisions; freed when the
  // thread exits.
  struct KeptTimestamps {
    std::vector<google::protobuf::Timestamp*> timestamps;
    ~KeptTimestamps() {
      for (google::protobuf::Timestamp* t : timestamps) delete t;
    }
  };
  static KeptTimestamps& Kept() {
    static thread_local KeptTimestamps kept;
    return kept;
  }
  void Keep(google::protobuf::Timestamp* t) {
    if (t != nullptr) spare_.push_back(t);
  }

  const bool on_heap_;
  absl::InlinedVector<google::protobuf::Timestamp*, 12> spare_;
};

// `*s` = `v`, for a string a reused decision held before: clear() and
// append() keep its buffer and skip assign()'s aliasing checks.
void Replace(absl::string_view v, std::string* s) {
  s->clear();
  s->append(v.data(), v.size());
}

// Before step 2: `decision` emptied for reuse, but for what every decision
// writes again. Its strings finding_id, priority, matched_rule and
// decision_id, its table outcomes and its exception stay, for the steps below
// to overwrite, and only where they differ: a thread's decisions mostly repeat
// the priority, the rule and every table's name and outcome, and clearing them
// cost more than the rest of a BASIC decision's fill. Its policy and
// evaluated_at stay too (Clear() would free them only for this decision to
// allocate them again). Everything else is cleared; a decision with unknown
// fields is cleared whole. The scalars are all set below.
// (ADecisionReusedFromAnyStateEqualsAFreshOne in core_cache_test holds this
// to a fresh message, from a decision with every field set.)
void ResetDecision(const v1::PolicyRef& ref, v1::Decision* decision) {
  if (internal::HasUnknownFields(*decision)) {
    v1::PolicyRef* policy_ref = decision->unsafe_arena_release_policy();
    google::protobuf::Timestamp* evaluated_at =
        decision->unsafe_arena_release_evaluated_at();
    decision->Clear();
    if (policy_ref != nullptr) {
      decision->unsafe_arena_set_allocated_policy(policy_ref);
    }
    if (evaluated_at != nullptr) {
      decision->unsafe_arena_set_allocated_evaluated_at(evaluated_at);
    }
  }
  // The deadlines were taken out by SpareDeadlines.
  if (!decision->actions().empty()) decision->clear_actions();
  if (!decision->reasons().empty()) decision->clear_reasons();
  if (!decision->trace().empty()) decision->clear_trace();
  if (!decision->deadline_sources().empty()) decision->clear_deadline_sources();
  if (decision->has_intel()) decision->clear_intel();
  if (!decision->revisit_conditions().empty()) {
    decision->clear_revisit_conditions();
  }
  if (decision->has_policy()) {
    // A decision reused with the same policy already holds its ref.
    v1::PolicyRef& policy_ref = *decision->mutable_policy();
    if (internal::HasUnknownFields(policy_ref) ||
        policy_ref.name() != ref.name() ||
        policy_ref.version() != ref.version() ||
        policy_ref.digest() != ref.digest()) {
      policy_ref = ref;
    }
  }
  if (decision->has_evaluated_at()) decision->mutable_evaluated_at()->Clear();
}

// Steps 2 and 3 written down: treatment, priority, match kind, rule and
// the exception shown (the applied one, else the first expired one).
void WriteChoice(const CompiledPolicyImpl& policy, const v1::Finding& finding,
                 const Choice& choice, bool full, v1::Decision* decision) {
  const CompiledRule* rule = choice.rule;
  const bool by_default = choice.by_default;
  const int priority = choice.priority;
  const CompiledPriority& prio = policy.priorities[priority];
  const CompiledException* applied = choice.applied;
  const auto& expired = choice.expired;
  const CompiledException* shown = applied != nullptr ? applied
                                   : expired.empty()  ? nullptr
                                                      : expired.front();
  const v1::Treatment treatment = choice.treatment;

  if (decision->finding_id() != finding.id()) {
    Replace(finding.id(), decision->mutable_finding_id());
  }
  decision->set_treatment(treatment);
  if (decision->priority() != prio.name) {
    Replace(prio.name, decision->mutable_priority());
  }
  decision->set_priority_rank(priority + 1);
  decision->set_match_kind(applied != nullptr ? v1::MATCH_KIND_EXCEPTION
                           : by_default       ? v1::MATCH_KIND_DEFAULT
                                              : v1::MATCH_KIND_RULE);
  // The default rule's id is "default" (policy_compiler.cc).
  if (decision->matched_rule() != rule->id) {
    Replace(rule->id, decision->mutable_matched_rule());
  }
  // A reused decision's ExceptionRef is cleared in place, not freed and
  // allocated again (ResetDecision() leaves it to this step).
  if (shown == nullptr) {
    if (decision->has_exception()) decision->clear_exception();
  } else {
    v1::ExceptionRef* ref = decision->mutable_exception();
    ref->Clear();
    ref->set_id(shown->id);
    ref->set_applied(shown == applied);
    if (full) {
      ref->set_approver(shown->approver);
      ref->set_reason(shown->reason);
      *ref->mutable_expires() = shown->expires_proto;
      ref->set_ticket(shown->ticket);
    }
  }
}

struct Deadlines {
  std::optional<absl::Time> mitigate_by, remediate_by, review_by;
};

// Step 4: the deadlines the treatment needs and, in the FULL view, where
// each comes from. Adds to `reasons` when a KEV due date wins (FULL only).
// INTERNAL when a treatment that needs a review has no review_within (the
// compiler rules that out). The deadlines set reuse `spare`'s Timestamps.
absl::Status SetDeadlines(const CompiledPolicyImpl& policy,
                          const v1::Finding& finding,
                          const EvalOptions& options, const Choice& choice,
                          Deadlines* out, std::vector<std::string>* reasons,
                          SpareDeadlines* spare, v1::Decision* decision) {
  const CompiledRule* rule = choice.rule;
  const CompiledPriority& prio = policy.priorities[choice.priority];
  const CompiledException* applied = choice.applied;
  const v1::Treatment treatment = choice.treatment;
  std::optional<absl::Time>& mitigate_by = out->mitigate_by;
  std::optional<absl::Time>& remediate_by = out->remediate_by;
  std::optional<absl::Time>& review_by = out->review_by;

  const bool from_first_seen = finding.has_first_seen();
  const absl::Time start =
      from_first_seen ? FromProtoTime(finding.first_seen()) : options.as_of;
  const char* clock = from_first_seen ? "first_seen" : "as_of";
  const int clock_index = from_first_seen ? 0 : 1;
  const bool mitigates = treatment == v1::TREATMENT_MITIGATE ||
                         treatment == v1::TREATMENT_MITIGATE_THEN_REMEDIATE;
  const bool remediates = treatment == v1::TREATMENT_REMEDIATE ||
                          treatment == v1::TREATMENT_MITIGATE_THEN_REMEDIATE;
  const bool reviews =
      treatment == v1::TREATMENT_MITIGATE || treatment == v1::TREATMENT_ACCEPT;
  const bool full = options.full();
  if (mitigates && prio.mitigate_within.has_value()) {
    mitigate_by = start + *prio.mitigate_within;
    if (full) decision->add_deadline_sources(prio.mitigate_source[clock_index]);
  }
  if (remediates && prio.remediate_within.has_value()) {
    remediate_by = start + *prio.remediate_within;
    const auto& kev = finding.vulnerability().kev();
    const bool kev_first =
        kev.has_due_date() && FromProtoTime(kev.due_date()) < *remediate_by;
    if (kev_first) remediate_by = FromProtoTime(kev.due_date());
    std::string* source = full ? decision->add_deadline_sources() : nullptr;
    if (source == nullptr) {
      // BASIC: the deadline without its source.
    } else if (kev_first) {
      source->append("remediate_by: CISA KEV due date ");
      expr::AppendTimestamp(*remediate_by, source);
      absl::StrAppend(source, " (earlier than ", prio.name,
                      " remediate_within ", prio.remediate_text, " from ",
                      clock, ")");
      reasons->push_back(absl::StrCat(
          "The CISA KEV due date ", Rfc3339(*remediate_by),
          " comes before the ", prio.name, " deadline and sets remediate_by"));
    } else {
      source->assign(prio.remediate_source[clock_index]);
    }
  }
  if (applied != nullptr) {
    review_by = applied->expires;
    if (full) {
      decision->add_deadline_sources(
          absl::StrCat("review_by: expiry of exception ", applied->id));
    }
  } else if (reviews) {
    const bool own = rule->review_within.has_value();
    const std::optional<absl::Duration> within =
        own ? rule->review_within : prio.review_within;
    if (within.has_value()) {
      review_by = options.as_of + *within;
      if (full) {
        decision->add_deadline_sources(own ? rule->review_source
                                           : prio.review_source);
      }
    }
  }
  if (reviews && !review_by.has_value()) {
    return absl::InternalError(absl::StrCat(
        "rule ", decision->matched_rule(), ": ", TreatmentName(treatment),
        " needs a review_within, which neither the rule nor priority ",
        prio.name, " sets"));
  }
  if (mitigate_by) {
    if (auto* t = spare->Take()) {
      decision->unsafe_arena_set_allocated_mitigate_by(t);
    }
    DeadlineToProto(*mitigate_by, decision->mutable_mitigate_by());
  }
  if (remediate_by) {
    if (auto* t = spare->Take()) {
      decision->unsafe_arena_set_allocated_remediate_by(t);
    }
    DeadlineToProto(*remediate_by, decision->mutable_remediate_by());
  }
  if (review_by) {
    if (auto* t = spare->Take()) {
      decision->unsafe_arena_set_allocated_review_by(t);
    }
    DeadlineToProto(*review_by, decision->mutable_review_by());
  }
  return absl::OkStatus();
}

// The kept placeholder texts (TextTemplate::RenderTo()) of the core cache
// entry `entry` this decision's core came from, sized for the policy; null
// without an entry or kept placeholders.
std::vector<std::optional<std::string>>* KeptText(
    const CompiledPolicyImpl& policy, const internal::CoreEntry* entry) {
  if (entry == nullptr || policy.kept_template_parts == 0) return nullptr;
  auto& text = entry->template_text;
  if (text.size() != static_cast<size_t>(policy.kept_template_parts)) {
    text.assign(policy.kept_template_parts, std::nullopt);
  }
  return &text;
}

// SetDeadlines() for a BASIC decision whose core came from `entry`: the
// deadlines follow from the core (treatment, priority, rule, the
// exception that applies at as_of), as_of, the finding's first_seen and
// its KEV due date, so a decision that repeats the last three of the
// entry's last decision writes that decision's deadlines again
// (CoreEntry::deadlines) without their arithmetic.
absl::Status SetBasicDeadlines(const CompiledPolicyImpl& policy,
                               const v1::Finding& finding,
                               const EvalOptions& options, const Choice& choice,
                               const internal::CoreEntry& entry,
                               SpareDeadlines* spare, v1::Decision* decision) {
  internal::CoreEntry::Deadlines& memo = entry.deadlines;
  const bool has_first_seen = finding.has_first_seen();
  const google::protobuf::Timestamp& first_seen = finding.first_seen();
  const v1::Kev& kev = finding.vulnerability().kev();
  const bool has_kev_due = kev.has_due_date();
  const google::protobuf::Timestamp& kev_due = kev.due_date();
  using Field = google::protobuf::Timestamp* (v1::Decision::*)();
  using Setter = void (v1::Decision::*)(google::protobuf::Timestamp*);
  static constexpr Field kMutable[3] = {&v1::Decision::mutable_mitigate_by,
                                        &v1::Decision::mutable_remediate_by,
                                        &v1::Decision::mutable_review_by};
  static constexpr Setter kSet[3] = {
      &v1::Decision::unsafe_arena_set_allocated_mitigate_by,
      &v1::Decision::unsafe_arena_set_allocated_remediate_by,
      &v1::Decision::unsafe_arena_set_allocated_review_by};
  if (memo.valid && memo.as_of == options.as_of &&
      memo.has_first_seen == has_first_seen &&
      memo.first_seen_seconds == first_seen.seconds() &&
      memo.first_seen_nanos == first_seen.nanos() &&
      memo.has_kev_due == has_kev_due &&
      memo.kev_due_seconds == kev_due.seconds() &&
      memo.kev_due_nanos == kev_due.nanos()) {
    for (int i = 0; i < 3; ++i) {
      if (!memo.set[i]) continue;
      if (auto* t = spare->Take()) (decision->*kSet[i])(t);
      google::protobuf::Timestamp* out = (decision->*kMutable[i])();
      out->set_seconds(memo.seconds[i]);
      out->set_nanos(memo.nanos[i]);
    }
    return absl::OkStatus();
  }
  Deadlines deadlines;
  TREATD_RETURN_IF_ERROR(SetDeadlines(policy, finding, options, choice,
                                      &deadlines, nullptr, spare, decision));
  memo.as_of = options.as_of;
  memo.has_first_seen = has_first_seen;
  memo.first_seen_seconds = first_seen.seconds();
  memo.first_seen_nanos = first_seen.nanos();
  memo.has_kev_due = has_kev_due;
  memo.kev_due_seconds = kev_due.seconds();
  memo.kev_due_nanos = kev_due.nanos();
  const google::protobuf::Timestamp* written[3] = {
      decision->has_mitigate_by() ? &decision->mitigate_by() : nullptr,
      decision->has_remediate_by() ? &decision->remediate_by() : nullptr,
      decision->has_review_by() ? &decision->review_by() : nullptr};
  for (int i = 0; i < 3; ++i) {
    memo.set[i] = written[i] != nullptr;
    memo.seconds[i] = memo.set[i] ? written[i]->seconds() : 0;
    memo.nanos[i] = memo.set[i] ? written[i]->nanos() : 0;
  }
  memo.valid = true;
  return absl::OkStatus();
}

// Whether action `index`'s condition holds. With `entry`, the core cache
// entry this decision's core came from, a condition the key determines
// (CompiledAction::when_keyed) is evaluated once per entry and kept in it,
// and so is the keyed guard of any other (CompiledAction::keyed_guard).
bool ActionApplies(const CompiledPolicyImpl& policy, int index,
                   const internal::CoreEntry* entry, expr::Frame& frame) {
  const CompiledAction& a = policy.actions[index];
  if (a.when == nullptr) return true;
  if (entry == nullptr || (!a.when_keyed && a.keyed_guard.empty())) {
    return IsTrue(a.when->Evaluate(frame));
  }
  std::vector<int8_t>& kept = entry->action_when;
  if (kept.size() != policy.actions.size())
    kept.assign(policy.actions.size(), -1);
  if (a.when_keyed) {
    if (kept[index] < 0) kept[index] = IsTrue(a.when->Evaluate(frame)) ? 1 : 0;
    return kept[index] != 0;
  }
  // `when` is true exactly where each of its `&&` operands is: the keyed
  // ones are checked once per entry, the rest only where those all hold.
  const auto all_true = [&frame](const std::vector<const expr::Node*>& nodes) {
    for (const expr::Node* node : nodes) {
      if (!IsTrue(expr::EvaluateNode(*node, frame))) return false;
    }
    return true;
  };
  if (kept[index] < 0) kept[index] = all_true(a.keyed_guard) ? 1 : 0;
  return kept[index] != 0 && all_true(a.unkeyed_rest);
}

// The actions of the rule, or of the exception when one applies, each due
// by the deadline of its category (a Timestamp of `spare` when it has one).
// `entry` as for ActionApplies().
void AddActions(const CompiledPolicyImpl& policy, const Choice& choice,
                const Deadlines& deadlines, const internal::CoreEntry* entry,
                expr::Frame& frame, SpareDeadlines* spare,
                v1::Decision* decision) {
  const std::optional<absl::Time>& mitigate_by = deadlines.mitigate_by;
  const std::optional<absl::Time>& remediate_by = deadlines.remediate_by;
  const std::optional<absl::Time>& review_by = deadlines.review_by;
  const std::vector<int>& action_ids = choice.applied != nullptr
                                           ? choice.applied->actions
                                           : choice.rule->actions;
  std::vector<std::optional<std::string>>* kept = KeptText(policy, entry);
  for (int index : action_ids) {
    if (!ActionApplies(policy, index, entry, frame)) continue;
    const CompiledAction& a = policy.actions[index];
    v1::Action* out = decision->add_actions();
    out->set_id(a.id);
    out->set_category(a.category);
    a.text.RenderTo(frame, out->mutable_text(), kept);
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
    if (due) {
      if (auto* t = spare->Take()) out->unsafe_arena_set_allocated_due_by(t);
      DeadlineToProto(*due, out->mutable_due_by());
    }
  }
}

// Step 5: inherent and residual risk; a score that cannot be computed is
// reported as 0 with a reason.
void SetRisk(const CompiledPolicyImpl& policy, EvalState& state,
             expr::Frame& frame, std::vector<std::string>* reasons,
             v1::Decision* decision) {
  for (int slot : {policy.inherent_slot, policy.residual_slot}) {
    const Value v = state.Resolve(slot, frame);
    const double score = v.is_error() ? 0 : v.double_value();
    if (v.is_error()) {
      reasons->push_back(absl::StrCat(policy.slots[slot].name,
                                      " could not be computed (", v.error(),
                                      "); it is reported as 0"));
    }
    if (slot == policy.inherent_slot) {
      decision->set_inherent_risk(score);
    } else {
      decision->set_residual_risk(score);
    }
  }
}

// The text form of every table input (TableOutcome.inputs), all tables'
// in turn, for a decision whose core came from `entry`: rendered once per
// entry (the inputs are part of the core) and kept in it.
ABSL_ATTRIBUTE_NOINLINE const std::vector<std::string>& TableInputText(
    const CompiledPolicyImpl& policy, const EvalState& state,
    const internal::CoreEntry& entry) {
  std::vector<std::string>& text = entry.table_input_text;
  if (!text.empty() || policy.tables.empty()) return text;
  for (size_t t = 0; t < policy.tables.size(); ++t) {
    const Value* inputs = state.table_inputs(static_cast<int>(t));
    for (size_t i = 0; i < policy.tables[t].inputs.size(); ++i) {
      text.emplace_back();
      expr::AppendValue(inputs[i], /*quote_strings=*/false, &text.back());
    }
  }
  return text;
}

// `out`'s inputs = the `n` strings at `text`, overwritten in place where
// they differ: a reused decision holds the same table's inputs. Not
// inlined: the BASIC view's loop over the tables stays small.
ABSL_ATTRIBUTE_NOINLINE void SetKeptInputs(const std::string* text, size_t n,
                                           v1::TableOutcome* out) {
  auto* inputs = out->mutable_inputs();
  if (inputs->size() > static_cast<int>(n)) inputs->Clear();
  for (size_t i = 0; i < n; ++i) {
    if (i < static_cast<size_t>(inputs->size())) {
      std::string* in = inputs->Mutable(static_cast<int>(i));
      if (*in != text[i]) Replace(text[i], in);
    } else {
      inputs->Add()->append(text[i]);
    }
  }
}

// Every decision table's outcome, the row that gave it and (`full`) its
// inputs (from `entry`, the core cache entry of the decision's core, when
// there is one). INTERNAL when a table fails (the compiler's coverage
// check warns of it).
absl::Status AddTableOutcomes(const CompiledPolicyImpl& policy,
                              EvalState& state, expr::Frame& frame, bool full,
                              const internal::CoreEntry* entry,
                              v1::Decision* decision) {
  const std::vector<CompiledTable>& tables = policy.tables;
  // A reused decision holds the outcomes of the same tables: overwritten
  // in place (ResetDecision()).
  auto* outcomes = decision->mutable_table_outcomes();
  const int n = static_cast<int>(tables.size());
  if (outcomes->size() > n) outcomes->DeleteSubrange(n, outcomes->size() - n);
  size_t text_at = 0;  // The first input of table t in the kept text.
  for (int t = 0; t < n; ++t) {
    const Value v = state.Resolve(policy.table_slots[t], frame);
    if (v.is_error()) return absl::InternalError(std::string(v.error()));
    v1::TableOutcome* out =
        t < outcomes->size() ? outcomes->Mutable(t) : outcomes->Add();
    if (internal::HasUnknownFields(*out)) out->Clear();
    if (out->table() != tables[t].name) {
      Replace(tables[t].name, out->mutable_table());
    }
    const absl::string_view outcome = v.string_value();
    if (out->outcome() != outcome) Replace(outcome, out->mutable_outcome());
    out->set_row(state.table_row(t));
    const size_t n_inputs = tables[t].inputs.size();
    if (full && entry != nullptr) {
      SetKeptInputs(TableInputText(policy, state, *entry).data() + text_at,
                    n_inputs, out);
      text_at += n_inputs;
      continue;
    }
    if (!out->inputs().empty()) out->clear_inputs();
    if (!full) continue;
    const Value* inputs = state.table_inputs(t);
    for (size_t i = 0; i < n_inputs; ++i) {
      expr::AppendValue(inputs[i], /*quote_strings=*/false, out->add_inputs());
    }
  }
  return absl::OkStatus();
}

// Reasons: the rule's own words first, then how the decision came about,
// then what the steps above found (`reasons`).
// `entry` as for ActionApplies().
void AddReasons(const CompiledPolicyImpl& policy, const Choice& choice,
                const internal::CoreEntry* entry, expr::Frame& frame,
                std::vector<std::string>* reasons, v1::Decision* decision) {
  const CompiledRule* rule = choice.rule;
  const CompiledException* applied = choice.applied;
  const v1::Treatment treatment = choice.treatment;
  if (!rule->reason.empty()) {
    rule->reason.RenderTo(frame, decision->add_reasons(),
                          KeptText(policy, entry));
  }
  decision->add_reasons(rule->reason_by_priority[choice.priority]);
  if (applied != nullptr) {
    decision->add_reasons(absl::StrCat(
        "Exception ", applied->id, " applies: ", TreatmentName(treatment),
        " approved by ", applied->approver, " until ",
        Rfc3339(applied->expires), " (", applied->reason, ")"));
  }
  for (const CompiledException* e : choice.expired) {
    decision->add_reasons(
        absl::StrCat("Exception ", e->id, " matches but expired on ",
                     Rfc3339(e->expires), "; it does not apply"));
  }
  for (std::string& r : *reasons) decision->add_reasons(std::move(r));
}

}  // namespace

// "How a decision is made" (docs/policy-language.md), step by step. Step 1,
// validation, is the caller's (common/validation).
absl::Status CompiledPolicyImpl::Evaluate(const v1::Finding& finding,
                                          const EvalOptions& options,
                                          v1::Decision* decision,
                                          EvaluationMemo* memo) const {
  if (memo != nullptr) {
    memo->data().done.clear();
    memo->data().core_key.clear();
  }
  SpareDeadlines spare(decision);
  ResetDecision(ref, decision);
  EvalState state(*this, options);
  // `now` as a Value, kept while as_of stays (a batch, a stream's
  // decisions at one time).
  struct Now {
    absl::Time as_of = absl::InfinitePast();
    Value value = Value::Timestamp(absl::InfinitePast());
  };
  thread_local Now now;
  if (ABSL_PREDICT_FALSE(now.as_of != options.as_of)) {
    now.as_of = options.as_of;
    now.value = Value::Timestamp(options.as_of);
  }
  expr::Frame frame(&finding, now.value, &state);

  // 2 and 3. The rule that matched (or the default), its priority, and the
  // exception that applies.
  // A trace needs every rule's condition run, and explained.
  Choice choice;
  const internal::CoreEntry* core_entry = nullptr;
  const bool cached =
      core_projection.enabled && options.use_core_cache && !options.trace;
  internal::Xxh3Hash128 id_hash;
  bool has_id_hash = false;
  if (cached) {
    absl::string_view core_key;
    TREATD_RETURN_IF_ERROR(ChooseCached(*this, finding, options, state, frame,
                                        &choice, &core_key, &core_entry,
                                        &id_hash, &has_id_hash));
    if (memo != nullptr) {
      memo->data().core_key.assign(core_key.data(), core_key.size());
    }
  } else {
    state.Own();
    frame.set_memo(state.values(), state.done());
    TREATD_RETURN_IF_ERROR(Choose(*this, frame, options,
                                  options.trace ? decision : nullptr, &choice));
  }
  if (memo != nullptr) Remember(frame, state, cached, &memo->data());
  const bool full = options.full();
  WriteChoice(*this, finding, choice, full, decision);

  // 4. Deadlines, and the actions due by them. The BASIC view builds
  // neither actions nor reasons: most of a decision's strings.
  std::vector<std::string> reasons;
  Deadlines deadlines;
  if (!full && core_entry != nullptr) {
    TREATD_RETURN_IF_ERROR(SetBasicDeadlines(*this, finding, options, choice,
                                             *core_entry, &spare, decision));
  } else {
    TREATD_RETURN_IF_ERROR(SetDeadlines(*this, finding, options, choice,
                                        &deadlines, &reasons, &spare,
                                        decision));
  }
  if (full) {
    AddActions(*this, choice, deadlines, core_entry, frame, &spare, decision);
  }

  // 5. Risk, and the outcomes of the decision tables.
  // Risk is in both views: the ledger records residual risk.
  SetRisk(*this, state, frame, &reasons, decision);
  TREATD_RETURN_IF_ERROR(
      AddTableOutcomes(*this, state, frame, full, core_entry, decision));

  // Why, in words; then the policy, the time and the decision's id.
  if (full) AddReasons(*this, choice, core_entry, frame, &reasons, decision);
  if (!decision->has_policy()) *decision->mutable_policy() = ref;
  ToProtoTime(options.as_of, decision->mutable_evaluated_at());
  if (has_id_hash) {
    internal::DecisionIdFromHash(id_hash, decision->mutable_decision_id());
  } else {
    DecisionId(ref, options.as_of, finding, decision->mutable_decision_id());
  }
  return absl::OkStatus();
}

absl::Status CompiledPolicyImpl::DecideTreatment(const v1::Finding& finding,
                                                 const EvalOptions& options,
                                                 TreatmentOutcome* outcome,
                                                 const EvaluationMemo* base,
                                                 uint32_t changed) const {
  EvalState state(*this, options);
  state.Own();
  if (base != nullptr) state.Seed(base->data(), slot_facts, changed);
  expr::Frame frame(&finding, options.as_of, &state);
  frame.set_memo(state.values(), state.done());
  Choice choice;
  absl::Status chosen = Choose(*this, frame, options, nullptr, &choice);
  if (!chosen.ok()) return chosen;
  outcome->treatment = choice.treatment;
  outcome->priority = priorities[choice.priority].name;
  outcome->priority_rank = choice.priority + 1;
  outcome->matched_rule =
      choice.by_default ? absl::string_view("default") : choice.rule->id;
  outcome->match_kind = choice.applied != nullptr ? v1::MATCH_KIND_EXCEPTION
                        : choice.by_default       ? v1::MATCH_KIND_DEFAULT
                                                  : v1::MATCH_KIND_RULE;
  return absl::OkStatus();
}

}  // namespace treatd
