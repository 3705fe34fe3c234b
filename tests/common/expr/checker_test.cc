#include "common/expr/checker/checker.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/common/expr/test_env.h"

namespace treatd::expr {
namespace {

TEST(CheckerTest, AcceptsWellTypedCondition) {
  EXPECT_EQ(CheckError("asset.exposure == \"INTERNET\" && "
                       "vulnerability.cvss.score >= 7"),
            "");
}

TEST(CheckerTest, RejectsUnknownTopLevelName) {
  EXPECT_EQ(CheckError("assets.id == \"x\"").substr(0, 27),
            "1:1: unknown name 'assets';");
}

TEST(CheckerTest, RejectsUnknownFieldAtItsPosition) {
  EXPECT_EQ(CheckError("asset.exposur == \"INTERNET\"").substr(0, 44),
            "1:7: no field 'exposur' in treatd.v1.Asset; ");
}

TEST(CheckerTest, RejectsUnknownEnumValueNamingTheAllowedOnes) {
  EXPECT_EQ(CheckError("asset.exposure == \"PUBLIC\""),
            "1:19: 'PUBLIC' is not a value of treatd.v1.Exposure; values: "
            "UNSPECIFIED, ISOLATED, INTERNAL, CONTROLLED, INTERNET");
}

TEST(CheckerTest, AcceptsEnumValuesWithOrWithoutPrefix) {
  EXPECT_EQ(CheckError("asset.exposure == \"EXPOSURE_INTERNET\""), "");
  EXPECT_EQ(CheckError("vulnerability.exploit_maturity in [\"POC\", "
                       "\"ACTIVE\"]"),
            "");
}

TEST(CheckerTest, RejectsUnknownEnumValueInsideList) {
  EXPECT_EQ(CheckError("vulnerability.exploit_maturity in [\"POC\", \"LIVE\"]")
                .substr(0, 51),
            "1:43: 'LIVE' is not a value of treatd.v1.ExploitMat");
}

TEST(CheckerTest, RejectsComparingEnumWithNonLiteralString) {
  EXPECT_NE(CheckError("asset.exposure == asset.id")
                .find("compares an enum only with the same enum"),
            std::string::npos);
}

TEST(CheckerTest, RejectsMismatchedOperandTypes) {
  EXPECT_EQ(CheckError("asset.id == 3"),
            "1:10: '==' needs operands of the same type; got string and int");
  EXPECT_EQ(CheckError("active_incident + 1"),
            "1:17: '+' adds numbers, strings, lists, or durations to "
            "timestamps and durations; got bool and int");
}

TEST(CheckerTest, RejectsNonBoolOperandsOfLogicalOperators) {
  EXPECT_EQ(CheckError("asset.id && true"),
            "1:10: '&&' needs bool operands; got string and bool");
}

TEST(CheckerTest, RejectsModuloOnDoubles) {
  EXPECT_EQ(CheckError("vulnerability.cvss.score % 2"),
            "1:26: '%' needs int operands; got double and int");
}

TEST(CheckerTest, RejectsInvalidRegularExpression) {
  EXPECT_EQ(CheckError("asset.id.matches(\"(a\")").substr(0, 38),
            "1:18: invalid regular expression: miss");
}

TEST(CheckerTest, RejectsNonLiteralRegularExpression) {
  EXPECT_NE(CheckError("asset.id.matches(asset.name)").find("string literal"),
            std::string::npos);
}

TEST(CheckerTest, RejectsUnknownFunctionAndMethod) {
  EXPECT_EQ(CheckError("lower(asset.id)").substr(0, 30),
            "1:1: unknown function 'lower';");
  EXPECT_EQ(CheckError("asset.id.lower()").substr(0, 29),
            "1:10: unknown method 'lower';");
}

TEST(CheckerTest, RejectsWrongArity) {
  EXPECT_EQ(CheckError("size(asset.tags, 1)"),
            "1:1: size() takes 1 argument, got 2");
  EXPECT_EQ(CheckError("min(1)"), "1:1: min() takes 2 arguments, got 1");
}

TEST(CheckerTest, RejectsHasWithoutFieldSelection) {
  EXPECT_NE(CheckError("has(1)").find("has() needs a field selection"),
            std::string::npos);
}

TEST(CheckerTest, RejectsNonLiteralDurationAndBadDurationText) {
  EXPECT_NE(CheckError("duration(asset.id)").find("takes a string literal"),
            std::string::npos);
  EXPECT_EQ(CheckError("now - duration(\"3x\") < now").substr(0, 5), "1:16:");
}

TEST(CheckerTest, RejectsUnknownTable) {
  EXPECT_EQ(CheckError("tables.nope == \"x\""), "1:8: unknown table 'nope'");
}

TEST(CheckerTest, RejectsIndexingWithWrongKeyType) {
  EXPECT_EQ(CheckError("asset.tags[\"a\"] == \"b\""),
            "1:12: list index must be int, got string");
  EXPECT_EQ(CheckError("attributes[1] == \"b\""),
            "1:12: map key must be string, got int");
}

TEST(CheckerTest, RejectsMacroOverNonList) {
  EXPECT_EQ(CheckError("asset.exists(x, true)"),
            "1:7: exists() needs a list or map, got message treatd.v1.Asset");
}

TEST(CheckerTest, TypesMapLiteralsStrictly) {
  EXPECT_EQ(CheckError("{'a': 1, 'b': 2}['a'] > 0"), "");
  EXPECT_EQ(CheckError("{'a': 1, 2: 2}"),
            "1:10: map keys must have one type; found string and int");
  EXPECT_EQ(CheckError("{'a': 1, 'b': 'x'}"),
            "1:15: map values must have one type; found int and string");
  EXPECT_EQ(CheckError("{1.5: 1}"),
            "1:2: map keys must be bool, int or string; got double");
  EXPECT_EQ(CheckError("{'a': 1, 'a': 2}"), "1:10: duplicate map key \"a\"");
  EXPECT_EQ(CheckError("{1: 'x'}['a']"),
            "1:10: map key must be int, got string");
  EXPECT_EQ(CheckError("'a' in {1: 'x'}"),
            "1:5: 'in' needs a key of the map's key type; got string and "
            "map(int, string)");
}

TEST(CheckerTest, ComparesListsMapsAndOrdersBools) {
  EXPECT_EQ(CheckError("[1, 2] == [1, 2] && {'a': 1} != {} && [] == []"), "");
  EXPECT_EQ(CheckError("true < false"), "");
  EXPECT_EQ(CheckError("[1] == ['a']"),
            "1:5: '==' needs operands of the same type; got list(int) and "
            "list(string)");
  EXPECT_EQ(CheckError("[1] < [2]"),
            "1:5: '<' cannot order values of this type; got list(int) and "
            "list(int)");
}

TEST(CheckerTest, MacrosOverTheEmptyLiteralAreConstant) {
  EXPECT_EQ(CheckError("[].exists(e, e == 2) || [].all(e, e > 0)"), "");
  EXPECT_EQ(CheckError("[].exists(e, e == nope)").substr(0, 25),
            "1:19: unknown name 'nope'");
  EXPECT_EQ(CheckError("[][0] == 1"),
            "1:1: cannot determine the type of this expression: it reads an "
            "element of an empty [] or {}, whose type is unknown");
}

TEST(CheckerTest, ChecksTwoVariableMacrosAndTypeValues) {
  EXPECT_EQ(CheckError("attributes.all(k, v, k.startsWith('x') && v != '')"),
            "");
  EXPECT_EQ(CheckError("[1].exists(i, v, i == 0 && v == 1)"), "");
  EXPECT_EQ(CheckError("[1].exists_one(x, x == 'a')"),
            "1:21: '==' needs operands of the same type; got int and string");
  EXPECT_EQ(CheckError("[1].all(i, i, true)"),
            "1:12: all() needs two different variable names");
  EXPECT_EQ(CheckError("type(asset.id) == string && type(1) != double"), "");
  EXPECT_EQ(CheckError("type(asset)"),
            "1:1: type() of a value of type message treatd.v1.Asset is not "
            "supported");
  EXPECT_EQ(CheckError("bool('true') && null == null"), "");
  EXPECT_EQ(CheckError("null < null"),
            "1:6: '<' cannot order values of this type; got null_type and "
            "null_type");
}

TEST(CheckerTest, ScopesMacroVariablesToThePredicate) {
  EXPECT_EQ(CheckError("compensating_controls.exists(c, c.type == \"WAF\")"),
            "");
  EXPECT_EQ(CheckError("compensating_controls.exists(c, true) && c.type == "
                       "\"WAF\"")
                .substr(0, 26),
            "1:42: unknown name 'c'; na");
}

TEST(CheckerTest, RejectsConditionalBranchesOfDifferentTypes) {
  EXPECT_EQ(CheckError("active_incident ? \"a\" : 1"),
            "1:17: both branches of '?:' must have the same type; got string "
            "and int");
}

TEST(CheckerTest, ReportsEveryErrorInOneExpression) {
  TestEnv env;
  std::vector<ExprError> errors;
  auto checked = CheckAndPlan("asset.nope == 1 || vulnerability.zzz", env,
                              std::nullopt, &errors);
  EXPECT_FALSE(checked.ok());
  EXPECT_EQ(errors.size(), 2u);
}

TEST(CheckerTest, EnforcesExpectedResultType) {
  TestEnv env;
  std::vector<ExprError> errors;
  auto checked = CheckAndPlan("asset.id", env, ValueKind::kBool, &errors);
  ASSERT_FALSE(checked.ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].message, "expected a bool expression, got string");
  errors.clear();
  EXPECT_TRUE(CheckAndPlan("1", env, ValueKind::kDouble, &errors).ok());
}

TEST(CheckerTest, TypesFieldsFromTheProtoSchema) {
  TestEnv env;
  auto type_of = [&](absl::string_view text) {
    auto checked = CheckAndPlan(text, env, std::nullopt, nullptr);
    return checked.ok() ? checked->type.Name() : std::string("error");
  };
  EXPECT_EQ(type_of("first_seen"), "timestamp");
  EXPECT_EQ(type_of("asset.tags"), "list(string)");
  EXPECT_EQ(type_of("attributes"), "map(string, string)");
  EXPECT_EQ(type_of("asset.criticality"), "enum treatd.v1.Criticality");
  EXPECT_EQ(type_of("now - first_seen"), "duration");
  EXPECT_EQ(type_of("1 + 2.5"), "double");
  EXPECT_EQ(type_of("tables.t"), "string");
}

}  // namespace
}  // namespace treatd::expr
