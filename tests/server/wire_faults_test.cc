// Issue 12: faults on the wire. Clients that cancel mid-stream, let
// deadlines expire, reset the TCP connection, hold a stream open and
// silent, open more streams than allowed or send 16 MiB of garbage; a
// policy swapped every few milliseconds under mixed unary, batch and
// stream load with all of those faults at once; and SIGTERM to the treatd
// binary in the middle of it. Every call must end with the status
// docs/server.md documents for it ("Faults on the wire"), nothing may stay
// in flight, health must stay SERVING and the heap must come back to its
// idle level. The ASan build of this test (make test) adds the leak check:
// LeakSanitizer runs at the exit of the test and of the treatd child.
//
// Every test is bounded in time; WIRE_FAULTS_SECONDS (default 3) sets how
// long the load runs in the two load tests.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/faults/mixed_load.h"
#include "client/faults/raw_calls.h"
#include "client/faults/resetting_proxy.h"
#include "common/policy/engine/compiled_policy.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/policy_store.h"
#include "server/server.h"
#include "server/server_config.h"
#include "tests/server/event_loop_mode.h"
#include "tests/server/subprocess.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TREATD_SANITIZER_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TREATD_SANITIZER_HEAP 1
#endif
#endif
#ifdef TREATD_SANITIZER_HEAP
// From <sanitizer/allocator_interface.h>, which GCC 12 does not ship.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

namespace treatd {
namespace {

using ::testing::AnyOf;
using ::testing::Eq;
using ::testing::HasSubstr;
using testing::Subprocess;
using Code = grpc::StatusCode;
using StreamPtr =
    std::unique_ptr<grpc::ClientReaderWriter<v1::StreamDecideRequest,
                                             v1::StreamDecideResponse>>;

constexpr char kDecide[] = "/treatd.v1.TreatmentService/Decide";
constexpr char kBatchDecide[] = "/treatd.v1.TreatmentService/BatchDecide";
constexpr char kStreamDecide[] = "/treatd.v1.TreatmentService/StreamDecide";

absl::Duration LoadDuration() {
  int seconds = 3;
  if (const char* env = std::getenv("WIRE_FAULTS_SECONDS")) {
    if (!absl::SimpleAtoi(env, &seconds) || seconds < 1) seconds = 3;
  }
  return absl::Seconds(seconds);
}

// The second policy of the swap: the kev rule answers MITIGATE instead.
std::string PolicyB() {
  std::string text = testing::kGoodPolicy;
  text.replace(text.find("version: \"1.2\""), 14, "version: \"2.0\"");
  text.replace(text.find("treatment: MITIGATE_THEN_REMEDIATE"), 34,
               "treatment: MITIGATE");
  return text;
}

// Bytes of heap the program holds now (not what the allocator caches).
size_t HeapInUse() {
#ifdef TREATD_SANITIZER_HEAP
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

v1::Finding Vulnerability(const std::string& id, bool kev) {
  return LoadFinding(id, kev);
}

std::unique_ptr<grpc::ClientContext> Context(
    absl::Duration timeout = absl::Seconds(10)) {
  return ContextWithDeadline(timeout);
}

v1::BatchDecideRequest Batch(int size, bool trace) {
  return LoadBatch(size, trace);
}

class WireFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = CompiledPolicy::Compile(testing::kGoodPolicy, "a.yaml");
    auto b = CompiledPolicy::Compile(PolicyB(), "b.yaml");
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    policy_a_ = *std::move(a);
    policy_b_ = *std::move(b);
    store_.Set(policy_a_, "a.yaml", absl::Now());
    config_.listen = "127.0.0.1:0";
    config_.event_loop_threads = testing::EventLoopThreadsForTest();
    // Metrics on (a loopback port): the in-flight gauge is how the tests
    // see that no call was left behind.
    config_.metrics_listen = "127.0.0.1:0";
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  void Start() {
    auto server = TreatdServer::Start(config_, &store_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = NewChannel(server_->address());
    stub_ = v1::TreatmentService::NewStub(channel_);
  }

  // A channel of its own (its own TCP connection).
  static std::shared_ptr<grpc::Channel> NewChannel(const std::string& target) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                     args);
  }

