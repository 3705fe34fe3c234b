// AppendDecisionResultJson against protobuf's MessageToJsonString (default
// options, what treatctl's JSONL output used): the same bytes, or the same
// error, for the decisions of every example in both views, random findings
// decided by the shipped policy (errors included) and random results with
// strings, numbers, enums and timestamps chosen to hit every escaping and
// formatting rule.
#include "common/json/decision_json_writer.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decide_item.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/common/example_decisions.h"
#include "tests/common/random_finding.h"

namespace treatd::json {
namespace {

int checked = 0;

int wire_checked = 0;
int wire_direct = 0;

// The fields a run summary reads of a result, in `notes` as in `parsed`.
void ExpectSummaryNotes(const v1::DecisionResult& notes,
                        const v1::DecisionResult& parsed) {
  EXPECT_EQ(notes.finding_id(), parsed.finding_id());
  EXPECT_EQ(notes.has_decision(), parsed.has_decision());
  EXPECT_EQ(notes.has_error(), parsed.has_error());
  EXPECT_EQ(notes.error().code(), parsed.error().code());
  const v1::Decision& a = notes.decision();
  const v1::Decision& b = parsed.decision();
  EXPECT_EQ(a.treatment(), b.treatment());
  EXPECT_EQ(a.priority(), b.priority());
  EXPECT_EQ(a.priority_rank(), b.priority_rank());
  EXPECT_EQ(a.matched_rule(), b.matched_rule());
  EXPECT_EQ(a.has_mitigate_by(), b.has_mitigate_by());
  EXPECT_EQ(a.mitigate_by().SerializeAsString(),
            b.mitigate_by().SerializeAsString());
  EXPECT_EQ(a.has_remediate_by(), b.has_remediate_by());
  EXPECT_EQ(a.remediate_by().SerializeAsString(),
            b.remediate_by().SerializeAsString());
}

int notes_checked = 0;
int notes_direct = 0;

// ReadDecisionResultNotesFromWire over `wire` against protobuf's parser:
// the same refusal, or every field a CSV row and a run summary read set
// as the parsed message has it.
void ExpectNotesSameAsProtobuf(const std::string& wire,
                               std::optional<int32_t> index) {
  v1::DecisionResult parsed;
  const bool parses = parsed.ParseFromString(wire);
  if (index.has_value()) parsed.set_index(*index);
  v1::DecisionResult notes;
  notes.mutable_decision()->add_reasons("stale");  // Cleared by the call.
  const absl::Status status =
      ReadDecisionResultNotesFromWire(wire, index, &notes);
  ++notes_checked;
  v1::DecisionResult direct;
  if (internal::ReadDecisionResultNotesFromWireDirect(wire, &direct)) {
    ++notes_direct;
    // What the walk accepts, protobuf's parser reads.
    EXPECT_TRUE(parses) << parsed.ShortDebugString();
  }
  ASSERT_EQ(status.ok(), parses) << status;
  if (!parses) return;
  ExpectSummaryNotes(notes, parsed);
  if (index.has_value()) {
    EXPECT_EQ(notes.index(), *index);
  }
  EXPECT_EQ(notes.error().message(), parsed.error().message());
  const v1::Decision& a = notes.decision();
  const v1::Decision& b = parsed.decision();
  EXPECT_EQ(a.has_review_by(), b.has_review_by());
  EXPECT_EQ(a.review_by().SerializeAsString(),
            b.review_by().SerializeAsString());
  EXPECT_EQ(a.exception().id(), b.exception().id());
  EXPECT_EQ(a.exception().applied(), b.exception().applied());
  // Bit for bit: -0 and NaN print as they are.
  uint64_t bits_a, bits_b;
  const double risk_a = a.residual_risk(), risk_b = b.residual_risk();
  std::memcpy(&bits_a, &risk_a, sizeof(bits_a));
  std::memcpy(&bits_b, &risk_b, sizeof(bits_b));
  EXPECT_EQ(bits_a, bits_b);
  EXPECT_EQ(std::vector<std::string>(a.reasons().begin(), a.reasons().end()),
            std::vector<std::string>(b.reasons().begin(), b.reasons().end()));
}

// AppendDecisionResultJsonFromWire over `wire` against protobuf: the bytes
// parsed, `index` set when given, and MessageToJsonString; the same bytes
// or the same refusal, and the notes a run summary reads.
void ExpectWireSameAsProtobuf(const std::string& wire,
                              std::optional<int32_t> index) {
  ExpectNotesSameAsProtobuf(wire, index);
  v1::DecisionResult parsed;
  const bool parses = parsed.ParseFromString(wire);
  if (index.has_value()) parsed.set_index(*index);
  std::string want;
  const auto want_status =
      google::protobuf::util::MessageToJsonString(parsed, &want);
  std::string got = "prefix";
  v1::DecisionResult notes;
  notes.mutable_decision()->set_priority_rank(-1);  // Cleared by the call.
  const absl::Status got_status =
      AppendDecisionResultJsonFromWire(wire, index, &got, &notes);
  ++wire_checked;
  std::string direct;
  if (internal::AppendDecisionResultJsonFromWireDirect(wire, index, &direct,
                                                       nullptr)) {
    ++wire_direct;
    // What the walk accepts, protobuf's parser reads.
    EXPECT_TRUE(parses) << parsed.ShortDebugString();
  }
  ASSERT_EQ(got_status.ok(), parses && want_status.ok())
      << got_status << " / " << want_status.ToString() << "\n"
      << parsed.ShortDebugString();
  if (!got_status.ok()) {
    if (parses) {
      EXPECT_EQ(got_status.message(), std::string(want_status.message()));
    }
    EXPECT_EQ(got, "prefix");
    return;
  }
  EXPECT_EQ(got, "prefix" + want) << parsed.ShortDebugString();
  ExpectSummaryNotes(notes, parsed);
}

void ExpectSameAsProtobuf(const v1::DecisionResult& result) {
  // The same result from its wire bytes, with its index and another.
  const std::string wire = result.SerializeAsString();
  ExpectWireSameAsProtobuf(wire, std::nullopt);
  ExpectWireSameAsProtobuf(wire, static_cast<int32_t>(checked % 3) * 1000);
  std::string want;
  const auto want_status =
      google::protobuf::util::MessageToJsonString(result, &want);
  std::string got = "prefix";
  const absl::Status got_status = AppendDecisionResultJson(result, &got);
  ++checked;
  ASSERT_EQ(got_status.ok(), want_status.ok())
      << got_status << " / " << want_status.ToString() << "\n"
      << result.ShortDebugString();
  if (!want_status.ok()) {
    EXPECT_EQ(got_status.message(), std::string(want_status.message()));
    EXPECT_EQ(got, "prefix");
    return;
  }
  EXPECT_EQ(got, "prefix" + want) << result.ShortDebugString();
}

std::shared_ptr<const DecisionPipeline> Pipeline(bool with_intel) {
  return testing::DefaultPolicyPipeline(with_intel);
}

TEST(DecisionJsonWriterTest, WritesEveryExampleDecisionAsProtobufDoes) {
  const std::vector<v1::Finding> findings = testing::ExampleFindings();
  ASSERT_GT(findings.size(), 10u);
  for (bool with_intel : {false, true}) {
    auto pipeline = Pipeline(with_intel);
    for (auto view : {v1::DECISION_VIEW_FULL, v1::DECISION_VIEW_BASIC}) {
      for (bool trace : {false, true}) {
        EvalOptions options;
        options.as_of = absl::FromUnixSeconds(1796083200) +
                        absl::Nanoseconds(trace ? 123000000 : 0);
        options.trace = trace;
        options.view = view;
        for (size_t i = 0; i < findings.size(); ++i) {
          v1::DecisionResult result;
          result.set_index(static_cast<int>(i));
          DecideInto(*pipeline, findings[i], options, FindingLimits(), "",
                     &result);
          ASSERT_TRUE(result.has_decision());
          ExpectSameAsProtobuf(result);
          std::string direct;
          EXPECT_TRUE(internal::AppendDecisionResultJsonDirect(result, &direct))
              << "protobuf's printer was asked for example " << i;
          direct.clear();
          EXPECT_TRUE(internal::AppendDecisionResultJsonFromWireDirect(
              result.SerializeAsString(), std::nullopt, &direct, nullptr))
              << "the bytes of example " << i << " were parsed";
          v1::DecisionResult notes;
          EXPECT_TRUE(internal::ReadDecisionResultNotesFromWireDirect(
              result.SerializeAsString(), &notes))
              << "the bytes of example " << i << " were parsed for notes";
        }
      }
    }
  }
}

TEST(DecisionJsonWriterTest, WritesDecisionsOfRandomFindingsAsProtobufDoes) {
  auto pipeline = Pipeline(true);
  for (bool invalid : {false, true}) {
    testing::RandomFindingOptions options;
    options.invalid = invalid;
    testing::RandomFindings random(invalid ? 31 : 30, options);
    EvalOptions eval;
    eval.as_of = absl::FromUnixSeconds(1796083200);
    for (int i = 0; i < 3000; ++i) {
      eval.trace = i % 5 == 0;
      eval.view = i % 3 == 0 ? v1::DECISION_VIEW_BASIC : v1::DECISION_VIEW_FULL;
      v1::DecisionResult result;
      result.set_index(i);
      DecideInto(*pipeline, random.Next(), eval, FindingLimits(),
                 absl::StrCat("findings[", i, "]"), &result);
      ExpectSameAsProtobuf(result);
    }
  }
}

// Values that exercise every rule of protobuf's printer.
class Tricky {
 public:
  explicit Tricky(uint32_t seed) : rng_(seed) {}

