// WriteSeeds() (fuzz_seeds.h): seed corpora and dictionaries derived from
// the repository's own files.
#include "tests/fuzz/fuzz_seeds.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/io/read_file.h"
#include "common/policy/loader/yaml_proto.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/policy.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::fuzz {
namespace {

namespace fs = std::filesystem;
using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

class SeedWriter {
 public:
  SeedWriter(fs::path source, fs::path out)
      : source_(std::move(source)), out_(std::move(out)) {}

  // The bytes of a source file; exits when it cannot be read.
  std::string Read(const fs::path& relative) const {
    absl::StatusOr<std::string> text =
        ReadFileToString((source_ / relative).string());
    if (!text.ok()) {
      std::cerr << text.status() << "\n";
      std::exit(1);
    }
    return *std::move(text);
  }

  // The files of a source directory whose names end in `suffix`, sorted.
  std::vector<fs::path> List(const fs::path& relative_dir,
                             absl::string_view suffix) const {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(source_ / relative_dir)) {
      if (entry.is_regular_file() &&
          absl::EndsWith(entry.path().filename().string(), suffix)) {
        files.push_back(relative_dir / entry.path().filename());
      }
    }
    std::sort(files.begin(), files.end());
    return files;
  }

  void Seed(absl::string_view target, absl::string_view name,
            absl::string_view bytes) {
    const fs::path dir = out_ / "seeds" / std::string(target);
    fs::create_directories(dir);
    std::ofstream(dir / std::string(name), std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    ++seeds_[std::string(target)];
  }

  void Dict(absl::string_view target, const std::set<std::string>& tokens) {
    fs::create_directories(out_ / "dict");
    std::ofstream out(out_ / "dict" / absl::StrCat(target, ".dict"));
    for (const std::string& token : tokens) {
      if (token.empty() || token.size() > 64) continue;
      out << '"';
      for (unsigned char c : token) {
        if (c == '"' || c == '\\') {
          out << '\\' << c;
        } else if (c < 0x20 || c >= 0x7f) {
          char hex[5];
          std::snprintf(hex, sizeof(hex), "\\x%02X", c);
          out << hex;
        } else {
          out << c;
        }
      }
      out << "\"\n";
    }
  }

  const std::map<std::string, int>& counts() const { return seeds_; }

 private:
  const fs::path source_;
  const fs::path out_;
  std::map<std::string, int> seeds_;
};

// The same JSON with every array cut to its first `keep` elements: small
// seeds with the whole structure of a large sample.
nlohmann::json Shrink(const nlohmann::json& value, size_t keep) {
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < value.size() && i < keep; ++i) {
      out.push_back(Shrink(value[i], keep));
    }
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.items()) out[key] = Shrink(item, keep);
    return out;
  }
  return value;
}

void CollectJsonKeys(const nlohmann::json& value, std::set<std::string>* out) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      out->insert(absl::StrCat("\"", key, "\":"));
      CollectJsonKeys(item, out);
    }
  } else if (value.is_array()) {
    for (const auto& item : value) CollectJsonKeys(item, out);
  } else if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    // Short strings are mostly enumerations the importers compare against.
    if (s.size() <= 24) out->insert(absl::StrCat("\"", s, "\""));
  }
}

void AddJsonPunctuation(std::set<std::string>* tokens) {
  for (const char* token :
       {"{", "}", "[", "]", ":", ",", "\"\"", "null", "true", "false", "0",
        "-1", "1e308", "0.5", "\"\\u0000\"", "\"\\ud800\""}) {
    tokens->insert(token);
  }
}

// The field names of `type` and the messages it contains as YAML keys, and
// the names of every enum value they use (with and without the prefix).
void CollectSchema(const Descriptor* type, std::set<const Descriptor*>* seen,
                   std::set<std::string>* keys,
                   std::set<std::string>* enum_values) {
  if (!seen->insert(type).second) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    keys->insert(field->name());
    if (const EnumDescriptor* e = field->enum_type()) {
      for (int j = 0; j < e->value_count(); ++j) {
        const std::string& name = e->value(j)->name();
        enum_values->insert(name);
        const size_t cut = name.find('_');
        // Enum values are also accepted without their prefix; the prefix
        // is the enum's name in upper snake case, one or more words.
        for (size_t at = cut; at != std::string::npos;
             at = name.find('_', at + 1)) {
          enum_values->insert(name.substr(at + 1));
        }
      }
    }
    if (const Descriptor* sub = field->message_type()) {
      CollectSchema(sub, seen, keys, enum_values);
    }
  }
}

