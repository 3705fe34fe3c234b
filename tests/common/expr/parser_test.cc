#include "common/expr/parser/parser.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace treatd::expr {
namespace {

// Renders a tree with explicit parentheses so precedence is visible.
std::string Show(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      switch (e.literal) {
        case LiteralKind::kBool:
          return e.bool_value ? "true" : "false";
        case LiteralKind::kInt:
          return absl::StrCat(e.int_value);
        case LiteralKind::kDouble:
          return absl::StrCat(e.double_value, "d");
        case LiteralKind::kString:
          return absl::StrCat("\"", e.text, "\"");
        case LiteralKind::kNull:
          return "null";
      }
      break;
    case ExprKind::kIdent:
      return e.text;
    case ExprKind::kSelect:
      return absl::StrCat(Show(*e.args[0]), ".", e.text);
    case ExprKind::kIndex:
      return absl::StrCat(Show(*e.args[0]), "[", Show(*e.args[1]), "]");
    case ExprKind::kCall: {
      std::string out;
      size_t first = 0;
      if (e.has_target) {
        out = absl::StrCat(Show(*e.args[0]), ".");
        first = 1;
      }
      absl::StrAppend(&out, e.text, "(");
      for (size_t i = first; i < e.args.size(); ++i) {
        if (i > first) out += ", ";
        out += Show(*e.args[i]);
      }
      return out + ")";
    }
    case ExprKind::kList: {
      std::string out = "[";
      for (size_t i = 0; i < e.args.size(); ++i) {
        if (i > 0) out += ", ";
        out += Show(*e.args[i]);
      }
      return out + "]";
    }
    case ExprKind::kMap: {
      std::string out = "{";
      for (size_t i = 0; i < e.args.size(); i += 2) {
        if (i > 0) out += ", ";
        absl::StrAppend(&out, Show(*e.args[i]), ": ", Show(*e.args[i + 1]));
      }
      return out + "}";
    }
    case ExprKind::kUnary:
      return absl::StrCat("(", e.text, Show(*e.args[0]), ")");
    case ExprKind::kBinary:
      return absl::StrCat("(", Show(*e.args[0]), " ", e.text, " ",
                          Show(*e.args[1]), ")");
    case ExprKind::kConditional:
      return absl::StrCat("(", Show(*e.args[0]), " ? ", Show(*e.args[1]), " : ",
                          Show(*e.args[2]), ")");
  }
  return "?";
}

std::string P(absl::string_view text) {
  std::vector<ExprError> errors;
  auto e = Parse(text, &errors);
  if (!e.ok()) {
    const LineColumn lc = OffsetToLineColumn(text, errors[0].offset);
    return absl::StrCat("error ", lc.line, ":", lc.column, ": ",
                        errors[0].message);
  }
  return Show(**e);
}

TEST(ParserTest, AndBindsTighterThanOr) {
  EXPECT_EQ(P("a || b && c"), "(a || (b && c))");
}

TEST(ParserTest, ComparisonBindsTighterThanAnd) {
  EXPECT_EQ(P("a == 1 && b < 2"), "((a == 1) && (b < 2))");
}

TEST(ParserTest, RelationsShareOneLevelLeftToRightAsInCel) {
  EXPECT_EQ(P("a < b == c > d"), "(((a < b) == c) > d)");
  EXPECT_EQ(P("a == b in c"), "((a == b) in c)");
  EXPECT_EQ(P("x in l == true"), "((x in l) == true)");
}

TEST(ParserTest, InBindsLooserThanAddition) {
  EXPECT_EQ(P("a + 1 in b"), "((a + 1) in b)");
}

TEST(ParserTest, LegacyPrecedenceSplitsRelationsForTheLint) {
  auto legacy = [](absl::string_view text) {
    auto e = Parse(text, nullptr, Precedence::kLegacy);
    return e.ok() ? Show(**e) : std::string(e.status().message());
  };
  EXPECT_EQ(legacy("a < b == c > d"), "((a < b) == (c > d))");
  EXPECT_EQ(legacy("a == b in c"), "(a == (b in c))");
  EXPECT_TRUE(PrecedenceChangesMeaning("a < b == c > d"));
  EXPECT_TRUE(PrecedenceChangesMeaning("x == y in l"));
  EXPECT_FALSE(PrecedenceChangesMeaning("a < b && c == d"));
  EXPECT_FALSE(PrecedenceChangesMeaning("(a < b) == (c > d)"));
  EXPECT_FALSE(PrecedenceChangesMeaning("x in l == true"));
  EXPECT_FALSE(PrecedenceChangesMeaning("a == "));
}

TEST(ParserTest, MultiplicationBindsTighterThanAddition) {
  EXPECT_EQ(P("1 + 2 * 3 - 4 % 5"), "((1 + (2 * 3)) - (4 % 5))");
}

TEST(ParserTest, BinaryOperatorsAreLeftAssociative) {
  EXPECT_EQ(P("1 - 2 - 3"), "((1 - 2) - 3)");
}

TEST(ParserTest, ConditionalIsLowestAndRightAssociative) {
  EXPECT_EQ(P("a || b ? 1 : c ? 2 : 3"), "((a || b) ? 1 : (c ? 2 : 3))");
}