  // Sum of treatd_rpcs_in_flight over every method.
  double InFlight() const {
    double total = 0;
    for (absl::string_view line :
         absl::StrSplit(server_->metrics()->Render(), '\n')) {
      if (!absl::StartsWith(line, "treatd_rpcs_in_flight{")) continue;
      double value = 0;
      if (absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value)) {
        total += value;
      }
    }
    return total;
  }

  // Waits (bounded) until no call is in flight; true when that happened.
  bool WaitUntilIdle(absl::Duration timeout = absl::Seconds(10)) const {
    const absl::Time give_up = absl::Now() + timeout;
    while (InFlight() != 0) {
      if (absl::Now() > give_up) return false;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return true;
  }

  // grpc.health.v1 for "": true when SERVING.
  bool Serving() const {
    std::string response;
    const grpc::Status status = RawUnaryCall(
        channel_.get(), "/grpc.health.v1.Health/Check", "", &response);
    return status.ok() && response == "\x08\x01";
  }

  grpc::Status Decide(const v1::Finding& finding,
                      v1::DecideResponse* response) const {
    v1::DecideRequest request;
    *request.mutable_finding() = finding;
    return stub_->Decide(Context().get(), request, response);
  }

  // The server is healthy after a fault: nothing in flight, SERVING, and
  // every stream and call slot free again (all `streams` can be opened at
  // once and a Decide still fits beside them).
  void ExpectRecovered(int streams) {
    EXPECT_TRUE(WaitUntilIdle()) << InFlight() << " calls still in flight";
    EXPECT_TRUE(Serving());
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<StreamPtr> open;
    for (int i = 0; i < streams; ++i) {
      contexts.push_back(Context());
      StreamPtr stream = stub_->StreamDecide(contexts.back().get());
      v1::StreamDecideRequest request;
      *request.mutable_finding() = Vulnerability("after", true);
      v1::StreamDecideResponse response;
      ASSERT_TRUE(stream->Write(request) && stream->Read(&response))
          << "stream " << i << " of " << streams << " refused";
      open.push_back(std::move(stream));
    }
    v1::DecideResponse decided;
    EXPECT_TRUE(Decide(Vulnerability("after", false), &decided).ok());
    for (StreamPtr& stream : open) {
      stream->WritesDone();
      EXPECT_TRUE(stream->Finish().ok());
    }
  }

  PolicyStore store_;
  std::shared_ptr<const CompiledPolicy> policy_a_;
  std::shared_ptr<const CompiledPolicy> policy_b_;
  ServerConfig config_;
  std::unique_ptr<TreatdServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TreatmentService::Stub> stub_;
};

TEST_F(WireFaultsTest, CancelMidStreamAndMidBatchEndsCancelled) {
  config_.call_limits.max_concurrent_streams = 2;
  Start();
  // A stream cancelled between messages, and one cancelled while the
  // server may be writing.
  for (int round = 0; round < 2; ++round) {
    grpc::ClientContext context;
    StreamPtr stream = stub_->StreamDecide(&context);
    v1::StreamDecideRequest request;
    *request.mutable_finding() = Vulnerability("s", true);
    v1::StreamDecideResponse response;
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(stream->Write(request) && stream->Read(&response));
    }
    if (round == 1) stream->Write(request);
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), Code::CANCELLED);
  }
  // A large batch cancelled before or while the server decides it. A
  // cancel that comes after the server answered (a quiet machine decides
  // the 5,000 in a few tens of milliseconds) leaves the call OK, and then
  // the answer must be whole; at 0 ms the cancel always comes first.
  const v1::BatchDecideRequest batch = Batch(5000, /*trace=*/true);
  for (int delay_ms : {0, 5, 50}) {
    grpc::ClientContext context;
    v1::BatchDecideResponse response;
    std::thread cancel([&] {
      absl::SleepFor(absl::Milliseconds(delay_ms));
      context.TryCancel();
    });
    const grpc::Status status = stub_->BatchDecide(&context, batch, &response);
    cancel.join();
    if (delay_ms == 0 || !status.ok()) {
      EXPECT_EQ(status.error_code(), Code::CANCELLED) << delay_ms << " ms";
    } else {
      EXPECT_EQ(response.results_size(), batch.findings_size())
          << delay_ms << " ms";
    }
  }
  ExpectRecovered(2);
}