// Dotted paths of the Finding's fields as expressions name them.
void CollectFieldPaths(const Descriptor* type, const std::string& prefix,
                       int depth, std::set<std::string>* out) {
  if (depth > 3) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor* field = type->field(i);
    const std::string path = absl::StrCat(prefix, field->name());
    out->insert(path);
    if (field->message_type() != nullptr && !field->is_map()) {
      CollectFieldPaths(field->message_type(), path + ".", depth + 1, out);
    }
  }
}

// The expression strings of a parsed policy: let values, table inputs and
// rows, risk scores, rule conditions and priorities, exception and action
// conditions, and the {{ }} placeholders of texts.
void CollectExpressions(const Message& message, std::vector<std::string>* out) {
  const Reflection* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  static const std::set<std::string> kExpressionFields = {
      "when", "expr", "inherent", "residual", "priority"};
  for (const FieldDescriptor* field : fields) {
    if (field->is_map()) {
      // Policy.let: name -> expression.
      if (field->name() == "let") {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
          const Message& entry =
              reflection->GetRepeatedMessage(message, field, i);
          out->push_back(entry.GetReflection()->GetString(
              entry, entry.GetDescriptor()->map_value()));
        }
      }
      continue;
    }
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      const int n =
          field->is_repeated() ? reflection->FieldSize(message, field) : 1;
      for (int i = 0; i < n; ++i) {
        CollectExpressions(
            field->is_repeated()
                ? reflection->GetRepeatedMessage(message, field, i)
                : reflection->GetMessage(message, field),
            out);
      }
      continue;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_STRING) continue;
    std::vector<std::string> values;
    if (field->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, field); ++i) {
        values.push_back(reflection->GetRepeatedString(message, field, i));
      }
    } else {
      values.push_back(reflection->GetString(message, field));
    }
    for (const std::string& value : values) {
      if (kExpressionFields.count(field->name()) > 0) out->push_back(value);
      // Template placeholders.
      for (size_t at = value.find("{{"); at != std::string::npos;
           at = value.find("{{", at + 2)) {
        const size_t end = value.find("}}", at);
        if (end == std::string::npos) break;
        out->push_back(std::string(
            absl::StripAsciiWhitespace(value.substr(at + 2, end - at - 2))));
      }
    }
  }
}

