#include "common/expr/runtime/program.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace treatd::expr {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// Reads a Timestamp or Duration message field without going through its
// generated class, so that any message implementation works.
void ReadSecondsNanos(const Message& m, int64_t* seconds, int32_t* nanos) {
  const auto* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  *seconds = r->GetInt64(m, d->field(0));
  *nanos = r->GetInt32(m, d->field(1));
}

// The reflection of `node.path[hop]`'s message `m`: cached when the type
// has generated code.
const Reflection* ReflectionAt(const Node& node, size_t hop, const Message& m) {
  return node.reflections.empty() ? m.GetReflection() : node.reflections[hop];
}

// The typed accessor of `node.path[hop]`, or null.
const FieldAccessor* AccessorAt(const Node& node, size_t hop) {
  return node.accessors.empty() ? nullptr : &node.accessors[hop];
}

Value ReadField(const Node& node, const Message& m) {
  const FieldDescriptor* field = node.path.back();
  if (const FieldAccessor* a = AccessorAt(node, node.path.size() - 1)) {
    if (a->scalar != nullptr) return a->scalar(m);
    if (a->enum_number != nullptr) {
      return Value::Enum(a->enum_number(m), node.enum_type);
    }
  }
  const Reflection* r = ReflectionAt(node, node.path.size() - 1, m);
  if (field->is_repeated()) return Value::RepeatedField(&m, field);
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return Value::Bool(r->GetBool(m, field));
    case FieldDescriptor::CPPTYPE_INT32:
      return Value::Int(r->GetInt32(m, field));
    case FieldDescriptor::CPPTYPE_INT64:
      return Value::Int(r->GetInt64(m, field));
    case FieldDescriptor::CPPTYPE_UINT32:
      return Value::Int(r->GetUInt32(m, field));
    case FieldDescriptor::CPPTYPE_UINT64:
      return Value::Int(static_cast<int64_t>(r->GetUInt64(m, field)));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return Value::Double(r->GetFloat(m, field));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Value::Double(r->GetDouble(m, field));
    case FieldDescriptor::CPPTYPE_ENUM:
      return Value::Enum(r->GetEnumValue(m, field), node.enum_type);
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = r->GetStringReference(m, field, &scratch);
      if (&s == &scratch) {
        return Value::Error("unsupported string representation");
      }
      return Value::String(s);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const FieldAccessor* a = AccessorAt(node, node.path.size() - 1);
      const Message& sub = a != nullptr && a->message != nullptr
                               ? a->message(m)
                               : r->GetMessage(m, field);
      const auto* type = field->message_type();
      // descriptor() runs a once-check on every call; this path is hot.
      static const auto* const kTimestamp =
          google::protobuf::Timestamp::descriptor();
      static const auto* const kDuration =
          google::protobuf::Duration::descriptor();
      if (type == kTimestamp || type == kDuration) {
        int64_t seconds = 0;
        int32_t nanos = 0;
        if (node.reflections.empty()) {
          ReadSecondsNanos(sub, &seconds, &nanos);
        } else if (type == kTimestamp) {
          // A generated parent holds the generated well-known type.
          const auto& t = static_cast<const google::protobuf::Timestamp&>(sub);
          seconds = t.seconds();
          nanos = t.nanos();
        } else {
          const auto& t = static_cast<const google::protobuf::Duration&>(sub);
          seconds = t.seconds();
          nanos = t.nanos();
        }
        const absl::Duration d =
            absl::Seconds(seconds) + absl::Nanoseconds(nanos);
        if (type == kDuration) {
          return Value::Duration(d);
        }
        return Value::Timestamp(absl::UnixEpoch() + d);
      }
      return Value::Message(&sub);
    }
  }
  return Value::Error("unsupported field type");
}