TEST_F(WireFaultsTest, ExpiredDeadlinesEndDeadlineExceeded) {
  config_.call_limits.max_concurrent_streams = 2;
  Start();
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("late", true);
  v1::DecideResponse decided;
  grpc::ClientContext expired;
  expired.set_deadline(absl::ToChronoTime(absl::Now() - absl::Seconds(1)));
  EXPECT_EQ(stub_->Decide(&expired, request, &decided).error_code(),
            Code::DEADLINE_EXCEEDED);

  // A batch that takes longer than its deadline.
  const v1::BatchDecideRequest batch = Batch(10000, /*trace=*/true);
  v1::BatchDecideResponse response;
  EXPECT_EQ(
      stub_
          ->BatchDecide(Context(absl::Milliseconds(20)).get(), batch, &response)
          .error_code(),
      Code::DEADLINE_EXCEEDED);

  // A stream whose deadline passes while it is open and busy.
  auto context = Context(absl::Milliseconds(300));
  StreamPtr stream = stub_->StreamDecide(context.get());
  v1::StreamDecideRequest message;
  *message.mutable_finding() = Vulnerability("s", false);
  v1::StreamDecideResponse answer;
  const absl::Time start = absl::Now();
  while (stream->Write(message) && stream->Read(&answer) &&
         absl::Now() - start < absl::Seconds(10)) {
  }
  EXPECT_EQ(stream->Finish().error_code(), Code::DEADLINE_EXCEEDED);
  ExpectRecovered(2);
}

TEST_F(WireFaultsTest, ConnectionResetMidCallFreesItsCalls) {
  config_.call_limits.max_concurrent_streams = 3;
  Start();
  ResettingProxy proxy(server_->port());
  ASSERT_GT(proxy.port(), 0);
  auto through_proxy = NewChannel(proxy.address());
  auto stub = v1::TreatmentService::NewStub(through_proxy);
  // Three streams in the middle of a conversation and a batch in flight.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<StreamPtr> streams;
  v1::StreamDecideRequest request;
  *request.mutable_finding() = Vulnerability("s", true);
  v1::StreamDecideResponse response;
  for (int i = 0; i < 3; ++i) {
    contexts.push_back(Context());
    streams.push_back(stub->StreamDecide(contexts.back().get()));
    ASSERT_TRUE(streams.back()->Write(request) &&
                streams.back()->Read(&response));
  }
  grpc::Status batch_status;
  std::thread batch([&] {
    v1::BatchDecideResponse batch_response;
    batch_status =
        stub->BatchDecide(Context().get(), Batch(2000, true), &batch_response);
  });
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_GE(proxy.ResetAll(), 1);
  batch.join();
  for (StreamPtr& stream : streams) {
    while (stream->Read(&response)) {
    }
    EXPECT_EQ(stream->Finish().error_code(), Code::UNAVAILABLE);
  }
  // The batch may have been answered before the reset reached it.
  EXPECT_THAT(batch_status.error_code(),
              AnyOf(Eq(Code::UNAVAILABLE), Eq(Code::OK)));
  ExpectRecovered(3);
}

TEST_F(WireFaultsTest, SilentStreamIsCutOffWhenIdle) {
  config_.call_limits.stream_idle_timeout = absl::Milliseconds(300);
  config_.call_limits.max_concurrent_streams = 1;
  Start();
  // Opened, never written to: it holds the only stream slot until the
  // idle timeout.
  grpc::ClientContext context;
  StreamPtr stream = stub_->StreamDecide(&context);
  const absl::Time start = absl::Now();
  v1::StreamDecideResponse response;
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), Code::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("--stream-idle-seconds"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ExpectRecovered(1);
}

