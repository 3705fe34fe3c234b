#include <string>

#include "absl/time/time.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "tests/common/expr/test_env.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::expr {
namespace {

v1::Finding Sample() {
  v1::Finding f;
  const bool ok = google::protobuf::TextFormat::ParseFromString(
      R"pb(
        id: "f-1"
        kind: FINDING_KIND_VULNERABILITY
        vulnerability {
          cve_id: "CVE-2024-3094"
          cvss { score: 9.8 }
          exploit_maturity: EXPLOIT_MATURITY_ACTIVE
          kev { listed: true }
        }
        package { name: "xz" fixed_versions: "5.6.2" fixed_versions: "5.4.6" }
        asset {
          id: "web-1"
          exposure: EXPOSURE_INTERNAL
          criticality: CRITICALITY_HIGH
          tags: "pci"
          labels { key: "team" value: "payments" }
        }
        compensating_controls {
          type: CONTROL_TYPE_WAF
          effectiveness: CONTROL_EFFECTIVENESS_PARTIAL
        }
        compensating_controls {
          type: CONTROL_TYPE_EDR
          effectiveness: CONTROL_EFFECTIVENESS_FULL
        }
        first_seen { seconds: 1795478400 }  # 2026-11-24T00:00:00Z
        attributes { key: "owner" value: "alice" }
      )pb",
      &f);
  EXPECT_TRUE(ok);
  return f;
}

TEST(ProgramTest, ComparesAndCombinesScalars) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("vulnerability.cvss.score >= 9 && asset.id == \"web-1\"", f),
            "true");
  EXPECT_EQ(Eval("vulnerability.cvss.score < 9 || asset.id != \"web-1\"", f),
            "false");
  EXPECT_EQ(Eval("!active_incident", f), "true");
  EXPECT_EQ(Eval("\"abc\" < \"abd\"", f), "true");
}

TEST(ProgramTest, ComparesEnumsByNameAndOrder) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("asset.exposure == \"INTERNAL\"", f), "true");
  EXPECT_EQ(Eval("asset.criticality >= \"HIGH\"", f), "true");
  EXPECT_EQ(Eval("asset.criticality > \"HIGH\"", f), "false");
  EXPECT_EQ(Eval("vulnerability.exploit_maturity in [\"POC\", \"ACTIVE\"]", f),
            "true");
}

TEST(ProgramTest, DoesArithmeticWithIntDoubleMixing) {
  EXPECT_EQ(Eval("7 / 2"), "3");
  EXPECT_EQ(Eval("7 % 3"), "1");
  EXPECT_EQ(Eval("7 / 2.0"), "3.5");
  EXPECT_EQ(Eval("1 + 0.5 * 3"), "2.5");
  EXPECT_EQ(Eval("-(2 - 5)"), "3");
  EXPECT_EQ(Eval("\"a\" + \"b\""), "\"ab\"");
}

TEST(ProgramTest, IntegerDivisionByZeroIsAnError) {
  EXPECT_EQ(Eval("1 / 0"), "error: division by zero");
  EXPECT_EQ(Eval("1 % 0"), "error: modulus by zero");
  EXPECT_EQ(Eval("1.0 / 0"), "inf");
}

TEST(ProgramTest, IntegerOverflowIsAnError) {
  EXPECT_EQ(Eval("9223372036854775807 + 1"), "error: integer overflow");
}

TEST(ProgramTest, LogicalOperatorsAbsorbErrorsLikeCel) {
  EXPECT_EQ(Eval("1 / 0 == 1 && false"), "false");
  EXPECT_EQ(Eval("true || 1 / 0 == 1"), "true");
  EXPECT_EQ(Eval("1 / 0 == 1 || false"), "error: division by zero");
}

TEST(ProgramTest, ReadsDefaultsThroughUnsetMessages) {
  v1::Finding empty;
  EXPECT_EQ(Eval("vulnerability.cvss.score", empty), "0");
  EXPECT_EQ(Eval("asset.exposure", empty), "UNSPECIFIED");
  EXPECT_EQ(Eval("size(asset.tags)", empty), "0");
  EXPECT_EQ(Eval("vulnerability.cve_id", empty), "\"\"");
}

