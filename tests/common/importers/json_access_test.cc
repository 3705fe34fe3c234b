// JsonNode over simdjson against the nlohmann::json DOM the importers read
// before (issue 15): the same values, the same member order and duplicate-key
// rule, the same numbers at the edges, the same error messages and paths.
#include "common/importers/json_access.h"

#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/importers/test_data.h"

namespace treatd::importers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<JsonDocument> Parse(absl::string_view text) {
  absl::StatusOr<std::unique_ptr<JsonDocument>> document =
      ParseJsonDocument(text);
  EXPECT_TRUE(document.ok()) << document.status();
  return document.ok() ? *std::move(document) : nullptr;
}

// The message ImportFindings gave before, from nlohmann's exception.
std::string NlohmannError(absl::string_view text) {
  try {
    const nlohmann::json parsed =
        nlohmann::json::parse(text.begin(), text.end());
    return absl::StrCat("nlohmann accepted it as ", parsed.type_name());
  } catch (const nlohmann::json::exception& e) {
    return absl::StrCat("$: not a JSON document: ", e.what());
  }
}

// Walks `expected` and `node` together: every value has the same type,
// string, number, elements and (distinct, ordered) member names.
void ExpectSame(const nlohmann::json& expected, const JsonNode& node) {
  SCOPED_TRACE(node.path());
  ASSERT_EQ(node.TypeName(), expected.type_name());
  if (expected.is_string()) {
    EXPECT_EQ(node.StringView(), expected.get_ref<const std::string&>());
  } else if (expected.is_number()) {
    absl::StatusOr<std::optional<double>> number = node.OptionalNumber();
    ASSERT_TRUE(number.ok());
    const double want = expected.get<double>();
    EXPECT_EQ(**number, want);
    EXPECT_EQ(std::signbit(**number), std::signbit(want));
    if (expected.is_number_unsigned()) {
      EXPECT_EQ(node.UnsignedInteger(), expected.get<uint64_t>());
    }
  } else if (expected.is_boolean()) {
    EXPECT_EQ(*node.OptionalBool().value(), expected.get<bool>());
  } else if (expected.is_array()) {
    ASSERT_EQ(node.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      ExpectSame(expected[i], node[i]);
    }
  } else if (expected.is_object()) {
    std::vector<std::string> names;
    for (const auto& [key, unused] : expected.items()) names.push_back(key);
    std::vector<absl::string_view> got = node.MemberNames();
    ASSERT_EQ(std::vector<std::string>(got.begin(), got.end()), names);
    for (const auto& [key, value] : expected.items()) {
      ExpectSame(value, node[key]);
    }
  }
}

TEST(JsonAccessTest, ReadsEveryScannerSampleAsNlohmannDoes) {
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           TREATD_SCANNER_TESTDATA_DIR)) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    const std::string text = testing::ReadScannerSample(
        std::filesystem::relative(entry.path(), TREATD_SCANNER_TESTDATA_DIR)
            .string());
    std::unique_ptr<JsonDocument> document = Parse(text);
    ASSERT_NE(document, nullptr);
    ExpectSame(nlohmann::json::parse(text), document->Root());
    ++files;
  }
  EXPECT_GE(files, 15);
}

TEST(JsonAccessTest, LastDuplicateKeyWinsAsInNlohmann) {
  const std::string text = R"({"b": 1, "a": "first", "b": 2, "a": "last"})";
  std::unique_ptr<JsonDocument> document = Parse(text);
  JsonNode root = document->Root();
  EXPECT_EQ(root["a"].StringView(), "last");
  EXPECT_EQ(*root["b"].OptionalNumber().value(), 2);
  EXPECT_THAT(root.MemberNames(), ElementsAre("a", "b"));
  ExpectSame(nlohmann::json::parse(text), root);
}

