#include "common/expr/parser/lexer.h"

#include <cstdint>

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
  if ((c == 'r' || c == 'R') && pos_ + 1 < n &&
      (text_[pos_ + 1] == '"' || text_[pos_ + 1] == '\'')) {
    ++pos_;
    return LexString(start, /*raw=*/true);
  }
  if (IsIdentStart(c)) {
    while (pos_ < n && IsIdentChar(text_[pos_])) ++pos_;
    return MakeToken(TokenKind::kIdent, start, pos_,
                     std::string(text_.substr(start, pos_ - start)));
  }
  if (absl::ascii_isdigit(c) ||
      (c == '.' && pos_ + 1 < n && absl::ascii_isdigit(text_[pos_ + 1]))) {
    return LexNumber(start);
  }
  if (c == '"' || c == '\'') return LexString(start, /*raw=*/false);

  static constexpr absl::string_view kTwoChar[] = {
      "&&", "||", "==", "!=", "<=", ">="};
  for (absl::string_view op : kTwoChar) {
    if (text_.substr(pos_, 2) == op) {
      pos_ += 2;
      return MakeToken(TokenKind::kPunct, start, pos_, std::string(op));
    }
  }
  static constexpr absl::string_view kOneChar = "+-*/%!<>?:.,()[]{}";
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
  if (text_[pos_] == '0' && pos_ + 2 < n &&
      (text_[pos_ + 1] == 'x' || text_[pos_ + 1] == 'X') &&
      absl::ascii_isxdigit(text_[pos_ + 2])) {
    // Hexadecimal int: the token keeps its "0x" so the parser knows.
    pos_ += 2;
    while (pos_ < n && absl::ascii_isxdigit(text_[pos_])) ++pos_;
  } else {
    while (pos_ < n && absl::ascii_isdigit(text_[pos_])) ++pos_;
  }
  const bool hex =
      pos_ - start > 2 && (text_[start + 1] == 'x' || text_[start + 1] == 'X');
  if (!hex && pos_ < n && text_[pos_] == '.' && pos_ + 1 < n &&
      absl::ascii_isdigit(text_[pos_ + 1])) {
    is_double = true;
    ++pos_;
    while (pos_ < n && absl::ascii_isdigit(text_[pos_])) ++pos_;
  }
  if (!hex && pos_ < n && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
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

namespace {

// Appends code point `cp` in UTF-8; false for surrogates and values beyond
// U+10FFFF, which no string may hold.
bool AppendUtf8(uint32_t cp, std::string* out) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// CEL's string literals: '...' or "...", triple-quoted forms that may span
// lines, r/R prefixes for raw strings (no escapes), and the escapes \a \b
// \f \n \r \t \v \\ \' \" \` \? \xHH \uHHHH \UHHHHHHHH and octal \ooo.
Token Lexer::LexString(int start, bool raw) {
  const int n = static_cast<int>(text_.size());
  const char quote = text_[pos_];
  const bool triple = text_.substr(pos_, 3) == std::string(3, quote);
  pos_ += triple ? 3 : 1;
  std::string value;
  while (true) {
    if (pos_ >= n || (!triple && text_[pos_] == '\n')) {
      return MakeToken(TokenKind::kError, start, pos_,
                       "unterminated string literal");
    }
    const char c = text_[pos_];
    if (c == quote &&
        (!triple || text_.substr(pos_, 3) == std::string(3, quote))) {
      pos_ += triple ? 3 : 1;
      return MakeToken(TokenKind::kString, start, pos_, std::move(value));
    }
    if (c != '\\' || raw) {
      value.push_back(c);
      ++pos_;
      continue;
    }
    if (pos_ + 1 >= n) {
      return MakeToken(TokenKind::kError, start, n,
                       "unterminated string literal");
    }
    const int escape = pos_;
    const char e = text_[pos_ + 1];
    pos_ += 2;
    static constexpr absl::string_view kSimple = "abfnrtv\\'\"`?";
    static constexpr absl::string_view kMeaning = "\a\b\f\n\r\t\v\\'\"`?";
    if (const size_t i = kSimple.find(e); i != absl::string_view::npos) {
      value.push_back(kMeaning[i]);
      continue;
    }
    int digits = 0;
    int base = 16;
    if (e == 'x' || e == 'X') {
      digits = 2;
    } else if (e == 'u') {
      digits = 4;
    } else if (e == 'U') {
      digits = 8;
    } else if (e >= '0' && e <= '3') {
      digits = 2;
      base = 8;
      --pos_;  // The first octal digit is part of the number.
      ++digits;
    } else {
      return MakeToken(
          TokenKind::kError, escape, escape + 2,
          absl::StrCat("unknown escape sequence '\\", std::string(1, e),
                       "'; allowed: \\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\\" "
                       "\\` \\? \\xHH \\uHHHH \\UHHHHHHHH \\ooo"));
    }
    uint32_t cp = 0;
    for (int i = 0; i < digits; ++i) {
      const int d = pos_ < n ? HexDigit(text_[pos_]) : -1;
      if (d < 0 || d >= base) {
        return MakeToken(
            TokenKind::kError, escape, pos_,
            absl::StrCat("escape '\\", std::string(1, e), "' needs ",
                         base == 8 ? 3 : digits, base == 8 ? " octal" : " hex",
                         " digits"));
      }
      cp = cp * base + d;
      ++pos_;
    }
    if (!AppendUtf8(cp, &value)) {
      return MakeToken(
          TokenKind::kError, escape, pos_,
          absl::StrCat("escape '", text_.substr(escape, pos_ - escape),
                       "' is not a Unicode code point"));
    }
  }
}

}  // namespace treatd::expr
