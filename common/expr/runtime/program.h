// A compiled expression: a tree of typed evaluation nodes built by the
// checker, with every name resolved, every field path reduced to cached
// FieldDescriptors, every enum literal turned into its number and every
// regular expression compiled. Evaluating it does not allocate for scalar
// results and never throws; failures come back as error Values.
//
// Thread safety: a Program is immutable after the checker builds it;
// Evaluate() is const and may run on many threads at once, each with its
// own Frame.
#ifndef TREATD_COMMON_EXPR_RUNTIME_PROGRAM_H_
#define TREATD_COMMON_EXPR_RUNTIME_PROGRAM_H_

#include <cstdint>
#include <forward_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/expr/runtime/value.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "re2/re2.h"

namespace treatd::expr {

class Frame;

// Supplies the values of named slots (lets, table outcomes, risk scores)
// that programs reference. The policy engine implements it with per-call
// memoization; the compiler guarantees slots do not depend on themselves.
class SlotResolver {
 public:
  virtual ~SlotResolver() = default;
  // Returns the value of `slot` for the evaluation `frame` belongs to.
  virtual Value Resolve(int slot, Frame& frame) = 0;
};

// Most macro variables (exists/all/exists_one, one or two each) that can be
// in scope at once in one expression.
inline constexpr int kMaxLocals = 8;

// Per-evaluation state: the finding, `now`, slot values and scratch space
// for strings built at run time. One per evaluation and thread.
class Frame {
 public:
  Frame(const google::protobuf::Message* root, absl::Time now,
        SlotResolver* slots)
      : root_(root), now_(Value::Timestamp(now)), slots_(slots) {}
  // The same with `now` as the Value::Timestamp() of the time, for a
  // caller that keeps it across frames of one time (converting costs
  // several calls into Abseil).
  Frame(const google::protobuf::Message* root, const Value& now,
        SlotResolver* slots)
      : root_(root), now_(now), slots_(slots) {}
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  const google::protobuf::Message* root() const { return root_; }
  const Value& now() const {
    now_read_ = true;
    return now_;
  }
  // Whether now() was called since the frame was built or the last
  // forget_now_read(): a caller that reuses results for other times (the
  // policy engine's core cache) learns whether they depend on `now`.
  bool now_read() const { return now_read_; }
  void forget_now_read() { now_read_ = false; }
  SlotResolver* slots() const { return slots_; }
  // Optional view of the resolver's memo: when `done[i]`, `values[i]` is
  // slot i's value and evaluation reads it without calling the resolver.
  // Both arrays must outlive the frame and cover every slot.
  void set_memo(const Value* values, const bool* done) {
    memo_values_ = values;
    memo_done_ = done;
  }
  const Value* memo_values() const { return memo_values_; }
  const bool* memo_done() const { return memo_done_; }
  Value& local(int i) { return locals_[i]; }

  // Keeps `s` alive for the frame's lifetime and returns a view of it.
  absl::string_view Keep(std::string s) {
    scratch_.push_front(std::move(s));
    return scratch_.front();
  }
  // Keeps `items` alive for the frame's lifetime.
  const Value* KeepValues(std::vector<Value> items) {
    value_scratch_.push_front(std::move(items));
    return value_scratch_.front().data();
  }
  // Whether anything was kept in the frame (values may point into it).
  bool used_scratch() const {
    return !scratch_.empty() || !value_scratch_.empty();
  }
  // An error value whose message lives in the frame.
  Value Error(std::string message) {
    return Value::Error(Keep(std::move(message)));
  }

