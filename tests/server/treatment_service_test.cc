// TreatmentService over real gRPC on loopback (port 0): every method, the
// limits, per-item errors, a long stream, health and reflection, and the
// batch and chunk answers against protobuf's bytes.
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/faults/raw_calls.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decide_item.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/policy_store.h"
#include "server/server.h"
#include "server/server_config.h"
#include "tests/common/example_decisions.h"
#include "tests/common/random_finding.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/admin_service.grpc.pb.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;

const absl::Time kServerNow = absl::FromUnixSeconds(1767225600);  // 2026-01-01

v1::Finding Vulnerability(const std::string& id, bool kev) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->mutable_kev()->set_listed(kev);
  return finding;
}

// Every test runs on gRPC's callback API (0) and on an event loop of one
// thread (--event-loop-threads 1): the answers must be the same.
class TreatmentServiceTest : public ::testing::TestWithParam<int> {
 protected:
  // `max_streams` > 0 sets --max-concurrent-streams, `max_calls` > 0
  // --max-concurrent-calls.
  void StartServer(bool with_policy, int max_batch = 10000, int max_streams = 0,
                   int max_calls = 0) {
    if (with_policy) {
      auto policy = CompiledPolicy::Compile(testing::kGoodPolicy, "good.yaml");
      ASSERT_TRUE(policy.ok()) << policy.status();
      store_.Set(*policy, "good.yaml", kServerNow);
    }
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.max_batch = max_batch;
    if (max_streams > 0)
      config.call_limits.max_concurrent_streams = max_streams;
    if (max_calls > 0) config.call_limits.max_concurrent_calls = max_calls;
    config.event_loop_threads = GetParam();
    config.drain_delay = drain_delay_;
    auto server =
        TreatdServer::Start(config, &store_, [] { return kServerNow; });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_GT(server_->port(), 0);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::TreatmentService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return context;
  }

  // The serving status byte of grpc.health.v1.HealthCheckResponse for
  // `service` (1 = SERVING, 2 = NOT_SERVING), or -1 on error.
  int HealthStatus(const std::string& service) {
    std::string request;
    if (!service.empty()) {
      request.push_back(0x0a);  // Field 1 (service), length-delimited.
      request.push_back(static_cast<char>(service.size()));
      request.append(service);
    }
    std::string response;
    grpc::Status status = RawUnaryCall(
        channel_.get(), "/grpc.health.v1.Health/Check", request, &response);
    if (!status.ok() || response.size() != 2 || response[0] != 0x08) return -1;
    return response[1];
  }

  // An open grpc.health.v1.Health/Watch of "" (the server's status).
  struct HealthWatch {
    std::unique_ptr<grpc::health::v1::Health::Stub> stub;
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<grpc::health::v1::HealthCheckResponse>>
        reader;
  };
  HealthWatch WatchHealth() {
    HealthWatch watch;
    watch.stub = grpc::health::v1::Health::NewStub(channel_);
    watch.context = Context();
    watch.reader = watch.stub->Watch(watch.context.get(),
                                     grpc::health::v1::HealthCheckRequest());
    return watch;
  }

  // Serves the default policy with the shipped feeds; returns its snapshot.
  std::shared_ptr<const ActivePolicy> ServeDefaultPolicy() {
    auto snapshot = std::make_shared<ActivePolicy>();
    snapshot->pipeline = testing::DefaultPolicyPipeline(/*with_intel=*/true);
    snapshot->policy = snapshot->pipeline->shared_policy();
    snapshot->source = "default.yaml";
    store_.SetSnapshot(snapshot);
    return snapshot;
  }

  // `count` findings: every third a random one (`seed`; some invalid, so
  // item errors come between decisions), the others the examples, every
  // fifth under another id and title (the engine's caches hit, the texts
  // differ).
  static std::vector<v1::Finding> MixedFindings(int count, int seed) {
    const std::vector<v1::Finding> examples = testing::ExampleFindings();
    testing::RandomFindingOptions random_options;
    random_options.invalid = true;
    testing::RandomFindings random(seed, random_options);
    std::vector<v1::Finding> findings;
    for (int i = 0; i < count; ++i) {
      findings.push_back(i % 3 == 0 ? random.Next()
                                    : examples[i % examples.size()]);
      if (i % 5 == 1) {
        findings.back().set_id(absl::StrCat("renamed-", i));
        findings.back().set_title(absl::StrCat("title ", i));
      }
    }
    return findings;
  }

  // --drain-delay-seconds of the next StartServer().
  absl::Duration drain_delay_ = absl::ZeroDuration();
  PolicyStore store_;
  std::unique_ptr<TreatdServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TreatmentService::Stub> stub_;
};

