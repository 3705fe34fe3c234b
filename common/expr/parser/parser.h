// Parses treatd's CEL-subset expression syntax (docs/policy-language.md)
// into an Expr tree. The parser knows syntax only; names, types and
// functions are the checker's business.
//
// Thread safety: stateless function; safe to call concurrently.
#ifndef TREATD_COMMON_EXPR_PARSER_PARSER_H_
#define TREATD_COMMON_EXPR_PARSER_PARSER_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/expr/parser/ast.h"
#include "common/expr/parser/source.h"

namespace treatd::expr {

// Deepest nesting of sub-expressions accepted, so that hostile input cannot
// exhaust the stack of the parser, checker or evaluator.
inline constexpr int kMaxExprDepth = 64;

// Operator precedence. kCel is CEL's: all relations (== != < <= > >= in)
// on one level. kLegacy is what treatd parsed before: == and != looser than
// < <= > >=, and `in` tighter than both. Only the policy lint uses it, to
// warn about conditions whose meaning the change of grammar changed.
enum class Precedence { kCel, kLegacy };

// Parses `text`. On success returns the tree (positions are byte offsets
// into `text`). On a syntax error returns INVALID_ARGUMENT and, when
// `errors` is non-null, appends the error with its offset; the parser stops
// at the first syntax error.
absl::StatusOr<std::unique_ptr<Expr>> Parse(
    absl::string_view text, std::vector<ExprError>* errors,
    Precedence precedence = Precedence::kCel);

// Whether `text` parses under both precedences into different trees: a
// chain of relations without parentheses such as `a == b < c` or
// `x in l == y`, whose meaning changed when treatd adopted CEL's grammar.
// False when either parse fails.
bool PrecedenceChangesMeaning(absl::string_view text);

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_PARSER_PARSER_H_
