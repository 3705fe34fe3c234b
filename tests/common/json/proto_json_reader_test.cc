// ProtoJsonReader against protobuf's JsonStringToMessage: the same message
// and the same error (message and field path) for every example, random
// findings printed in every JSON form, random mutations of them and a list
// of edge cases of the JSON mapping.
#include "common/json/proto_json_reader.h"

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/common/random_finding.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::json {
namespace {

// Map entries serialize in a fixed order only when asked to.
std::string Bytes(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  return out;
}

class ProtoJsonReaderTest : public ::testing::Test {
 protected:
  // Reads `json` both ways; expects the same outcome. Returns true when
  // the fast path answered (no fallback).
  bool ExpectSameAsProtobuf(const std::string& json) {
    v1::Finding fast, slow;
    const int64_t before = reader_.fallbacks();
    std::string wire = "left over";
    const absl::Status got = reader_.Read(json, &fast, &wire);
    // The bytes handed back are the message's: they parse to what
    // protobuf's parser reads from the JSON, and there are none when the
    // fast path did not answer.
    if (got.ok() && reader_.fallbacks() == before) {
      v1::Finding from_wire;
      EXPECT_TRUE(from_wire.ParseFromString(wire)) << json;
      EXPECT_EQ(Bytes(from_wire), Bytes(fast)) << json;
    } else {
      EXPECT_EQ(wire, "") << json;
    }
    // Wire bytes only: the same status, and bytes that parse to the same
    // message (or, without bytes, that message itself).
    v1::Finding thin;
    std::string thin_wire;
    EXPECT_EQ(reader_.ReadWireOnly(json, &thin, &thin_wire), got) << json;
    if (!thin_wire.empty()) {
      // Left cleared, or (text with a surrogate escape) read whole.
      if (!Bytes(thin).empty()) {
        EXPECT_EQ(Bytes(thin), Bytes(fast)) << json;
      }
      EXPECT_TRUE(thin.ParseFromString(thin_wire)) << json;
    }
    if (got.ok()) {
      EXPECT_EQ(Bytes(thin), Bytes(fast)) << json;
    }
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const auto want =
        google::protobuf::util::JsonStringToMessage(json, &slow, options);
    EXPECT_EQ(got.ok(), want.ok()) << json << "\n" << got;
    if (!want.ok()) {
      EXPECT_EQ(got.message(), std::string(want.message())) << json;
      EXPECT_EQ(static_cast<int>(got.code()), static_cast<int>(want.code()));
    } else if (got.ok()) {
      EXPECT_EQ(Bytes(fast), Bytes(slow))
          << json << "\nfast: " << fast.ShortDebugString()
          << "\nprotobuf: " << slow.ShortDebugString();
    }
    ++checked_;
    return reader_.fallbacks() == before;
  }

  ProtoJsonReader reader_{v1::Finding::descriptor()};
  int checked_ = 0;
};

TEST_F(ProtoJsonReaderTest, ReadsEveryExampleWithoutFallingBack) {
  std::ifstream in(absl::StrCat(TREATD_SOURCE_DIR, "/examples/findings.jsonl"));
  std::string line;
  int examples = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    EXPECT_TRUE(ExpectSameAsProtobuf(line)) << "fell back: " << line;
    ++examples;
  }
  EXPECT_GT(examples, 10);
}

TEST_F(ProtoJsonReaderTest, ReadsRandomFindingsInEveryPrintedForm) {
  testing::RandomFindings random(157, {});
  int fast = 0;
  for (int i = 0; i < 3000; ++i) {
    const v1::Finding finding = random.Next();
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = i % 2 == 1;
    print.always_print_primitive_fields = i % 3 == 1;
    print.add_whitespace = i % 5 == 1;
    print.always_print_enums_as_ints = i % 7 == 1;
    std::string json;
    ASSERT_TRUE(
        google::protobuf::util::MessageToJsonString(finding, &json, print)
            .ok());
    if (ExpectSameAsProtobuf(json)) ++fast;
  }
  // Only enums printed as numbers need protobuf's parser.
  EXPECT_GT(fast, 3000 * 8 / 10);
}

TEST_F(ProtoJsonReaderTest, InvalidRandomFindingsGiveProtobufsErrors) {
  testing::RandomFindingOptions options;
  options.invalid = true;
  testing::RandomFindings random(158, options);
  for (int i = 0; i < 2000; ++i) {
    const v1::Finding finding = random.Next();
    std::string json;
    // Out-of-range timestamps and NaN scores are printed (or refused) by
    // protobuf; either way the reader must agree on the text.
    if (!google::protobuf::util::MessageToJsonString(finding, &json).ok()) {
      continue;
    }
    ExpectSameAsProtobuf(json);
  }
}

// Random edits of printed findings: characters dropped or replaced, values
// swapped for other JSON types, members repeated, unknown names.
TEST_F(ProtoJsonReaderTest, MutatedJsonGivesProtobufsAnswer) {
  testing::RandomFindings random(159, {});
  std::mt19937 rng(160);
  auto uniform = [&rng](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  static const char* const kValues[] = {"null",
                                        "0",
                                        "-0",
                                        "1",
                                        "-1",
                                        "1.5",
                                        "1e400",
                                        "\"x\"",
                                        "\"\"",
                                        "true",
                                        "false",
                                        "[]",
                                        "{}",
                                        "[null]",
                                        "\"NaN\"",
                                        "\"1.5\"",
                                        "1E2",
                                        "01",
                                        "\"2\"",
                                        "\"true\"",
                                        "9007199254740993",
                                        "18446744073709551615",
                                        "-9223372036854775808",
                                        "\"2024-01-01T00:00:00Z\"",
                                        "[\"a\"]",
                                        "[1]",
                                        "{\"a\":\"b\"}",
                                        "{\"a\":1}",
                                        "\"SEVERITY_HIGH\"",
                                        "\"severity_high\"",
                                        "\"\\u00e9\"",
                                        "\"\\ud800\"",
                                        "'x'",
                                        "2147483648"};
  for (int i = 0; i < 4000; ++i) {
    std::string json;
    ASSERT_TRUE(
        google::protobuf::util::MessageToJsonString(
            random.Next(), &json, google::protobuf::util::JsonPrintOptions())
            .ok());
    const int edits = 1 + static_cast<int>(uniform(3));
    for (int e = 0; e < edits && !json.empty(); ++e) {
      const size_t at = uniform(json.size());
      switch (uniform(5)) {
        case 0:
          json.erase(at, 1);
          break;
        case 1: {
          // Replace the value after a colon.
          const size_t colon = json.find(':', at);
          if (colon == std::string::npos) break;
          size_t end = colon + 1;
          int depth = 0;
          bool in_string = false;
          for (; end < json.size(); ++end) {
            const char c = json[end];
            if (in_string) {
              if (c == '\\') {
                ++end;
              } else if (c == '"') {
                in_string = false;
              }
              continue;
            }
            if (c == '"') in_string = true;
            if (c == '{' || c == '[') ++depth;
            if ((c == '}' || c == ']') && depth-- == 0) break;
            if (c == ',' && depth == 0) break;
          }
          json.replace(colon + 1, end - colon - 1,
                       kValues[uniform(sizeof(kValues) / sizeof(*kValues))]);
          break;
        }
        case 2: {
          // Repeat the first member.
          const size_t comma = json.find(',');
          if (json.size() > 2 && comma != std::string::npos) {
            json.insert(comma, "," + json.substr(1, comma - 1));
          }
          break;
        }
        case 3:
          json.insert(1, "\"unknownField\":1,");
          break;
        default:
          json[at] = "{}[],:\"\\ 0a"[uniform(12)];
      }
    }
    ExpectSameAsProtobuf(json);
  }
}

TEST_F(ProtoJsonReaderTest, EdgeCasesOfTheMappingGiveProtobufsAnswer) {
  const std::vector<std::string> cases = {
      R"({})",
      R"([])",
      R"("x")",
      R"({"id":"a","kind":"FINDING_KIND_VULNERABILITY"})",
      R"({"id":"a","id":"b"})",
      R"({"id":"a","ID":"b"})",
      R"({"activeIncident":true,"active_incident":false})",
      R"({"identityKey":"k"})",
      R"({"identity_key":"k"})",
      R"({"id":null})",
      R"({"vulnerability":null})",
      R"({"vulnerability":{}})",
      R"({"vulnerability":{"epss":{"score":-0}}})",
      R"({"vulnerability":{"epss":{"score":-0.0}}})",
      R"({"vulnerability":{"epss":{"score":0}}})",
      R"({"vulnerability":{"epss":{"score":1e-400}}})",
      R"({"vulnerability":{"epss":{"score":1e400}}})",
      R"({"vulnerability":{"epss":{"score":9007199254740993}}})",
      R"({"vulnerability":{"epss":{"score":9007199254740992}}})",
      R"({"vulnerability":{"epss":{"score":18446744073709551615}}})",
      R"({"vulnerability":{"epss":{"score":18446744073709551616}}})",
      R"({"vulnerability":{"epss":{"score":"0.5"}}})",
      R"({"vulnerability":{"epss":{"score":"NaN"}}})",
      R"({"vulnerability":{"epss":{"score":"Infinity"}}})",
      R"({"vulnerability":{"epss":{"score":0.1234567890123456789}}})",
      R"({"vulnerability":{"cvss":{"score":7.5,"version":"3.1"}}})",
      R"({"vulnerability":{"aliases":["a","b"],"cweIds":[]}})",
      R"({"vulnerability":{"aliases":null}})",
      R"({"vulnerability":{"aliases":[null]}})",
      R"({"vulnerability":{"aliases":"a"}})",
      R"({"vulnerability":{"kev":{"listed":"true"}}})",
      R"({"vulnerability":{"kev":{"listed":1}}})",
      R"({"severity":"SEVERITY_HIGH"})",
      R"({"severity":"severity_high"})",
      R"({"severity":"HIGH"})",
      R"({"severity":4})",
      R"({"severity":"4"})",
      R"({"severity":99})",
      R"({"severity":"SEVERITY_UNSPECIFIED"})",
      R"({"firstSeen":"2024-01-01T00:00:00Z"})",
      R"({"firstSeen":"2024-01-01T00:00:00.5Z"})",
      R"({"firstSeen":"2024-01-01T00:00:00.123456789Z"})",
      R"({"firstSeen":"2024-01-01T00:00:00.1234567891Z"})",
      R"({"firstSeen":"2024-01-01T00:00:00+01:00"})",
      R"({"firstSeen":"2024-01-01T00:00:00-23:59"})",
      R"({"firstSeen":"2024-01-01t00:00:00z"})",
      R"({"firstSeen":"2024-01-01 00:00:00Z"})",
      R"({"firstSeen":"2024-01-01T00:00:60Z"})",
      R"({"firstSeen":"2024-02-30T00:00:00Z"})",
      R"({"firstSeen":"0000-01-01T00:00:00Z"})",
      R"({"firstSeen":"0001-01-01T00:00:00Z"})",
      R"({"firstSeen":"9999-12-31T23:59:59.999999999Z"})",
      R"({"firstSeen":"10000-01-01T00:00:00Z"})",
      R"({"firstSeen":"2024-01-01"})",
      R"({"firstSeen":""})",
      R"({"firstSeen":0})",
      R"({"firstSeen":{"seconds":1}})",
      R"({"attributes":{"a":"1","b":"2"}})",
      R"({"attributes":{"a":"1","a":"2"}})",
      R"({"attributes":{"a":1}})",
      R"({"attributes":{"a":null}})",
      R"({"attributes":{"":""}})",
      R"({"attributes":[]})",
      R"({"asset":{"labels":{"team":"x"},"tags":["t"]}})",
      R"({"compensatingControls":[{"type":"CONTROL_TYPE_WAF"},{}]})",
      R"({"compensatingControls":[null]})",
      R"({"compensatingControls":{}})",
      R"({"title":"\u00e9\u0000\ud83d\ude00"})",
      R"({"title":"\ud800"})",
      "{\"title\":\"\xc3\x28\"}",
      "{\"title\":\"\xed\xa0\x80\"}",
      "{\"title\":\"raw\ttab\"}",
      R"({"title":'single'})",
      R"({'title':"single"})",
      R"({title:"unquoted"})",
      R"({"title":"a",})",
      R"({"title":"a"} )",
      R"({"title":"a"}x)",
      R"({"title":"a"})"
      "\n",
      R"({"unknown":1})",
      R"({"vulnerability":{"unknown":{}}})",
      R"({"@type":"x"})",
      R"({"id":"a"/*c*/})",
      R"({"id":1})",
      R"({"id":true})",
      R"({"id":["a"]})",
      R"({"kind":"FINDING_KIND_VULNERABILITY","kind":"FINDING_KIND_MALWARE"})",
      R"({"vulnerability":{"cvss":{}},"vulnerability":{"epss":{}}})",
  };
  for (const std::string& json : cases) ExpectSameAsProtobuf(json);
  EXPECT_EQ(checked_, static_cast<int>(cases.size()));
}

TEST_F(ProtoJsonReaderTest, ReadsNestedMessagesOfEveryLengthSize) {
  // The reader writes each nested message with a one-byte length and
  // widens it when the message turns out longer: lengths of one, two and
  // three bytes, nested inside each other, and in keys' orders that change
  // from one object to the next (the reader guesses the order).
  for (const size_t size : {0, 1, 100, 127, 128, 200, 16383, 16384, 70000}) {
    const std::string text(size, 'x');
    const std::string json = absl::StrCat(
        R"({"id":"big","misconfiguration":{"expected":")", text,
        R"(","checkId":"c"},"vulnerability":{"cvss":{"vector":")", text,
        R"(","score":9.5},"aliases":["a",")", text, R"("],"epss":{}},)",
        R"("compensatingControls":[{"description":")", text,
        R"("},{}],"asset":{"labels":{"k":")", text, R"(","":""}}})");
    EXPECT_TRUE(ExpectSameAsProtobuf(json)) << "fell back at " << size;
    const std::string reordered = absl::StrCat(
        R"({"asset":{"labels":{"k":")", text, R"("}},"vulnerability":)",
        R"({"epss":{"score":0.5},"cvss":{"score":1,"vector":")", text,
        R"("}},"id":"again"})");
    EXPECT_TRUE(ExpectSameAsProtobuf(reordered)) << "fell back at " << size;
  }
}

