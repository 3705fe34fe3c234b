// The compiled form of a policy that CompiledPolicy wraps: every expression
// planned into an expr::Program, every id resolved to an index. Built by
// the compiler (policy_compiler.cc and the files policy_compiler_internal.h
// names; slot_facts.cc), read by the decision code in evaluate.cc.
//
// Thread safety: immutable once built; Evaluate() is const and lock-free.
#ifndef TREATD_COMMON_POLICY_ENGINE_COMPILED_POLICY_IMPL_H_
#define TREATD_COMMON_POLICY_ENGINE_COMPILED_POLICY_IMPL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/expr/checker/types.h"
#include "common/expr/runtime/program.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/engine/decision_id.h"
#include "common/policy/engine/text_template.h"
#include "common/policy/engine/xxh3.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/policy.pb.h"

namespace treatd {

struct CompiledPriority {
  std::string name;
  std::optional<absl::Duration> mitigate_within;
  std::optional<absl::Duration> remediate_within;
  std::optional<absl::Duration> review_within;
  // The durations above in their text form ("24h"), rendered once for the
  // deadline sources of every decision.
  std::string mitigate_text;
  std::string remediate_text;
  std::string review_text;
  // Deadline sources, rendered once: [0] counts from first_seen, [1] from
  // as_of ("mitigate_by: priority P1 mitigate_within 1d from first_seen").
  std::string mitigate_source[2];
  std::string remediate_source[2];
  std::string review_source;  // Always from as_of.
};

// Whether a table input equals a (non-"*") cell of its column.
inline bool CellMatches(const expr::Value& in, const expr::Value& cell) {
  switch (in.kind()) {
    case expr::ValueKind::kBool:
      return in.bool_value() == cell.bool_value();
    case expr::ValueKind::kInt:
      return in.int_value() == cell.int_value();
    case expr::ValueKind::kEnum:
      return in.enum_number() == cell.enum_number();
    case expr::ValueKind::kString:
      return in.string_value() == cell.string_value();
    default:
      return false;
  }
}

struct CompiledTable {
  struct Input {
    std::string name;
    std::unique_ptr<expr::Program> program;
    expr::Type type;
  };
  struct Cell {
    bool any = false;  // "*"
    expr::Value value;
    std::string text;  // Storage behind string cells.
  };
  struct Row {
    std::vector<Cell> cells;
    std::string outcome;
  };
  std::string name;
  std::vector<Input> inputs;
  std::vector<Row> rows;
  std::string default_outcome;  // Empty: no default.

  // A dense index that replaces the row scan when the combinations of the
  // values the rows name are few: input c's value is coded as its position
  // in `keys[c]` (the distinct values column c names), or keys[c].size()
  // for any other value, and `first_row[sum of code * stride]` is the first
  // row that matches the combination (-1: none). Empty when not built.
  struct Column {
    std::vector<expr::Value> keys;  // Views into the rows' cells.
    size_t stride = 0;
  };
  std::vector<Column> columns;
  std::vector<int> first_row;