TEST(ParserTest, UnaryOperatorsApplyToMembers) {
  EXPECT_EQ(P("!a.b"), "(!a.b)");
  EXPECT_EQ(P("-x * 2"), "((-x) * 2)");
}

TEST(ParserTest, ParsesMemberCallsIndexesAndLists) {
  EXPECT_EQ(P("l.exists(x, x.y[0] == 'a')"), "l.exists(x, (x.y[0] == \"a\"))");
  EXPECT_EQ(P("size([1, 2,])"), "size([1, 2])");
  EXPECT_EQ(P("attributes[\"k\"]"), "attributes[\"k\"]");
}

TEST(ParserTest, ParsesNumberLiterals) {
  EXPECT_EQ(P("42"), "42");
  EXPECT_EQ(P("9.5"), "9.5d");
  EXPECT_EQ(P("1e-3"), "0.001d");
  EXPECT_EQ(P("-9223372036854775808"), "-9223372036854775808");
  EXPECT_EQ(P("0x1F + -0X10"), "(31 + -16)");
  EXPECT_EQ(P("0x"), "error 1:2: syntax error: malformed number '0x'");
  EXPECT_EQ(P("1u"), "error 1:2: syntax error: malformed number '1u'");
}

TEST(ParserTest, RejectsIntegerLiteralThatDoesNotFit) {
  EXPECT_EQ(P("9223372036854775808"),
            "error 1:1: syntax error: integer literal 9223372036854775808 "
            "does not fit in 64 bits");
}

TEST(ParserTest, DecodesStringEscapes) {
  std::vector<ExprError> errors;
  auto e = Parse(R"("a\n\t\\\"\'b" )", &errors);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->text, "a\n\t\\\"'b");
  EXPECT_EQ(P("'it\\'s'"), "\"it's\"");
}

TEST(ParserTest, RejectsUnknownEscapeAtItsPosition) {
  EXPECT_EQ(P("x == \"a\\qb\""),
            "error 1:8: syntax error: unknown escape sequence '\\q'; allowed: "
            "\\a \\b \\f \\n \\r \\t \\v \\\\ \\' \\\" \\` \\? "
            "\\xHH \\uHHHH \\UHHHHHHHH \\ooo");
}

TEST(ParserTest, DecodesCelEscapesRawAndTripleQuotedStrings) {
  auto text = [](absl::string_view source) {
    auto e = Parse(source, nullptr);
    return e.ok() ? (*e)->text : std::string(e.status().message());
  };
  EXPECT_EQ(text(R"("\u00e9\x41\101\U0001F600\a\`\?")"),
            "\u00e9AA\U0001F600\a`?");
  EXPECT_EQ(text(R"(r'^CVE-\d{4}-\d+$')"), R"(^CVE-\d{4}-\d+$)");
  EXPECT_EQ(text(R"(R"a\nb")"), R"(a\nb)");
  EXPECT_EQ(text("'"
                 "''two\nlines''"
                 "'"),
            "two\nlines");
  EXPECT_EQ(text("\"\"\"say \"hi\" ok\"\"\""), "say \"hi\" ok");
  EXPECT_EQ(text(R"("\ud800")"),
            "syntax error: escape '\\ud800' is not a Unicode code point");
  EXPECT_EQ(text(R"("\x4")"), "syntax error: escape '\\x' needs 2 hex digits");
}

TEST(ParserTest, ParsesMapLiteralsAndNull) {
  EXPECT_EQ(P("{'a': 1, 'b': x}['a']"), "{\"a\": 1, \"b\": x}[\"a\"]");
  EXPECT_EQ(P("{}"), "{}");
  EXPECT_EQ(P("x == null"), "(x == null)");
  EXPECT_EQ(P("{'a' 1}"),
            "error 1:6: syntax error: expected ':' but found number 1");
}

TEST(ParserTest, RejectsUnterminatedString) {
  EXPECT_EQ(P("a == 'abc"),
            "error 1:6: syntax error: unterminated string literal");
}

TEST(ParserTest, ReportsMissingParenthesisWithLineAndColumn) {
  EXPECT_EQ(P("a &&\n  (b || c"),
            "error 2:10: syntax error: expected ')' but found end of "
            "expression");
}

TEST(ParserTest, RejectsSingleEqualsWithHint) {
  EXPECT_EQ(P("a = 1"),
            "error 1:3: syntax error: unexpected '='; use '==' to compare");
}

TEST(ParserTest, RejectsTrailingTokens) {
  EXPECT_EQ(P("a b"),
            "error 1:3: syntax error: unexpected 'b' after the end of the "
            "expression");
}

TEST(ParserTest, RejectsExcessiveNesting) {
  std::string deep(100, '(');
  deep += "1";
  deep += std::string(100, ')');
  EXPECT_NE(P(deep).find("nested deeper than"), std::string::npos);
}

TEST(ParserTest, RecordsSourceRangesIncludingParentheses) {
  const std::string text = "(a == 1) && b";
  auto e = Parse(text, nullptr);
  ASSERT_TRUE(e.ok());
  const Expr& lhs = *(*e)->args[0];
  EXPECT_EQ(text.substr(lhs.begin, lhs.end - lhs.begin), "(a == 1)");
  EXPECT_EQ((*e)->position, 9);
}

}  // namespace
}  // namespace treatd::expr
