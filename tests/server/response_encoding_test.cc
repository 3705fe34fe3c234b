// The response encoder against protobuf's serializer: the same bytes (and
// the same message when parsed back) for the decisions of every example
// finding in both views, with and without traces and intel, for random
// findings (item errors included), for random results filled from the
// descriptors (every field, negative numbers, -0.0, empty strings in
// lists), and for messages carrying unknown fields; and ResultsEncoder's
// results written one at a time against the whole response's bytes.
#include "server/response_encoding.h"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/policy/pipeline/decide_item.h"
#include "gtest/gtest.h"
#include "tests/common/example_decisions.h"
#include "tests/common/random_finding.h"

namespace treatd {
namespace {

int checked = 0;

// `by_encoder`: whether the encoder itself must have written the bytes
// (else protobuf, which would hide a field the encoder misses).
template <typename M>
void ExpectSameAsProtobuf(const M& message, bool by_encoder = true) {
  const std::string want = message.SerializeAsString();
  bool encoded = !by_encoder;
  const std::string got = EncodeResponseForTest(message, &encoded);
  ++checked;
  EXPECT_EQ(encoded, by_encoder);
  ASSERT_EQ(got.size(), want.size()) << message.ShortDebugString();
  EXPECT_TRUE(got == want) << message.ShortDebugString();
  // Parsed back, the same message (compared as bytes again: NaN scores
  // are not equal to themselves).
  M parsed;
  ASSERT_TRUE(parsed.ParseFromString(got));
  EXPECT_TRUE(parsed.SerializeAsString() == want);
}

// What ResultsEncoder writes for `results`, one Add() each: a
// BatchDecideResponse, or with `sequence` a StreamDecideResponse chunk.
std::string EncodeOneByOne(
    const google::protobuf::RepeatedPtrField<v1::DecisionResult>& results,
    const uint64_t* sequence) {
  ResultsEncoder encoder = sequence == nullptr
                               ? ResultsEncoder::ForBatch()
                               : ResultsEncoder::ForStreamChunk(*sequence);
  for (const v1::DecisionResult& result : results) encoder.Add(result);
  grpc::ByteBuffer bytes;
  EXPECT_TRUE(encoder.Finish(&bytes).ok());
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(bytes.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

void ExpectOneByOneAsProtobuf(const v1::BatchDecideResponse& batch) {
  EXPECT_TRUE(EncodeOneByOne(batch.results(), nullptr) ==
              batch.SerializeAsString());
  for (const uint64_t sequence :
       {uint64_t{0}, uint64_t{1}, std::numeric_limits<uint64_t>::max()}) {
    v1::StreamDecideResponse chunk;
    chunk.set_sequence(sequence);
    *chunk.mutable_results() = batch.results();
    EXPECT_TRUE(EncodeOneByOne(batch.results(), &sequence) ==
                chunk.SerializeAsString())
        << sequence;
  }
}

TEST(ResponseEncodingTest, TheEncoderMatchesTheCompiledInSchema) {
  // When this fails, a decision message changed: update the Write()
  // functions and the specs in server/response_encoding.cc.
  EXPECT_EQ(SchemaMismatch(), "");
}

TEST(ResponseEncodingTest, EveryExampleDecisionEncodesAsProtobufDoes) {
  const std::vector<v1::Finding> findings = testing::ExampleFindings();
  ASSERT_GT(findings.size(), 10u);
  checked = 0;
  for (bool with_intel : {false, true}) {
    auto pipeline = testing::DefaultPolicyPipeline(with_intel);
    for (auto view : {v1::DECISION_VIEW_FULL, v1::DECISION_VIEW_BASIC}) {
      for (bool trace : {false, true}) {
        EvalOptions options;
        options.as_of = absl::FromUnixSeconds(1796083200) +
                        absl::Nanoseconds(trace ? 123000000 : 0);
        options.trace = trace;
        options.view = view;
        v1::BatchDecideResponse batch;
        v1::StreamDecideResponse stream;
        stream.set_sequence(trace ? uint64_t{1} << 40 : 7);
        for (size_t i = 0; i < findings.size(); ++i) {
          v1::DecisionResult* result = batch.add_results();
          result->set_index(static_cast<int>(i));
          DecideInto(*pipeline, findings[i], options, FindingLimits(),
                     "findings[i]", result);
          ASSERT_TRUE(result->has_decision());
          v1::DecideResponse unary;
          *unary.mutable_decision() = result->decision();
          ExpectSameAsProtobuf(unary);
          *stream.add_results() = *result;
        }
        ExpectSameAsProtobuf(batch);
        ExpectSameAsProtobuf(stream);
        v1::StreamDecideResponse single;
        *single.mutable_result() = batch.results(0);
        ExpectSameAsProtobuf(single);
      }
    }
  }
  EXPECT_EQ(checked, 2 * 2 * 2 * (static_cast<int>(findings.size()) + 3));
}

TEST(ResponseEncodingTest, DecisionsAndErrorsOfRandomFindingsEncodeAsProtobuf) {
  auto pipeline = testing::DefaultPolicyPipeline(true);
  int errors = 0;
  for (bool invalid : {false, true}) {
    testing::RandomFindingOptions options;
    options.invalid = invalid;
    testing::RandomFindings random(invalid ? 41 : 40, options);
    EvalOptions eval;
    eval.as_of = absl::FromUnixSeconds(1796083200);
    v1::BatchDecideResponse batch;
    for (int i = 0; i < 2000; ++i) {
      eval.trace = i % 5 == 0;
      eval.view = i % 3 == 0 ? v1::DECISION_VIEW_BASIC : v1::DECISION_VIEW_FULL;
      v1::DecisionResult* result = batch.add_results();
      result->set_index(i);
      DecideInto(*pipeline, random.Next(), eval, FindingLimits(),
                 absl::StrCat("findings[", i, "]"), result);
      if (result->has_error()) ++errors;
      if (i % 100 == 99) {
        ExpectSameAsProtobuf(batch);
        batch.Clear();
      }
    }
  }
  EXPECT_GT(errors, 100);
}

TEST(ResponseEncodingTest, RandomResultsWithEveryFieldEncodeAsProtobuf) {
  testing::RandomFindingOptions options;
  options.set_percent = 90;
  options.invalid = true;  // Negative and extreme numbers, NaN, odd enums.
  testing::RandomFindings random(42, options);
  for (int i = 0; i < 500; ++i) {
    v1::StreamDecideResponse stream;
    random.FillMessage(&stream);
    ExpectSameAsProtobuf(stream);
    v1::BatchDecideResponse batch;
    random.FillMessage(&batch);
    ExpectSameAsProtobuf(batch);
    ExpectOneByOneAsProtobuf(batch);
  }
}

TEST(ResponseEncodingTest, ZerosAndEmptiesAreWrittenOnlyWhereProtobufDoes) {
  v1::StreamDecideResponse stream;
  v1::Decision* decision = stream.add_results()->mutable_decision();
  decision->set_inherent_risk(-0.0);  // Written: its bits are not zero.
  decision->set_residual_risk(0.0);   // Not written.
  decision->set_priority_rank(-1);    // Ten bytes.
  decision->add_reasons("");          // Written: a list element.
  decision->mutable_review_by();      // Written: an empty, set message.
  decision->mutable_intel()->add_facts("");
  decision->mutable_exception()->set_applied(false);
  decision->add_revisit_conditions()->set_threshold(
      std::numeric_limits<double>::quiet_NaN());
  stream.mutable_result()->set_index(std::numeric_limits<int32_t>::min());
  stream.set_sequence(std::numeric_limits<uint64_t>::max());
  ExpectSameAsProtobuf(stream);
  v1::DecideResponse empty;
  ExpectSameAsProtobuf(empty);
  v1::DecideResponse unset_decision;
  unset_decision.mutable_decision();
  ExpectSameAsProtobuf(unset_decision);
}

TEST(ResponseEncodingTest, MessagesWithUnknownFieldsGoToProtobuf) {
  v1::BatchDecideResponse batch;
  v1::DecisionResult* result = batch.add_results();
  result->set_finding_id("f-1");
  result->mutable_decision()->set_priority("P1");
  result->mutable_decision()
      ->mutable_policy()
      ->GetReflection()
      ->MutableUnknownFields(result->mutable_decision()->mutable_policy())
      ->AddVarint(1000, 7);
  ExpectSameAsProtobuf(batch, /*by_encoder=*/false);
}

TEST(ResponseEncodingTest, ResultsEncodedOneByOneAreTheWholeResponsesBytes) {
  // Decisions (traced and not), item errors, and enough of them that the
  // answer spans several of the encoder's slices.
  auto pipeline = testing::DefaultPolicyPipeline(true);
  testing::RandomFindingOptions options;
  options.invalid = true;
  testing::RandomFindings random(43, options);
  const std::vector<v1::Finding> examples = testing::ExampleFindings();
  v1::BatchDecideResponse batch;
  int errors = 0;
  for (int i = 0; i < 600; ++i) {
    EvalOptions eval;
    eval.as_of = absl::FromUnixSeconds(1796083200);
    eval.trace = i % 4 == 0;
    v1::DecisionResult* result = batch.add_results();
    result->set_index(i);
    DecideInto(*pipeline,
               i % 2 == 0 ? examples[i % examples.size()] : random.Next(), eval,
               FindingLimits(), absl::StrCat("findings[", i, "]"), result);
    if (result->has_error()) ++errors;
  }
  EXPECT_GT(errors, 10);
  ASSERT_GT(batch.ByteSizeLong(), 3 * 64 * 1024u);
  ExpectOneByOneAsProtobuf(batch);
  // One result, and one larger than a slice.
  v1::BatchDecideResponse one;
  *one.add_results() = batch.results(0);
  ExpectOneByOneAsProtobuf(one);
  v1::BatchDecideResponse large;
  v1::Decision* decision = large.add_results()->mutable_decision();
  decision->add_reasons(std::string(200 * 1024, 'r'));
  ExpectOneByOneAsProtobuf(large);
}

TEST(ResponseEncodingTest, AResultWithUnknownFieldsEncodedOneByOneIsProtobufs) {
  // Protobuf writes that element.
  v1::BatchDecideResponse unknown;
  v1::DecisionResult* result = unknown.add_results();
  result->set_finding_id("f-1");
  result->mutable_decision()
      ->GetReflection()
      ->MutableUnknownFields(result->mutable_decision())
      ->AddVarint(1000, 7);
  *unknown.add_results() = *result;
  ExpectOneByOneAsProtobuf(unknown);
}

}  // namespace
}  // namespace treatd