  // Puts tricky values into about half of the fields `m` has set.
  void Spice(google::protobuf::Message* m) {
    using google::protobuf::FieldDescriptor;
    const auto* r = m->GetReflection();
    std::vector<const FieldDescriptor*> fields;
    r->ListFields(*m, &fields);
    for (const FieldDescriptor* f : fields) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(*m, f); ++i) {
          if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
            Spice(r->MutableRepeatedMessage(m, f, i));
          } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING &&
                     Chance(50)) {
            r->SetRepeatedString(m, f, i, String());
          }
        }
        continue;
      }
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
            Time(r->MutableMessage(m, f));
          } else {
            Spice(r->MutableMessage(m, f));
          }
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          if (Chance(50)) r->SetString(m, f, String());
          break;
        case FieldDescriptor::CPPTYPE_DOUBLE:
          if (Chance(70)) r->SetDouble(m, f, Double());
          break;
        case FieldDescriptor::CPPTYPE_ENUM:
          if (Chance(10)) r->SetEnumValue(m, f, 57);
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          if (Chance(50)) {
            r->SetInt32(m, f,
                        Chance(50) ? std::numeric_limits<int32_t>::min()
                                   : std::numeric_limits<int32_t>::max());
          }
          break;
        default:
          break;
      }
    }
    if (Chance(3)) {
      r->MutableUnknownFields(m)->AddVarint(1000, 7);
    }
  }

 private:
  bool Chance(int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng_) < percent;
  }
  int Uniform(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(rng_);
  }

  std::string String() {
    // Code points protobuf escapes and some it does not, each in a word.
    static const uint32_t kCodePoints[] = {
        0x0,     0x1,     0x8,     0x9,     0xa,     0xc,     0xd,     0x1f,
        0x20,    0x22,    0x26,    0x27,    0x2f,    0x3c,    0x3e,    0x5c,
        0x7e,    0x7f,    0x80,    0x9f,    0xa0,    0xad,    0xe9,    0x5ff,
        0x600,   0x603,   0x604,   0x6dd,   0x70f,   0x17b4,  0x17b5,  0x200a,
        0x200b,  0x200f,  0x2010,  0x2027,  0x2028,  0x202e,  0x202f,  0x205f,
        0x2060,  0x2064,  0x2065,  0x206a,  0x206f,  0x2070,  0xfeff,  0xfff8,
        0xfff9,  0xfffb,  0xfffc,  0xffff,  0x10000, 0x1d172, 0x1d173, 0x1d17a,
        0x1d17b, 0x1f600, 0xe0000, 0xe0001, 0xe001f, 0xe0020, 0xe007f, 0xe0080,
        0x10ffff};
    static const char* const kBroken[] = {"\xc3",
                                          "\xc3\x28",
                                          "\x80",
                                          "\xc0\x80",
                                          "\xe0\x80\x80",
                                          "\xed\xa0\x80",
                                          "\xf4\x90\x80\x80",
                                          "\xf8\x88\x80\x80\x80",
                                          "\xff"};
    std::string s;
    const int parts = 1 + Uniform(4);
    for (int i = 0; i < parts; ++i) {
      if (Chance(30)) s += "plain-text ";
      if (Chance(4)) {
        s += kBroken[Uniform(sizeof(kBroken) / sizeof(*kBroken))];
        continue;
      }
      AppendUtf8(
          kCodePoints[Uniform(sizeof(kCodePoints) / sizeof(*kCodePoints))], &s);
    }
    return s;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  double Double() {
    static const double kValues[] = {0.0,
                                     -0.0,
                                     0.1,
                                     0.3,
                                     0.1 + 0.2,
                                     1.0 / 3,
                                     7.5,
                                     10,
                                     1e-5,
                                     1e-7,
                                     123456789012345678.0,
                                     1e21,
                                     1e22,
                                     5e-324,
                                     std::numeric_limits<double>::max(),
                                     std::numeric_limits<double>::min(),
                                     -2.5,
                                     std::numeric_limits<double>::infinity(),
                                     -std::numeric_limits<double>::infinity(),
                                     std::nan("")};
    if (Chance(30)) {
      uint64_t bits = (static_cast<uint64_t>(rng_()) << 32) | rng_();
      double d;
      std::memcpy(&d, &bits, sizeof(d));
      return d;
    }
    return kValues[Uniform(sizeof(kValues) / sizeof(*kValues))];
  }

  void Time(google::protobuf::Message* m) {
    auto* t = static_cast<google::protobuf::Timestamp*>(m);
    static const int64_t kSeconds[] = {0,
                                       -1,
                                       1796083200,
                                       -62135596800,
                                       253402300799,
                                       -62135596801,
                                       253402300800,
                                       951782400,
                                       68169600,
                                       -2203891200};
    static const int32_t kNanos[] = {
        0, 1, 999999999, 1000, 1000000, 123456789, 120000000, -1, 1000000000};
    if (Chance(60)) {
      t->set_seconds(kSeconds[Uniform(sizeof(kSeconds) / sizeof(*kSeconds))]);
      t->set_nanos(kNanos[Uniform(sizeof(kNanos) / sizeof(*kNanos))]);
    } else if (Chance(50)) {
      t->set_seconds(std::uniform_int_distribution<int64_t>(
          -62135596800, 253402300799)(rng_));
    }
  }

  std::mt19937 rng_;
};

