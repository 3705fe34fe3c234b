// The operations on values both evaluators run: the tree's EvaluateNode()
// (tree_evaluator.cc) and the array form's Program::Run() (program.cc).
// Comparisons and Combine() are inline here because Program::Run() fuses
// them into its hottest instructions; the rest is in operations.cc.
// Internal to the expression runtime.
//
// Thread safety: stateless; `frame` is the calling evaluation's own.
#ifndef TREATD_COMMON_EXPR_RUNTIME_OPERATIONS_H_
#define TREATD_COMMON_EXPR_RUNTIME_OPERATIONS_H_

#include <cmath>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "common/expr/runtime/program.h"

namespace treatd::expr::internal {

// Equality of lists (same size, elements equal in order) and maps (same
// size, every key of one mapped to an equal value in the other).
bool AggregateEqual(const Value& a, const Value& b);

inline bool Equal(const Value& a, const Value& b) {
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
    case ValueKind::kTimestamp:
      return a.seconds() == b.seconds() && a.nanos() == b.nanos();
    case ValueKind::kEnum:
      return a.enum_number() == b.enum_number();
    case ValueKind::kNull:
      return true;
    case ValueKind::kType:
      return a.string_value() == b.string_value();
    case ValueKind::kList:
    case ValueKind::kMap:
      return AggregateEqual(a, b);
    default:
      return false;
  }
}

// -1, 0, 1; `*unordered` for NaN.
inline int Compare(const Value& a, const Value& b, bool as_double,
                   bool* unordered) {
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
    case ValueKind::kTimestamp: {
      const int s = sign(a.seconds(), b.seconds());
      return s != 0 ? s : sign(a.nanos(), b.nanos());
    }
    case ValueKind::kEnum:
      return sign(a.enum_number(), b.enum_number());
    default:
      *unordered = true;
      return 0;
  }
}

inline Value CompareResult(Op op, int c) {
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

// CEL's ranges: timestamps from 0001-01-01 to 9999-12-31 (UTC), durations
// that fit int64 nanoseconds.
bool TimeInRange(absl::Time t);
bool DurationInRange(absl::Duration d);

// A timestamp result, or an error outside 0001-01-01..9999-12-31.
Value TimeResult(absl::Time t, Frame& frame);

// A duration result, or an error when it overflowed.
Value DurationResult(absl::Duration d, Frame& frame);

// + - * / % on `a` and `b` (both non-errors), in double when `as_double`.
Value Arithmetic(Op op, bool as_double, const Value& a, const Value& b,
                 Frame& frame);

// exists(), all() and exists_one() over a list or map; evaluates the
// predicate on the tree.
Value EvalMacro(const Node& node, Frame& frame);

// int(), double(), string(), bool() of `v`.
Value Convert(const Node& node, const Value& v, Frame& frame);

// The operations Combine() runs.
inline bool IsCombining(Op op) {
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

}  // namespace treatd::expr::internal

#endif  // TREATD_COMMON_EXPR_RUNTIME_OPERATIONS_H_