void PolicySeeds(SeedWriter& w) {
  std::vector<fs::path> policies = w.List("policies", ".yaml");
  for (const fs::path& p : w.List("bench/policies", ".yaml")) {
    policies.push_back(p);
  }
  std::vector<std::string> expressions;
  for (const fs::path& path : policies) {
    const std::string yaml = w.Read(path);
    w.Seed("policy_yaml", path.filename().string(), yaml);
    v1::Policy policy;
    std::vector<v1::PolicyIssue> issues;
    if (YamlToMessage(yaml, path.string(), &policy, nullptr, &issues).ok()) {
      CollectExpressions(policy, &expressions);
    }
  }
  std::set<std::string> unique(expressions.begin(), expressions.end());
  int n = 0;
  for (const std::string& e : unique) {
    if (!e.empty()) w.Seed("expression", absl::StrCat("policy-", n++), e);
  }

  std::set<std::string> keys, enum_values;
  std::set<const Descriptor*> seen;
  CollectSchema(v1::Policy::descriptor(), &seen, &keys, &enum_values);
  std::set<std::string> policy_dict;
  for (const std::string& key : keys) policy_dict.insert(key + ": ");
  policy_dict.insert(enum_values.begin(), enum_values.end());
  for (const char* token : {"- ",
                            "\n  ",
                            "\n    - ",
                            ": |\n",
                            ": >-\n",
                            "\"",
                            "'",
                            "[",
                            "]",
                            "{",
                            "}",
                            "&a",
                            "*a",
                            "<<: ",
                            "---",
                            "...",
                            "!!str ",
                            "#",
                            "72h",
                            "14d",
                            "2w",
                            "1d12h",
                            "90s",
                            "2026-01-01",
                            "{{ ",
                            " }}",
                            "tables.",
                            "risk.inherent",
                            "risk.residual"}) {
    policy_dict.insert(token);
  }

  std::set<std::string> expr_dict;
  CollectFieldPaths(v1::Finding::descriptor(), "", 0, &expr_dict);
  std::set<std::string> finding_keys, finding_enums;
  std::set<const Descriptor*> finding_seen;
  CollectSchema(v1::Finding::descriptor(), &finding_seen, &finding_keys,
                &finding_enums);
  for (const std::string& e : finding_enums) {
    expr_dict.insert(absl::StrCat("\"", e, "\""));
  }
  for (const char* token : {"&&",
                            "||",
                            "!",
                            "==",
                            "!=",
                            "<",
                            "<=",
                            ">",
                            ">=",
                            "+",
                            "-",
                            "*",
                            "/",
                            "%",
                            "?",
                            ":",
                            "(",
                            ")",
                            "[",
                            "]",
                            "{",
                            "}",
                            ",",
                            ".",
                            " in ",
                            "true",
                            "false",
                            "null",
                            "has(",
                            "size(",
                            "int(",
                            "double(",
                            "string(",
                            "min(",
                            "max(",
                            "duration(",
                            "timestamp(",
                            ".exists(",
                            ".all(",
                            ".startsWith(",
                            ".endsWith(",
                            ".contains(",
                            ".matches(",
                            ".exists_one(",
                            ".existsOne(",
                            "bool(",
                            "type(",
                            "int",
                            "list",
                            "map",
                            "null_type",
                            "{\"a\": 1}",
                            "k, v, ",
                            "i, v, ",
                            "r'",
                            "'''",
                            "\\x41",
                            "\\101",
                            "\\U0001F600",
                            "now",
                            "tables.t",
                            "answer",
                            "x, ",
                            "\"24h\"",
                            "\"2026-01-01T00:00:00Z\"",
                            "9223372036854775807",
                            "-9223372036854775808",
                            "1.5e308",
                            "0.0",
                            "\"\\u00e9\"",
                            "'",
                            "\"\"\"",
                            "r\"",
                            "b\"",
                            "\\",
                            "u",
                            "1u"}) {
    expr_dict.insert(token);
  }
  expr_dict.insert(expressions.begin(), expressions.end());
  // Policy expressions are dictionary entries of the policy fuzzer too.
  policy_dict.insert(expr_dict.begin(), expr_dict.end());
  w.Dict("policy_yaml", policy_dict);
  w.Dict("expression", expr_dict);
}

// `treatctl test` suites: the shipped policy's cases, whole and its first
// cases alone (the whole file is large for a fuzzer); the dictionary has
// the suite's schema.
void PolicyTestsSeeds(SeedWriter& w, const std::string& yaml) {
  w.Seed("policy_tests_yaml", "default_cases.yaml", yaml);
  // The header and the first three cases: cut before the fourth "- ".
  size_t cut = 0;
  for (int i = 0; i < 4 && cut != std::string::npos; ++i) {
    cut = yaml.find("\n- ", cut + 1);
  }
  if (cut != std::string::npos) {
    w.Seed("policy_tests_yaml", "default_cases-3.yaml", yaml.substr(0, cut));
  }
  std::set<std::string> keys, enum_values;
  std::set<const Descriptor*> seen;
  CollectSchema(v1::PolicyTestSuite::descriptor(), &seen, &keys, &enum_values);
  std::set<std::string> dict(enum_values.begin(), enum_values.end());
  for (const std::string& key : keys) dict.insert(key + ": ");
  for (const char* token : {"- ", "\n  ", "\n    ", "\"", "[", "]", "{", "}",
                            "2026-01-01T00:00:00Z", "72h", "true", "null"}) {
    dict.insert(token);
  }
  w.Dict("policy_tests_yaml", dict);
}