TEST(DecisionJsonWriterTest, WritesRandomResultsAsProtobufDoes) {
  // protobuf logs every string that is not UTF-8 it serializes.
  google::protobuf::LogSilencer quiet;
  testing::RandomFindings random(70, {});
  Tricky tricky(71);
  int direct = 0;
  for (int i = 0; i < 20000; ++i) {
    v1::DecisionResult result;
    random.FillMessage(&result);
    if (i % 2 == 0) tricky.Spice(&result);
    ExpectSameAsProtobuf(result);
    if (::testing::Test::HasFailure()) break;
    std::string json;
    if (internal::AppendDecisionResultJsonDirect(result, &json)) ++direct;
  }
  // Most results, spiced ones too, are written without protobuf's printer.
  EXPECT_GT(direct, 20000 / 2);
}

TEST(DecisionJsonWriterTest,
     EscapesEachSpecialByteAtEveryPositionOfALongString) {
  // The writer scans plain text sixteen bytes at a time: every byte class
  // it must stop at, at every offset of a block and across block ends,
  // with plain text of every length after it.
  google::protobuf::LogSilencer quiet;
  const std::string kSpecial[] = {std::string(1, '\0'),
                                  "\x01",
                                  "\n",
                                  "\x1f",
                                  "\"",
                                  "\\",
                                  "<",
                                  ">",
                                  "\x7f",
                                  "\xc2\x80",
                                  "\xc2\xa0",
                                  "\xc3\xa9",
                                  "\xe2\x80\xa8",
                                  "\xef\xbb\xbf",
                                  "\xf0\x9f\x98\x80",
                                  "\xf3\xa0\x80\x81",
                                  "\xff",
                                  "\xc3"};
  const std::string kPlain = "Restrict network access to host-1100 (0-9 ~ `)";
  for (const std::string& special : kSpecial) {
    for (size_t before = 0; before <= 40; ++before) {
      const size_t after = (before * 7) % 37;
      v1::DecisionResult result;
      v1::Decision* decision = result.mutable_decision();
      decision->set_matched_rule(kPlain.substr(0, before % kPlain.size()) +
                                 special + kPlain.substr(0, after));
      decision->add_reasons(std::string(before, 'x') + special + special +
                            std::string(after, 'y'));
      ExpectSameAsProtobuf(result);
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(DecisionJsonWriterTest, WritesMutatedWireBytesAsProtobufReadsThem) {
  // Bytes protobuf's serializer would not write: two results concatenated
  // (protobuf merges them: fields twice, messages merged, both oneof
  // members), fields out of order, bytes flipped, cut short, unknown
  // fields. Each is written as protobuf parses it, or refused like it.
  google::protobuf::LogSilencer quiet;
  testing::RandomFindings random(72, {});
  std::mt19937 rng(73);
  std::vector<std::string> wires;
  for (int i = 0; i < 200; ++i) {
    v1::DecisionResult result;
    random.FillMessage(&result);
    wires.push_back(result.SerializeAsString());
  }
  auto pick = [&] { return wires[rng() % wires.size()]; };
  const int direct_before = wire_direct;
  const int notes_direct_before = notes_direct;
  for (int i = 0; i < 6000; ++i) {
    std::string wire = pick();
    switch (i % 6) {
      case 0:
        wire += pick();
        break;
      case 1:
        if (!wire.empty()) wire[rng() % wire.size()] ^= 1 << (rng() % 8);
        break;
      case 2:
        wire.resize(wire.empty() ? 0 : rng() % wire.size());
        break;
      case 3: {
        // The result's own fields in reverse order.
        v1::DecisionResult result;
        ASSERT_TRUE(result.ParseFromString(wire));
        v1::DecisionResult a, b;
        a.set_finding_id(result.finding_id());
        a.set_index(result.index());
        b = result;
        b.clear_finding_id();
        b.clear_index();
        wire = b.SerializeAsString() + a.SerializeAsString();
        break;
      }
      case 4:
        // An unknown field (number 9, varint) at the front or back.
        wire = (rng() % 2 == 0) ? "\x48\x01" + wire : wire + "\x48\x01";
        break;
      default:
        if (!wire.empty()) wire[rng() % wire.size()] = static_cast<char>(rng());
    }
    ExpectWireSameAsProtobuf(
        wire, i % 4 == 0 ? std::optional<int32_t>(i) : std::nullopt);
    if (::testing::Test::HasFailure()) return;
  }
  // Some mutants are still canonical (a flipped byte inside a string).
  EXPECT_GT(wire_direct, direct_before);
  EXPECT_GT(notes_direct, notes_direct_before);
}

TEST(DecisionJsonWriterTest, ReadsKeysAndLengthsAsProtobufDoes) {
  // Keys and lengths are 32-bit varints of at most 5 bytes to protobuf's
  // parser; overlong encodings within that are read, longer ones refused.
  // Values are varints of up to 10 bytes.
  const std::string id = "\x0a\x01x";  // finding_id "x"
  const std::string key5 = "\x8a\x80\x80\x80\x00\x01x";
  const std::string key6 = "\x8a\x80\x80\x80\x80\x00\x01x";
  const std::string length5 = "\x0a\x81\x80\x80\x80\x00x";
  const std::string length6 = "\x0a\x81\x80\x80\x80\x80\x00x";
  const std::string index10 =
      "\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";  // -1
  for (const std::string& wire :
       {id, key5, key6, length5, length6, index10, id + index10}) {
    ExpectWireSameAsProtobuf(wire, std::nullopt);
  }
}

TEST(DecisionJsonWriterTest, NotesRefuseWhatProtobufRefusesInFieldsNotRead) {
  // A CSV row reads neither actions nor the trace; protobuf's parser still
  // refuses a proto3 string there that is not UTF-8, and bytes cut short.
  v1::DecisionResult result;
  result.set_finding_id("f");
  v1::Decision* decision = result.mutable_decision();
  decision->set_priority("P1");
  decision->add_reasons("why");
  decision->add_actions()->set_text(std::string("caf\xc3", 4));
  decision->add_trace()->set_explanation("ok");
  const std::string bad_utf8 = result.SerializeAsString();
  v1::DecisionResult notes;
  EXPECT_FALSE(
      internal::ReadDecisionResultNotesFromWireDirect(bad_utf8, &notes));
  EXPECT_EQ(
      ReadDecisionResultNotesFromWire(bad_utf8, std::nullopt, &notes).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(notes.decision().priority(), "");

  decision->mutable_actions(0)->set_text("cafe");
  const std::string good = result.SerializeAsString();
  ASSERT_TRUE(ReadDecisionResultNotesFromWire(good, 7, &notes).ok());
  EXPECT_EQ(notes.decision().priority(), "P1");
  EXPECT_EQ(notes.decision().reasons_size(), 1);
  EXPECT_EQ(notes.index(), 7);
  for (size_t cut = 1; cut < good.size(); ++cut) {
    ExpectNotesSameAsProtobuf(good.substr(0, cut), std::nullopt);
  }
}

TEST(DecisionJsonWriterTest, AppendsAfterWhatTheStringHolds) {
  v1::DecisionResult result;
  result.set_finding_id("f");
  std::string out = "x";
  ASSERT_TRUE(AppendDecisionResultJson(result, &out).ok());
  EXPECT_EQ(out, R"(x{"findingId":"f"})");
  out.clear();
  ASSERT_TRUE(AppendDecisionResultJson(v1::DecisionResult(), &out).ok());
  EXPECT_EQ(out, "{}");
}

}  // namespace
}  // namespace treatd::json
