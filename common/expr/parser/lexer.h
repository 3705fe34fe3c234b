// Splits an expression's text into tokens. Used by the parser only.
//
// Thread safety: a Lexer is used by one thread; it only reads its text.
#ifndef TREATD_COMMON_EXPR_PARSER_LEXER_H_
#define TREATD_COMMON_EXPR_PARSER_LEXER_H_

#include <string>

#include "absl/strings/string_view.h"

namespace treatd::expr {

enum class TokenKind {
  kEnd,
  kError,  // `text` holds the message.
  kIdent,
  kInt,     // `text` holds the digits.
  kDouble,  // `text` holds the spelling.
  kString,  // `text` holds the decoded value.
  kPunct,   // `text` holds the operator or punctuation, e.g. "&&", "(".
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  int begin = 0;  // Byte offsets of the token in the source.
  int end = 0;
  std::string text;
};

class Lexer {
 public:
  explicit Lexer(absl::string_view text) : text_(text) {}

  // Returns the next token; kEnd at the end of the text, kError (with the
  // message in `text` and the offending offset in `begin`) on bad input.
  Token Next();

 private:
  Token LexNumber(int start);
  Token LexString(int start, bool raw);

  absl::string_view text_;
  int pos_ = 0;
};

}  // namespace treatd::expr

#endif  // TREATD_COMMON_EXPR_PARSER_LEXER_H_