TEST_F(WireFaultsTest, StreamsBeyondTheLimitsAreRefusedOrQueued) {
  config_.call_limits.max_concurrent_streams = 4;
  config_.call_limits.max_concurrent_calls = 6;
  config_.max_streams_per_connection = 8;
  Start();
  // Twelve streams on one connection: eight reach the server (HTTP/2
  // MAX_CONCURRENT_STREAMS), four of those are admitted, four refused; the
  // other four wait in the client until a stream closes.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<StreamPtr> streams;
  for (int i = 0; i < 12; ++i) {
    contexts.push_back(Context(absl::Seconds(3)));
    streams.push_back(stub_->StreamDecide(contexts.back().get()));
  }
  StatusTally tally;
  std::vector<std::thread> talkers;
  std::atomic<int> admitted{0};
  for (int i = 0; i < 12; ++i) {
    talkers.emplace_back([&, i] {
      v1::StreamDecideRequest request;
      *request.mutable_finding() = Vulnerability(absl::StrCat("s", i), true);
      v1::StreamDecideResponse response;
      if (streams[i]->Write(request) && streams[i]->Read(&response)) {
        ++admitted;
        // Hold the slot until every stream has had its answer.
        absl::SleepFor(absl::Milliseconds(500));
        streams[i]->WritesDone();
      }
      tally.Add("stream", streams[i]->Finish().error_code());
    });
  }
  // Two unary calls fit beside four streams; the rest are refused.
  std::vector<std::thread> callers;
  for (int i = 0; i < 8; ++i) {
    callers.emplace_back([&] {
      absl::SleepFor(absl::Milliseconds(100));
      v1::DecideResponse response;
      tally.Add("decide",
                Decide(Vulnerability("u", false), &response).error_code());
    });
  }
  for (std::thread& t : talkers) t.join();
  for (std::thread& t : callers) t.join();
  const auto counts = tally.counts();
  // Each stream ends OK (admitted, possibly after queueing in the client)
  // or RESOURCE_EXHAUSTED; never anything else.
  const std::map<Code, int64_t>& ended = counts.at("stream");
  const int64_t ok = ended.count(Code::OK) ? ended.at(Code::OK) : 0;
  const int64_t refused = ended.count(Code::RESOURCE_EXHAUSTED)
                              ? ended.at(Code::RESOURCE_EXHAUSTED)
                              : 0;
  EXPECT_EQ(ok + refused, 12) << tally.Text();
  EXPECT_GE(admitted.load(), 4) << tally.Text();
  EXPECT_GE(refused, 4) << tally.Text();
  for (const auto& [code, n] : counts.at("decide")) {
    EXPECT_THAT(code, AnyOf(Eq(Code::OK), Eq(Code::RESOURCE_EXHAUSTED)))
        << tally.Text();
  }
  ExpectRecovered(4);
}

TEST_F(WireFaultsTest, SixteenMebibytesOfGarbage) {
  config_.call_limits.max_concurrent_streams = 2;
  Start();
  const std::string garbage = GarbageBytes(16 * 1024 * 1024, 12);
  std::string response;
  // Exactly at --max-message-bytes: the server reads it, cannot parse it and
  // says so, naming the message type it expected.
  for (const char* method : {kDecide, kBatchDecide}) {
    const grpc::Status status = RawUnaryCall(channel_.get(), method, garbage,
                                             &response, absl::Seconds(30));
    EXPECT_EQ(status.error_code(), Code::INVALID_ARGUMENT)
        << method << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr("do not parse as treatd.v1."))
        << method;
  }
  // One byte over the limit: refused while reading.
  const grpc::Status over = RawUnaryCall(channel_.get(), kDecide, garbage + "x",
                                         &response, absl::Seconds(30));
  EXPECT_EQ(over.error_code(), Code::RESOURCE_EXHAUSTED)
      << over.error_message();
  // On a stream, between good messages: the garbage gets an INVALID_ARGUMENT
  // result of its own and the stream goes on, so every message is answered.
  v1::StreamDecideRequest good;
  *good.mutable_finding() = Vulnerability("g", true);
  int responses = 0;
  const grpc::Status stream_status = RawStreamCall(
      channel_.get(), kStreamDecide,
      {good.SerializeAsString(), garbage, good.SerializeAsString()}, &responses,
      absl::Seconds(30));
  EXPECT_EQ(stream_status.error_code(), Code::OK)
      << stream_status.error_message();
  EXPECT_EQ(responses, 3);
  // Small garbage too (a truncated varint).
  EXPECT_EQ(
      RawUnaryCall(channel_.get(), kDecide, "\x0a\xff", &response).error_code(),
      Code::INVALID_ARGUMENT);
  ExpectRecovered(2);
}

