#include "common/expr/parser/lexer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace treatd::expr {
namespace {

bool IsIdentStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsIdentChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

Token MakeToken(TokenKind kind, int begin, int end, std::string text) {
  Token t;
  t.kind = kind;
  t.begin = begin;
  t.end = end;
  t.text = std::move(text);
  return t;
}

}  // namespace

Token Lexer::Next() {
  const int n = static_cast<int>(text_.size());
  while (pos_ < n && absl::ascii_isspace(text_[pos_])) ++pos_;
  if (pos_ >= n) return MakeToken(TokenKind::kEnd, n, n, "");
  const int start = pos_;
  const char c = text_[pos_];
  if (IsIdentStart(c)) {
    while (pos_ < n && IsIdentChar(text_[pos_])) ++pos_;
    return MakeToken(TokenKind::kIdent, start, pos_,
                     std::string(text_.substr(start, pos_ - start)));
  }
  if (absl::ascii_isdigit(c) ||
      (c == '.' && pos_ + 1 < n && absl::ascii_isdigit(text_[pos_ + 1]))) {
    return LexNumber(start);
  }
  if (c == '"' || c == '\'') return LexString(start);

  static constexpr absl::string_view kTwoChar[] = {
      "&&", "||", "==", "!=", "<=", ">="};
  for (absl::string_view op : kTwoChar) {
    if (text_.substr(pos_, 2) == op) {
      pos_ += 2;
      return MakeToken(TokenKind::kPunct, start, pos_, std::string(op));
    }
  }
  static constexpr absl::string_view kOneChar = "+-*/%!<>?:.,()[]";
  if (kOneChar.find(c) != absl::string_view::npos) {
    ++pos_;
    return MakeToken(TokenKind::kPunct, start, pos_, std::string(1, c));
  }
  ++pos_;
  if (c == '=') {
    return MakeToken(TokenKind::kError, start, pos_,
                     "unexpected '='; use '==' to compare");
  }
  if (c == '&' || c == '|') {
    return MakeToken(
        TokenKind::kError, start, pos_,
        absl::StrCat("unexpected '", std::string(1, c), "'; use '&&' or '||'"));
  }
  const unsigned char uc = static_cast<unsigned char>(c);
  return MakeToken(
      TokenKind::kError, start, pos_,
      uc >= 0x20 && uc < 0x7f
          ? absl::StrCat("unexpected character '", std::string(1, c), "'")
          : absl::StrCat("unexpected byte 0x", absl::Hex(uc)));
}

Token Lexer::LexNumber(int start) {
  const int n = static_cast<int>(text_.size());
  bool is_double = false;
  while (pos_ < n && absl::ascii_isdigit(text_[pos_])) ++pos_;
  if (pos_ < n && text_[pos_] == '.' && pos_ + 1 < n &&
      absl::ascii_isdigit(text_[pos_ + 1])) {
    is_double = true;
    ++pos_;
    while (pos_ < n && absl::ascii_isdigit(text_[pos_])) ++pos_;
  }
  if (pos_ < n && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
    int p = pos_ + 1;
    if (p < n && (text_[p] == '+' || text_[p] == '-')) ++p;
    if (p < n && absl::ascii_isdigit(text_[p])) {
      is_double = true;
      pos_ = p;
      while (pos_ < n && absl::ascii_isdigit(text_[pos_])) ++pos_;
    }
  }
  if (pos_ < n && IsIdentChar(text_[pos_])) {
    const int bad = pos_;
    while (pos_ < n && IsIdentChar(text_[pos_])) ++pos_;
    return MakeToken(TokenKind::kError, bad, pos_,
                     absl::StrCat("malformed number '",
                                  text_.substr(start, pos_ - start), "'"));
  }
  return MakeToken(is_double ? TokenKind::kDouble : TokenKind::kInt, start,
                   pos_, std::string(text_.substr(start, pos_ - start)));
}

Token Lexer::LexString(int start) {
  const int n = static_cast<int>(text_.size());
  const char quote = text_[pos_++];
  std::string value;
  while (true) {
    if (pos_ >= n || text_[pos_] == '\n') {
      return MakeToken(TokenKind::kError, start, pos_,
                       "unterminated string literal");
    }
    const char c = text_[pos_];
    if (c == quote) {
      ++pos_;
      return MakeToken(TokenKind::kString, start, pos_, std::move(value));
    }
    if (c != '\\') {
      value.push_back(c);
      ++pos_;
      continue;
    }
    if (pos_ + 1 >= n) {
      return MakeToken(TokenKind::kError, start, n,
                       "unterminated string literal");
    }
    const char e = text_[pos_ + 1];
    switch (e) {
      case 'n':
        value.push_back('\n');
        break;
      case 't':
        value.push_back('\t');
        break;
      case 'r':
        value.push_back('\r');
        break;
      case '\\':
      case '"':
      case '\'':
        value.push_back(e);
        break;
      default:
        return MakeToken(
            TokenKind::kError, pos_, pos_ + 2,
            absl::StrCat("unknown escape sequence '\\", std::string(1, e),
                         "'; allowed: \\n \\t \\r \\\\ \\\" \\'"));
    }
    pos_ += 2;
  }
}

}  // namespace treatd::expr