// Walks all but the last field of `node.path` from the message the node
// starts at. Returns null and sets `*error` when the base failed.
const Message* WalkToParent(const Node& node, Frame& frame, Value* error) {
  const Message* m = frame.root();
  if (!node.kids.empty()) {
    Value base = EvaluateNode(*node.kids[0], frame);
    if (base.kind() != ValueKind::kMessage) {
      *error = base.is_error() ? base : Value::Error("not a message");
      return nullptr;
    }
    m = base.message();
  }
  for (size_t i = 0; i + 1 < node.path.size(); ++i) {
    const FieldAccessor* a = AccessorAt(node, i);
    m = a != nullptr && a->message != nullptr
            ? &a->message(*m)
            : &ReflectionAt(node, i, *m)->GetMessage(*m, node.path[i]);
  }
  return m;
}

void PrepareNode(Node& node) {
  if ((node.op == Op::kField || node.op == Op::kHas) && !node.path.empty()) {
    auto* factory = google::protobuf::MessageFactory::generated_factory();
    for (const FieldDescriptor* field : node.path) {
      const Message* prototype =
          factory->GetPrototype(field->containing_type());
      if (prototype == nullptr) {
        node.reflections.clear();
        break;
      }
      node.reflections.push_back(prototype->GetReflection());
    }
    if (node.path.back()->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      node.enum_type = node.path.back()->enum_type();
    }
  }
  for (auto& kid : node.kids) PrepareNode(*kid);
}

bool Equal(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) {
    const bool numeric =
        (a.kind() == ValueKind::kInt || a.kind() == ValueKind::kDouble) &&
        (b.kind() == ValueKind::kInt || b.kind() == ValueKind::kDouble);
    return numeric && a.AsDouble() == b.AsDouble();
  }
  switch (a.kind()) {
    case ValueKind::kBool:
      return a.bool_value() == b.bool_value();
    case ValueKind::kInt:
      return a.int_value() == b.int_value();
    case ValueKind::kDouble:
      return a.double_value() == b.double_value();
    case ValueKind::kString:
      return a.string_value() == b.string_value();
    case ValueKind::kDuration:
      return a.duration_value() == b.duration_value();
    case ValueKind::kTimestamp:
      return a.timestamp_value() == b.timestamp_value();
    case ValueKind::kEnum:
      return a.enum_number() == b.enum_number();
    default:
      return false;
  }
}

// -1, 0, 1; `*unordered` for NaN.
int Compare(const Value& a, const Value& b, bool as_double, bool* unordered) {
  *unordered = false;
  auto sign = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  if (as_double || a.kind() == ValueKind::kDouble) {
    const double x = a.AsDouble();
    const double y = b.AsDouble();
    if (std::isnan(x) || std::isnan(y)) {
      *unordered = true;
      return 0;
    }
    return sign(x, y);
  }
  switch (a.kind()) {
    case ValueKind::kBool:
      return sign(a.bool_value(), b.bool_value());
    case ValueKind::kInt:
      return sign(a.int_value(), b.int_value());
    case ValueKind::kString:
      return sign(a.string_value(), b.string_value());
    case ValueKind::kDuration:
      return sign(a.duration_value(), b.duration_value());
    case ValueKind::kTimestamp:
      return sign(a.timestamp_value(), b.timestamp_value());
    case ValueKind::kEnum:
      return sign(a.enum_number(), b.enum_number());
    default:
      *unordered = true;
      return 0;
  }
}

Value TimeResult(absl::Time t, Frame& frame) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast() ||
      t < absl::FromUnixSeconds(-62135596800) ||  // 0001-01-01
      t > absl::FromUnixSeconds(253402300799)) {  // 9999-12-31
    return frame.Error("timestamp out of range");
  }
  return Value::Timestamp(t);
}

Value DurationResult(absl::Duration d, Frame& frame) {
  if (d == absl::InfiniteDuration() || d == -absl::InfiniteDuration()) {
    return frame.Error("duration out of range");
  }
  return Value::Duration(d);
}