void FindingSeeds(SeedWriter& w) {
  int n = 0;
  for (absl::string_view line :
       absl::StrSplit(w.Read("examples/findings.jsonl"), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    v1::Finding finding;
    if (google::protobuf::util::JsonStringToMessage(std::string(line), &finding)
            .ok()) {
      w.Seed("finding_proto", absl::StrCat("example-", n++),
             finding.SerializeAsString());
    }
  }
  // The findings of the shipped policy's test cases.
  v1::PolicyTestSuite suite;
  std::vector<v1::PolicyIssue> issues;
  const fs::path cases = "tests/testdata/policy_tests/default_cases.yaml";
  const std::string cases_yaml = w.Read(cases);
  PolicyTestsSeeds(w, cases_yaml);
  if (YamlToMessage(cases_yaml, cases.string(), &suite, nullptr, &issues)
          .ok()) {
    for (const v1::PolicyTestCase& c : suite.cases()) {
      w.Seed("finding_proto", absl::StrCat("case-", n++),
             c.finding().SerializeAsString());
    }
  }
}

void JsonSeeds(SeedWriter& w, absl::string_view target,
               const std::vector<fs::path>& files,
               std::set<std::string>* dict) {
  for (const fs::path& path : files) {
    const std::string text = w.Read(path);
    const std::string name = path.filename().string();
    w.Seed(target, name, text);
    const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) continue;
    CollectJsonKeys(doc, dict);
    w.Seed(target, name + ".shrunk", Shrink(doc, 2).dump(1));
  }
}

void ImporterSeeds(SeedWriter& w) {
  const std::pair<const char*, const char*> kFormats[] = {
      {"import_trivy", "trivy"},     {"import_grype", "grype"},
      {"import_sarif", "sarif"},     {"import_cyclonedx", "cyclonedx"},
      {"import_openvex", "openvex"}, {"import_csaf", "csaf"},
  };
  const fs::path scanners = "tests/testdata/scanners";
  std::set<std::string> all_keys;
  for (const auto& [target, dir] : kFormats) {
    std::set<std::string> dict;
    AddJsonPunctuation(&dict);
    std::vector<fs::path> files = w.List(scanners / dir, ".json");
    for (const fs::path& p : w.List(scanners / dir, ".sarif")) {
      files.push_back(p);
    }
    JsonSeeds(w, target, files, &dict);
    JsonSeeds(w, "detect_format", files, &all_keys);
    w.Dict(target, dict);
  }
  AddJsonPunctuation(&all_keys);
  w.Dict("detect_format", all_keys);

  // `trivy k8s` cluster reports, the only seeds of their own target so
  // that its time goes to the cluster path.
  std::set<std::string> cluster_dict;
  AddJsonPunctuation(&cluster_dict);
  std::vector<fs::path> clusters;
  for (const fs::path& p : w.List(scanners / "trivy", ".json")) {
    if (absl::StartsWith(p.filename().string(), "k8s-")) clusters.push_back(p);
  }
  JsonSeeds(w, "import_trivy_cluster", clusters, &cluster_dict);
  for (const char* kind : {"\"Pod\"", "\"Deployment\"", "\"CronJob\"",
                           "\"Service\"", "\"ClusterRole\"", "\"Node\""}) {
    cluster_dict.insert(kind);
  }
  w.Dict("import_trivy_cluster", cluster_dict);

  // --vex documents: every format that carries VEX statements.
  std::set<std::string> vex_dict;
  AddJsonPunctuation(&vex_dict);
  std::vector<fs::path> vex = w.List(scanners / "openvex", ".json");
  for (const fs::path& p : w.List(scanners / "csaf", ".json")) {
    vex.push_back(p);
  }
  vex.push_back(scanners / "cyclonedx" / "cisa-case-3-vex.json");
  for (const fs::path& p : w.List("tests/testdata/vex", ".json")) {
    vex.push_back(p);
  }
  JsonSeeds(w, "vex_document", vex, &vex_dict);
  w.Dict("vex_document", vex_dict);
}