TEST(ProgramTest, HasReportsPresence) {
  v1::Finding f = Sample();
  EXPECT_EQ(Eval("has(vulnerability.cvss.score)", f), "true");
  EXPECT_EQ(Eval("has(vulnerability.epss.score)", f), "false");
  EXPECT_EQ(Eval("has(vulnerability.epss)", f), "false");
  EXPECT_EQ(Eval("has(asset.tags)", f), "true");
  EXPECT_EQ(Eval("has(fix.change_freeze)", f), "false");
  EXPECT_EQ(Eval("has(first_seen)", f), "true");
  EXPECT_EQ(Eval("has(last_seen)", f), "false");
  f.mutable_vulnerability()->mutable_cvss()->set_score(0);
  EXPECT_EQ(Eval("has(vulnerability.cvss.score)", f), "true");
}

TEST(ProgramTest, IndexesListsAndMaps) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("package.fixed_versions[1]", f), "\"5.4.6\"");
  EXPECT_EQ(Eval("package.fixed_versions[2]", f),
            "error: index 2 out of range for a list of size 2");
  EXPECT_EQ(Eval("attributes[\"owner\"]", f), "\"alice\"");
  EXPECT_EQ(Eval("asset.labels[\"team\"]", f), "\"payments\"");
  EXPECT_EQ(Eval("attributes[\"nope\"]", f), "error: no key \"nope\" in map");
  EXPECT_EQ(Eval("\"owner\" in attributes && !(\"x\" in attributes)", f),
            "true");
  EXPECT_EQ(Eval("\"pci\" in asset.tags", f), "true");
}

TEST(ProgramTest, SizeCountsCodePointsElementsAndEntries) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("size(asset.id)", f), "5");
  EXPECT_EQ(Eval("size('\u00e9t\u00e9')", f), "3");
  EXPECT_EQ(Eval("package.fixed_versions.size()", f), "2");
  EXPECT_EQ(Eval("size(attributes)", f), "1");
  EXPECT_EQ(Eval("size({'a': 1, 'b': 2})", f), "2");
}

TEST(ProgramTest, MapLiteralsIndexTestAndCompare) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("{'prod': 1, 'dev': 2}['dev']", f), "2");
  EXPECT_EQ(Eval("{'prod': 1, 'dev': 2}['qa']", f),
            "error: no key \"qa\" in map");
  EXPECT_EQ(Eval("{asset.id: 1}[asset.id]", f), "1");
  EXPECT_EQ(Eval("'dev' in {'prod': 1, 'dev': 2} && !(3 in {1: 'a'})", f),
            "true");
  EXPECT_EQ(Eval("{'a': 1, 'b': 2} == {'b': 2, 'a': 1}", f), "true");
  EXPECT_EQ(Eval("{'a': 1} == {'a': 2}", f), "false");
  EXPECT_EQ(Eval("{asset.id: 1, 'web-1': 2}", f),
            "error: duplicate map key \"web-1\"");
  EXPECT_EQ(Eval("asset.labels == {'team': 'payments'}", f), "true");
  EXPECT_EQ(Eval("{'a': 1, 'b': 2.5}['a']", f),
            "check: map values must have one type; found int and double "
            "(write 1.0 rather than 1 to make every number a double)");
}

TEST(ProgramTest, ComparesListsAndOrdersBools) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("[1, 2] == [1, 2] && [1, 2] != [2, 1] && [] == []", f),
            "true");
  EXPECT_EQ(Eval("package.fixed_versions == ['5.6.2', '5.4.6']", f), "true");
  EXPECT_EQ(Eval("[[1], [2]] == [[1], [2]]", f), "true");
  EXPECT_EQ(Eval("false < true && !(true < true)", f), "true");
  EXPECT_EQ(Eval("package.fixed_versions + ['6.0'] + []", f),
            "[\"5.6.2\", \"5.4.6\", \"6.0\"]");
}

