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
            "1:17: '+' adds numbers, strings, or durations to timestamps and "
            "durations; got bool and int");
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
            "1:7: exists() needs a list, got message treatd.v1.Asset");
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