// The JSON names of the Finding's fields and its enum values, JSON
// punctuation and the forms protobuf's mapping gives timestamps, durations
// and escapes.
std::set<std::string> FindingJsonDict() {
  std::set<std::string> dict;
  AddJsonPunctuation(&dict);
  std::set<std::string> keys, enum_values;
  std::set<const Descriptor*> seen;
  CollectSchema(v1::Finding::descriptor(), &seen, &keys, &enum_values);
  for (const std::string& key : keys) {
    dict.insert(absl::StrCat("\"", key, "\":"));
  }
  for (const std::string& value : enum_values) {
    dict.insert(absl::StrCat("\"", value, "\""));
  }
  for (const char* token :
       {"\"2026-01-01T00:00:00Z\"", "\"3600s\"", "\\\"", "\\u0041", "\n"}) {
    dict.insert(token);
  }
  return dict;
}

// The example findings, one JSON object each.
std::vector<std::string> FindingObjects(const std::string& jsonl) {
  std::vector<std::string> objects;
  for (absl::string_view line : absl::StrSplit(jsonl, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty()) objects.emplace_back(line);
  }
  return objects;
}

// treatctl's findings input: the example findings as JSON Lines, as one
// array and one object at a time.
void FindingJsonSeeds(SeedWriter& w) {
  const std::string jsonl = w.Read("examples/findings.jsonl");
  w.Seed("finding_json", "findings.jsonl", jsonl);
  const std::vector<std::string> objects = FindingObjects(jsonl);
  w.Seed("finding_json", "findings-array.json",
         absl::StrCat("[\n", absl::StrJoin(objects, ",\n"), "\n]\n"));
  for (size_t i = 0; i < objects.size() && i < 4; ++i) {
    w.Seed("finding_json", absl::StrCat("finding-", i, ".json"), objects[i]);
  }
  w.Dict("finding_json", FindingJsonDict());
}

// ProtoJsonReader: every example finding as one object, and the shapes its
// fast path hands to protobuf's parser (null, an enum as a number, a field
// twice or by both names, an unknown field, a bad timestamp, text that is
// not strict JSON), so both sides of the reader start covered.
void ProtoJsonReaderSeeds(SeedWriter& w) {
  const std::vector<std::string> objects =
      FindingObjects(w.Read("examples/findings.jsonl"));
  for (size_t i = 0; i < objects.size(); ++i) {
    w.Seed("proto_json_reader", absl::StrCat("finding-", i, ".json"),
           objects[i]);
  }
  const std::vector<std::pair<const char*, const char*>> shapes = {
      {"null-field", R"({"id":"a","title":null})"},
      {"enum-number", R"({"id":"a","kind":1})"},
      {"enum-unknown", R"({"id":"a","kind":"FINDING_KIND_NOPE"})"},
      {"twice", R"({"id":"a","id":"b"})"},
      {"proto-and-json-name", R"({"id":"a","firstSeen":"2026-01-01T00:00:00Z",)"
                              R"("first_seen":"2026-01-01T00:00:00Z"})"},
      {"unknown-field", R"({"id":"a","nope":true})"},
      {"bad-timestamp", R"({"id":"a","firstSeen":"yesterday"})"},
      {"trailing-comma", R"({"id":"a",})"},
      {"not-object", R"(["id"])"},
      {"escapes", R"({"id":"a\u0041\n\"","title":"\ud83d\ude00"})"},
  };
  for (const auto& [name, text] : shapes) {
    w.Seed("proto_json_reader", absl::StrCat(name, ".json"), text);
  }
  w.Dict("proto_json_reader", FindingJsonDict());
}

