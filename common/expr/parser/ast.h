// The abstract syntax tree of treatd's CEL-subset expressions, as produced by
// the parser and consumed by the checker. Every node remembers where it sits
// in the source text so that the checker can report errors at the right
// place and the runtime can quote sub-expressions in trace explanations.
//
// Thread safety: an Expr tree is a plain value; const access from several
// threads is safe, mutation is not.
#ifndef TREATD_COMMON_EXPR_PARSER_AST_H_
#define TREATD_COMMON_EXPR_PARSER_AST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace treatd::expr {

enum class ExprKind {
  kLiteral,      // bool, int, double, string or null constant.
  kIdent,        // A bare name: a Finding field, a let, `now`, a namespace.
  kSelect,       // operand.field
  kIndex,        // operand[index]
  kCall,         // f(args) or target.f(args); has(), macros and conversions.
  kList,         // [a, b, ...]
  kMap,          // {k1: v1, k2: v2, ...}
  kUnary,        // !x, -x
  kBinary,       // Arithmetic, comparison, `in`, && and ||.
  kConditional,  // c ? a : b
};

enum class LiteralKind { kBool, kInt, kDouble, kString, kNull };

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  // Byte offset of the token that identifies the node (the operator, the
  // field name, the function name): where errors about the node point.
  int position = 0;
  // Byte range [begin, end) of the whole node in the source text.
  int begin = 0;
  int end = 0;

  // kLiteral.
  LiteralKind literal = LiteralKind::kBool;
  bool bool_value = false;
  int64_t int_value = 0;
  double double_value = 0;
  // kLiteral string value; kIdent name; kSelect field name; kCall function
  // name; kUnary/kBinary operator spelling ("&&", "==", "in", "!", ...).
  std::string text;

  // kSelect: {operand}. kIndex: {operand, index}. kCall: the arguments,
  // preceded by the target when `has_target`. kList: the elements.
  // kMap: keys and values in turn (k1, v1, k2, v2, ...).
  // kUnary: {operand}. kBinary: {lhs, rhs}. kConditional: {cond, a, b}.
  std::vector<std::unique_ptr<Expr>> args;
  // kCall written as a method: target.f(args).
  bool has_target = false;
};

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_PARSER_AST_H_
