// The tree evaluator: EvaluateNode() runs any node of a checked
// expression. Program::Run() (program.cc) runs the common operations from
// a flat array and falls back to this for the rest.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/expr/runtime/field_access.h"
#include "common/expr/runtime/operations.h"
#include "common/expr/runtime/program.h"

namespace treatd::expr {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using internal::AccessorAt;
using internal::Arithmetic;
using internal::Combine;
using internal::Compare;
using internal::Convert;
using internal::DurationResult;
using internal::Equal;
using internal::EvalMacro;
using internal::ReadField;
using internal::ReflectionAt;
using internal::TimeResult;
using internal::WalkToParent;

Value EvaluateNode(const Node& node, Frame& frame) {
  switch (node.op) {
    case Op::kConst:
      return node.constant;
    case Op::kList: {
      std::vector<Value> items;
      items.reserve(node.kids.size());
      for (const auto& kid : node.kids) {
        Value v = EvaluateNode(*kid, frame);
        if (v.is_error()) return v;
        items.push_back(v);
      }
      const size_t n = items.size();
      return Value::Array(frame.KeepValues(std::move(items)), n);
    }
    case Op::kMap: {
      std::vector<Value> entries;
      entries.reserve(node.kids.size());
      for (size_t i = 0; i < node.kids.size(); i += 2) {
        const Value key = EvaluateNode(*node.kids[i], frame);
        if (key.is_error()) return key;
        const Value value = EvaluateNode(*node.kids[i + 1], frame);
        if (value.is_error()) return value;
        for (size_t j = 0; j < entries.size(); j += 2) {
          if (Equal(entries[j], key)) {
            return frame.Error(
                absl::StrCat("duplicate map key ",
                             ValueToString(key, /*quote_strings=*/true)));
          }
        }
        entries.push_back(key);
        entries.push_back(value);
      }
      const size_t n = entries.size() / 2;
      return Value::Entries(frame.KeepValues(std::move(entries)), n);
    }
    case Op::kField: {
      Value error;
      const Message* parent = WalkToParent(node, frame, &error);
      if (parent == nullptr) return error;
      if (node.map_getter != nullptr) {
        return Value::Map(node.map_getter(*parent));
      }
      return ReadField(node, *parent);
    }
    case Op::kHas: {
      Value error;
      const Message* parent = WalkToParent(node, frame, &error);
      if (parent == nullptr) return error;
      const FieldAccessor* a = AccessorAt(node, node.path.size() - 1);
      if (a != nullptr && a->has != nullptr)
        return Value::Bool(a->has(*parent));
      const FieldDescriptor* field = node.path.back();
      const Reflection* r = ReflectionAt(node, node.path.size() - 1, *parent);
      // For proto3 scalars without presence HasField() means "not the
      // default value", which is exactly the documented has() semantics.
      return Value::Bool(field->is_repeated() ? r->FieldSize(*parent, field) > 0
                                              : r->HasField(*parent, field));
    }
    case Op::kNow:
      return frame.now();
    case Op::kSlot:
      return frame.slots()->Resolve(node.index, frame);
    case Op::kLocal:
      return frame.local(node.index);
    case Op::kNot:
    case Op::kAnd:
    case Op::kOr:
    case Op::kCond:
    case Op::kEq:
    case Op::kNe:
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe:
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMod:
    case Op::kInList:
    case Op::kStartsWith:
    case Op::kEndsWith:
    case Op::kContains:
      return Combine(
          node.op, node.as_double,
          [&](int i) { return EvaluateNode(*node.kids[i], frame); }, frame);
    case Op::kNeg: {
      Value v = EvaluateNode(*node.kids[0], frame);
      switch (v.kind()) {
        case ValueKind::kInt:
          if (v.int_value() == std::numeric_limits<int64_t>::min()) {
            return Value::Error("integer overflow");
          }
          return Value::Int(-v.int_value());
        case ValueKind::kDouble:
          return Value::Double(-v.double_value());
        case ValueKind::kDuration:
          return Value::Duration(-v.duration_value());
        default:
          return v;
      }
    }
    case Op::kInMap: {
      Value key = EvaluateNode(*node.kids[0], frame);
      if (key.is_error()) return key;
      Value map = EvaluateNode(*node.kids[1], frame);
      if (map.is_error()) return map;
      Value unused;
      return Value::Bool(map.MapFind(key, &unused));
    }
    case Op::kIndexList: {
      Value list = EvaluateNode(*node.kids[0], frame);
      if (list.is_error()) return list;
      Value index = EvaluateNode(*node.kids[1], frame);
      if (index.is_error()) return index;
      const size_t n = list.ListSize();
      const int64_t i = index.int_value();
      if (i < 0 || static_cast<uint64_t>(i) >= n) {
        return frame.Error(
            absl::StrCat("index ", i, " out of range for a list of size ", n));
      }
      return list.ListElement(static_cast<size_t>(i));
    }
    case Op::kIndexMap: {
      Value map = EvaluateNode(*node.kids[0], frame);
      if (map.is_error()) return map;
      Value key = EvaluateNode(*node.kids[1], frame);
      if (key.is_error()) return key;
      Value value;
      if (!map.MapFind(key, &value)) {
        return frame.Error(absl::StrCat(
            "no key ", ValueToString(key, /*quote_strings=*/true), " in map"));
      }
      return value;
    }
    case Op::kSize: {
      Value v = EvaluateNode(*node.kids[0], frame);
      switch (v.kind()) {
        case ValueKind::kString: {
          // CEL counts code points: every byte but UTF-8 continuation
          // bytes starts one.
          int64_t n = 0;
          for (const char c : v.string_value()) {
            n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
          }
          return Value::Int(n);
        }
        case ValueKind::kList:
          return Value::Int(static_cast<int64_t>(v.ListSize()));
        case ValueKind::kMap:
          return Value::Int(static_cast<int64_t>(v.MapSize()));
        default:
          return v;
      }
    }
    case Op::kMatches: {
      Value s = EvaluateNode(*node.kids[0], frame);
      if (s.is_error()) return s;
      const absl::string_view text = s.string_value();
      return Value::Bool(RE2::PartialMatch(
          re2::StringPiece(text.data(), text.size()), *node.regex));
    }
    case Op::kExists:
    case Op::kAll:
    case Op::kExistsOne:
      return EvalMacro(node, frame);
    case Op::kTypeOf: {
      Value v = EvaluateNode(*node.kids[0], frame);
      return v.is_error() ? v : node.constant;
    }
    case Op::kToInt:
    case Op::kToDouble:
    case Op::kToString:
    case Op::kToBool: {
      Value v = EvaluateNode(*node.kids[0], frame);
      if (v.is_error()) return v;
      return Convert(node, v, frame);
    }
    case Op::kMin:
    case Op::kMax: {
      Value a = EvaluateNode(*node.kids[0], frame);
      if (a.is_error()) return a;
      Value b = EvaluateNode(*node.kids[1], frame);
      if (b.is_error()) return b;
      bool unordered = false;
      const int c = Compare(a, b, node.as_double, &unordered);
      if (unordered) return Value::Double(std::nan(""));
      const bool pick_a = node.op == Op::kMin ? c <= 0 : c >= 0;
      const Value& r = pick_a ? a : b;
      return node.as_double ? Value::Double(r.AsDouble()) : r;
    }
  }
  return Value::Error("unknown operation");
}

}  // namespace treatd::expr