// The wire bytes of DecisionResults (after a first byte choosing the index
// override): a decision with every kind of field, an error with field
// paths, two results concatenated (protobuf merges them) and an empty one.
void DecisionResultWireSeeds(SeedWriter& w) {
  v1::DecisionResult decided;
  decided.set_finding_id("f-1");
  decided.set_index(3);
  v1::Decision* d = decided.mutable_decision();
  d->set_decision_id("dec-1");
  d->set_finding_id("f-1");
  d->set_treatment(v1::TREATMENT_REMEDIATE);
  d->set_priority("P1 <high> \"now\"");
  d->set_priority_rank(1);
  d->mutable_remediate_by()->set_seconds(1796083200);
  d->mutable_mitigate_by()->set_nanos(5);
  v1::Action* action = d->add_actions();
  action->set_id("a");
  action->set_category(v1::ACTION_CATEGORY_MITIGATION);
  action->mutable_due_by()->set_seconds(-1);
  d->set_inherent_risk(0.1);
  d->set_residual_risk(-0.0);
  d->add_table_outcomes()->add_inputs("x");
  d->set_match_kind(v1::MATCH_KIND_RULE);
  d->mutable_exception()->set_applied(true);
  d->add_reasons("r\u00e9");
  d->add_reasons("");
  d->add_trace()->set_matched(true);
  d->mutable_policy()->set_digest("sha256:00");
  d->mutable_intel()->add_facts("kev");
  d->add_revisit_conditions()->set_threshold(0.5);
  v1::DecisionResult failed;
  failed.set_finding_id("f-2");
  failed.mutable_error()->set_code(3);
  failed.mutable_error()->set_message("finding.kind: required");
  failed.mutable_error()->add_field_violations()->set_field("finding.kind");
  const std::string a = decided.SerializeAsString();
  const std::string b = failed.SerializeAsString();
  w.Seed("decision_result_wire", "decision", std::string(1, '\0') + a);
  w.Seed("decision_result_wire", "decision-index", std::string(1, '\7') + a);
  w.Seed("decision_result_wire", "error", std::string(1, '\0') + b);
  w.Seed("decision_result_wire", "merged", std::string(1, '\0') + a + b);
  w.Seed("decision_result_wire", "empty", std::string(1, '\1'));
  // Every field a CSV row reads (ReadDecisionResultNotesFromWire).
  v1::DecisionResult row = decided;
  row.mutable_decision()->mutable_review_by()->set_seconds(86400);
  row.mutable_decision()->mutable_exception()->set_id("ex-1");
  row.mutable_decision()->set_residual_risk(2.5);
  row.mutable_decision()->set_matched_rule("kev");
  w.Seed("decision_result_wire", "csv-row",
         std::string(1, '\0') + row.SerializeAsString());
  // The same results as StreamDecide answers: a chunk's, a single
  // finding's, and a chunk rejected as a whole.
  v1::StreamDecideResponse chunk;
  chunk.set_sequence(7);
  *chunk.add_results() = decided;
  *chunk.add_results() = failed;
  w.Seed("stream_answer", "chunk", chunk.SerializeAsString());
  v1::StreamDecideResponse single;
  single.set_sequence(1);
  *single.mutable_result() = decided;
  w.Seed("stream_answer", "single", single.SerializeAsString());
  v1::StreamDecideResponse rejected;
  *rejected.mutable_result() = failed;
  w.Seed("stream_answer", "rejected", rejected.SerializeAsString());
}

