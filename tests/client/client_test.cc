// Tests of treatd::Client against a fake TreatmentService on loopback: the
// fake records what the client sent, so chunking, retries, streaming and
// metadata can be checked from the server's side.
#include "client/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/client/treatctl_runner.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int kServerBatchLimit = 10000;

class FakeTreatmentService final : public v1::TreatmentService::Service {
 public:
  grpc::Status Decide(grpc::ServerContext* context,
                      const v1::DecideRequest* request,
                      v1::DecideResponse* response) override {
    const int attempt = ++decide_attempts_;
    {
      absl::MutexLock lock(&mu_);
      auto it = context->client_metadata().find("authorization");
      if (it != context->client_metadata().end()) {
        authorization_ = std::string(it->second.data(), it->second.size());
      }
    }
    if (attempt <= unavailable_attempts_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "warming up");
    }
    if (request->finding().id() == "slow") {
      absl::SleepFor(absl::Milliseconds(500));
    }
    response->mutable_decision()->set_finding_id(request->finding().id());
    response->mutable_decision()->set_treatment(v1::TREATMENT_REMEDIATE);
    return grpc::Status::OK;
  }

  grpc::Status BatchDecide(grpc::ServerContext* /*context*/,
                           const v1::BatchDecideRequest* request,
                           v1::BatchDecideResponse* response) override {
    {
      absl::MutexLock lock(&mu_);
      batch_sizes_.push_back(request->findings_size());
    }
    if (request->findings_size() > kServerBatchLimit) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too many");
    }
    for (int i = 0; i < request->findings_size(); ++i) {
      v1::DecisionResult* result = response->add_results();
      result->set_index(i);
      result->set_finding_id(request->findings(i).id());
      result->mutable_decision()->set_finding_id(request->findings(i).id());
    }
    return grpc::Status::OK;
  }

  grpc::Status StreamDecide(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::StreamDecideResponse,
                               v1::StreamDecideRequest>* stream) override {
    v1::StreamDecideRequest request;
    uint64_t sequence = 0;
    while (stream->Read(&request)) {
      v1::StreamDecideResponse response;
      response.set_sequence(sequence);
      {
        absl::MutexLock lock(&mu_);
        stream_message_sizes_.push_back(
            request.has_finding() ? 0 : request.findings_size());
        last_stream_options_ = request;
        last_stream_options_.clear_finding();
        last_stream_options_.clear_findings();
      }
      if (request.has_finding()) {
        response.mutable_result()->set_index(static_cast<int32_t>(sequence));
        response.mutable_result()->set_finding_id(request.finding().id());
        response.mutable_result()->mutable_decision()->set_finding_id(
            request.finding().id());
      } else if (!request.findings().empty() &&
                 absl::StartsWith(request.findings(0).id(), "reject-chunk")) {
        // Like treatd answering a chunk over its --max-batch; "-utf8"
        // makes the message one protobuf's parser refuses (not UTF-8).
        v1::ItemError* error = response.mutable_result()->mutable_error();
        error->set_code(grpc::StatusCode::RESOURCE_EXHAUSTED);
        error->set_message(absl::EndsWith(request.findings(0).id(), "-utf8")
                               ? "findings: too many \xff"
                               : "findings: too many");
        error->add_field_violations()->set_field("findings");
      } else {
        // Like treatd: one result per finding; ids starting "bad" have no
        // kind ("bad-utf8" gets a message protobuf's parser refuses).
        for (int i = 0; i < request.findings_size(); ++i) {
          v1::DecisionResult* result = response.add_results();
          result->set_index(i);
          result->set_finding_id(request.findings(i).id());
          if (absl::StartsWith(request.findings(i).id(), "bad")) {
            const std::string field = absl::StrCat("findings[", i, "].kind");
            result->mutable_error()->set_code(
                grpc::StatusCode::INVALID_ARGUMENT);
            result->mutable_error()->set_message(absl::StrCat(
                field, ": required",
                absl::StartsWith(request.findings(i).id(), "bad-utf8") ? " \xff"
                                                                       : ""));
            result->mutable_error()->add_field_violations()->set_field(field);
          } else {
            result->mutable_decision()->set_finding_id(
                request.findings(i).id());
            // A decision protobuf's parser refuses (a reason not UTF-8).
            if (absl::StartsWith(request.findings(i).id(), "utf8-reason")) {
              result->mutable_decision()->add_reasons("reason \xff");
            }
          }
        }
      }
      ++sequence;
      if (!stream->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  void set_unavailable_attempts(int attempts) {
    unavailable_attempts_ = attempts;
  }
  int decide_attempts() const { return decide_attempts_; }
  std::vector<int> batch_sizes() {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  std::string authorization() {
    absl::MutexLock lock(&mu_);
    return authorization_;
  }
  // Findings per StreamDecide message received; 0 for a `finding` message.
  std::vector<int> stream_message_sizes() {
    absl::MutexLock lock(&mu_);
    return stream_message_sizes_;
  }
  // The last StreamDecide message received, without its findings.
  v1::StreamDecideRequest last_stream_options() {
    absl::MutexLock lock(&mu_);
    return last_stream_options_;
  }

 private:
  std::atomic<int> unavailable_attempts_{0};
  std::atomic<int> decide_attempts_{0};
  absl::Mutex mu_;
  std::vector<int> batch_sizes_ ABSL_GUARDED_BY(mu_);
  std::string authorization_ ABSL_GUARDED_BY(mu_);
  std::vector<int> stream_message_sizes_ ABSL_GUARDED_BY(mu_);
  v1::StreamDecideRequest last_stream_options_ ABSL_GUARDED_BY(mu_);
};

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  std::unique_ptr<Client> MakeClient(ClientOptions options = {}) {
    options.initial_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(50);
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(target(), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  static v1::Finding MakeFinding(const std::string& id) {
    v1::Finding finding;
    finding.set_id(id);
    finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
    return finding;
  }

  // Streams findings with `ids` in chunks of two, the results into
  // `*answered`.
  static absl::Status StreamInChunksOfTwo(
      const Client& client, const std::vector<std::string>& ids,
      std::vector<v1::DecisionResult>* answered) {
    size_t produced = 0;
    CallOptions call;
    call.stream_chunk = 2;
    return client.StreamDecide(
        [&](v1::Finding* finding) {
          if (produced == ids.size()) return false;
          *finding = MakeFinding(ids[produced++]);
          return true;
        },
        [&](const v1::DecisionResult& result, uint64_t) {
          answered->push_back(result);
        },
        call);
  }

  FakeTreatmentService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(ClientTest, BatchDecideSplitsBatchesOverTheLimitAndKeepsOrder) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  std::vector<v1::Finding> findings;
  for (int i = 0; i < 25000; ++i) {
    findings.push_back(MakeFinding(absl::StrCat("f-", i)));
  }
  absl::StatusOr<std::vector<v1::DecisionResult>> results =
      client->BatchDecide(findings);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_THAT(service_.batch_sizes(), ElementsAre(10000, 10000, 5000));
  ASSERT_EQ(results->size(), 25000u);
  for (int i = 0; i < 25000; ++i) {
    ASSERT_EQ((*results)[i].index(), i);
    ASSERT_EQ((*results)[i].finding_id(), absl::StrCat("f-", i));
  }
}

TEST_F(ClientTest, BatchDecideHonoursASmallerMaxBatch) {
  ClientOptions options;
  options.max_batch = 4;
  std::unique_ptr<Client> client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  std::vector<v1::Finding> findings(9, MakeFinding("x"));
  absl::StatusOr<std::vector<v1::DecisionResult>> results =
      client->BatchDecide(findings);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_THAT(service_.batch_sizes(), ElementsAre(4, 4, 1));
  EXPECT_EQ(results->back().index(), 8);
}

TEST_F(ClientTest, BatchDecideRejectsAnEmptyBatchWithoutCallingTheServer) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<std::vector<v1::DecisionResult>> results =
      client->BatchDecide({});
  EXPECT_EQ(results.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(service_.batch_sizes().empty());
}

TEST_F(ClientTest, RetriesUnavailableUntilTheServerAnswers) {
  service_.set_unavailable_attempts(2);
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  absl::StatusOr<v1::Decision> decision = client->Decide(MakeFinding("r-1"));
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_EQ(decision->finding_id(), "r-1");
  EXPECT_EQ(service_.decide_attempts(), 3);
}

TEST_F(ClientTest, DoesNotRetryWhenMaxAttemptsIsOne) {
  service_.set_unavailable_attempts(2);
  ClientOptions options;
  options.max_attempts = 1;
  std::unique_ptr<Client> client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<v1::Decision> decision = client->Decide(MakeFinding("r-1"));
  EXPECT_EQ(decision.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.decide_attempts(), 1);
}

TEST_F(ClientTest, GivesUpAfterMaxAttempts) {
  service_.set_unavailable_attempts(100);
  ClientOptions options;
  options.max_attempts = 3;
  std::unique_ptr<Client> client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  absl::StatusOr<v1::Decision> decision = client->Decide(MakeFinding("r-1"));
  EXPECT_EQ(decision.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service_.decide_attempts(), 3);
}

TEST_F(ClientTest, DecideFailsWithDeadlineExceededPastTheCallDeadline) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  CallOptions call;
  call.deadline = absl::Now() + absl::Milliseconds(100);
  absl::StatusOr<v1::Decision> decision =
      client->Decide(MakeFinding("slow"), call);
  EXPECT_EQ(decision.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(ClientTest, StreamDecideDeliversEveryAnswerInOrder) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  constexpr int kCount = 5000;
  int produced = 0;
  std::vector<std::string> answered;
  absl::Status status = client->StreamDecide(
      [&](v1::Finding* finding) {
        if (produced == kCount) return false;
        *finding = MakeFinding(absl::StrCat("s-", produced++));
        return true;
      },
      [&](const v1::DecisionResult& result, uint64_t sequence) {
        EXPECT_EQ(sequence, answered.size());
        answered.push_back(result.finding_id());
      });
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(answered.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(answered.front(), "s-0");
  EXPECT_EQ(answered.back(), absl::StrCat("s-", kCount - 1));
}

TEST_F(ClientTest, StreamDecideSendsOneFindingPerMessageByDefault) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  int produced = 0;
  int answered = 0;
  absl::Status status = client->StreamDecide(
      [&](v1::Finding* finding) {
        if (produced == 3) return false;
        *finding = MakeFinding(absl::StrCat("s-", produced++));
        return true;
      },
      [&](const v1::DecisionResult&, uint64_t) { ++answered; });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(answered, 3);
  EXPECT_THAT(service_.stream_message_sizes(), ElementsAre(0, 0, 0));
}

TEST_F(ClientTest, StreamDecideInChunksDeliversEveryResultInOrder) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  constexpr int kCount = 5003;
  constexpr int kBad = 150;  // Finding 50 of the second chunk.
  int produced = 0;
  std::vector<v1::DecisionResult> answered;
  CallOptions call;
  call.stream_chunk = 100;
  absl::Status status = client->StreamDecide(
      [&](v1::Finding* finding) {
        if (produced == kCount) return false;
        const int i = produced++;
        *finding = MakeFinding(absl::StrCat(i == kBad ? "bad-" : "s-", i));
        return true;
      },
      [&](const v1::DecisionResult& result, uint64_t sequence) {
        EXPECT_EQ(sequence, answered.size());
        answered.push_back(result);
      },
      call);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(answered.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(answered[i].index(), i);
    ASSERT_EQ(answered[i].finding_id(),
              absl::StrCat(i == kBad ? "bad-" : "s-", i));
    ASSERT_EQ(answered[i].has_error(), i == kBad);
  }
  // The error reads as if the finding had been sent alone.
  const v1::ItemError& error = answered[kBad].error();
  EXPECT_EQ(error.message(), "finding.kind: required");
  ASSERT_EQ(error.field_violations_size(), 1);
  EXPECT_EQ(error.field_violations(0).field(), "finding.kind");
  std::vector<int> sizes = service_.stream_message_sizes();
  ASSERT_EQ(sizes.size(), 51u);
  EXPECT_EQ(sizes.front(), 100);
  EXPECT_EQ(sizes.back(), 3);
}

TEST_F(ClientTest, StreamDecideGivesEachFindingOfARejectedChunkItsError) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  const std::vector<std::string> ids = {"a", "b", "reject-chunk", "c", "d"};
  std::vector<v1::DecisionResult> answered;
  const absl::Status status = StreamInChunksOfTwo(*client, ids, &answered);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(answered.size(), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(answered[i].finding_id(), ids[i]);
    EXPECT_EQ(answered[i].index(), static_cast<int>(i));
  }
  // Chunks: {a, b}, {reject-chunk, c}, {d}.
  EXPECT_TRUE(answered[1].has_decision());
  for (size_t i : {2, 3}) {
    EXPECT_EQ(answered[i].error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(answered[i].error().field_violations(0).field(), "findings");
  }
  EXPECT_TRUE(answered[4].has_decision());
  EXPECT_THAT(service_.stream_message_sizes(), ElementsAre(2, 2, 1));
}

// An error result that SplitStreamAnswer passes (it does not look into
// results) but protobuf's parser refuses (a message that is not UTF-8, as
// a server with a broken encoder could send) ends the stream: INTERNAL,
// not a result re-encoded from a half-parsed message.
TEST_F(ClientTest, StreamDecideFailsOnAChunkErrorProtobufRefuses) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  for (const char* refused : {"bad-utf8", "reject-chunk-utf8"}) {
    SCOPED_TRACE(refused);
    std::vector<v1::DecisionResult> answered;
    const absl::Status status =
        StreamInChunksOfTwo(*client, {"a", "b", refused, "c", "d"}, &answered);
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
    EXPECT_THAT(status.message(),
                HasSubstr("the server's answer to message 1 does not parse"));
    // Chunks: {a, b}, {refused, c}: nothing of the second is handed over.
    ASSERT_EQ(answered.size(), 2u);
    EXPECT_EQ(answered[1].finding_id(), "b");
  }
}

// `treatctl decide` writing JSON Lines or CSV from the answers' bytes: a
// decision the server sent that protobuf's parser refuses (a reason not
// UTF-8) ends the run as a failed call (exit 4, INTERNAL, naming the
// finding), not as an output error (exit 2), and no row of it is written.
TEST_F(ClientTest, TreatctlDecideFailsOnADecisionProtobufRefuses) {
  const std::string input =
      "{\"id\": \"a\", \"kind\": \"FINDING_KIND_VULNERABILITY\"}\n"
      "{\"id\": \"utf8-reason\", \"kind\": "
      "\"FINDING_KIND_VULNERABILITY\"}\n";
  for (const char* output : {"jsonl", "csv"}) {
    SCOPED_TRACE(output);
    const testing::TreatctlRun run = testing::RunTreatctl(
        {"decide", "--target", target(), "--output", output, "-"}, input);
    EXPECT_EQ(run.exit_code, 4) << run.err;
    EXPECT_THAT(run.err, HasSubstr("failed: INTERNAL: the server's answer for "
                                   "finding utf8-reason does not parse"));
    EXPECT_THAT(run.out, ::testing::Not(HasSubstr("utf8-reason")));
  }
}

TEST_F(ClientTest, StreamDecideChunksAreAtMostMaxBatch) {
  ClientOptions options;
  options.max_batch = 7;
  std::unique_ptr<Client> client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  int produced = 0;
  CallOptions call;
  call.stream_chunk = 1000;
  absl::Status status = client->StreamDecide(
      [&](v1::Finding* finding) {
        if (produced == 20) return false;
        *finding = MakeFinding(absl::StrCat("s-", produced++));
        return true;
      },
      [](const v1::DecisionResult&, uint64_t) {}, call);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(service_.stream_message_sizes(), ElementsAre(7, 7, 6));

  call.stream_chunk = 0;
  status =
      client->StreamDecide([](v1::Finding*) { return false; },
                           [](const v1::DecisionResult&, uint64_t) {}, call);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("stream_chunk"));
}

TEST_F(ClientTest, StreamDecideEncodedSendsTheSourcesBytesAsTheyAre) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  for (int chunk : {1, 3}) {
    SCOPED_TRACE(absl::StrCat("stream_chunk ", chunk));
    constexpr int kCount = 8;
    int produced = 0;
    std::vector<std::pair<std::string, std::string>> answered;
    CallOptions call;
    call.stream_chunk = chunk;
    call.as_of = absl::FromUnixSeconds(1767225600);
    call.view = v1::DECISION_VIEW_BASIC;
    call.trace = true;
    call.skip_record = true;
    absl::Status status = client->StreamDecideEncoded(
        [&](v1::Finding* finding, std::string* wire) {
          EXPECT_TRUE(wire->empty());
          if (produced == kCount) return false;
          const int i = produced++;
          *finding = MakeFinding(absl::StrCat("object-", i));
          // Even findings come with bytes of their own, which the server
          // must see instead of the message; odd ones are serialized.
          if (i % 2 == 0) {
            *wire = MakeFinding(absl::StrCat("wire-", i)).SerializeAsString();
          }
          return true;
        },
        [&](const v1::Finding& finding, const v1::DecisionResult& result,
            uint64_t sequence) {
          EXPECT_EQ(sequence, answered.size());
          EXPECT_EQ(result.index(), static_cast<int>(sequence));
          answered.emplace_back(finding.id(), result.finding_id());
        },
        call);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(answered.size(), static_cast<size_t>(kCount));
    for (int i = 0; i < kCount; ++i) {
      EXPECT_EQ(answered[i].first, absl::StrCat("object-", i));
      EXPECT_EQ(answered[i].second,
                absl::StrCat(i % 2 == 0 ? "wire-" : "object-", i));
    }
    const v1::StreamDecideRequest options = service_.last_stream_options();
    EXPECT_EQ(options.as_of().seconds(), 1767225600);
    EXPECT_EQ(options.view(), v1::DECISION_VIEW_BASIC);
    EXPECT_TRUE(options.trace());
    EXPECT_TRUE(options.skip_record());
  }
  EXPECT_THAT(service_.stream_message_sizes(),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 2));
}