// Checks every call's status against `allowed` (kind -> codes); each kind
// must have run.
void ExpectStatuses(
    const StatusTally& tally,
    const std::map<absl::string_view, std::vector<Code>>& allowed) {
  const StatusTally::Counts counts = tally.counts();
  for (const auto& [kind, codes] : allowed) {
    auto it = counts.find(std::string(kind));
    ASSERT_NE(it, counts.end()) << kind << " never ran: " << tally.Text();
    for (const auto& [code, n] : it->second) {
      EXPECT_THAT(codes, ::testing::Contains(code))
          << kind << " ended " << StatusCodeName(code) << " " << n
          << " times: " << tally.Text();
    }
  }
}

// The storm: the policy flips between A and B every 2 ms while clients
// decide one finding at a time, in batches of 100 and over streams, and
// another client cycles through the faults (cancel, late batch, garbage,
// silent stream, connection reset).
TEST_F(WireFaultsTest, PolicySwapEveryFewMillisecondsUnderLoadAndFaults) {
  config_.call_limits.max_concurrent_streams = 8;
  config_.call_limits.max_concurrent_calls = 64;
  config_.call_limits.stream_idle_timeout = absl::Milliseconds(200);
  Start();
  const std::map<std::string, v1::Treatment> expected = {
      {policy_a_->ref().digest(), v1::TREATMENT_MITIGATE_THEN_REMEDIATE},
      {policy_b_->ref().digest(), v1::TREATMENT_MITIGATE}};
  std::atomic<int64_t> inconsistent{0};
  // (The late batch, 1000 findings with a 2 ms deadline, now and then
  // beats its deadline on a fast build: then it is OK.)
  // Each decision is the one its policy makes (KEV findings only: the
  // batches' other findings fall to the default in both), and a batch is
  // decided under one snapshot.
  auto check = [&](absl::string_view kind,
                   const std::vector<const v1::Decision*>& decisions) {
    for (const v1::Decision* d : decisions) {
      auto it = expected.find(d->policy().digest());
      if (it == expected.end() ||
          d->policy().digest() != decisions[0]->policy().digest() ||
          (kind != kBatchCall && it->second != d->treatment())) {
        ++inconsistent;
      }
    }
  };
  auto storm = [&](absl::Duration length) {
    auto load = std::make_unique<MixedLoad>(server_->address(),
                                            MixedLoadOptions(), check);
    int64_t swaps = 0;
    for (const absl::Time end = absl::Now() + length; absl::Now() < end;
         ++swaps) {
      store_.Set(swaps % 2 ? policy_b_ : policy_a_, "swap.yaml", absl::Now());
      absl::SleepFor(absl::Milliseconds(2));
    }
    load->Stop();
    EXPECT_GT(swaps, 100);
    std::cout << "storm: " << swaps << " swaps; " << load->tally().Text()
              << "\n";
    return load;
  };

  // A short round first: gRPC's and the allocator's pools settle, and the
  // heap after it is the idle level the long round must come back to.
  storm(absl::Seconds(1));
  ASSERT_TRUE(WaitUntilIdle());
  const size_t idle_heap = HeapInUse();
  std::unique_ptr<MixedLoad> load = storm(LoadDuration());
  EXPECT_TRUE(WaitUntilIdle()) << InFlight() << " calls still in flight";
  const size_t heap = HeapInUse();
  std::cout << "heap idle " << idle_heap / 1024 << " KiB, after the storm "
            << heap / 1024 << " KiB\n";

  EXPECT_EQ(inconsistent.load(), 0);
  ExpectStatuses(load->tally(),
                 {{kDecideCall, {Code::OK}},
                  {kBatchCall, {Code::OK}},
                  {kStreamCall, {Code::OK}},
                  {kCancelledStreamFault, {Code::CANCELLED}},
                  {kLateBatchFault, {Code::DEADLINE_EXCEEDED, Code::OK}},
                  {kGarbageFault, {Code::INVALID_ARGUMENT}},
                  {kSilentStreamFault, {Code::DEADLINE_EXCEEDED}},
                  {kResetStreamFault, {Code::UNAVAILABLE}}});
  // The heap is back at its idle level: what the calls allocated was
  // freed (a slow leak would grow with the number of calls).
  EXPECT_LT(heap, idle_heap + 4 * 1024 * 1024)
      << "idle " << idle_heap << " bytes, after the storm " << heap;
  ExpectRecovered(8);
}