  // Builds `columns` and `first_row` once the rows are final (they must not
  // move afterwards). Leaves them empty when the table is too large.
  // Compile time: table_compiler.cc.
  void BuildIndex();
  // The first row matching `inputs` (one value per input), or -1.
  // Evaluation time: evaluate.cc.
  int FindRow(const expr::Value* inputs) const;
};

struct CompiledAction {
  std::string id;
  v1::ActionCategory category = v1::ACTION_CATEGORY_UNSPECIFIED;
  TextTemplate text;
  std::unique_ptr<expr::Program> when;  // Null: always.
  // Whether `when` reads only what the core key holds
  // (CompiledPolicyImpl::KeyDetermines), so that its value can be kept in
  // a core cache entry (CoreEntry::action_when).
  bool when_keyed = false;
  // When `when` is not keyed but some of its top-level `&&` operands
  // are: those (`keyed_guard`) and the others (`unkeyed_rest`), nodes of
  // `when`. `when` holds exactly where every operand does (an error on
  // one side of && yields to false, never to true), so a core cache entry
  // keeps whether the keyed ones all do (CoreEntry::action_when), and
  // only the rest run per decision, and only where those do.
  std::vector<const expr::Node*> keyed_guard;
  std::vector<const expr::Node*> unkeyed_rest;
};

struct CompiledRule {
  std::string id;
  std::unique_ptr<expr::Program> when;  // Null for the default.
  // "`<when>` is true", the trace explanation of a match.
  std::string matched_explanation;
  // The reason line saying how the rule decided, for each priority (the
  // rule's own, or any its priority_expr may yield).
  std::vector<std::string> reason_by_priority;
  // "review_by: rule <id> review_within <d> from as_of", with review_within.
  std::string review_source;
  v1::Treatment treatment = v1::TREATMENT_UNSPECIFIED;
  int priority = -1;  // Index into priorities, when not priority_expr.
  std::unique_ptr<expr::Program> priority_expr;
  std::vector<int> actions;
  std::optional<absl::Duration> review_within;
  TextTemplate reason;
};

struct CompiledException {
  std::string id;
  std::unique_ptr<expr::Program> when;
  v1::Treatment treatment = v1::TREATMENT_ACCEPT;
  std::string approver;
  std::string reason;
  std::string ticket;
  absl::Time expires;
  google::protobuf::Timestamp expires_proto;
  std::vector<int> actions;
};

// A named value computed lazily, at most once per evaluation.
struct Slot {
  enum class Kind { kLet, kTable, kRiskInherent, kRiskResidual, kIntel };
  // kIntel: which EvalOptions value the slot reads.
  enum class IntelValue { kStale, kKevAge, kEpssAge };
  Kind kind = Kind::kLet;
  std::string name;  // "exploited", "tables.ssvc", "risk.inherent".
  // kLet and risk slots; null for an absent risk expression.
  std::unique_ptr<expr::Program> program;
  int table = -1;                         // kTable.
  IntelValue intel = IntelValue::kStale;  // kIntel.
};

// What the decision core reads: the facts that decide the rule, its
// priority, the exceptions that match, the risk scores and the table
// outcomes (everything but deadlines, texts and the id). Computed once at
// compile time (core_projection.cc) from the expressions the core can
// reach; evaluate.cc builds a key from these facts and reuses the core of
// an earlier decision with the same key (core_cache.h).
struct CoreProjection {
  struct Item {
    // A kField or kHas node that reads from the finding's root, owned by
    // one of the policy's Programs.
    const expr::Node* node = nullptr;
    // For a string field the core only compares with constants (==, !=,
    // `in` a constant list): those constants. The key then holds which
    // one the field equals instead of the field's text, so that findings
    // which differ only in, say, asset.id share a key unless an exception
    // names that id.
    bool atoms = false;
    std::vector<absl::string_view> constants;
    // How BuildKey() reads the field: through the node's typed accessors
    // (one call per hop, no Value for timestamps), or, for paths without
    // them (maps, repeated fields, reflection-only types), by evaluating
    // the node.
    enum class Read : uint8_t {
      kScalar,
      kEnum,
      kHas,
      kTimestamp,
      kDuration,
      // The finding's compensating_controls, through the generated class
      // (Reflection's FieldSize alone cost ~200 instructions) and each
      // control's deterministic bytes.
      kControls,
      kNode
    };
    Read read = Read::kNode;
    // With an accessor read: the node's accessors, and whether the field's
    // parent message is the previous item's (items are sorted by path, so
    // that BuildKey() walks to each parent once).
    const expr::FieldAccessor* accessors = nullptr;
    uint8_t hops = 0;
    bool same_parent = false;
    // Set on the first of a run of items that all read below one
    // sub-message field of the finding (vulnerability.*, malware.*):
    // that field's accessor, and the index one past the run. When the
    // finding does not have that sub-message, every item of the run reads
    // its default instance and so has one value per policy: BuildKey()
    // writes a 0 byte for the whole run instead of reading each item (a
    // 1 byte, then the items, when it has it). Findings of one kind leave
    // most sub-messages out.
    const expr::FieldAccessor* group = nullptr;
    uint32_t group_end = 0;
  };
  // False when the core reads a fact that is unique per finding (the
  // finding's id): a cache would never hit and only cost.
  bool enabled = false;
  std::vector<Item> items;
  // The same facts split for BuildKeyAndId(): the fields the decision
  // id's walk of the finding writes into the key (every item read through
  // accessors down singular fields of finding.proto's messages, and the
  // compensating controls), and the other items (maps, repeated fields,
  // lists: read as BuildKey() reads them, without runs or shared parents).
  internal::FindingKeyFields walk;
  std::vector<Item> rest;
  // `now`, i.e. EvalOptions.as_of. Not in the key: an entry records
  // whether computing it read `now` (core_cache.h).
  bool reads_now = false;
  // intel.stale, intel.kev_age, intel.epss_age.
  bool reads_intel_stale = false;
  bool reads_kev_age = false;
  bool reads_epss_age = false;
  // Slots the core may resolve, and the expressions it runs, for the
  // description below.
  std::vector<int> slots;
  // Process-wide unique id of the compiled policy: cached cores are keyed
  // on it, so a reloaded policy never sees the previous one's entries.
  uint64_t policy_id = 0;