TEST_F(ClientTest, StreamDecideEncodedBytesHandsOverWhatStreamDecideDoes) {
  // The same findings (one of them bad, one chunk rejected as a whole)
  // through both APIs: each answer's bytes, with the index given, are the
  // result StreamDecide delivers.
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  for (int chunk : {1, 3}) {
    SCOPED_TRACE(absl::StrCat("stream_chunk ", chunk));
    const std::vector<std::string> ids = {"a", "bad-b", "c", "reject-chunk",
                                          "d", "e",     "f"};
    CallOptions call;
    call.stream_chunk = chunk;
    size_t produced = 0;
    std::vector<v1::DecisionResult> typed;
    ASSERT_TRUE(client
                    ->StreamDecide(
                        [&](v1::Finding* finding) {
                          if (produced == ids.size()) return false;
                          *finding = MakeFinding(ids[produced++]);
                          return true;
                        },
                        [&](const v1::DecisionResult& result, uint64_t) {
                          typed.push_back(result);
                        },
                        call)
                    .ok());
    produced = 0;
    std::vector<v1::DecisionResult> from_bytes;
    ASSERT_TRUE(client
                    ->StreamDecideEncodedBytes(
                        [&](v1::Finding* finding, std::string*) {
                          if (produced == ids.size()) return false;
                          *finding = MakeFinding(ids[produced++]);
                          return true;
                        },
                        [&](const v1::Finding& finding, absl::string_view bytes,
                            std::optional<int32_t> index, uint64_t sequence) {
                          EXPECT_EQ(sequence, from_bytes.size());
                          EXPECT_EQ(finding.id(), ids[sequence]);
                          v1::DecisionResult& result =
                              from_bytes.emplace_back();
                          ASSERT_TRUE(result.ParseFromArray(
                              bytes.data(), static_cast<int>(bytes.size())));
                          if (index.has_value()) result.set_index(*index);
                        },
                        call)
                    .ok());
    ASSERT_EQ(from_bytes.size(), ids.size());
    ASSERT_EQ(typed.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      EXPECT_EQ(from_bytes[i].SerializeAsString(), typed[i].SerializeAsString())
          << i << ": " << from_bytes[i].ShortDebugString() << " / "
          << typed[i].ShortDebugString();
      EXPECT_EQ(typed[i].index(), static_cast<int>(i));
    }
    if (chunk == 3) {
      EXPECT_EQ(typed[1].error().field_violations(0).field(), "finding.kind");
      EXPECT_EQ(typed[4].error().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    }
  }
}

TEST_F(ClientTest, DecideAsyncRunsTheCallbackWithTheDecision) {
  std::unique_ptr<Client> client = MakeClient();
  ASSERT_NE(client, nullptr);
  absl::Notification done;
  absl::StatusOr<v1::Decision> got;
  client->DecideAsync(MakeFinding("a-1"), CallOptions(),
                      [&](absl::StatusOr<v1::Decision> decision) {
                        got = std::move(decision);
                        done.Notify();
                      });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->finding_id(), "a-1");
}

