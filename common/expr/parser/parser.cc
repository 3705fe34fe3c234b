#include "common/expr/parser/parser.h"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/expr/parser/lexer.h"

namespace treatd::expr {
namespace {

// Recursive descent over CEL's grammar, lowest precedence first:
//   expr     = or ['?' or ':' expr]
//   or       = and {'||' and}
//   and      = relation {'&&' relation}
//   relation = add {('=='|'!='|'<'|'<='|'>'|'>='|'in') add}
//   add      = mul {('+'|'-') mul}
//   mul      = unary {('*'|'/'|'%') unary}
//   unary    = ('!'|'-') unary | member
//   member   = primary {'.' IDENT ['(' args ')'] | '[' expr ']'}
//   primary  = literal | IDENT ['(' args ')'] | '(' expr ')' | '[' args ']'
//            | '{' [expr ':' expr {',' expr ':' expr} [',']] '}'
// Precedence::kLegacy splits the relation level in three, tightest last:
// equality (== !=), ordering (< <= > >=), `in` (what treatd parsed before
// it followed CEL; the policy lint compares the two).
// Errors stop the parse: the first syntax error is reported, which is what
// a person fixes first anyway, and later ones would mostly be echoes.
class Parser {
 public:
  Parser(absl::string_view text, Precedence precedence)
      : text_(text), lexer_(text), precedence_(precedence) {
    Advance();
  }

  std::unique_ptr<Expr> ParseAll() {
    auto e = ParseExpr();
    if (e == nullptr) return nullptr;
    if (tok_.kind != TokenKind::kEnd) {
      Fail(tok_.begin, absl::StrCat("unexpected ", Describe(tok_),
                                    " after the end of the expression"));
      return nullptr;
    }
    return e;
  }

  const ExprError& error() const { return error_; }

 private:
  void Advance() {
    tok_ = lexer_.Next();
    if (tok_.kind == TokenKind::kError && !failed_) {
      Fail(tok_.begin, tok_.text);
    }
  }

  bool IsPunct(absl::string_view p) const {
    return tok_.kind == TokenKind::kPunct && tok_.text == p;
  }

  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kEnd:
        return "end of expression";
      case TokenKind::kIdent:
        return absl::StrCat("'", t.text, "'");
      case TokenKind::kString:
        return "string literal";
      case TokenKind::kInt:
      case TokenKind::kDouble:
        return absl::StrCat("number ", t.text);
      case TokenKind::kPunct:
        return absl::StrCat("'", t.text, "'");
      case TokenKind::kError:
        break;
    }
    return "invalid input";
  }

  std::nullptr_t Fail(int offset, std::string message) {
    if (!failed_) {
      failed_ = true;
      error_.offset = offset;
      error_.message = absl::StrCat("syntax error: ", message);
    }
    return nullptr;
  }

  bool Expect(absl::string_view p) {
    if (failed_) return false;
    if (!IsPunct(p)) {
      Fail(tok_.begin,
           absl::StrCat("expected '", p, "' but found ", Describe(tok_)));
      return false;
    }
    Advance();
    return !failed_;
  }

  // Guards recursion so deeply nested input fails cleanly.
  bool Enter() {
    if (++depth_ > kMaxExprDepth) {
      Fail(tok_.begin, absl::StrCat("expression nested deeper than ",
                                    kMaxExprDepth, " levels"));
      return false;
    }
    return true;
  }

  static std::unique_ptr<Expr> MakeBinary(std::string op, int position,
                                          std::unique_ptr<Expr> lhs,
                                          std::unique_ptr<Expr> rhs) {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kBinary;
    e->text = std::move(op);
    e->position = position;
    e->begin = lhs->begin;
    e->end = rhs->end;
    e->args.push_back(std::move(lhs));
    e->args.push_back(std::move(rhs));
    return e;
  }