TEST(JsonAccessTest, MembersFindWhatTheObjectFinds) {
  const std::string text =
      R"({"b": 1, "a": "first", "b": 2, "a": "last", "": 3, "ab": 4,
          "o": {"x": [5]}})";
  std::unique_ptr<JsonDocument> document = Parse(text);
  const JsonNode root = document->Root();
  const JsonMembers members(root);
  // The last of repeated keys, as root[key].
  EXPECT_EQ(members["a"].StringView(), "last");
  EXPECT_EQ(*members["b"].OptionalNumber().value(), 2);
  EXPECT_EQ(*members[""].OptionalNumber().value(), 3);
  EXPECT_EQ(*members["ab"].OptionalNumber().value(), 4);
  EXPECT_EQ(members["o"]["x"][0].path(), "$.o.x[0]");
  // Missing members keep the path they would have.
  EXPECT_FALSE(members["c"].Exists());
  EXPECT_EQ(members["c"].path(), "$.c");
  EXPECT_EQ(members["odd key"]["z"].path(), "$[\"odd key\"].z");
  // Members of what is not an object are all missing, as with operator[].
  for (const JsonNode& node :
       {root["o"]["x"], root["o"]["x"][0], root["nothing"]}) {
    const JsonMembers none(node);
    EXPECT_FALSE(none["x"].Exists());
    EXPECT_EQ(none["x"].path(), node["x"].path());
  }
  const JsonMembers none(JsonNode::Missing("rule \"r1\""));
  EXPECT_EQ(none["id"].path(), "rule \"r1\".id");
  for (absl::string_view key : root.MemberNames()) {
    EXPECT_EQ(members[key].path(), root[key].path());
  }
}

TEST(JsonAccessTest, MemberNamesInByteOrderAsStdMap) {
  const std::string text =
      R"({"b": 0, "B": 0, "\u00e9": 0, "a b": 0, "": 0, "a": 0})";
  std::unique_ptr<JsonDocument> document = Parse(text);
  ExpectSame(nlohmann::json::parse(text), document->Root());
}

TEST(JsonAccessTest, NumbersAtTheEdgesAsNlohmann) {
  // Beyond int64/uint64: nlohmann reads a double; so does JsonNode (simdjson
  // rejects them, the document is re-read).
  const std::string text = R"({
    "big": 123456789012345678901234567890,
    "negative_big": -9223372036854775809,
    "uint64_max": 18446744073709551615,
    "beyond_uint64": 18446744073709551616,
    "int64_min": -9223372036854775808,
    "negative_zero_float": -0.0,
    "tiny": 1e-400,
    "exponent": 1.5E+2
  })";
  std::unique_ptr<JsonDocument> document = Parse(text);
  ASSERT_NE(document, nullptr);
  ExpectSame(nlohmann::json::parse(text), document->Root());
  EXPECT_EQ(*document->Root()["big"].OptionalNumber().value(),
            1.2345678901234568e+29);
  EXPECT_EQ(document->Root()["uint64_max"].UnsignedInteger(),
            18446744073709551615u);
  EXPECT_EQ(document->Root()["big"].UnsignedInteger(), std::nullopt);
  EXPECT_EQ(document->Root()["int64_min"].UnsignedInteger(), std::nullopt);
}

TEST(JsonAccessTest, NegativeZeroIntegerIsZero) {
  std::unique_ptr<JsonDocument> document = Parse(R"({"z": -0})");
  const double z = *document->Root()["z"].OptionalNumber().value();
  EXPECT_EQ(z, 0.0);
  EXPECT_FALSE(std::signbit(z));  // as nlohmann's get<double>() of -0
  // nlohmann called -0 signed (not is_number_unsigned); the tape keeps no
  // sign for integer 0, so it counts as index 0 here (SARIF ruleIndex only).
  EXPECT_EQ(document->Root()["z"].UnsignedInteger(), 0u);
}

