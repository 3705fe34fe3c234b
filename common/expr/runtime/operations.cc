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

}  // namespace treatd::expr::internal