  // "asset.exposure, vulnerability.cve_id (== 2 constants), now, ..."
  std::string Describe() const;
  // The key of the finding `frame` evaluates: the policy id, then every
  // item's value (or constant index), then the intel values the core
  // reads. Equal keys mean equal cores, at one as_of.
  // Returns the key, a view of `*buffer` (reused: it grows to the largest
  // key and stays).
  absl::string_view BuildKey(expr::Frame& frame, const EvalOptions& options,
                             std::string* buffer) const;
  // The same key in another form, written with the decision id's hash
  // (`*id`, for `ref` at options.as_of) in one walk of the finding: the
  // policy id, then `walk`'s facts in the schema's order, then `rest`'s,
  // then the intel values. A finding with unknown fields gets BuildKey()'s
  // key (a leading byte keeps the two forms apart). `ref` is the policy's
  // and `frame` evaluates `finding`.
  absl::string_view BuildKeyAndId(expr::Frame& frame,
                                  const EvalOptions& options,
                                  const v1::PolicyRef& ref,
                                  const v1::Finding& finding,
                                  internal::Xxh3Hash128* id,
                                  std::string* buffer) const;
};

struct EvaluationMemo::Data {
  std::vector<expr::Value> values;
  std::vector<char> done;
  // EvaluationMemo::core_key(); kept in place, so its buffer is reused.
  std::string core_key;
};

class CompiledPolicyImpl {
 public:
  absl::Status Evaluate(const v1::Finding& finding, const EvalOptions& options,
                        v1::Decision* decision, EvaluationMemo* memo) const;
  absl::Status DecideTreatment(const v1::Finding& finding,
                               const EvalOptions& options,
                               TreatmentOutcome* outcome,
                               const EvaluationMemo* base,
                               uint32_t changed) const;

  // Computes slot_facts once the slots are compiled (slot_facts.cc).
  void ComputeSlotFacts();
  // Computes core_projection once everything is compiled
  // (core_projection.cc).
  void ComputeCoreProjection();
  // Whether `program`'s value is a function of the core key (and `now`,
  // which an entry that read it pins): it reads no `now` of its own, only
  // root fields the key holds (a field keyed as "which constant it
  // equals" only where the program compares it with those constants) and
  // slots the core may resolve or lets that read only such facts
  // (core_projection.cc).
  bool KeyDetermines(const expr::Program& program) const;
  // The same for one node of a program, evaluated on its own (`node`
  // must not read a comprehension's variable of an enclosing node).
  bool KeyDetermines(const expr::Node& node) const;
  // Renders the per-priority and per-rule text of decisions once the
  // rules and priorities are compiled (policy_compiler.cc).
  void ComputeTexts();

  v1::Policy policy;
  v1::PolicyRef ref;
  std::vector<CompiledPriority> priorities;
  std::vector<Slot> slots;
  // FactBits each slot depends on, directly or through other slots.
  std::vector<uint32_t> slot_facts;
  std::vector<CompiledTable> tables;
  std::vector<int> table_slots;  // Slot of each table.
  int inherent_slot = -1;
  int residual_slot = -1;
  std::vector<CompiledRule> rules;
  CompiledRule default_rule;
  std::vector<CompiledException> exceptions;
  std::vector<CompiledAction> actions;
  CoreProjection core_projection;
  // How many placeholders of the rules' reasons and the actions' texts
  // read only what the core key holds (KeyDetermines): numbered by
  // TextTemplate::NumberKeptParts(), rendered once per core cache entry
  // (CoreEntry::template_text).
  int kept_template_parts = 0;
};

}  // namespace treatd

#endif  // TREATD_COMMON_POLICY_ENGINE_COMPILED_POLICY_IMPL_H_
