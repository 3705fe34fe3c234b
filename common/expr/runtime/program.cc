// The array form of a Program: Emit() lays the tree out as a flat array of
// instructions in preorder, Run() evaluates it (fusing "field op
// constant" comparisons), falling back to the tree evaluator
// (tree_evaluator.cc) for what it does not run itself. Explanations are in
// explain.cc.
#include "common/expr/runtime/program.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/expr/runtime/field_access.h"
#include "common/expr/runtime/operations.h"

namespace treatd::expr {

using google::protobuf::Message;
using internal::Combine;
using internal::Compare;
using internal::CompareResult;
using internal::Equal;
using internal::IsCombining;
using internal::PrepareNode;

Program::Program(std::string source, std::unique_ptr<Node> root,
                 std::vector<int> slot_refs)
    : source_(std::move(source)),
      root_(std::move(root)),
      slot_refs_(std::move(slot_refs)) {
  PrepareNode(*root_);
  Emit(*root_);
}

namespace {

// Whether `node` can be read through typed accessors alone: every hop but
// the last reaches a sub-message, the last reads a scalar or an enum.
bool IsFastField(const Node& node) {
  if (node.op != Op::kField || node.map_getter != nullptr ||
      node.path.empty() || node.accessors.size() != node.path.size() ||
      node.path.size() > 255) {
    return false;
  }
  for (size_t i = 0; i + 1 < node.accessors.size(); ++i) {
    if (node.accessors[i].message == nullptr) return false;
  }
  const FieldAccessor& last = node.accessors.back();
  return last.scalar != nullptr ||
         (last.enum_number != nullptr && node.enum_type != nullptr);
}

}  // namespace

int32_t Program::Emit(const Node& node) {
  const auto at = static_cast<int32_t>(code_.size());
  // The tree is the Program's own; only this index is written into it.
  const_cast<Node&>(node).code_index = at;
  code_.emplace_back();
  {
    Instr& in = code_.back();
    in.op = node.op;
    in.as_double = node.as_double;
    in.index = node.index;
    in.node = &node;
    in.constant = node.constant;
    in.fast_field = IsFastField(node);
    in.hops = in.fast_field ? static_cast<uint8_t>(node.path.size()) : 0;
  }
  // Ops the array form runs itself need their kids in it; the others
  // evaluate their whole subtree from the tree.
  if (node.op == Op::kField ? !code_[at].fast_field : !IsCombining(node.op)) {
    return at;
  }
  if (node.kids.size() > 3) return at;
  for (size_t i = 0; i < node.kids.size(); ++i) {
    const int32_t kid = Emit(*node.kids[i]);
    code_[at].kid[i] = kid;
  }
  switch (node.op) {
    case Op::kEq:
    case Op::kNe:
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe:
      code_[at].field_vs_const = code_[code_[at].kid[0]].fast_field &&
                                 code_[code_[at].kid[0]].kid[0] < 0 &&
                                 code_[code_[at].kid[1]].op == Op::kConst;
      break;
    default:
      break;
  }
  return at;
}

namespace {

// Reads a fast_field instruction's field from `m`, its base message.
// TextTemplate::RenderParts has its own copy (see there for why).
inline Value ReadFastField(const Instr& in, const Message* m) {
  const FieldAccessor* a = in.node->accessors.data();
  for (int i = 0; i + 1 < in.hops; ++i) m = &a[i].message(*m);
  const FieldAccessor& last = a[in.hops - 1];
  if (last.scalar != nullptr) return last.scalar(*m);
  return Value::Enum(last.enum_number(*m), in.node->enum_type);
}

}  // namespace

// The array form of EvaluateNode() for the operations most policies spend
// their time in; same semantics, case for case. Anything else runs on the
// tree.
Value Program::Run(int32_t at, Frame& frame) const {
  const Instr& in = code_[at];
  switch (in.op) {
    case Op::kConst:
      return in.constant;
    case Op::kSlot:
      if (frame.memo_done() != nullptr && frame.memo_done()[in.index]) {
        return frame.memo_values()[in.index];
      }
      return frame.slots()->Resolve(in.index, frame);
    case Op::kLocal:
      return frame.local(in.index);
    case Op::kNow:
      return frame.now();
    case Op::kField: {
      if (!in.fast_field) break;
      const Message* m = frame.root();
      if (in.kid[0] >= 0) {
        const Value base = Run(in.kid[0], frame);
        if (base.kind() != ValueKind::kMessage) {
          return base.is_error() ? base : Value::Error("not a message");
        }
        m = base.message();
      }
      return ReadFastField(in, m);
    }
    case Op::kEq:
    case Op::kNe:
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      if (!in.field_vs_const) break;
      // The fused form of Combine's comparisons: the field and the
      // constant are read in place.
      const Value a = ReadFastField(code_[in.kid[0]], frame.root());
      const Value& b = code_[in.kid[1]].constant;
      if (in.op == Op::kEq || in.op == Op::kNe) {
        return Value::Bool(Equal(a, b) == (in.op == Op::kEq));
      }
      bool unordered = false;
      const int c = Compare(a, b, in.as_double, &unordered);
      if (unordered) return Value::Bool(false);
      return CompareResult(in.op, c);
    }
    default:
      break;
  }
  if (IsCombining(in.op)) {
    // Emit() put their operands in the array.
    return Combine(
        in.op, in.as_double, [&](int i) { return Run(in.kid[i], frame); },
        frame);
  }
  return EvaluateNode(*in.node, frame);
}

Value Program::Evaluate(Frame& frame) const { return Run(0, frame); }

}  // namespace treatd::expr