Value Arithmetic(Op op, bool as_double, const Value& a, const Value& b,
                 Frame& frame) {
  const ValueKind ka = a.kind();
  const ValueKind kb = b.kind();
  if (as_double || (ka == ValueKind::kDouble && kb == ValueKind::kDouble)) {
    const double x = a.AsDouble();
    const double y = b.AsDouble();
    switch (op) {
      case Op::kAdd:
        return Value::Double(x + y);
      case Op::kSub:
        return Value::Double(x - y);
      case Op::kMul:
        return Value::Double(x * y);
      case Op::kDiv:
        return Value::Double(x / y);
      default:
        break;
    }
    return frame.Error("invalid double operation");
  }
  if (ka == ValueKind::kInt && kb == ValueKind::kInt) {
    const int64_t x = a.int_value();
    const int64_t y = b.int_value();
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
      case Op::kAdd:
        overflow = __builtin_add_overflow(x, y, &r);
        break;
      case Op::kSub:
        overflow = __builtin_sub_overflow(x, y, &r);
        break;
      case Op::kMul:
        overflow = __builtin_mul_overflow(x, y, &r);
        break;
      case Op::kDiv:
      case Op::kMod:
        if (y == 0) {
          return Value::Error(op == Op::kDiv ? "division by zero"
                                             : "modulus by zero");
        }
        if (x == std::numeric_limits<int64_t>::min() && y == -1) {
          overflow = true;
          break;
        }
        r = op == Op::kDiv ? x / y : x % y;
        break;
      default:
        return frame.Error("invalid int operation");
    }
    if (overflow) return Value::Error("integer overflow");
    return Value::Int(r);
  }
  if (ka == ValueKind::kString && kb == ValueKind::kString) {
    return Value::String(
        frame.Keep(absl::StrCat(a.string_value(), b.string_value())));
  }
  const bool add = op == Op::kAdd;
  if (ka == ValueKind::kTimestamp && kb == ValueKind::kDuration) {
    return TimeResult(add ? a.timestamp_value() + b.duration_value()
                          : a.timestamp_value() - b.duration_value(),
                      frame);
  }
  if (ka == ValueKind::kDuration && kb == ValueKind::kTimestamp && add) {
    return TimeResult(b.timestamp_value() + a.duration_value(), frame);
  }
  if (ka == ValueKind::kTimestamp && kb == ValueKind::kTimestamp && !add) {
    return DurationResult(a.timestamp_value() - b.timestamp_value(), frame);
  }
  if (ka == ValueKind::kDuration && kb == ValueKind::kDuration) {
    return DurationResult(add ? a.duration_value() + b.duration_value()
                              : a.duration_value() - b.duration_value(),
                          frame);
  }
  return frame.Error("unsupported operand types");
}

Value EvalMacro(const Node& node, Frame& frame) {
  const Value list = EvaluateNode(*node.kids[0], frame);
  if (list.is_error()) return list;
  const bool exists = node.op == Op::kExists;
  Value first_error;
  bool saw_error = false;
  const size_t n = list.ListSize();
  for (size_t i = 0; i < n; ++i) {
    frame.local(node.index) = list.ListElement(i);
    const Value v = EvaluateNode(*node.kids[1], frame);
    if (v.is_error()) {
      if (!saw_error) first_error = v;
      saw_error = true;
      continue;
    }
    // exists: any true decides; all: any false decides, even if other
    // elements failed (CEL's commutative error semantics).
    if (v.bool_value() == exists) return Value::Bool(exists);
  }
  if (saw_error) return first_error;
  return Value::Bool(!exists);
}

Value Convert(const Node& node, const Value& v, Frame& frame) {
  switch (node.op) {
    case Op::kToInt:
      switch (v.kind()) {
        case ValueKind::kInt:
          return v;
        case ValueKind::kDouble: {
          const double d = v.double_value();
          // 2^63 is exactly representable; anything at or beyond it (and
          // NaN) does not fit.
          if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) {
            return frame.Error(
                absl::StrCat("double ", d, " does not fit in an int"));
          }
          return Value::Int(static_cast<int64_t>(d));
        }
        case ValueKind::kString: {
          int64_t i = 0;
          if (!absl::SimpleAtoi(v.string_value(), &i)) {
            return frame.Error(absl::StrCat("cannot convert \"",
                                            v.string_value(), "\" to int"));
          }
          return Value::Int(i);
        }
        case ValueKind::kEnum:
          return Value::Int(v.enum_number());
        case ValueKind::kTimestamp:
          return Value::Int(absl::ToUnixSeconds(v.timestamp_value()));
        default:
          break;
      }
      break;
    case Op::kToDouble:
      switch (v.kind()) {
        case ValueKind::kInt:
        case ValueKind::kDouble:
          return Value::Double(v.AsDouble());
        case ValueKind::kString: {
          double d = 0;
          if (!absl::SimpleAtod(v.string_value(), &d)) {
            return frame.Error(absl::StrCat("cannot convert \"",
                                            v.string_value(), "\" to double"));
          }
          return Value::Double(d);
        }
        default:
          break;
      }
      break;
    case Op::kToString:
      if (v.kind() == ValueKind::kString) return v;
      return Value::String(frame.Keep(ValueToString(v)));
    default:
      break;
  }
  return frame.Error("unsupported conversion");
}