TEST(ProgramTest, ExistsOneAndTwoVariableMacros) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("[1, 2, 3].exists_one(x, x > 2)", f), "true");
  EXPECT_EQ(Eval("[1, 2, 3].exists_one(x, x > 1)", f), "false");
  EXPECT_EQ(Eval("[3, 2, 1, 0].existsOne(i, v, v / i > 1)", f),
            "error: division by zero");
  EXPECT_EQ(Eval("[5, 7, 8].exists(i, v, v % 5 == i)", f), "true");
  EXPECT_EQ(Eval("['a', 'b'].all(i, v, i < 2 && v != '')", f), "true");
  EXPECT_EQ(Eval("asset.labels.exists(k, k == 'team')", f), "true");
  EXPECT_EQ(Eval("attributes.all(k, v, k == 'owner' && v == 'alice')", f),
            "true");
  EXPECT_EQ(Eval("{'a': 1, 'b': 2}.exists_one(k, v, v > 1)", f), "true");
  EXPECT_EQ(Eval("[].exists(e, e == 2)", f), "false");
  EXPECT_EQ(Eval("[].all(e, e > 0)", f), "true");
}

TEST(ProgramTest, TypeBoolAndNull) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("type(asset.id) == string && type([1]) == list", f), "true");
  EXPECT_EQ(Eval("type(1 / 0) == int", f), "error: division by zero");
  EXPECT_EQ(Eval("type(duration('1h'))", f), "google.protobuf.Duration");
  EXPECT_EQ(Eval("bool('true') && !bool('f')", f), "true");
  EXPECT_EQ(Eval("bool('yes')", f), "error: cannot convert \"yes\" to bool");
  EXPECT_EQ(Eval("null == null", f), "true");
}

TEST(ProgramTest, StringMethods) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("vulnerability.cve_id.startsWith(\"CVE-2024\")", f), "true");
  EXPECT_EQ(Eval("vulnerability.cve_id.endsWith(\"3094\")", f), "true");
  EXPECT_EQ(Eval("asset.id.contains(\"b-\")", f), "true");
  EXPECT_EQ(Eval("vulnerability.cve_id.matches(\"^CVE-\\\\d{4}-\\\\d+$\")", f),
            "true");
  EXPECT_EQ(Eval("asset.id.matches(\"^db\")", f), "false");
}

TEST(ProgramTest, ExistsAndAllIterateRepeatedMessages) {
  const v1::Finding f = Sample();
  EXPECT_EQ(
      Eval("compensating_controls.exists(c, c.effectiveness == \"FULL\")", f),
      "true");
  EXPECT_EQ(
      Eval("compensating_controls.all(c, c.effectiveness == \"FULL\")", f),
      "false");
  EXPECT_EQ(Eval("asset.tags.all(t, t.startsWith(\"p\"))", f), "true");
  EXPECT_EQ(Eval("[1, 2, 3].exists(x, [4, 3].exists(y, x == y))", f), "true");
  v1::Finding empty;
  EXPECT_EQ(Eval("compensating_controls.all(c, false)", empty), "true");
  EXPECT_EQ(Eval("compensating_controls.exists(c, true)", empty), "false");
}

TEST(ProgramTest, ExistsYieldsTrueDespiteErrorsInOtherElements) {
  EXPECT_EQ(Eval("[0, 1].exists(x, 1 / x == 1)"), "true");
  EXPECT_EQ(Eval("[0, 2].exists(x, 1 / x == 1)"), "error: division by zero");
}

TEST(ProgramTest, ConvertsBetweenTypes) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("int(9.9)"), "9");
  EXPECT_EQ(Eval("int(\"42\")"), "42");
  EXPECT_EQ(Eval("int(\"x\")"), "error: cannot convert \"x\" to int");
  EXPECT_EQ(Eval("int(asset.criticality)", f), "3");
  EXPECT_EQ(Eval("double(3)"), "3");
  EXPECT_EQ(Eval("string(asset.exposure)", f), "\"INTERNAL\"");
  EXPECT_EQ(Eval("string(2.5) + string(1)"), "\"2.51\"");
}

TEST(ProgramTest, MinAndMaxMixNumbers) {
  EXPECT_EQ(Eval("min(3, 4)"), "3");
  EXPECT_EQ(Eval("max(3, 4.5)"), "4.5");
  EXPECT_EQ(Eval("min(10.0, 12) * 2"), "20");
}