TEST_F(ProtoJsonReaderTest, ReadWireOnlyParsesTextWithSurrogateEscapes) {
  // A pair is valid UTF-16 (one character), a lone half is not: both are
  // read by the generated parser, which is the judge of the second.
  for (const std::string json :
       {R"({"id":"\ud83d\ude00"})", R"({"id":"\uD800"})",
        R"({"id":"a","title":"\udc00x"})"}) {
    SCOPED_TRACE(json);
    ExpectSameAsProtobuf(json);
    v1::Finding thin;
    std::string wire;
    const absl::Status read = reader_.ReadWireOnly(json, &thin, &wire);
    if (read.ok() && !wire.empty()) {
      EXPECT_NE(thin.id(), "");
    }
  }
  v1::Finding thin;
  std::string wire;
  ASSERT_TRUE(reader_.ReadWireOnly(R"({"id":"plain"})", &thin, &wire).ok());
  EXPECT_NE(wire, "");
  EXPECT_EQ(thin.id(), "");
}

TEST_F(ProtoJsonReaderTest, ReusesTheMessageAndClearsItFirst) {
  v1::Finding finding;
  finding.set_title("stale");
  ASSERT_TRUE(reader_.Read(R"({"id":"a"})", &finding).ok());
  EXPECT_EQ(finding.title(), "");
  EXPECT_EQ(finding.id(), "a");
  const absl::Status bad = reader_.Read(R"({"id":"a","nope":1})", &finding);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("nope"), absl::string_view::npos) << bad;
}

}  // namespace
}  // namespace treatd::json