void IntelSeeds(SeedWriter& w) {
  const std::string kev = w.Read("intel/known_exploited_vulnerabilities.json");
  const nlohmann::json doc = nlohmann::json::parse(kev, nullptr, false);
  std::set<std::string> kev_dict;
  AddJsonPunctuation(&kev_dict);
  if (!doc.is_discarded()) {
    // The whole catalog is over a megabyte: a fuzzer wants small inputs.
    w.Seed("kev_json", "kev-2", Shrink(doc, 2).dump(1));
    w.Seed("kev_json", "kev-8", Shrink(doc, 8).dump(1));
    CollectJsonKeys(Shrink(doc, 8), &kev_dict);
  }
  kev_dict.insert({"\"Known\"", "\"Unknown\"", "\"2024-02-29\"",
                   "\"CVE-2021-44228\"", "\"CVE-9999-99999999\""});
  w.Dict("kev_json", kev_dict);

  const std::string epss = w.Read("intel/epss_scores_sample.csv");
  std::vector<absl::string_view> lines = absl::StrSplit(epss, '\n');
  for (const size_t n : {size_t{3}, size_t{40}}) {
    std::string head;
    for (size_t i = 0; i < lines.size() && i < n; ++i) {
      absl::StrAppend(&head, lines[i], "\n");
    }
    w.Seed("epss_csv", absl::StrCat("epss-", n), head);
  }
  std::set<std::string> epss_dict = {"#model_version:",
                                     ",score_date:",
                                     "cve,epss,percentile\n",
                                     "CVE-",
                                     "2024-01-13T00:00:00+0000",
                                     "v2023.03.01",
                                     "0.00043",
                                     "1.00000",
                                     "1e-5",
                                     ",",
                                     "\n",
                                     "\r\n",
                                     "\"",
                                     "nan",
                                     "-0"};
  w.Dict("epss_csv", epss_dict);
}

void TokenSeeds(SeedWriter& w) {
  // The tokens-file example of the README.
  std::string example;
  for (absl::string_view line : absl::StrSplit(w.Read("README.md"), '\n')) {
    if (absl::StartsWith(line, "token ") ||
        absl::StartsWith(line, "identity ")) {
      absl::StrAppend(&example, line, "\n");
    }
  }
  w.Seed("tokens_file", "readme", example);
  w.Seed("tokens_file", "readme-comments",
         absl::StrCat("# treatd tokens\n\n", example, "  # end\n"));
  w.Dict("tokens_file", {"token ", "identity ", " decide ", " admin ",
                         "sha256:", "#", "\n", "\t", "0123456789abcdef"});
}

void InventorySeeds(SeedWriter& w) {
  std::set<std::string> keys, enum_values;
  std::set<const Descriptor*> seen;
  CollectSchema(v1::Asset::descriptor(), &seen, &keys, &enum_values);
  CollectSchema(v1::CompensatingControl::descriptor(), &seen, &keys,
                &enum_values);
  std::set<std::string> yaml_dict, csv_dict;
  for (const std::string& v : enum_values) {
    yaml_dict.insert(absl::AsciiStrToLower(v));
    csv_dict.insert(absl::AsciiStrToLower(v));
  }
  for (const fs::path& path : w.List("tests/testdata/assets", ".yaml")) {
    w.Seed("inventory_yaml", path.filename().string(), w.Read(path));
  }
  for (const fs::path& path : w.List("tests/testdata/assets", ".csv")) {
    const std::string csv = w.Read(path);
    w.Seed("inventory_csv", path.filename().string(), csv);
    const absl::string_view header =
        absl::string_view(csv).substr(0, csv.find('\n'));
    for (absl::string_view column : absl::StrSplit(header, ',')) {
      csv_dict.insert(std::string(column));
    }
  }
  for (const std::string& key : keys) yaml_dict.insert(key + ": ");
  for (const char* token : {"assets:", "match: ", "controls:", "- ", "\n  ",
                            "*", "?", "[a-z]", "[!a]", "\\"}) {
    yaml_dict.insert(token);
  }
  for (const char* token :
       {",", ";", "=", ":", "\"", "\"\"", "\r\n", "*", "?", "[", "]"}) {
    csv_dict.insert(token);
  }
  w.Dict("inventory_yaml", yaml_dict);
  w.Dict("inventory_csv", csv_dict);
}

}  // namespace

std::map<std::string, int> WriteSeeds(const std::string& source_dir,
                                      const std::string& out_dir) {
  SeedWriter writer(source_dir, out_dir);
  PolicySeeds(writer);
  FindingSeeds(writer);
  ImporterSeeds(writer);
  FindingJsonSeeds(writer);
  ProtoJsonReaderSeeds(writer);
  DecisionResultWireSeeds(writer);
  IntelSeeds(writer);
  TokenSeeds(writer);
  InventorySeeds(writer);
  return writer.counts();
}

}  // namespace treatd::fuzz