 private:
  const google::protobuf::Message* root_;
  Value now_;
  mutable bool now_read_ = false;
  SlotResolver* slots_;
  const Value* memo_values_ = nullptr;
  const bool* memo_done_ = nullptr;
  Value locals_[kMaxLocals];
  // forward_list allocates nothing until used; most evaluations never
  // build strings at all.
  std::forward_list<std::string> scratch_;
  std::forward_list<std::vector<Value>> value_scratch_;
};

// Typed reads of one field of a generated message class, bypassing
// protobuf Reflection (which looks the field's offset up on every read).
// The environment that knows the generated classes supplies them (see
// Env::AccessorFor); a null member means "use Reflection". Each function
// receives a message of the field's containing type.
struct FieldAccessor {
  // Singular message field: the sub-message, or its default instance when
  // unset.
  const google::protobuf::Message& (*message)(
      const google::protobuf::Message&) = nullptr;
  // Singular bool, integer, floating point or string field: its value.
  Value (*scalar)(const google::protobuf::Message&) = nullptr;
  // Singular enum field: its number.
  int (*enum_number)(const google::protobuf::Message&) = nullptr;
  // Message field or field with explicit presence: whether it is set.
  bool (*has)(const google::protobuf::Message&) = nullptr;
};

// Operations of evaluation nodes.
enum class Op : uint8_t {
  kConst,  // constant
  kList,   // kids: elements (not all constant)
  kMap,    // kids: keys and values in turn (not all constant)
  kField,  // path from root (kids empty) or from kids[0]
  kHas,    // presence of path.back() in the message reached by path
  kNow,
  kSlot,   // index
  kLocal,  // index
  kNot,
  kNeg,
  kAnd,
  kOr,
  kCond,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kInList,
  kInMap,
  kIndexList,
  kIndexMap,
  kSize,
  kStartsWith,
  kEndsWith,
  kContains,
  kMatches,  // regex
  kExists,   // kids: {list or map, predicate}; index (, index2) = locals
  kAll,
  kExistsOne,
  kTypeOf,  // kids: {operand}; constant = its type
  kToInt,
  kToDouble,
  kToString,
  kToBool,
  kMin,
  kMax,
};

struct Node {
  Op op = Op::kConst;
  // For arithmetic and comparisons: compare or compute as doubles because
  // int and double operands were mixed.
  bool as_double = false;
  // The kind of value the node yields (kError when it may yield anything,
  // which the checker never allows for a finished program).
  ValueKind kind = ValueKind::kError;
  int index = 0;
  // kExists, kAll, kExistsOne: the second variable's local (the value of
  // two-variable forms), or -1.
  int index2 = -1;
  // Byte range of the node in the program's source, for explanations.
  int begin = 0;
  int end = 0;
  Value constant;
  // kField / kHas: message fields to walk, then the field to read.
  std::vector<const google::protobuf::FieldDescriptor*> path;
  // kField / kHas: the reflection of the message each hop of `path` reads
  // from, resolved when the Program is built so that evaluation skips the
  // virtual GetReflection() and its descriptor once-check on every hop.
  // Empty when a type on the path has no generated code (evaluation then
  // asks the message).
  std::vector<const google::protobuf::Reflection*> reflections;
  // kField / kHas: typed accessors for each hop of `path`, set by the
  // checker from its environment. Empty when none is known; a hop whose
  // accessor lacks the needed member falls back to `reflections`.
  std::vector<FieldAccessor> accessors;
  // kField reading an enum: the enum type, resolved once for the same
  // reason.
  const google::protobuf::EnumDescriptor* enum_type = nullptr;
  // kField reading a map field: how to reach the map of the generated
  // message (protobuf reflection offers no const map lookup).
  const StringMap* (*map_getter)(const google::protobuf::Message&) = nullptr;
  std::unique_ptr<RE2> regex;
  // Storage behind constant strings and lists.
  std::string constant_text;
  // Position of this node in its Program's array form, or -1 when the
  // array form does not hold it (it is evaluated from the tree then).
  int32_t code_index = -1;
  std::vector<Value> constant_items;
  std::vector<std::unique_ptr<Node>> kids;
};

// One node of a Program's executable form: the tree flattened into one
// array in preorder, 64 bytes a node, so that evaluation walks contiguous
// memory instead of chasing a heap pointer per node. The hot operations
// run from these fields alone; the rest read `node`, the tree node it came
// from.
struct Instr {
  Op op = Op::kConst;
  bool as_double = false;
  // kField read entirely through typed accessors (`node->accessors`), from
  // the root or from kid[0]; `hops` is the path length.
  bool fast_field = false;
  uint8_t hops = 0;
  // A comparison (== != < <= > >=) of a fast_field kid[0] with the
  // constant kid[1]: evaluated without visiting the kids.
  bool field_vs_const = false;
  int32_t index = 0;
  // Positions of the kids in the array; -1 when absent.
  int32_t kid[3] = {-1, -1, -1};
  const Node* node = nullptr;
  Value constant;
};

class Program {
 public:
  // Takes the checked tree and resolves its per-node caches (reflections
  // of field paths).
  Program(std::string source, std::unique_ptr<Node> root,
          std::vector<int> slot_refs);

  // Evaluates the program. Returns its value, or an error Value (index out
  // of range, missing key, division by zero, ...); never crashes.
  Value Evaluate(Frame& frame) const;

  // For a bool program that did not yield true: a sentence saying why, e.g.
  // "`asset.exposure == \"INTERNET\"` is false: asset.exposure is
  // INTERNAL". For an && chain it names the first conjunct that failed.
  std::string ExplainNotTrue(Frame& frame) const;
  // The same sentence written into `*out` (replacing its content), for
  // callers that reuse a string.
  void ExplainNotTrue(Frame& frame, std::string* out) const;

  // The source text.
  const std::string& source() const { return source_; }
  // The text of a node of this program.
  absl::string_view Text(const Node& node) const {
    return absl::string_view(source_).substr(node.begin, node.end - node.begin);
  }
  const Node& root() const { return *root_; }
  ValueKind kind() const { return root_->kind; }
  // Slots this program reads directly, for cycle detection.
  const std::vector<int>& slot_refs() const { return slot_refs_; }
  // The array form, in preorder (for tests: which instructions it holds,
  // e.g. whether a comparison was fused).
  const std::vector<Instr>& code() const { return code_; }
  // True when the program is the literal `true`.
  bool IsConstantTrue() const {
    return root_->op == Op::kConst && root_->kind == ValueKind::kBool &&
           root_->constant.bool_value();
  }

 private:
  // Appends `node` and its subtree to code_ in preorder; returns its
  // position.
  int32_t Emit(const Node& node);
  Value Run(int32_t at, Frame& frame) const;
  // Evaluates `node` from the array form when it is there.
  Value EvaluateAny(const Node& node, Frame& frame) const;

  std::string source_;
  std::unique_ptr<Node> root_;
  std::vector<int> slot_refs_;
  std::vector<Instr> code_;
};

// Evaluates one node. Exposed for the explanation code and tests.
Value EvaluateNode(const Node& node, Frame& frame);

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_RUNTIME_PROGRAM_H_
