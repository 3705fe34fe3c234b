// Differential test of the two expression evaluators: the tree walk
// (EvaluateNode) and the Program's flat array form (Program::Evaluate),
// which must agree, value for value and error for error, on every
// well-typed expression and finding. Expressions and findings are random
// (fixed seeds, so failures reproduce) and built from the Finding schema,
// with field reads planned onto the engine's typed accessors so that the
// array form takes its fast field reads and fused field-vs-constant
// comparisons; the test checks that it does.
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "tests/common/expr/accessor_env.h"
#include "tests/common/random_finding.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::expr {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// A singular field of Finding reachable from the root, by dotted path.
struct FieldRef {
  std::string path;
  const FieldDescriptor* field;
};

struct Schema {
  std::vector<FieldRef> bools, doubles, strings, enums, timestamps;
  std::vector<FieldRef> string_lists;  // repeated string
  std::vector<FieldRef> messages;      // singular sub-messages (for has())
};

void Collect(const Descriptor* type, const std::string& prefix,
             Schema* schema) {
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* f = type->field(i);
    const std::string path = prefix + f->name();
    if (f->is_map()) continue;
    if (f->is_repeated()) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
        schema->string_lists.push_back({path, f});
      }
      continue;
    }
    switch (f->cpp_type()) {
      case FieldDescriptor::CPPTYPE_BOOL:
        schema->bools.push_back({path, f});
        break;
      case FieldDescriptor::CPPTYPE_DOUBLE:
      case FieldDescriptor::CPPTYPE_FLOAT:
        schema->doubles.push_back({path, f});
        break;
      case FieldDescriptor::CPPTYPE_STRING:
        schema->strings.push_back({path, f});
        break;
      case FieldDescriptor::CPPTYPE_ENUM:
        schema->enums.push_back({path, f});
        break;
      case FieldDescriptor::CPPTYPE_MESSAGE:
        if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
          schema->timestamps.push_back({path, f});
        } else if (f->message_type()->full_name() !=
                   "google.protobuf.Duration") {
          schema->messages.push_back({path, f});
          Collect(f->message_type(), path + ".", schema);
        }
        break;
      default:
        break;
    }
  }
}