TEST(ProgramTest, TimeArithmeticAgainstNow) {
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("now - first_seen", f), "7d");
  EXPECT_EQ(Eval("now - first_seen > duration(\"6d\")", f), "true");
  EXPECT_EQ(Eval("first_seen + duration(\"1d12h\")", f),
            "2026-11-25T12:00:00Z");
  EXPECT_EQ(Eval("now - duration(\"2w\") < first_seen", f), "true");
  EXPECT_EQ(Eval("now == timestamp(\"2026-12-01T00:00:00Z\")"), "true");
  EXPECT_EQ(Eval("duration(\"36h\") + duration(\"12h\")"), "2d");
}

TEST(ProgramTest, ConditionalPicksBranchAndWidensToDouble) {
  const v1::Finding f = Sample();
  EXPECT_EQ(
      Eval("has(vulnerability.cvss.score) ? vulnerability.cvss.score : 5", f),
      "9.8");
  EXPECT_EQ(Eval("false ? 1.5 : 5"), "5");
}

TEST(ProgramTest, ReadsSlotsThroughTheResolver) {
  EXPECT_EQ(Eval("answer + 1"), "43");
  EXPECT_EQ(Eval("tables.t == \"act\""), "true");
}

TEST(ProgramTest, ExplainsFirstFalseConjunctWithOperandValues) {
  const v1::Finding f = Sample();
  TestEnv env;
  auto checked = CheckAndPlan(
      "vulnerability.kev.listed && asset.exposure == \"INTERNET\" && "
      "active_incident",
      env, ValueKind::kBool, nullptr);
  ASSERT_TRUE(checked.ok());
  TestSlots slots;
  Frame frame(&f, TestNow(), &slots);
  EXPECT_EQ(checked->program->ExplainNotTrue(frame),
            "`asset.exposure == \"INTERNET\"` is false: asset.exposure is "
            "INTERNAL");
}

TEST(ProgramTest, ExplainsFailingConjunct) {
  const v1::Finding f = Sample();
  TestEnv env;
  auto checked = CheckAndPlan("package.fixed_versions[5] == \"x\"", env,
                              ValueKind::kBool, nullptr);
  ASSERT_TRUE(checked.ok());
  TestSlots slots;
  Frame frame(&f, TestNow(), &slots);
  EXPECT_EQ(checked->program->ExplainNotTrue(frame),
            "`package.fixed_versions[5] == \"x\"` failed: index 5 out of range "
            "for a list of size 2: package.fixed_versions[5] failed: index 5 "
            "out of range for a list of size 2");
}

TEST(ProgramTest, RendersValuesForTemplates) {
  EXPECT_EQ(ValueToString(Value::Double(0.1)), "0.1");
  EXPECT_EQ(ValueToString(Value::Double(10)), "10");
  EXPECT_EQ(ValueToString(Value::Duration(absl::Hours(36))), "36h");
  EXPECT_EQ(ValueToString(Value::Duration(absl::Hours(72))), "3d");
  const v1::Finding f = Sample();
  EXPECT_EQ(Eval("package.fixed_versions", f), "[\"5.6.2\", \"5.4.6\"]");
}

TEST(ProgramTest, RendersTimestampsLikeAbslFormatTime) {
  const auto expected = [](absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
  };
  // Leap days, century rules, negative epoch offsets, fractions, and the
  // years outside 1000..9999 that take the general path.
  for (absl::Time t :
       {absl::UnixEpoch(), absl::FromUnixSeconds(951782400),  // 2000-02-29
        absl::FromUnixSeconds(4107542400),                    // 2100-03-01
        absl::FromUnixSeconds(-1) + absl::Milliseconds(250),
        absl::FromUnixSeconds(-30610224000),  // 1000-01-01
        absl::FromUnixSeconds(-30610224001),
        absl::FromUnixSeconds(253402300799) + absl::Nanoseconds(1),
        absl::FromUnixSeconds(253402300800)}) {
    EXPECT_EQ(RenderTimestamp(t), expected(t));
  }
  // One instant a little over every 3 days for 200 years around the epoch.
  for (int64_t s = -3155760000; s < 3155760000; s += 263111) {
    const absl::Time t = absl::FromUnixSeconds(s) + absl::Microseconds(s % 7);
    ASSERT_EQ(RenderTimestamp(t), expected(t));
  }
}

}  // namespace
}  // namespace treatd::expr
