#include "common/expr/runtime/operations.h"

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

namespace treatd::expr::internal {

Value TimeResult(absl::Time t, Frame& frame) {
  if (!TimeInRange(t)) return frame.Error("timestamp out of range");
  return Value::Timestamp(t);
}

bool DurationInRange(absl::Duration d) {
  // CEL's durations are int64 nanoseconds: about +-292 years.
  return d >= absl::Nanoseconds(std::numeric_limits<int64_t>::min()) &&
         d <= absl::Nanoseconds(std::numeric_limits<int64_t>::max());
}

bool TimeInRange(absl::Time t) {
  return t >= absl::FromUnixSeconds(-62135596800) &&  // 0001-01-01
         t <= absl::FromUnixSeconds(253402300799);    // 9999-12-31T23:59:59
}

Value DurationResult(absl::Duration d, Frame& frame) {
  if (!DurationInRange(d)) return frame.Error("duration out of range");
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
  if (ka == ValueKind::kList && kb == ValueKind::kList) {
    const size_t na = a.ListSize();
    const size_t nb = b.ListSize();
    std::vector<Value> items;
    items.reserve(na + nb);
    for (size_t i = 0; i < na; ++i) items.push_back(a.ListElement(i));
    for (size_t i = 0; i < nb; ++i) items.push_back(b.ListElement(i));
    return Value::Array(frame.KeepValues(std::move(items)), na + nb);
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

bool AggregateEqual(const Value& a, const Value& b) {
  if (a.kind() == ValueKind::kList) {
    const size_t n = a.ListSize();
    if (b.ListSize() != n) return false;
    for (size_t i = 0; i < n; ++i) {
      if (!Equal(a.ListElement(i), b.ListElement(i))) return false;
    }
    return true;
  }
  if (a.MapSize() != b.MapSize()) return false;
  bool equal = true;
  a.ForEachEntry([&](const Value& key, const Value& value) {
    Value other;
    equal = b.MapFind(key, &other) && Equal(value, other);
    return equal;
  });
  return equal;
}

namespace {

// Calls f(first, second) for each element of a list (index, element) or
// entry of a map (key, value) until f returns false.
template <typename F>
void ForEachItem(const Value& range, const F& f) {
  if (range.kind() == ValueKind::kMap) {
    range.ForEachEntry(f);
    return;
  }
  const size_t n = range.ListSize();
  for (size_t i = 0; i < n; ++i) {
    if (!f(Value::Int(static_cast<int64_t>(i)), range.ListElement(i))) return;
  }
}

}  // namespace

Value EvalMacro(const Node& node, Frame& frame) {
  const Value range = EvaluateNode(*node.kids[0], frame);
  if (range.is_error()) return range;
  // One variable: the element of a list, the key of a map. Two: index and
  // element, or key and value.
  const bool two = node.index2 >= 0;
  const bool is_map = range.kind() == ValueKind::kMap;
  Value result;
  bool decided = false;
  Value first_error;
  bool saw_error = false;
  int64_t count = 0;
  ForEachItem(range, [&](const Value& first, const Value& second) {
    frame.local(node.index) = two || is_map ? first : second;
    if (two) frame.local(node.index2) = second;
    const Value v = EvaluateNode(*node.kids[1], frame);
    if (node.op == Op::kExistsOne) {
      // CEL counts without short-circuit: any error is the result.
      if (v.is_error()) {
        result = v;
        decided = true;
        return false;
      }
      count += v.bool_value() ? 1 : 0;
      return true;
    }
    if (v.is_error()) {
      if (!saw_error) first_error = v;
      saw_error = true;
      return true;
    }
    // exists: any true decides; all: any false decides, even if other
    // elements failed (CEL's commutative error semantics).
    const bool exists = node.op == Op::kExists;
    if (v.bool_value() == exists) {
      result = Value::Bool(exists);
      decided = true;
      return false;
    }
    return true;
  });
  if (decided) return result;
  if (node.op == Op::kExistsOne) return Value::Bool(count == 1);
  if (saw_error) return first_error;
  return Value::Bool(node.op == Op::kAll);
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
    case Op::kToBool: {
      if (v.kind() == ValueKind::kBool) return v;
      // CEL's spellings of the two values.
      static constexpr absl::string_view kTrue[] = {"1", "t", "true", "TRUE",
                                                    "True"};
      static constexpr absl::string_view kFalse[] = {"0", "f", "false", "FALSE",
                                                     "False"};
      for (absl::string_view t : kTrue) {
        if (v.string_value() == t) return Value::Bool(true);
      }
      for (absl::string_view f : kFalse) {
        if (v.string_value() == f) return Value::Bool(false);
      }
      return frame.Error(
          absl::StrCat("cannot convert \"", v.string_value(), "\" to bool"));
    }
    default:
      break;
  }
  return frame.Error("unsupported conversion");
}

}  // namespace treatd::expr::internal