const Schema& FindingSchema() {
  static const Schema* const schema = [] {
    auto* s = new Schema();
    Collect(v1::Finding::descriptor(), "", s);
    return s;
  }();
  return *schema;
}

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed), words_(seed, {}) {}

  int Uniform(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }
  bool Chance(int percent) { return Uniform(100) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Uniform(static_cast<int>(v.size()))];
  }

  // Literals come from the same pool as the findings' strings, so that
  // comparisons are sometimes equal.
  std::string Word() { return words_.Word(); }
  // A string literal of the expression language (escapes: \n \t \r \"
  // \' and the backslash itself).
  static std::string Quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\\':
        case '"':
          out.push_back('\\');
          out.push_back(c);
          break;
        default:
          out.push_back(c);
      }
    }
    return out + "\"";
  }
  std::string DoubleLiteral() {
    const char* const kLiterals[] = {"0.0",  "0.5", "7.5",  "9.8",  "10.0",
                                     "0.97", "3.0", "1e-9", "1e308"};
    return kLiterals[Uniform(9)];
  }
  std::string IntLiteral() {
    const char* const kLiterals[] = {"0",  "1",  "2",  "7",
                                     "10", "42", "-3", "9223372036854775807"};
    return kLiterals[Uniform(8)];
  }
  // A value name of the field's enum, short ("HIGH") or full
  // ("CRITICALITY_HIGH"); both name the value.
  std::string EnumName(const FieldDescriptor* f) {
    const EnumDescriptor* e = f->enum_type();
    const auto* value = e->value(Uniform(e->value_count()));
    if (Chance(30)) return value->name();
    return std::string(EnumShortName(e, value->number()));
  }

  static const char* CompareOp(int i) {
    const char* const kOps[] = {"==", "!=", "<", "<=", ">", ">="};
    return kOps[i];
  }

  // A comparison of a field with a constant: what the array form fuses.
  std::string FieldVsConst() {
    const Schema& s = FindingSchema();
    const char* op = CompareOp(Uniform(6));
    switch (Uniform(4)) {
      case 0: {
        const FieldRef& f = Pick(s.doubles);
        return absl::StrCat(f.path, " ", op, " ",
                            Chance(30) ? IntLiteral() : DoubleLiteral());
      }
      case 1: {
        const FieldRef& f = Pick(s.strings);
        return absl::StrCat(f.path, " ", op, " ", Quoted(Word()));
      }
      case 2: {
        const FieldRef& f = Pick(s.enums);
        return absl::StrCat(f.path, " ", op, " ", Quoted(EnumName(f.field)));
      }
      default: {
        const FieldRef& f = Pick(s.bools);
        return absl::StrCat(f.path, " ", Uniform(2) ? "==" : "!=", " ",
                            Chance(50) ? "true" : "false");
      }
    }
  }

  std::string Bool(int depth) {
    const Schema& s = FindingSchema();
    if (depth <= 0 || Chance(25)) {
      switch (Uniform(5)) {
        case 0:
        case 1:
          return FieldVsConst();
        case 2:
          return Pick(s.bools).path;
        case 3:
          return absl::StrCat(
              "has(", Pick(Chance(50) ? s.messages : s.strings).path, ")");
        default:
          return Chance(50) ? "true" : "false";
      }
    }
    switch (Uniform(21)) {
      case 0:
        return absl::StrCat("!(", Bool(depth - 1), ")");
      case 1:
        return absl::StrCat("(", Bool(depth - 1), " && ", Bool(depth - 1), ")");
      case 2:
        return absl::StrCat("(", Bool(depth - 1), " || ", Bool(depth - 1), ")");
      case 3:
        return absl::StrCat("(", Bool(depth - 1), " ? ", Bool(depth - 1), " : ",
                            Bool(depth - 1), ")");
      case 4:
        return absl::StrCat(Double(depth - 1), " ", CompareOp(Uniform(6)), " ",
                            Double(depth - 1));
      case 5:
        return absl::StrCat(Int(depth - 1), " ", CompareOp(Uniform(6)), " ",
                            Int(depth - 1));
      case 6:
        return absl::StrCat(String(depth - 1), " ", CompareOp(Uniform(6)), " ",
                            String(depth - 1));
      case 7: {
        const char* const kFns[] = {"startsWith", "endsWith", "contains"};
        return absl::StrCat(String(depth - 1), ".", kFns[Uniform(3)], "(",
                            String(depth - 1), ")");
      }
      case 8:
        return absl::StrCat(String(depth - 1), " in ", StringList());
      case 9: {
        const FieldRef& f = Pick(s.enums);
        return absl::StrCat(f.path, " in [", Quoted(EnumName(f.field)), ", ",
                            Quoted(EnumName(f.field)), "]");
      }
      case 10:
        return absl::StrCat(Pick(s.string_lists).path, ".exists(x, x ",
                            CompareOp(Uniform(6)), " ", String(depth - 1), ")");
      case 11:
        return absl::StrCat("compensating_controls.",
                            Chance(50) ? "exists" : "all",
                            "(c, c.type == \"WAF\" ", Chance(50) ? "&&" : "||",
                            " c.effectiveness >= \"PARTIAL\")");
      case 12:
        return absl::StrCat(String(depth - 1), ".matches(\"^[a-z]+-[0-9]\")");
      // CEL's forms: map literals, list and map equality, bool ordering,
      // exists_one and the two-variable macros, type(), bool(), raw
      // strings and \u escapes.
      // Map keys are distinct (a duplicate constant key does not check).
      case 13: {
        const std::string key = Word();
        return absl::StrCat(Chance(50) ? String(depth - 1) : Quoted(key),
                            " in {", Quoted(key), ": ", Int(depth - 1), ", ",
                            Quoted(key + "~"), ": ", Int(depth - 1), "}");
      }
      case 14: {
        const std::string key = Word();
        return absl::StrCat("{", Quoted(key), ": ", String(depth - 1), ", ",
                            Quoted(key + "~"), ": ", String(depth - 1), "}[",
                            Chance(50) ? Quoted(key) : String(depth - 1), "] ",
                            CompareOp(Uniform(6)), " ", String(depth - 1));
      }
      case 15:
        return Chance(50)
                   ? absl::StrCat("[", String(depth - 1), ", ",
                                  String(depth - 1), "] ",
                                  Chance(50) ? "==" : "!=", " ", StringList())
                   : absl::StrCat("{", Quoted(Word()), ": ", Int(depth - 1),
                                  "} ", Chance(50) ? "==" : "!=", " {",
                                  Quoted(Word()), ": ", Int(depth - 1), "}");
      case 16:
        return absl::StrCat("(", Bool(depth - 1), ") ", CompareOp(Uniform(6)),
                            " (", Bool(depth - 1), ")");
      case 17: {
        const std::string list = Pick(s.string_lists).path;
        switch (Uniform(3)) {
          case 0:
            return absl::StrCat(list, ".exists_one(x, x ",
                                CompareOp(Uniform(6)), " ", String(depth - 1),
                                ")");
          case 1:
            return absl::StrCat(list, Chance(50) ? ".all" : ".exists",
                                "(i, v, i < ", Int(depth - 1),
                                " || v == ", String(depth - 1), ")");
          default:
            return absl::StrCat("attributes.", Chance(50) ? "all" : "existsOne",
                                "(k, v, k.startsWith(", String(depth - 1),
                                ") && v != \"\")");
        }
      }
      case 18:
        return Chance(50)
                   ? absl::StrCat("type(", String(depth - 1),
                                  ") == ", Chance(70) ? "string" : "int")
                   : absl::StrCat(
                         "bool(",
                         Quoted(Chance(70) ? (Chance(50) ? "true" : "False")
                                           : Word()),
                         ")");
      case 19:
        return absl::StrCat(String(depth - 1), Chance(50) ? " == " : " < ",
                            Chance(50) ? "r\"^\\d+\"" : "\"\\u00e9\\x41\"");
      default:
        return absl::StrCat(Time(depth - 1), " ", CompareOp(Uniform(6)), " ",
                            Time(depth - 1));
    }
  }

  std::string Double(int depth) {
    const Schema& s = FindingSchema();
    if (depth <= 0 || Chance(35)) {
      return Chance(60) ? Pick(s.doubles).path : DoubleLiteral();
    }
    switch (Uniform(5)) {
      case 0: {
        const char* const kOps[] = {"+", "-", "*", "/"};
        return absl::StrCat("(", Double(depth - 1), " ", kOps[Uniform(4)], " ",
                            Chance(30) ? Int(depth - 1) : Double(depth - 1),
                            ")");
      }
      case 1:
        return absl::StrCat(Chance(50) ? "min(" : "max(", Double(depth - 1),
                            ", ", Double(depth - 1), ")");
      case 2:
        return absl::StrCat("double(", Int(depth - 1), ")");
      case 3:
        return absl::StrCat("-", Double(depth - 1));
      default:
        return absl::StrCat("(", Bool(depth - 1), " ? ", Double(depth - 1),
                            " : ", Double(depth - 1), ")");
    }
  }

  std::string Int(int depth) {
    if (depth <= 0 || Chance(35)) {
      switch (Uniform(3)) {
        case 0:
          return "answer";
        case 1:
          return absl::StrCat("size(", Pick(FindingSchema().string_lists).path,
                              ")");
        default:
          return IntLiteral();
      }
    }
    switch (Uniform(5)) {
      case 0: {
        const char* const kOps[] = {"+", "-", "*", "/", "%"};
        return absl::StrCat("(", Int(depth - 1), " ", kOps[Uniform(5)], " ",
                            Int(depth - 1), ")");
      }
      case 1:
        return absl::StrCat("size(", String(depth - 1), ")");
      case 2:
        return absl::StrCat("int(", Double(depth - 1), ")");
      case 3:
        return absl::StrCat(Chance(50) ? "min(" : "max(", Int(depth - 1), ", ",
                            Int(depth - 1), ")");
      default:
        return absl::StrCat("int(", Pick(FindingSchema().enums).path, ")");
    }
  }

  std::string String(int depth) {
    const Schema& s = FindingSchema();
    if (depth <= 0 || Chance(35)) {
      switch (Uniform(4)) {
        case 0:
        case 1:
          return Pick(s.strings).path;
        case 2:
          return "tables.t";
        default:
          return Quoted(Word());
      }
    }
    switch (Uniform(4)) {
      case 0:
        return absl::StrCat("(", String(depth - 1), " + ", String(depth - 1),
                            ")");
      case 1:
        return absl::StrCat(
            "string(", Chance(50) ? Int(depth - 1) : Double(depth - 1), ")");
      case 2:
        return absl::StrCat("(", Bool(depth - 1), " ? ", String(depth - 1),
                            " : ", String(depth - 1), ")");
      default:
        return absl::StrCat("attributes[", Quoted(Word()), "]");
    }
  }

  std::string StringList() {
    return absl::StrCat("[", Quoted(Word()), ", ", Quoted(Word()), "]");
  }

  std::string Time(int depth) {
    const Schema& s = FindingSchema();
    if (depth <= 0 || Chance(50)) {
      return Chance(70) ? Pick(s.timestamps).path : "now";
    }
    const char* const kDurations[] = {"\"72h\"", "\"14d\"", "\"90s\"",
                                      "\"0s\""};
    return absl::StrCat("(", Time(depth - 1), Chance(50) ? " + " : " - ",
                        "duration(", kDurations[Uniform(4)], "))");
  }

 private:
  std::mt19937 rng_;
  testing::RandomFindings words_;
};