  std::unique_ptr<Expr> ParseExpr() {
    if (!Enter()) return nullptr;
    auto cond = ParseOr();
    if (cond != nullptr && IsPunct("?")) {
      const int position = tok_.begin;
      Advance();
      auto a = ParseOr();
      if (a == nullptr || !Expect(":")) return nullptr;
      auto b = ParseExpr();
      if (b == nullptr) return nullptr;
      auto e = std::make_unique<Expr>();
      e->kind = ExprKind::kConditional;
      e->position = position;
      e->begin = cond->begin;
      e->end = b->end;
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(a));
      e->args.push_back(std::move(b));
      cond = std::move(e);
    }
    --depth_;
    return failed_ ? nullptr : std::move(cond);
  }

  // One left-associative binary level: operands from `next`, operators
  // from `ops`.
  template <typename Next>
  std::unique_ptr<Expr> ParseLevel(std::initializer_list<absl::string_view> ops,
                                   Next next) {
    auto lhs = (this->*next)();
    while (lhs != nullptr) {
      absl::string_view matched;
      for (absl::string_view op : ops) {
        const bool is_op =
            op == "in" ? (tok_.kind == TokenKind::kIdent && tok_.text == "in")
                       : IsPunct(op);
        if (is_op) matched = op;
      }
      if (matched.empty()) break;
      const int position = tok_.begin;
      Advance();
      auto rhs = (this->*next)();
      if (rhs == nullptr) return nullptr;
      lhs = MakeBinary(std::string(matched), position, std::move(lhs),
                       std::move(rhs));
    }
    return failed_ ? nullptr : std::move(lhs);
  }

  std::unique_ptr<Expr> ParseOr() {
    return ParseLevel({"||"}, &Parser::ParseAnd);
  }
  std::unique_ptr<Expr> ParseAnd() {
    if (precedence_ == Precedence::kCel) {
      return ParseLevel({"&&"}, &Parser::ParseRelationCel);
    }
    return ParseLevel({"&&"}, &Parser::ParseEquality);
  }
  std::unique_ptr<Expr> ParseRelationCel() {
    return ParseLevel({"==", "!=", "<", "<=", ">", ">=", "in"},
                      &Parser::ParseAdd);
  }
  std::unique_ptr<Expr> ParseEquality() {
    return ParseLevel({"==", "!="}, &Parser::ParseRelation);
  }
  std::unique_ptr<Expr> ParseRelation() {
    return ParseLevel({"<", "<=", ">", ">="}, &Parser::ParseIn);
  }
  std::unique_ptr<Expr> ParseIn() {
    return ParseLevel({"in"}, &Parser::ParseAdd);
  }
  std::unique_ptr<Expr> ParseAdd() {
    return ParseLevel({"+", "-"}, &Parser::ParseMul);
  }
  std::unique_ptr<Expr> ParseMul() {
    return ParseLevel({"*", "/", "%"}, &Parser::ParseUnary);
  }

  std::unique_ptr<Expr> ParseUnary() {
    if (!IsPunct("!") && !IsPunct("-")) return ParseMember();
    if (!Enter()) return nullptr;
    const int position = tok_.begin;
    const std::string op = tok_.text;
    Advance();
    // "-9223372036854775808" must parse although its magnitude alone does
    // not fit an int64, so a minus directly before an int literal folds.
    if (op == "-" && tok_.kind == TokenKind::kInt) {
      auto lit = ParseIntLiteral(/*negative=*/true, position);
      if (lit == nullptr) return nullptr;
      --depth_;
      return ParseMemberSuffix(std::move(lit));
    }
    auto operand = ParseUnary();
    if (operand == nullptr) return nullptr;
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kUnary;
    e->text = op;
    e->position = position;
    e->begin = position;
    e->end = operand->end;
    e->args.push_back(std::move(operand));
    --depth_;
    return e;
  }

  std::unique_ptr<Expr> ParseIntLiteral(bool negative, int begin) {
    const std::string digits = tok_.text;
    const Token t = tok_;
    uint64_t magnitude = 0;
    const bool hex =
        digits.size() > 2 && (digits[1] == 'x' || digits[1] == 'X');
    const bool parsed = hex ? absl::SimpleHexAtoi(digits.substr(2), &magnitude)
                            : absl::SimpleAtoi(digits, &magnitude);
    if (!parsed ||
        magnitude > (negative ? uint64_t{1} << 63
                              : static_cast<uint64_t>(
                                    std::numeric_limits<int64_t>::max()))) {
      return Fail(t.begin, absl::StrCat("integer literal ", negative ? "-" : "",
                                        digits, " does not fit in 64 bits"));
    }
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kLiteral;
    e->literal = LiteralKind::kInt;
    e->int_value = negative ? static_cast<int64_t>(0 - magnitude)
                            : static_cast<int64_t>(magnitude);
    e->position = begin;
    e->begin = begin;
    e->end = t.end;
    Advance();
    return failed_ ? nullptr : std::move(e);
  }

  std::unique_ptr<Expr> ParseMember() {
    auto e = ParsePrimary();
    if (e == nullptr) return nullptr;
    return ParseMemberSuffix(std::move(e));
  }

  std::unique_ptr<Expr> ParseMemberSuffix(std::unique_ptr<Expr> e) {
    while (!failed_) {
      if (IsPunct(".")) {
        Advance();
        if (tok_.kind != TokenKind::kIdent) {
          return Fail(tok_.begin, absl::StrCat("expected a field or method "
                                               "name after '.' but found ",
                                               Describe(tok_)));
        }
        const Token name = tok_;
        Advance();
        auto next = std::make_unique<Expr>();
        next->position = name.begin;
        next->begin = e->begin;
        next->text = name.text;
        if (IsPunct("(")) {
          next->kind = ExprKind::kCall;
          next->has_target = true;
          next->args.push_back(std::move(e));
          int end = 0;
          if (!ParseArgs(")", &next->args, &end)) return nullptr;
          next->end = end;
        } else {
          next->kind = ExprKind::kSelect;
          next->end = name.end;
          next->args.push_back(std::move(e));
        }
        e = std::move(next);
      } else if (IsPunct("[")) {
        const int position = tok_.begin;
        Advance();
        auto index = ParseExpr();
        if (index == nullptr) return nullptr;
        const int end = tok_.end;
        if (!Expect("]")) return nullptr;
        auto next = std::make_unique<Expr>();
        next->kind = ExprKind::kIndex;
        next->position = position;
        next->begin = e->begin;
        next->end = end;
        next->args.push_back(std::move(e));
        next->args.push_back(std::move(index));
        e = std::move(next);
      } else {
        break;
      }
    }
    return failed_ ? nullptr : std::move(e);
  }

  // Parses "(a, b)" or "[a, b]" starting at the opening token; a trailing
  // comma is allowed. `*end` receives the end offset of the closing token.
  bool ParseArgs(absl::string_view close,
                 std::vector<std::unique_ptr<Expr>>* out, int* end) {
    Advance();  // The opening token.
    if (failed_) return false;
    while (!IsPunct(close)) {
      auto arg = ParseExpr();
      if (arg == nullptr) return false;
      out->push_back(std::move(arg));
      if (IsPunct(",")) {
        Advance();
        if (failed_) return false;
        continue;
      }
      if (!IsPunct(close)) {
        Fail(tok_.begin, absl::StrCat("expected ',' or '", close,
                                      "' but found ", Describe(tok_)));
        return false;
      }
    }
    *end = tok_.end;
    Advance();
    return !failed_;
  }

  // Parses "{k: v, ...}" starting at the '{'; keys and values go to `out`
  // in turn. A trailing comma is allowed.
  bool ParseEntries(std::vector<std::unique_ptr<Expr>>* out, int* end) {
    Advance();  // '{'
    if (failed_) return false;
    while (!IsPunct("}")) {
      auto key = ParseExpr();
      if (key == nullptr || !Expect(":")) return false;
      auto value = ParseExpr();
      if (value == nullptr) return false;
      out->push_back(std::move(key));
      out->push_back(std::move(value));
      if (IsPunct(",")) {
        Advance();
        if (failed_) return false;
        continue;
      }
      if (!IsPunct("}")) {
        Fail(tok_.begin,
             absl::StrCat("expected ',' or '}' but found ", Describe(tok_)));
        return false;
      }
    }
    *end = tok_.end;
    Advance();
    return !failed_;
  }

  std::unique_ptr<Expr> ParsePrimary() {
    if (failed_) return nullptr;
    auto e = std::make_unique<Expr>();
    e->position = tok_.begin;
    e->begin = tok_.begin;
    e->end = tok_.end;
    switch (tok_.kind) {
      case TokenKind::kInt:
        return ParseIntLiteral(/*negative=*/false, tok_.begin);
      case TokenKind::kDouble: {
        // strtod is locale-dependent only for the decimal point, and the
        // "C" locale is the process default.
        errno = 0;
        e->kind = ExprKind::kLiteral;
        e->literal = LiteralKind::kDouble;
        e->double_value = std::strtod(tok_.text.c_str(), nullptr);
        if (errno == ERANGE) {
          return Fail(tok_.begin,
                      absl::StrCat("number ", tok_.text, " is out of range"));
        }
        Advance();
        return failed_ ? nullptr : std::move(e);
      }
      case TokenKind::kString:
        e->kind = ExprKind::kLiteral;
        e->literal = LiteralKind::kString;
        e->text = tok_.text;
        Advance();
        return failed_ ? nullptr : std::move(e);
      case TokenKind::kIdent: {
        if (tok_.text == "true" || tok_.text == "false") {
          e->kind = ExprKind::kLiteral;
          e->literal = LiteralKind::kBool;
          e->bool_value = tok_.text == "true";
          Advance();
          return failed_ ? nullptr : std::move(e);
        }
        if (tok_.text == "null") {
          e->kind = ExprKind::kLiteral;
          e->literal = LiteralKind::kNull;
          Advance();
          return failed_ ? nullptr : std::move(e);
        }
        if (tok_.text == "in") {
          return Fail(tok_.begin,
                      absl::StrCat("'", tok_.text, "' cannot be used here"));
        }
        e->text = tok_.text;
        Advance();
        if (IsPunct("(")) {
          e->kind = ExprKind::kCall;
          int end = 0;
          if (!ParseArgs(")", &e->args, &end)) return nullptr;
          e->end = end;
        } else {
          e->kind = ExprKind::kIdent;
        }
        return failed_ ? nullptr : std::move(e);
      }
      case TokenKind::kPunct:
        if (tok_.text == "(") {
          Advance();
          auto inner = ParseExpr();
          if (inner == nullptr) return nullptr;
          const int end = tok_.end;
          if (!Expect(")")) return nullptr;
          // Parentheses belong to the node's quoted text in traces.
          inner->begin = e->begin;
          inner->end = end;
          return inner;
        }
        if (tok_.text == "{") {
          e->kind = ExprKind::kMap;
          if (!ParseEntries(&e->args, &e->end)) return nullptr;
          return e;
        }
        if (tok_.text == "[") {
          e->kind = ExprKind::kList;
          int end = 0;
          if (!ParseArgs("]", &e->args, &end)) return nullptr;
          e->end = end;
          return e;
        }
        break;
      case TokenKind::kEnd:
      case TokenKind::kError:
        break;
    }
    return Fail(tok_.begin,
                absl::StrCat("expected a value but found ", Describe(tok_)));
  }

  absl::string_view text_;
  Lexer lexer_;
  Precedence precedence_;
  Token tok_;
  bool failed_ = false;
  ExprError error_;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Expr>> Parse(absl::string_view text,
                                            std::vector<ExprError>* errors,
                                            Precedence precedence) {
  Parser parser(text, precedence);
  auto expr = parser.ParseAll();
  if (expr == nullptr) {
    if (errors != nullptr) errors->push_back(parser.error());
    return absl::InvalidArgumentError(parser.error().message);
  }
  return expr;
}

namespace {

bool SameTree(const Expr& a, const Expr& b) {
  if (a.kind != b.kind || a.text != b.text || a.literal != b.literal ||
      a.bool_value != b.bool_value || a.int_value != b.int_value ||
      a.has_target != b.has_target || a.args.size() != b.args.size() ||
      !(a.double_value == b.double_value ||
        (a.double_value != a.double_value &&
         b.double_value != b.double_value))) {
    return false;
  }
  for (size_t i = 0; i < a.args.size(); ++i) {
    if (!SameTree(*a.args[i], *b.args[i])) return false;
  }
  return true;
}

}  // namespace

bool PrecedenceChangesMeaning(absl::string_view text) {
  auto cel = Parse(text, nullptr, Precedence::kCel);
  auto legacy = Parse(text, nullptr, Precedence::kLegacy);
  return cel.ok() && legacy.ok() && !SameTree(**cel, **legacy);
}

}  // namespace treatd::expr