TEST_F(ClientTest, SendsTheBearerTokenAsAuthorizationMetadata) {
  ClientOptions options;
  options.bearer_token = "s3cret";
  options.allow_token_without_tls = true;
  std::unique_ptr<Client> client = MakeClient(options);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->Decide(MakeFinding("t-1")).ok());
  EXPECT_EQ(service_.authorization(), "Bearer s3cret");
}

TEST(ClientCreateTest, RejectsABearerTokenWithoutTls) {
  ClientOptions options;
  options.bearer_token = "s3cret";
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create("127.0.0.1:1", options);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(), HasSubstr("TLS"));
}

TEST(ClientCreateTest, RejectsAnEmptyTargetAndImpossibleRetryCounts) {
  EXPECT_EQ(Client::Create("").status().code(),
            absl::StatusCode::kInvalidArgument);
  ClientOptions options;
  options.max_attempts = 6;
  EXPECT_EQ(Client::Create("127.0.0.1:1", options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClientCreateTest, ReportsUnavailableWhenNothingListens) {
  // Bind and release a port so that nothing listens on it.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);
  close(fd);
  ClientOptions options;
  options.initial_backoff = absl::Milliseconds(10);
  options.max_backoff = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(absl::StrCat("127.0.0.1:", port), options);
  ASSERT_TRUE(client.ok());
  CallOptions call;
  call.deadline = absl::Now() + absl::Seconds(10);
  v1::Finding finding;
  finding.set_id("u-1");
  EXPECT_EQ((*client)->Decide(finding, call).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ClientServiceConfigTest, HasRoundRobinAndRetryPolicyForUnavailable) {
  ClientOptions options;
  const std::string config = ClientServiceConfig(options);
  EXPECT_THAT(config, HasSubstr(R"("round_robin")"));
  EXPECT_THAT(config, HasSubstr(R"("maxAttempts":5)"));
  EXPECT_THAT(config, HasSubstr(R"("retryableStatusCodes":["UNAVAILABLE"])"));
  options.max_attempts = 1;
  EXPECT_THAT(ClientServiceConfig(options),
              ::testing::Not(HasSubstr("retryPolicy")));
}

}  // namespace
}  // namespace treatd