std::string Render(const Value& v) {
  if (v.is_error()) return absl::StrCat("error: ", v.error());
  return ValueToString(v, /*quote_strings=*/true);
}

TEST(EvaluatorDifferentialTest, TreeAndArrayFormsAgreeOnRandomExpressions) {
  constexpr int kExpressions = 4000;
  constexpr int kFindingsPerExpression = 6;
  AccessorTestEnv env;
  int checked = 0, fused = 0, fast_fields = 0, rejected = 0;
  std::vector<std::string> rejections;
  for (int i = 0; i < kExpressions; ++i) {
    Generator gen(static_cast<uint32_t>(i));
    const std::string text = gen.Bool(1 + gen.Uniform(4));
    std::vector<ExprError> errors;
    absl::StatusOr<CheckedProgram> program =
        CheckAndPlan(text, env, ValueKind::kBool, &errors);
    if (!program.ok()) {
      ++rejected;
      if (rejections.size() < 5) {
        rejections.push_back(absl::StrCat(
            text, " -> ", errors.empty() ? "?" : errors[0].message));
      }
      continue;
    }
    ++checked;
    for (const Instr& in : program->program->code()) {
      fused += in.field_vs_const ? 1 : 0;
      fast_fields += in.fast_field ? 1 : 0;
    }
    testing::RandomFindingOptions options;
    options.invalid = true;  // The evaluators must agree on any finding.
    testing::RandomFindings findings(static_cast<uint32_t>(i), options);
    for (int k = 0; k < kFindingsPerExpression; ++k) {
      const v1::Finding finding = findings.Next();
      TestSlots slots;
      Frame array_frame(&finding, TestNow(), &slots);
      Frame tree_frame(&finding, TestNow(), &slots);
      const std::string array = Render(program->program->Evaluate(array_frame));
      const std::string tree =
          Render(EvaluateNode(program->program->root(), tree_frame));
      ASSERT_EQ(array, tree) << "expression: " << text
                             << "\nfinding: " << finding.ShortDebugString();
    }
  }
  // The generator writes well-typed expressions; a rejection is a
  // generator bug that would silently shrink the test.
  EXPECT_EQ(rejected, 0) << absl::StrJoin(rejections, "\n");
  // The array form's special instructions are reached, often (with these
  // seeds: about 1000 fused comparisons and 2900 fast field reads).
  EXPECT_GT(fused, kExpressions / 5);
  EXPECT_GT(fast_fields, kExpressions / 2);
  EXPECT_GT(checked, kExpressions * 9 / 10);
}