TEST_P(TreatmentServiceTest, DecideAnswersWithTheActivePolicy) {
  StartServer(/*with_policy=*/true);
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("f-1", /*kev=*/true);
  v1::DecideResponse response;
  grpc::Status status = stub_->Decide(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision().finding_id(), "f-1");
  EXPECT_EQ(response.decision().treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(response.decision().matched_rule(), "kev");
  EXPECT_EQ(response.decision().policy().name(), "test-policy");
  // as_of unset: the server clock.
  EXPECT_EQ(response.decision().evaluated_at().seconds(),
            absl::ToUnixSeconds(kServerNow));
}

TEST_P(TreatmentServiceTest, DecideEvaluatesAtTheRequestedAsOf) {
  StartServer(/*with_policy=*/true);
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("f-1", /*kev=*/false);
  request.mutable_as_of()->set_seconds(1800000000);
  v1::DecideResponse response;
  ASSERT_TRUE(stub_->Decide(Context().get(), request, &response).ok());
  EXPECT_EQ(response.decision().evaluated_at().seconds(), 1800000000);
  EXPECT_EQ(response.decision().treatment(), v1::TREATMENT_REMEDIATE);
  EXPECT_EQ(response.decision().match_kind(), v1::MATCH_KIND_DEFAULT);
}

TEST_P(TreatmentServiceTest, DecideRejectsAnInvalidFindingNamingTheField) {
  StartServer(/*with_policy=*/true);
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("f-1", false);
  request.mutable_finding()->mutable_vulnerability()->mutable_cvss()->set_score(
      11.5);
  v1::DecideResponse response;
  grpc::Status status = stub_->Decide(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "finding.vulnerability.cvss.score: must be a number within 0..10, "
            "got 11.5");
}

TEST_P(TreatmentServiceTest, DecideRejectsAnEmptyRequestListingEveryProblem) {
  StartServer(/*with_policy=*/true);
  v1::DecideResponse response;
  grpc::Status status =
      stub_->Decide(Context().get(), v1::DecideRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("finding.id: required"));
  EXPECT_THAT(status.error_message(), HasSubstr("finding.kind: required"));
}

TEST_P(TreatmentServiceTest, DecideRejectsAnAsOfOutOfRange) {
  StartServer(/*with_policy=*/true);
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("f-1", false);
  request.mutable_as_of()->set_nanos(-5);
  v1::DecideResponse response;
  grpc::Status status = stub_->Decide(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("as_of:"));
}

TEST_P(TreatmentServiceTest,
       BatchDecideAnswersBadItemsWithErrorsAndDecidesTheRest) {
  StartServer(/*with_policy=*/true);
  v1::BatchDecideRequest request;
  *request.add_findings() = Vulnerability("good-0", true);
  v1::Finding* bad_score = request.add_findings();
  *bad_score = Vulnerability("bad-1", false);
  bad_score->mutable_vulnerability()->mutable_epss()->set_score(2);
  *request.add_findings() = Vulnerability("good-2", false);
  v1::Finding* no_kind = request.add_findings();
  no_kind->set_id("bad-3");
  *request.add_findings() = Vulnerability("good-4", true);

  v1::BatchDecideResponse response;
  grpc::Status status = stub_->BatchDecide(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_THAT(response.results(), SizeIs(5));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(response.results(i).index(), i);
    EXPECT_EQ(response.results(i).finding_id(), request.findings(i).id());
  }
  EXPECT_EQ(response.results(0).decision().treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(response.results(2).decision().treatment(),
            v1::TREATMENT_REMEDIATE);
  EXPECT_TRUE(response.results(4).has_decision());

  const v1::ItemError& score_error = response.results(1).error();
  EXPECT_EQ(score_error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_THAT(score_error.field_violations(), SizeIs(1));
  EXPECT_EQ(score_error.field_violations(0).field(),
            "findings[1].vulnerability.epss.score");
  EXPECT_THAT(score_error.message(), HasSubstr("within 0..1, got 2"));
  const v1::ItemError& kind_error = response.results(3).error();
  EXPECT_EQ(kind_error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_THAT(kind_error.field_violations(), SizeIs(1));
  EXPECT_EQ(kind_error.field_violations(0).field(), "findings[3].kind");
}

TEST_P(TreatmentServiceTest, BatchDecideRejectsAnEmptyBatch) {
  StartServer(/*with_policy=*/true);
  v1::BatchDecideResponse response;
  grpc::Status status =
      stub_->BatchDecide(Context().get(), v1::BatchDecideRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("findings"));
}

TEST_P(TreatmentServiceTest, BatchDecideRejectsBatchesOverTheLimitNamingIt) {
  StartServer(/*with_policy=*/true, /*max_batch=*/3);
  v1::BatchDecideRequest request;
  for (int i = 0; i < 3; ++i) {
    *request.add_findings() = Vulnerability(absl::StrCat("f-", i), false);
  }
  v1::BatchDecideResponse response;
  ASSERT_TRUE(stub_->BatchDecide(Context().get(), request, &response).ok());
  *request.add_findings() = Vulnerability("f-3", false);
  grpc::Status status = stub_->BatchDecide(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("limit of 3"));
}

TEST_P(TreatmentServiceTest,
       StreamDecideAnswersAHundredThousandFindingsInOrder) {
  StartServer(/*with_policy=*/true);
  constexpr int kCount = 100000;
  constexpr int kBadEvery = 997;  // Every 997th finding has no kind.
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  auto stream = stub_->StreamDecide(&context);
  std::thread writer([&stream] {
    v1::StreamDecideRequest request;
    for (int i = 0; i < kCount; ++i) {
      *request.mutable_finding() =
          Vulnerability(absl::StrCat("s-", i), i % 2 == 0);
      if (i % kBadEvery == 0) request.mutable_finding()->clear_kind();
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  v1::StreamDecideResponse response;
  uint64_t received = 0;
  int errors = 0;
  bool in_order = true;
  while (stream->Read(&response)) {
    const int i = static_cast<int>(received);
    in_order = in_order && response.sequence() == received &&
               response.result().finding_id() == absl::StrCat("s-", i);
    if (response.result().has_error()) {
      ++errors;
      in_order = in_order && i % kBadEvery == 0 &&
                 response.result().error().code() ==
                     grpc::StatusCode::INVALID_ARGUMENT;
    } else {
      in_order = in_order && i % kBadEvery != 0;
    }
    ++received;
  }
  writer.join();
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(received, static_cast<uint64_t>(kCount));
  EXPECT_TRUE(in_order);
  EXPECT_EQ(errors, (kCount + kBadEvery - 1) / kBadEvery);
}

TEST_P(TreatmentServiceTest,
       StreamDecideMixesChunksAndSingleFindingsAndGoesOnAfterBadMessages) {
  StartServer(/*with_policy=*/true, /*max_batch=*/3);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto stream = stub_->StreamDecide(&context);
  // Sends one message and reads its answer, checking the sequence.
  uint64_t sequence = 0;
  auto exchange = [&](const v1::StreamDecideRequest& request) {
    v1::StreamDecideResponse response;
    EXPECT_TRUE(stream->Write(request));
    EXPECT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.sequence(), sequence++);
    return response;
  };
  auto expect_message_error =
      [](const v1::StreamDecideResponse& response, grpc::StatusCode code,
         const std::string& field, const std::string& text) {
        EXPECT_THAT(response.results(), SizeIs(0));
        ASSERT_TRUE(response.result().has_error()) << response.DebugString();
        const v1::ItemError& error = response.result().error();
        EXPECT_EQ(error.code(), code);
        EXPECT_THAT(error.message(), HasSubstr(text));
        EXPECT_TRUE(absl::StartsWith(error.message(), field + ": "))
            << error.message();
        ASSERT_THAT(error.field_violations(), SizeIs(1));
        EXPECT_EQ(error.field_violations(0).field(), field);
      };

  // 0: one finding, answered as before.
  v1::StreamDecideRequest single;
  *single.mutable_finding() = Vulnerability("single-0", /*kev=*/true);
  v1::StreamDecideResponse response = exchange(single);
  EXPECT_THAT(response.results(), SizeIs(0));
  EXPECT_EQ(response.result().index(), 0);
  EXPECT_EQ(response.result().finding_id(), "single-0");
  EXPECT_EQ(response.result().decision().treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);

  // 1: a chunk of three, one bad score and one without kind.
  v1::StreamDecideRequest chunk;
  *chunk.add_findings() = Vulnerability("chunk-a", /*kev=*/true);
  *chunk.add_findings() = Vulnerability("chunk-b", /*kev=*/false);
  chunk.mutable_findings(1)->mutable_vulnerability()->mutable_epss()->set_score(
      2);
  chunk.add_findings()->set_id("chunk-c");
  response = exchange(chunk);
  EXPECT_FALSE(response.has_result());
  ASSERT_THAT(response.results(), SizeIs(3));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(response.results(i).index(), i);
    EXPECT_EQ(response.results(i).finding_id(), chunk.findings(i).id());
  }
  EXPECT_EQ(response.results(0).decision().treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(response.results(0).decision().finding_id(), "chunk-a");
  const v1::ItemError& score_error = response.results(1).error();
  EXPECT_EQ(score_error.code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_THAT(score_error.field_violations(), SizeIs(1));
  EXPECT_EQ(score_error.field_violations(0).field(),
            "findings[1].vulnerability.epss.score");
  EXPECT_THAT(score_error.message(), HasSubstr("within 0..1, got 2"));
  const v1::ItemError& kind_error = response.results(2).error();
  ASSERT_THAT(kind_error.field_violations(), SizeIs(1));
  EXPECT_EQ(kind_error.field_violations(0).field(), "findings[2].kind");

  // 2: both finding and findings.
  v1::StreamDecideRequest both = chunk;
  *both.mutable_finding() = Vulnerability("both", false);
  expect_message_error(exchange(both), grpc::StatusCode::INVALID_ARGUMENT,
                       "findings", "either finding");

  // 3: more findings than --max-batch (3).
  v1::StreamDecideRequest too_many;
  for (int i = 0; i < 4; ++i) {
    *too_many.add_findings() = Vulnerability(absl::StrCat("many-", i), false);
  }
  response = exchange(too_many);
  expect_message_error(response, grpc::StatusCode::RESOURCE_EXHAUSTED,
                       "findings", "4 findings exceed the limit of 3");
  EXPECT_THAT(response.result().error().message(), HasSubstr("--max-batch"));

  // 4: neither.
  expect_message_error(exchange(v1::StreamDecideRequest()),
                       grpc::StatusCode::INVALID_ARGUMENT, "finding",
                       "got neither");

  // 5: a chunk with an as_of out of range fails as a whole.
  v1::StreamDecideRequest bad_time = chunk;
  bad_time.mutable_as_of()->set_nanos(-5);
  expect_message_error(exchange(bad_time), grpc::StatusCode::INVALID_ARGUMENT,
                       "as_of", "valid timestamp");

  // 6: a bad single finding keeps its "finding" paths and its sequence index.
  v1::StreamDecideRequest bad_single;
  bad_single.mutable_finding()->set_id("single-6");
  response = exchange(bad_single);
  EXPECT_EQ(response.result().index(), 6);
  ASSERT_TRUE(response.result().has_error());
  ASSERT_THAT(response.result().error().field_violations(), SizeIs(1));
  EXPECT_EQ(response.result().error().field_violations(0).field(),
            "finding.kind");

  // 7: the stream goes on, a chunk of one at the as_of asked for.
  v1::StreamDecideRequest last;
  *last.add_findings() = Vulnerability("last", false);
  last.mutable_as_of()->set_seconds(1800000000);
  response = exchange(last);
  ASSERT_THAT(response.results(), SizeIs(1));
  EXPECT_EQ(response.results(0).index(), 0);
  EXPECT_EQ(response.results(0).decision().treatment(),
            v1::TREATMENT_REMEDIATE);
  EXPECT_EQ(response.results(0).decision().evaluated_at().seconds(),
            1800000000);

  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_P(TreatmentServiceTest, StreamDecideAnswersAThousandChunksInOrder) {
  StartServer(/*with_policy=*/true);
  constexpr int kMessages = 1000;
  constexpr int kChunk = 100;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  auto stream = stub_->StreamDecide(&context);
  // The writer runs ahead of the reader: the server's flow control holds it.
  std::thread writer([&stream] {
    v1::StreamDecideRequest request;
    for (int m = 0; m < kMessages; ++m) {
      request.clear_findings();
      for (int i = 0; i < kChunk; ++i) {
        *request.add_findings() =
            Vulnerability(absl::StrCat("c-", m, "-", i), i % 10 == 0);
      }
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  v1::StreamDecideResponse response;
  int messages = 0;
  int64_t kev = 0;
  bool in_order = true;
  while (stream->Read(&response)) {
    in_order = in_order &&
               response.sequence() == static_cast<uint64_t>(messages) &&
               response.results_size() == kChunk;
    for (int i = 0; in_order && i < response.results_size(); ++i) {
      const v1::DecisionResult& result = response.results(i);
      in_order = result.index() == i &&
                 result.finding_id() == absl::StrCat("c-", messages, "-", i) &&
                 result.has_decision();
      if (result.decision().matched_rule() == "kev") ++kev;
    }
    ++messages;
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(messages, kMessages);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(kev, kMessages * kChunk / 10);
}

// Threads of this process (the server's and the clients').
int ThreadCount() {
  int threads = 0;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/self/task")) {
    ++threads;
  }
  return threads;
}

// StreamDecide runs on gRPC's callback threads: an open stream holds no
// thread of its own between its messages (the sync API held one per
// stream, for as long as the stream was open).
TEST_P(TreatmentServiceTest, OpenStreamsHoldNoThreadOfTheirOwn) {
  if (GetParam() > 0) {
    GTEST_SKIP() << "on an event loop, StreamDecide is a sync handler: a "
                    "thread per open stream (server/event_loop_service.h)";
  }
  StartServer(/*with_policy=*/true);
  constexpr int kStreams = 64;
  // One stream first, so that gRPC's own threads have started.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<
      v1::StreamDecideRequest, v1::StreamDecideResponse>>>
      streams;
  auto open_and_exchange = [&](int s) {
    contexts.push_back(Context());
    streams.push_back(stub_->StreamDecide(contexts.back().get()));
    v1::StreamDecideRequest request;
    *request.add_findings() = Vulnerability(absl::StrCat("t-", s), false);
    ASSERT_TRUE(streams.back()->Write(request));
    v1::StreamDecideResponse response;
    ASSERT_TRUE(streams.back()->Read(&response));
    ASSERT_EQ(response.results_size(), 1);
    EXPECT_TRUE(response.results(0).has_decision());
  };
  open_and_exchange(0);
  const int before = ThreadCount();
  for (int s = 1; s < kStreams; ++s) open_and_exchange(s);
  // Every stream is open and answered; none has finished.
  EXPECT_LT(ThreadCount() - before, kStreams / 4);
  for (int s = 0; s < kStreams; ++s) {
    streams[s]->WritesDone();
    v1::StreamDecideResponse response;
    EXPECT_FALSE(streams[s]->Read(&response));
    EXPECT_TRUE(streams[s]->Finish().ok());
  }
}

// On an event loop each open StreamDecide holds a sync thread, so open
// streams are bounded: --max-concurrent-streams refuses the one over the
// limit at once (RESOURCE_EXHAUSTED naming the flag), whatever
// --event-loop-threads is; Decide, on the loop's own threads, still
// answers; a closed stream frees its slot. The same holds on the callback
// API.
TEST_P(TreatmentServiceTest, OpenStreamsAreBoundedByTheStreamLimit) {
  constexpr int kLimit = 3;
  StartServer(/*with_policy=*/true, /*max_batch=*/10000,
              /*max_streams=*/kLimit);
  using Stream = grpc::ClientReaderWriter<v1::StreamDecideRequest,
                                          v1::StreamDecideResponse>;
  v1::StreamDecideRequest request;
  *request.add_findings() = Vulnerability("s", false);
  // Opens a stream and exchanges one message; returns how it went.
  auto open = [&](std::unique_ptr<grpc::ClientContext>* context,
                  std::unique_ptr<Stream>* stream) {
    *context = Context();
    *stream = stub_->StreamDecide(context->get());
    v1::StreamDecideResponse response;
    return (*stream)->Write(request) && (*stream)->Read(&response) &&
           response.results_size() == 1;
  };
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts(kLimit);
  std::vector<std::unique_ptr<Stream>> streams(kLimit);
  for (int s = 0; s < kLimit; ++s) {
    ASSERT_TRUE(open(&contexts[s], &streams[s])) << "stream " << s;
  }
  for (int extra = 0; extra < 3; ++extra) {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<Stream> stream;
    EXPECT_FALSE(open(&context, &stream));
    const grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(),
                HasSubstr(absl::StrCat("limit of ", kLimit,
                                       " streams open "
                                       "(--max-concurrent-streams)")));
  }
  v1::DecideRequest decide;
  *decide.mutable_finding() = Vulnerability("u", true);
  v1::DecideResponse decided;
  EXPECT_TRUE(stub_->Decide(Context().get(), decide, &decided).ok());
  // One stream ends: its slot takes a new one.
  streams[0]->WritesDone();
  EXPECT_TRUE(streams[0]->Finish().ok());
  ASSERT_TRUE(open(&contexts[0], &streams[0]));
  for (std::unique_ptr<Stream>& stream : streams) {
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
}

// Without a ledger, BatchDecide and StreamDecide chunks decide every
// finding into one reused result and encode it at once: their answers
// must be the bytes protobuf writes for decisions made afresh, finding
// after finding (default policy, shipped feeds, FULL with and without
// traces and BASIC, item errors between decisions).
TEST_P(TreatmentServiceTest,
       BatchAndChunkAnswersAreProtobufsBytesOfFreshDecisions) {
  StartServer(/*with_policy=*/false);
  const std::shared_ptr<const ActivePolicy> snapshot = ServeDefaultPolicy();
  const std::vector<v1::Finding> findings = MixedFindings(200, 45);
  for (const auto& [view, trace] :
       std::vector<std::pair<v1::DecisionView, bool>>{
           {v1::DECISION_VIEW_FULL, false},
           {v1::DECISION_VIEW_FULL, true},
           {v1::DECISION_VIEW_BASIC, false}}) {
    v1::BatchDecideRequest batch;
    batch.mutable_as_of()->set_seconds(1796083200);
    // Deadlines and evaluated_at with nanoseconds when traced.
    batch.mutable_as_of()->set_nanos(trace ? 123456789 : 0);
    batch.set_view(view);
    batch.set_trace(trace);
    v1::BatchDecideResponse want;
    EvalOptions options;
    options.as_of = absl::FromUnixSeconds(1796083200) +
                    absl::Nanoseconds(batch.as_of().nanos());
    options.view = view;
    options.trace = trace;
    int errors = 0;
    for (size_t i = 0; i < findings.size(); ++i) {
      *batch.add_findings() = findings[i];
      v1::DecisionResult* result = want.add_results();
      result->set_index(static_cast<int>(i));
      DecideInto(*snapshot->pipeline, findings[i], options, FindingLimits(),
                 absl::StrCat("findings[", i, "]"), result);
      if (result->has_error()) ++errors;
    }
    EXPECT_GT(errors, 3);
    EXPECT_LT(errors, 60);
    std::string got;
    const grpc::Status status =
        RawUnaryCall(channel_.get(), "/treatd.v1.TreatmentService/BatchDecide",
                     batch.SerializeAsString(), &got);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(got == want.SerializeAsString()) << view << " " << trace;

    // The same findings as StreamDecide chunks of 50.
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    auto stream = stub_->StreamDecide(&context);
    for (int m = 0; m < 4; ++m) {
      v1::StreamDecideRequest chunk;
      *chunk.mutable_as_of() = batch.as_of();
      chunk.set_view(view);
      chunk.set_trace(trace);
      v1::StreamDecideResponse want_chunk;
      want_chunk.set_sequence(m);
      for (int i = 0; i < 50; ++i) {
        *chunk.add_findings() = findings[m * 50 + i];
        v1::DecisionResult* result = want_chunk.add_results();
        result->set_index(i);
        DecideInto(*snapshot->pipeline, findings[m * 50 + i], options,
                   FindingLimits(), absl::StrCat("findings[", i, "]"), result);
      }
      ASSERT_TRUE(stream->Write(chunk));
      v1::StreamDecideResponse answer;
      ASSERT_TRUE(stream->Read(&answer));
      EXPECT_TRUE(answer.SerializeAsString() == want_chunk.SerializeAsString())
          << m;
    }
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
}

TEST_P(TreatmentServiceTest, DecideAnswersAreProtobufsBytesOfFreshDecisions) {
  StartServer(/*with_policy=*/false);
  const std::shared_ptr<const ActivePolicy> snapshot = ServeDefaultPolicy();
  const std::vector<v1::Finding> findings = MixedFindings(300, 46);
  // The server answers Decide from one decision per thread, reused call
  // after call: the views, traces and findings alternate, and an invalid
  // finding now and then leaves that decision as the call before made it,
  // so whatever a call would keep from the one before shows.
  const std::vector<std::pair<v1::DecisionView, bool>> views = {
      {v1::DECISION_VIEW_FULL, true},
      {v1::DECISION_VIEW_BASIC, false},
      {v1::DECISION_VIEW_FULL, false}};
  int decided = 0;
  int refused = 0;
  for (size_t i = 0; i < findings.size(); ++i) {
    v1::DecideRequest request;
    *request.mutable_finding() = findings[i];
    const auto& [view, trace] = views[i % views.size()];
    request.mutable_as_of()->set_seconds(1796083200);
    request.mutable_as_of()->set_nanos(trace ? 123456789 : 0);
    request.set_view(view);
    request.set_trace(trace);
    EvalOptions options;
    options.as_of = absl::FromUnixSeconds(1796083200) +
                    absl::Nanoseconds(request.as_of().nanos());
    options.view = view;
    options.trace = trace;
    v1::DecideResponse want;
    const absl::Status want_status = DecideFinding(
        *snapshot->pipeline, request.finding(), options, FindingLimits(),
        "finding", want.mutable_decision(), /*violations=*/nullptr);
    std::string got;
    const grpc::Status status =
        RawUnaryCall(channel_.get(), "/treatd.v1.TreatmentService/Decide",
                     request.SerializeAsString(), &got);
    ASSERT_EQ(static_cast<int>(status.error_code()),
              static_cast<int>(want_status.code()))
        << i << " " << status.error_message() << " / " << want_status;
    if (!want_status.ok()) {
      ++refused;
      continue;
    }
    ++decided;
    EXPECT_TRUE(got == want.SerializeAsString()) << i << " " << view << trace;
  }
  EXPECT_GT(refused, 5);
  EXPECT_GT(decided, 200);
}

TEST_P(TreatmentServiceTest, CallsFailWithFailedPreconditionWithoutAPolicy) {
  StartServer(/*with_policy=*/false);
  v1::DecideRequest decide;
  *decide.mutable_finding() = Vulnerability("f-1", false);
  v1::DecideResponse decide_response;
  EXPECT_EQ(
      stub_->Decide(Context().get(), decide, &decide_response).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  v1::BatchDecideRequest batch;
  *batch.add_findings() = decide.finding();
  v1::BatchDecideResponse batch_response;
  EXPECT_EQ(
      stub_->BatchDecide(Context().get(), batch, &batch_response).error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  v1::GetPolicyResponse policy_response;
  EXPECT_EQ(
      stub_
          ->GetPolicy(Context().get(), v1::GetPolicyRequest(), &policy_response)
          .error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  auto context = Context();
  auto stream = stub_->StreamDecide(context.get());
  v1::StreamDecideRequest stream_request;
  *stream_request.mutable_finding() = decide.finding();
  stream->Write(stream_request);
  stream->WritesDone();
  v1::StreamDecideResponse stream_response;
  EXPECT_FALSE(stream->Read(&stream_response));
  EXPECT_EQ(stream->Finish().error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_P(TreatmentServiceTest, HealthIsNotServingUntilAPolicyLoads) {
  StartServer(/*with_policy=*/false);
  EXPECT_EQ(HealthStatus(""), 2);
  EXPECT_EQ(HealthStatus("treatd.v1.TreatmentService"), 2);
  auto policy = CompiledPolicy::Compile(testing::kGoodPolicy, "good.yaml");
  ASSERT_TRUE(policy.ok());
  store_.Set(*policy, "good.yaml", kServerNow);
  EXPECT_EQ(HealthStatus(""), 1);
  EXPECT_EQ(HealthStatus("treatd.v1.TreatmentService"), 1);
}

TEST_P(TreatmentServiceTest, HealthIsServingWithAPolicy) {
  StartServer(/*with_policy=*/true);
  EXPECT_EQ(HealthStatus(""), 1);
}

TEST_P(TreatmentServiceTest, HealthCheckOfAnUnknownServiceIsNotFound) {
  StartServer(/*with_policy=*/true);
  std::string response;
  const grpc::Status status =
      RawUnaryCall(channel_.get(), "/grpc.health.v1.Health/Check",
                   std::string("\x0a\x04nope", 6), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_P(TreatmentServiceTest, HealthWatchSendsEachChangeUntilShutdown) {
  StartServer(/*with_policy=*/false);
  HealthWatch health = WatchHealth();
  auto& watch = health.reader;
  auto& context = health.context;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  auto policy = CompiledPolicy::Compile(testing::kGoodPolicy, "good.yaml");
  ASSERT_TRUE(policy.ok());
  store_.Set(*policy, "good.yaml", kServerNow);
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  std::thread stop([this] { server_->Shutdown(absl::Seconds(1)); });
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  context->TryCancel();
  while (watch->Read(&response)) {
  }
  watch->Finish();
  stop.join();
}

// A watch its client cancels while nothing is being written sends no
// status: its call accounting ends as gRPC destroys the call's context
// and must not read it then (on the event loop, gRPC has already
// released the call's completion op). Many such ends, then the server
// still serves.
TEST_P(TreatmentServiceTest, HealthWatchesCancelledIdleEndCleanly) {
  StartServer(/*with_policy=*/true);
  for (int i = 0; i < 50; ++i) {
    HealthWatch health = WatchHealth();
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health.reader->Read(&response));
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
    health.context->TryCancel();
    while (health.reader->Read(&response)) {
    }
    EXPECT_EQ(health.reader->Finish().error_code(),
              grpc::StatusCode::CANCELLED);
  }
  EXPECT_EQ(HealthStatus(""), 1);
}

TEST_P(TreatmentServiceTest, HealthWatchEndsAtShutdownWithoutHoldingTheGrace) {
  StartServer(/*with_policy=*/true);
  HealthWatch health = WatchHealth();
  auto& watch = health.reader;
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  const absl::Time start = absl::Now();
  std::thread stop([this] { server_->Shutdown(absl::Seconds(10)); });
  while (watch->Read(&response)) {
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }
  const grpc::Status status = watch->Finish();
  // The open watch does not keep the server draining for its grace. (The
  // watch's end is timed, not the shutdown's: gRPC's Shutdown and Wait
  // sometimes take seconds more with no call in flight.)
  const absl::Duration watch_ended = absl::Now() - start;
  stop.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(status.error_message(), "not writing due to shutdown");
  EXPECT_LT(watch_ended, absl::Seconds(5));
}

// Clients with client-side health checking keep one Watch open per
// subchannel, for as long as it lives. Open watches hold no thread (on
// the callback API, or as state on the event loop's queues), so however
// many are open, the sync threads (capped at twice --max-concurrent-calls
// plus 32, transport.cc) stay free for Check and the other calls.
TEST_P(TreatmentServiceTest, OpenHealthWatchesHoldNoThreadOfTheirOwn) {
  StartServer(/*with_policy=*/true, /*max_batch=*/10000, /*max_streams=*/0,
              /*max_calls=*/2);
  constexpr int kWatches = 80;  // The thread cap is 36.
  std::vector<HealthWatch> watches;
  auto open = [&] {
    watches.push_back(WatchHealth());
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(watches.back().reader->Read(&response));
    EXPECT_EQ(response.status(),
              grpc::health::v1::HealthCheckResponse::SERVING);
  };
  // One watch first, so that gRPC's own threads have started.
  open();
  const int before = ThreadCount();
  for (int w = 1; w < kWatches; ++w) open();
  // Every watch is open; none has finished.
  EXPECT_LT(ThreadCount() - before, kWatches / 4);
  EXPECT_EQ(HealthStatus(""), 1);
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("f-1", /*kev=*/true);
  v1::DecideResponse response;
  const grpc::Status status =
      stub_->Decide(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  v1::GetStatusResponse status_response;
  const grpc::Status admin_status =
      v1::AdminService::NewStub(channel_)->GetStatus(
          Context().get(), v1::GetStatusRequest(), &status_response);
  EXPECT_TRUE(admin_status.ok()) << admin_status.error_message();
  for (HealthWatch& watch : watches) watch.context->TryCancel();
  for (HealthWatch& watch : watches) {
    grpc::health::v1::HealthCheckResponse ignored;
    while (watch.reader->Read(&ignored)) {
    }
    EXPECT_EQ(watch.reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
}

// More open watches than the sync thread cap (36 with
// --max-concurrent-calls 2): each gets its first status, each sees the
// policy load turn it SERVING, Decide and Check answer meanwhile, a
// cancelled watch leaves the server, and the rest end at shutdown (in its
// drain delay: once the server has stopped, its connection is closed, and
// the client may lose what it had not read yet).
TEST_P(TreatmentServiceTest, MoreOpenWatchesThanTheThreadCapSeeEachChange) {
  drain_delay_ = absl::Seconds(3);
  StartServer(/*with_policy=*/false, /*max_batch=*/10000, /*max_streams=*/0,
              /*max_calls=*/2);
  constexpr int kWatches = 36 + 50;
  using grpc::health::v1::HealthCheckResponse;
  std::vector<HealthWatch> watches;
  for (int w = 0; w < kWatches; ++w) {
    watches.push_back(WatchHealth());
    HealthCheckResponse response;
    ASSERT_TRUE(watches.back().reader->Read(&response)) << "watch " << w;
    EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  }
  EXPECT_EQ(server_->health()->open_watches(), kWatches);
  EXPECT_EQ(HealthStatus(""), 2);
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("f-1", /*kev=*/true);
  v1::DecideResponse response;
  EXPECT_EQ(stub_->Decide(Context().get(), request, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  auto policy = CompiledPolicy::Compile(testing::kGoodPolicy, "good.yaml");
  ASSERT_TRUE(policy.ok());
  store_.Set(*policy, "good.yaml", kServerNow);
  for (int w = 0; w < kWatches; ++w) {
    HealthCheckResponse changed;
    ASSERT_TRUE(watches[w].reader->Read(&changed)) << "watch " << w;
    EXPECT_EQ(changed.status(), HealthCheckResponse::SERVING) << "watch " << w;
  }
  EXPECT_EQ(HealthStatus(""), 1);
  const grpc::Status status =
      stub_->Decide(Context().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();

  // Half the clients go away: their watches leave the server.
  constexpr int kKept = kWatches / 2;
  for (int w = kKept; w < kWatches; ++w) watches[w].context->TryCancel();
  for (int w = kKept; w < kWatches; ++w) {
    HealthCheckResponse ignored;
    while (watches[w].reader->Read(&ignored)) {
    }
    EXPECT_EQ(watches[w].reader->Finish().error_code(),
              grpc::StatusCode::CANCELLED);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (server_->health()->open_watches() > kKept && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(server_->health()->open_watches(), kKept);

  std::thread stop([this] { server_->Shutdown(absl::Seconds(10)); });
  for (int w = 0; w < kKept; ++w) {
    HealthCheckResponse last;
    ASSERT_TRUE(watches[w].reader->Read(&last)) << "watch " << w;
    EXPECT_EQ(last.status(), HealthCheckResponse::NOT_SERVING);
    EXPECT_FALSE(watches[w].reader->Read(&last));
    const grpc::Status ended = watches[w].reader->Finish();
    EXPECT_EQ(ended.error_code(), grpc::StatusCode::CANCELLED);
    EXPECT_EQ(ended.error_message(), "not writing due to shutdown");
  }
  stop.join();
  EXPECT_EQ(server_->health()->open_watches(), 0);
}

// Shutting down at once, before the server's threads have asked for any
// call, must not abort.
TEST_P(TreatmentServiceTest, ShutdownRightAfterStartIsClean) {
  for (int i = 0; i < 200; ++i) {
    StartServer(/*with_policy=*/true);
    server_->Shutdown(absl::ZeroDuration());
    stub_.reset();
    channel_.reset();
    server_.reset();
  }
}

// Shutting down with no grace while Decide calls queue up (more than the
// server's threads have taken) must not abort, and every call ends.
TEST_P(TreatmentServiceTest, ShutdownUnderDecideLoadIsClean) {
  constexpr int kCalls = 200;
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    StartServer(/*with_policy=*/true);
    grpc::CompletionQueue cq;
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<v1::DecideResponse> responses(kCalls);
    std::vector<grpc::Status> statuses(kCalls);
    v1::DecideRequest request;
    *request.mutable_finding() = Vulnerability("load", true);
    for (int i = 0; i < kCalls; ++i) {
      contexts.push_back(Context());
      stub_->AsyncDecide(contexts.back().get(), request, &cq)
          ->Finish(&responses[i], &statuses[i], reinterpret_cast<void*>(i));
    }
    // Let part of them reach the server, then stop it at once.
    absl::SleepFor(absl::Milliseconds(round % 5));
    server_->Shutdown(absl::ZeroDuration());
    int ended = 0;
    void* tag = nullptr;
    bool ok = false;
    while (ended < kCalls && cq.Next(&tag, &ok)) ++ended;
    EXPECT_EQ(ended, kCalls);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    stub_.reset();
    channel_.reset();
    server_.reset();
  }
}

TEST_P(TreatmentServiceTest, HealthWatchOfAnUnknownServiceSaysSo) {
  StartServer(/*with_policy=*/true);
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  auto context = Context();
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("nope");
  auto watch = stub->Watch(context.get(), request);
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(),
            grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN);
  context->TryCancel();
  watch->Finish();
}

TEST_P(TreatmentServiceTest, GetPolicyDescribesTheActivePolicy) {
  StartServer(/*with_policy=*/true);
  v1::GetPolicyResponse response;
  grpc::Status status =
      stub_->GetPolicy(Context().get(), v1::GetPolicyRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.policy().name(), "test-policy");
  EXPECT_EQ(response.policy().version(), "1.2");
  EXPECT_TRUE(absl::StartsWith(response.policy().digest(), "sha256:"));
  EXPECT_EQ(response.description(), "Test policy for the service tests");
  EXPECT_EQ(response.source(), "good.yaml");
  EXPECT_EQ(response.loaded_at().seconds(), absl::ToUnixSeconds(kServerNow));
  ASSERT_THAT(response.rules(), SizeIs(1));
  EXPECT_EQ(response.rules(0).id(), "kev");
  EXPECT_EQ(response.rules(0).when(), "vulnerability.kev.listed");
  EXPECT_EQ(response.rules(0).treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_THAT(response.priorities(), ElementsAre("P1", "P4"));
}

TEST_P(TreatmentServiceTest, ValidatePolicyListsEveryIssueOfABrokenPolicy) {
  StartServer(/*with_policy=*/true);
  v1::ValidatePolicyRequest request;
  request.set_content(testing::kBrokenPolicy);
  request.set_filename("broken.yaml");
  v1::ValidatePolicyResponse response;
  grpc::Status status =
      stub_->ValidatePolicy(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.valid());
  std::vector<std::string> elements;
  for (const v1::PolicyIssue& issue : response.issues()) {
    EXPECT_EQ(issue.file(), "broken.yaml");
    EXPECT_GT(issue.line(), 0);
    if (issue.severity() == v1::ISSUE_SEVERITY_ERROR) {
      elements.push_back(issue.path());
    }
  }
  EXPECT_THAT(elements,
              ::testing::UnorderedElementsAre("rules[0].when", "rules[1].when",
                                              "rules[1].priority"));
  // The document parsed, so it is named.
  EXPECT_EQ(response.policy().name(), "broken");
  EXPECT_TRUE(absl::StartsWith(response.policy().digest(), "sha256:"));
}

TEST_P(TreatmentServiceTest,
       ValidatePolicyAcceptsAGoodPolicyWithoutActivatingIt) {
  StartServer(/*with_policy=*/false);
  v1::ValidatePolicyRequest request;
  request.set_content(testing::kGoodPolicy);
  v1::ValidatePolicyResponse response;
  ASSERT_TRUE(stub_->ValidatePolicy(Context().get(), request, &response).ok());
  EXPECT_TRUE(response.valid());
  EXPECT_EQ(response.policy().name(), "test-policy");
  EXPECT_EQ(store_.Get(), nullptr);
}

TEST_P(TreatmentServiceTest, ValidatePolicyReportsGarbageInsteadOfFailing) {
  StartServer(/*with_policy=*/true);
  v1::ValidatePolicyRequest request;
  request.set_content("{{{ [ : not yaml");
  v1::ValidatePolicyResponse response;
  ASSERT_TRUE(stub_->ValidatePolicy(Context().get(), request, &response).ok());
  EXPECT_FALSE(response.valid());
  EXPECT_THAT(response.issues(), ::testing::Not(::testing::IsEmpty()));
  EXPECT_EQ(response.issues(0).file(), "policy.yaml");
}

TEST_P(TreatmentServiceTest, ReflectionListsTheTreatmentService) {
  StartServer(/*with_policy=*/true);
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto call = stub.PrepareCall(
      &context,
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto next = [&] { return cq.Next(&tag, &ok) && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next());
  // ServerReflectionRequest{list_services: ""}: field 7, empty string.
  const std::string request("\x3a\x00", 2);
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  call->Write(request_buffer, reinterpret_cast<void*>(2));
  ASSERT_TRUE(next());
  grpc::ByteBuffer response_buffer;
  call->Read(&response_buffer, reinterpret_cast<void*>(3));
  ASSERT_TRUE(next());
  call->WritesDone(reinterpret_cast<void*>(4));
  ASSERT_TRUE(next());
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  ASSERT_TRUE(next());
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response_buffer.Dump(&slices).ok());
  std::string response;
  for (const grpc::Slice& s : slices) {
    response.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(response, HasSubstr("treatd.v1.TreatmentService"));
  EXPECT_THAT(response, HasSubstr("grpc.health.v1.Health"));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// Bytes that parse as no protobuf message: field 1, length-delimited, says
// 5 bytes follow and 2 do (a truncated request).
constexpr absl::string_view kBrokenBytes(
    "\x0a\x05"
    "ab",
    4);

TEST_P(TreatmentServiceTest,
       UndecodableRequestsGetInvalidArgumentOnEveryMethod) {
  StartServer(/*with_policy=*/true);
  const std::pair<const char*, const char*> kMethods[] = {
      {"/treatd.v1.TreatmentService/Decide", "treatd.v1.DecideRequest"},
      {"/treatd.v1.TreatmentService/BatchDecide",
       "treatd.v1.BatchDecideRequest"},
      {"/treatd.v1.TreatmentService/GetPolicy", "treatd.v1.GetPolicyRequest"},
      {"/treatd.v1.TreatmentService/ValidatePolicy",
       "treatd.v1.ValidatePolicyRequest"},
      {"/treatd.v1.AdminService/Reload", "treatd.v1.ReloadRequest"},
      {"/treatd.v1.AdminService/GetStatus", "treatd.v1.GetStatusRequest"},
      {"/treatd.v1.AdminService/Simulate", "treatd.v1.SimulateRequest"},
  };
  for (const auto& [method, type] : kMethods) {
    SCOPED_TRACE(method);
    std::string response;
    const grpc::Status status = RawUnaryCall(
        channel_.get(), method, std::string(kBrokenBytes), &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(
        status.error_message(),
        HasSubstr(absl::StrCat("request bytes do not parse as ", type)));
  }
  // The server is fine: the same methods answer well-formed requests.
  v1::DecideRequest decide;
  *decide.mutable_finding() = Vulnerability("after", true);
  std::string response;
  EXPECT_TRUE(RawUnaryCall(channel_.get(), "/treatd.v1.TreatmentService/Decide",
                           decide.SerializeAsString(), &response)
                  .ok());
  v1::DecideResponse decided;
  ASSERT_TRUE(decided.ParseFromString(response));
  EXPECT_EQ(decided.decision().matched_rule(), "kev");
}

TEST_P(TreatmentServiceTest,
       UndecodableStreamMessageGetsAnErrorAndTheStreamGoesOn) {
  StartServer(/*with_policy=*/true);
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto call = stub.PrepareCall(&context,
                               "/treatd.v1.TreatmentService/StreamDecide", &cq);
  void* tag = nullptr;
  bool ok = false;
  auto next = [&] { return cq.Next(&tag, &ok) && ok; };
  auto write = [&](absl::string_view bytes, intptr_t id) {
    grpc::Slice slice{std::string(bytes)};
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(id));
    return next();
  };
  auto read = [&](v1::StreamDecideResponse* response, intptr_t id) {
    grpc::ByteBuffer buffer;
    call->Read(&buffer, reinterpret_cast<void*>(id));
    if (!next()) return false;
    std::vector<grpc::Slice> slices;
    if (!buffer.Dump(&slices).ok()) return false;
    std::string bytes;
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    return response->ParseFromString(bytes);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(next());
  v1::StreamDecideResponse response;
  ASSERT_TRUE(write(kBrokenBytes, 2));
  ASSERT_TRUE(read(&response, 3));
  EXPECT_EQ(response.sequence(), 0u);
  ASSERT_TRUE(response.result().has_error());
  EXPECT_EQ(response.result().error().code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.result().error().message(),
              HasSubstr("request bytes do not parse as "
                        "treatd.v1.StreamDecideRequest"));
  v1::StreamDecideRequest good;
  *good.mutable_finding() = Vulnerability("next", true);
  ASSERT_TRUE(write(good.SerializeAsString(), 4));
  ASSERT_TRUE(read(&response, 5));
  EXPECT_EQ(response.sequence(), 1u);
  EXPECT_EQ(response.result().decision().matched_rule(), "kev");
  call->WritesDone(reinterpret_cast<void*>(6));
  ASSERT_TRUE(next());
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(7));
  ASSERT_TRUE(next());
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

INSTANTIATE_TEST_SUITE_P(Api, TreatmentServiceTest, ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0
                                      ? std::string("Callback")
                                      : absl::StrCat("EventLoop", info.param);
                         });

TEST(TreatdServerTest, StartFailsWhenTheAddressIsTaken) {
  PolicyStore store;
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  auto first = TreatdServer::Start(config, &store);
  ASSERT_TRUE(first.ok()) << first.status();
  config.listen = (*first)->address();
  auto second = TreatdServer::Start(config, &store);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr(config.listen));
}

TEST(TreatdServerTest, StartOnAnEventLoopFailsWhenTheAddressIsTaken) {
  PolicyStore store;
  ServerConfig config;
  config.listen = "127.0.0.1:0";
  config.event_loop_threads = 2;
  auto first = TreatdServer::Start(config, &store);
  ASSERT_TRUE(first.ok()) << first.status();
  config.listen = (*first)->address();
  auto second = TreatdServer::Start(config, &store);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace treatd