Value CompareResult(Op op, int c) {
  switch (op) {
    case Op::kLt:
      return Value::Bool(c < 0);
    case Op::kLe:
      return Value::Bool(c <= 0);
    case Op::kGt:
      return Value::Bool(c > 0);
    default:
      return Value::Bool(c >= 0);
  }
}

// The operations Combine() runs.
bool IsCombining(Op op) {
  switch (op) {
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
      return true;
    default:
      return false;
  }
}

// The operations both evaluators (the tree's EvaluateNode and the array
// form's Program::Run) run, written once: `kid(i)` evaluates the
// operation's i-th operand however the caller evaluates.
template <typename Kid>
Value Combine(Op op, bool as_double, const Kid& kid, Frame& frame) {
  switch (op) {
    case Op::kNot: {
      Value v = kid(0);
      return v.is_error() ? v : Value::Bool(!v.bool_value());
    }
    case Op::kAnd:
    case Op::kOr: {
      // Short-circuit, and an error on one side yields to a deciding value
      // on the other (false for &&, true for ||), as in CEL.
      const bool decisive = op == Op::kOr;
      Value a = kid(0);
      if (!a.is_error() && a.bool_value() == decisive) return a;
      Value b = kid(1);
      if (!b.is_error() && b.bool_value() == decisive) return b;
      if (a.is_error()) return a;
      return b;
    }
    case Op::kCond: {
      Value c = kid(0);
      if (c.is_error()) return c;
      Value v = kid(c.bool_value() ? 1 : 2);
      if (as_double && v.kind() == ValueKind::kInt) {
        return Value::Double(v.AsDouble());
      }
      return v;
    }
    case Op::kEq:
    case Op::kNe: {
      Value a = kid(0);
      if (a.is_error()) return a;
      Value b = kid(1);
      if (b.is_error()) return b;
      return Value::Bool(Equal(a, b) == (op == Op::kEq));
    }
    case Op::kLt:
    case Op::kLe:
    case Op::kGt:
    case Op::kGe: {
      Value a = kid(0);
      if (a.is_error()) return a;
      Value b = kid(1);
      if (b.is_error()) return b;
      bool unordered = false;
      const int c = Compare(a, b, as_double, &unordered);
      if (unordered) return Value::Bool(false);
      return CompareResult(op, c);
    }
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kMod: {
      Value a = kid(0);
      if (a.is_error()) return a;
      Value b = kid(1);
      if (b.is_error()) return b;
      return Arithmetic(op, as_double, a, b, frame);
    }
    case Op::kInList: {
      Value x = kid(0);
      if (x.is_error()) return x;
      Value list = kid(1);
      if (list.is_error()) return list;
      const size_t n = list.ListSize();
      for (size_t i = 0; i < n; ++i) {
        if (Equal(x, list.ListElement(i))) return Value::Bool(true);
      }
      return Value::Bool(false);
    }
    case Op::kStartsWith:
    case Op::kEndsWith:
    case Op::kContains: {
      Value s = kid(0);
      if (s.is_error()) return s;
      Value p = kid(1);
      if (p.is_error()) return p;
      if (op == Op::kStartsWith) {
        return Value::Bool(
            absl::StartsWith(s.string_value(), p.string_value()));
      }
      if (op == Op::kEndsWith) {
        return Value::Bool(absl::EndsWith(s.string_value(), p.string_value()));
      }
      return Value::Bool(absl::StrContains(s.string_value(), p.string_value()));
    }
    default:
      break;
  }
  return frame.Error("not a combining operation");
}

}  // namespace

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
      return Value::Bool(map.map()->find(std::string_view(
                             key.string_value().data(),
                             key.string_value().size())) != map.map()->end());
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
      auto it = map.map()->find(std::string_view(key.string_value().data(),
                                                 key.string_value().size()));
      if (it == map.map()->end()) {
        return frame.Error(
            absl::StrCat("no key \"", key.string_value(), "\" in map"));
      }
      return Value::String(it->second);
    }
    case Op::kSize: {
      Value v = EvaluateNode(*node.kids[0], frame);
      switch (v.kind()) {
        case ValueKind::kString:
          return Value::Int(static_cast<int64_t>(v.string_value().size()));
        case ValueKind::kList:
          return Value::Int(static_cast<int64_t>(v.ListSize()));
        case ValueKind::kMap:
          return Value::Int(static_cast<int64_t>(v.map()->size()));
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
      return EvalMacro(node, frame);
    case Op::kToInt:
    case Op::kToDouble:
    case Op::kToString: {
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

namespace {

void CollectConjuncts(const Node& node,
                      absl::InlinedVector<const Node*, 8>* out) {
  if (node.op == Op::kAnd) {
    CollectConjuncts(*node.kids[0], out);
    CollectConjuncts(*node.kids[1], out);
  } else {
    out->push_back(&node);
  }
}

// Long lists or messages would drown the sentence; the start is enough.
void AppendShortened(const Value& v, std::string* out) {
  constexpr size_t kMax = 160;
  const size_t start = out->size();
  AppendValue(v, /*quote_strings=*/true, out);
  if (out->size() - start > kMax) {
    out->resize(start + kMax);
    out->append("...");
  }
}

}  // namespace

Value Program::EvaluateAny(const Node& node, Frame& frame) const {
  return node.code_index >= 0 ? Run(node.code_index, frame)
                              : EvaluateNode(node, frame);
}

std::string Program::ExplainNotTrue(Frame& frame) const {
  std::string out;
  ExplainNotTrue(frame, &out);
  return out;
}

void Program::ExplainNotTrue(Frame& frame, std::string* out) const {
  absl::InlinedVector<const Node*, 8> conjuncts;
  CollectConjuncts(*root_, &conjuncts);
  // The first conjunct that is not true is the culprit. Only when there is
  // none (which a root that is not true rules out) is it the whole
  // expression.
  const Node* culprit = nullptr;
  Value culprit_value;
  for (const Node* c : conjuncts) {
    Value v = EvaluateAny(*c, frame);
    if (v.is_error() || !v.bool_value()) {
      culprit = c;
      culprit_value = v;
      break;
    }
  }
  if (culprit == nullptr) {
    culprit = root_.get();
    culprit_value = EvaluateAny(*root_, frame);
  }
  out->clear();
  out->push_back('`');
  const absl::string_view text = Text(*culprit);
  out->append(text.data(), text.size());
  out->push_back('`');
  if (culprit_value.is_error()) {
    absl::StrAppend(out, " failed: ", culprit_value.error());
  } else {
    out->append(" is ");
    AppendValue(culprit_value, /*quote_strings=*/true, out);
  }
  // Operands that are not literals show what the finding held.
  bool first = true;
  const bool is_macro = culprit->op == Op::kExists || culprit->op == Op::kAll;
  for (size_t i = 0; i < culprit->kids.size(); ++i) {
    const Node& kid = *culprit->kids[i];
    if (kid.op == Op::kConst || (is_macro && i > 0)) continue;
    Value v = EvaluateAny(kid, frame);
    absl::StrAppend(out, first ? ": " : ", ", Text(kid));
    first = false;
    if (v.is_error()) {
      absl::StrAppend(out, " failed: ", v.error());
    } else {
      out->append(" is ");
      AppendShortened(v, out);
    }
  }
}

}  // namespace treatd::expr