// The fused comparison reads the field in place; its result must equal the
// tree's on values at the edges: NaN, signed zeros, enum numbers the enum
// does not name, and strings that differ only in case or UTF-8 bytes.
TEST(EvaluatorDifferentialTest, FusedComparisonsAgreeAtTheEdges) {
  AccessorTestEnv env;
  const std::vector<std::string> expressions = {
      "vulnerability.cvss.score >= 7.0",
      "vulnerability.cvss.score < 7",
      "vulnerability.cvss.score == 0",
      "vulnerability.cvss.score != 0.0",
      "vulnerability.epss.score > 0.5",
      "asset.criticality >= \"HIGH\"",
      "asset.criticality == \"CRITICALITY_UNSPECIFIED\"",
      "asset.exposure != \"INTERNET\"",
      "asset.id == \"web-1\"",
      "asset.id < \"Web-1\"",
      "active_incident == true",
      "vulnerability.kev.listed != false"};
  std::vector<v1::Finding> findings(6);
  findings[0].mutable_vulnerability()->mutable_cvss()->set_score(
      std::numeric_limits<double>::quiet_NaN());
  findings[1].mutable_vulnerability()->mutable_cvss()->set_score(-0.0);
  findings[2].mutable_asset()->set_criticality(
      static_cast<v1::Criticality>(77));
  findings[3].mutable_asset()->set_id("\xc3\xa9");
  findings[4].mutable_vulnerability()->mutable_epss()->set_score(
      std::numeric_limits<double>::infinity());
  findings[5].set_active_incident(true);
  for (const std::string& text : expressions) {
    std::vector<ExprError> errors;
    absl::StatusOr<CheckedProgram> program =
        CheckAndPlan(text, env, ValueKind::kBool, &errors);
    ASSERT_TRUE(program.ok()) << text << ": " << errors[0].message;
    ASSERT_TRUE(program->program->code()[0].field_vs_const) << text;
    for (const v1::Finding& finding : findings) {
      TestSlots slots;
      Frame a(&finding, TestNow(), &slots);
      Frame t(&finding, TestNow(), &slots);
      EXPECT_EQ(Render(program->program->Evaluate(a)),
                Render(EvaluateNode(program->program->root(), t)))
          << text << " on " << finding.ShortDebugString();
    }
  }
}

}  // namespace
}  // namespace treatd::expr