// The treatd binary under load and faults, with its policy file rewritten
// and SIGHUP sent every few milliseconds, then SIGTERM: calls in flight
// finish or end UNAVAILABLE/CANCELLED, later calls are UNAVAILABLE, and the
// process exits 0 within its grace period (in the ASan build, after
// LeakSanitizer found no leak: a leak makes the exit code 23).
TEST(TreatdUnderFaultsTest, SigtermDuringLoadReloadsAndFaults) {
  const std::string policy_path =
      absl::StrCat(::testing::TempDir(), "/wire_faults_", getpid(), ".yaml");
  auto write_policy = [&](const std::string& text) {
    const std::string temporary = policy_path + ".tmp";
    std::ofstream(temporary) << text;
    std::rename(temporary.c_str(), policy_path.c_str());
  };
  write_policy(testing::kGoodPolicy);
  auto process = Subprocess::Start(testing::WithEventLoopFlag(
      {TREATD_BINARY, "--ledger-off", "--listen", "127.0.0.1:0", "--policy",
       policy_path, "--kev", "", "--epss", "", "--metrics-listen", "",
       "--reload-poll-ms", "5", "--shutdown-grace-seconds", "2",
       "--stream-idle-seconds", "1"}));
  ASSERT_NE(process, nullptr);
  std::string banner;
  ASSERT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(30)))
      << process->stderr_text();
  const std::string prefix = "treatd listening on ";
  ASSERT_EQ(banner.rfind(prefix, 0), 0u) << banner;
  const std::string address =
      banner.substr(prefix.size(), banner.find(';') - prefix.size());

  MixedLoadOptions options;
  options.stream_messages = 500;  // Long streams: SIGTERM finds some open.
  MixedLoad load(address, options);
  const std::string policy_b = PolicyB();
  for (const absl::Time give_up = absl::Now() + absl::Seconds(10);
       load.tally().total() == 0 && absl::Now() < give_up;) {
    absl::SleepFor(absl::Milliseconds(5));  // Until the load is under way.
  }
  const absl::Time sigterm_at = absl::Now() + LoadDuration();
  for (int i = 0; absl::Now() < sigterm_at; ++i) {
    write_policy(i % 2 ? policy_b : std::string(testing::kGoodPolicy));
    if (i % 10 == 0) process->Signal(SIGHUP);
    process->Drain();  // Its log: a reload and a signal every few ms.
    absl::SleepFor(absl::Milliseconds(5));
  }
  const absl::Time signalled = absl::Now();
  process->Signal(SIGTERM);
  const int exit_code = process->Wait(absl::Seconds(30));
  const absl::Duration exit_after = absl::Now() - signalled;
  load.Stop();
  std::cout << "sigterm: exit " << exit_code << " after "
            << absl::FormatDuration(exit_after) << "; " << load.tally().Text()
            << "\n";

  EXPECT_EQ(exit_code, 0) << process->stderr_text().substr(0, 20000);
  EXPECT_LT(exit_after, absl::Seconds(15));
  EXPECT_THAT(process->stderr_text(), HasSubstr(R"("msg":"stopped")"));
  EXPECT_THAT(process->stderr_text(), ::testing::Not(HasSubstr("Sanitizer")));
  // Before SIGTERM every call ends as in the storm; from SIGTERM on a call
  // may also end UNAVAILABLE (not accepted any more, or the connection
  // closed) or CANCELLED (cut off at the end of the grace period).
  const std::vector<Code> ending = {Code::UNAVAILABLE, Code::CANCELLED};
  auto with_ending = [&](std::vector<Code> codes) {
    codes.insert(codes.end(), ending.begin(), ending.end());
    return codes;
  };
  ExpectStatuses(
      load.tally(),
      {{kDecideCall, with_ending({Code::OK})},
       {kBatchCall, with_ending({Code::OK})},
       {kStreamCall, with_ending({Code::OK})},
       {kCancelledStreamFault, with_ending({})},
       {kLateBatchFault, with_ending({Code::DEADLINE_EXCEEDED, Code::OK})},
       {kGarbageFault, with_ending({Code::INVALID_ARGUMENT})},
       {kSilentStreamFault, with_ending({Code::DEADLINE_EXCEEDED})}});
  std::remove(policy_path.c_str());
}

}  // namespace
}  // namespace treatd