TEST(JsonAccessTest, RejectsWhatNlohmannRejectsWithItsMessage) {
  for (absl::string_view text :
       {"", "   ", "{", "{\n  \"a\": tru\n}", "[1,]", "{\"a\":1}x", "{\"a\" 1}",
        "[\"\\ud800\"]", "[\"\\udc00x\"]", "[\"\xff\"]", "[1e400]",
        "{\"n\": -1.7976931348623157e309}", "[01]", "[1.]", "[\"tab\there\"]",
        "nul", "{\"a\":1,}", "\xEF\xBB\xBF"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<std::unique_ptr<JsonDocument>> document =
        ParseJsonDocument(text);
    ASSERT_FALSE(document.ok());
    EXPECT_EQ(document.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(document.status().message(), NlohmannError(text));
    EXPECT_EQ(JsonPathOf(document.status()), "$");
  }
  absl::StatusOr<std::unique_ptr<JsonDocument>> bad =
      ParseJsonDocument("{\n  \"matches\": [\n    {\"id\": nope}\n  ]\n}");
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("line 3, column 13"));
}

TEST(JsonAccessTest, SkipsByteOrderMarkAsNlohmann) {
  std::unique_ptr<JsonDocument> document =
      Parse("\xEF\xBB\xBF{\"matches\": []}");
  ASSERT_NE(document, nullptr);
  EXPECT_TRUE(document->Root()["matches"].IsArray());
}

TEST(JsonAccessTest, RejectsNestingDeeperThan1024) {
  const std::string deep = std::string(1025, '[') + std::string(1025, ']');
  absl::StatusOr<std::unique_ptr<JsonDocument>> document =
      ParseJsonDocument(deep);
  ASSERT_FALSE(document.ok());
  EXPECT_THAT(std::string(document.status().message()),
              HasSubstr("not a JSON document"));
  EXPECT_NE(Parse(std::string(1000, '[') + std::string(1000, ']')), nullptr);
}

TEST(JsonAccessTest, PathsOfPresentAndMissingValues) {
  std::string text = R"({"a": [{"x": 1}, {"odd key": null, "q\"": [true]}],
                        "list": [)";
  for (int i = 0; i < 2000; ++i) {
    absl::StrAppend(&text, i == 0 ? "" : ",", "{\"i\": ", i, "}");
  }
  absl::StrAppend(&text, "]}");
  std::unique_ptr<JsonDocument> document = Parse(text);
  JsonNode root = document->Root();
  EXPECT_EQ(root.path(), "$");
  EXPECT_EQ(root["a"][1]["odd key"].path(), "$.a[1][\"odd key\"]");
  EXPECT_TRUE(root["a"][1]["odd key"].Exists());
  EXPECT_TRUE(root["a"][1]["odd key"].IsMissing());
  EXPECT_EQ(root["a"][1]["q\""][0].path(), "$.a[1][\"q\\\"\"][0]");
  EXPECT_EQ(root["a"][0]["x"].path(), "$.a[0].x");
  // Missing members and elements keep the path they would have.
  EXPECT_FALSE(root["a"][5].Exists());
  EXPECT_EQ(root["a"][5].path(), "$.a[5]");
  EXPECT_EQ(root["a"][5]["y"][2]["z w"].path(), "$.a[5].y[2][\"z w\"]");
  EXPECT_EQ(root["a"][1]["odd key"]["k"].path(), "$.a[1][\"odd key\"].k");
  EXPECT_EQ(JsonNode::Missing("rule \"r1\"")["id"].path(), "rule \"r1\".id");
  EXPECT_EQ(root["a"][0]["x"]["deeper"].Error("gone").message(),
            "$.a[0].x.deeper: gone");
  // Entries of a large array, looked up through the cached offsets.
  absl::StatusOr<std::vector<JsonNode>> list = root["list"].RequiredArray();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2000u);
  for (size_t i : {0u, 1u, 33u, 1234u, 1999u}) {
    EXPECT_EQ((*list)[i]["i"].path(), absl::StrCat("$.list[", i, "].i"));
    EXPECT_EQ(*(*list)[i]["i"].OptionalNumber().value(), i);
  }
  EXPECT_EQ(root["list"][1500]["i"].path(), "$.list[1500].i");
}

TEST(JsonAccessTest, OptionalStringViewOfMissingIsEmptyNotNull) {
  std::unique_ptr<JsonDocument> document = Parse(R"({"s": "x", "e": ""})");
  const JsonNode root = document->Root();
  EXPECT_EQ(*root["s"].OptionalStringView(), "x");
  for (const char* key : {"e", "none"}) {
    absl::StatusOr<absl::string_view> view = root[key].OptionalStringView();
    ASSERT_TRUE(view.ok());
    EXPECT_TRUE(view->empty());
    // Views end up in memcpy (StrJoin of a finding's identity), which must
    // not get a null pointer, not even for 0 bytes (UBSan, fuzz_import_trivy).
    EXPECT_NE(view->data(), nullptr);
  }
  EXPECT_FALSE(root.OptionalStringView().ok());
}

TEST(JsonAccessTest, ElementPathsAreThoseOfTheElements) {
  std::string text = R"({"a b": [{"list": [)";
  for (int i = 0; i < 100; ++i) absl::StrAppend(&text, i == 0 ? "" : ",", i);
  absl::StrAppend(&text, "]}]}");
  std::unique_ptr<JsonDocument> document = Parse(text);
  const JsonNode list = document->Root()["a b"][0]["list"];
  const JsonElementPaths paths(list);
  for (size_t i : {0u, 1u, 33u, 99u, 100u}) {
    EXPECT_EQ(paths[i], list[i].path());
  }
  EXPECT_EQ(paths[7], "$[\"a b\"][0].list[7]");
  EXPECT_EQ(JsonElementPaths(document->Root()["none"])[2], "$.none[2]");
}

TEST(JsonAccessTest, PathsFromManyThreadsAtOnce) {
  std::string text = "{\"list\": [";
  for (int i = 0; i < 5000; ++i) absl::StrAppend(&text, i == 0 ? "" : ",", i);
  absl::StrAppend(&text, "]}");
  std::unique_ptr<JsonDocument> document = Parse(text);
  std::vector<JsonNode> list = document->Root()["list"].RequiredArray().value();
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = static_cast<size_t>(t); i < list.size(); i += 7) {
        if (list[i].path() != absl::StrCat("$.list[", i, "]")) ++wrong[t];
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(wrong, ElementsAre(0, 0, 0, 0));
}

TEST(JsonAccessTest, TypeErrorsNameTheTypeAsBefore) {
  std::unique_ptr<JsonDocument> document =
      Parse(R"({"s": "x", "n": 1, "o": {}, "a": [], "z": null, "t": true,
                "ns": "7.5", "bad": "seven"})");
  JsonNode root = document->Root();
  EXPECT_EQ(root["s"].ExpectObject().message(),
            "$.s: expected an object, got a string");
  EXPECT_EQ(root["z"].ExpectObject().message(),
            "$.z: expected an object, got a null");
  EXPECT_EQ(root["nope"].ExpectObject().message(),
            "$.nope: expected an object, got missing");
  EXPECT_EQ(root["a"].OptionalString().status().message(),
            "$.a: expected a string, got an array");
  EXPECT_EQ(root["o"].OptionalNumber().status().message(),
            "$.o: expected a number, got an object");
  EXPECT_EQ(root["n"].OptionalBool().status().message(),
            "$.n: expected a boolean, got a number");
  EXPECT_EQ(root["t"].OptionalArray().status().message(),
            "$.t: expected an array, got a boolean");
  EXPECT_EQ(*root["ns"].OptionalNumber(true).value(), 7.5);
  EXPECT_EQ(root["bad"].OptionalNumber(true).status().message(),
            "$.bad: expected a number, got the string \"seven\"");
  EXPECT_EQ(root["z"].RequiredString().status().message(),
            "$.z: required string is missing");
  EXPECT_EQ(root["nope"].RequiredArray().status().message(),
            "$.nope: required array is missing");
}

}  // namespace
}  // namespace treatd::importers
