// LedgerService and the decide handlers with a real SQLite ledger, through
// gRPC on 127.0.0.1 port 0: decisions recorded before they are answered,
// outcomes, scans, queries, KPIs, watch, verify, the revisit sweep, bad
// input, the database-down flag (also with PostgreSQL restarting under the
// server), and the call ceiling on a Decide that waits for the ledger.
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/faults/raw_calls.h"
#include "common/ledger/identity.h"
#include "common/ledger/ledger.h"
#include "common/time/proto_time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/logging.h"
#include "server/policy_store.h"
#include "server/server.h"
#include "tests/client/treatctl_runner.h"
#include "tests/server/event_loop_mode.h"
#include "tests/server/subprocess.h"
#include "tests/server/test_policies.h"
#include "tests/support/postgres_server.h"
#include "treatd/v1/ledger_service.grpc.pb.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kPolicy = testing::kLedgerPolicy;

const absl::Time kStart = absl::FromUnixSeconds(1798761600);  // 2027-01-01

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/ledger_service_test_", getpid(),
                      "_", name);
}

v1::Finding Vulnerability(const std::string& id, const std::string& asset,
                          const std::string& cve) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_asset()->set_id(asset);
  finding.mutable_asset()->set_owner("team-a");
  finding.mutable_vulnerability()->set_cve_id(cve);
  finding.mutable_package()->set_name("openssl");
  return finding;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  return context;
}

class LedgerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink(&log_, LogLevel::kError);
    now_ = absl::ToUnixSeconds(kStart);
    policy_path_ = TempPath("policy.yaml");
    std::ofstream(policy_path_) << kPolicy;
    ledger_path_ = TempPath(absl::StrCat(
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        ".db"));
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::remove(absl::StrCat(ledger_path_, suffix).c_str());
    }
    ASSERT_TRUE(store_.LoadFile(policy_path_).ok());
  }
  void TearDown() override {
    server_.reset();
    SetLogSink(nullptr);
  }

  absl::Time Now() const { return absl::FromUnixSeconds(now_.load()); }
  void Advance(absl::Duration d) { now_.fetch_add(absl::ToInt64Seconds(d)); }

  void Start(LedgerDownPolicy down = LedgerDownPolicy::kFailClosed,
             absl::Duration lock_timeout = absl::Seconds(10),
             bool ledger_on = true) {
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.ledger_down = down;
    config.event_loop_threads = testing::EventLoopThreadsForTest();
    config.sweep_interval = absl::ZeroDuration();  // Tests run it by hand.
    if (stream_idle_ > absl::ZeroDuration()) {
      config.call_limits.stream_idle_timeout = stream_idle_;
    }
    if (max_call_ > absl::ZeroDuration()) {
      config.call_limits.max_call_duration = max_call_;
      config.metrics_listen = "127.0.0.1:0";  // Counts the cut-offs.
    }
    if (serve_metrics_) config.metrics_listen = "127.0.0.1:0";
    if (max_streams_ > 0) {
      config.call_limits.max_concurrent_streams = max_streams_;
    }
    if (max_stream_ > absl::ZeroDuration()) {
      config.call_limits.max_stream_duration = max_stream_;
    }
    if (!listen_.empty()) config.listen = listen_;
    std::unique_ptr<ledger::Ledger> ledger;
    if (ledger_on) {
      ledger::LedgerOptions options;
      options.url = ledger_url_.empty() ? ledger_path_ : ledger_url_;
      options.lock_timeout = lock_timeout;
      options.clock = [this] { return Now(); };
      auto opened = ledger::Ledger::Open(std::move(options));
      ASSERT_TRUE(opened.ok()) << opened.status();
      ledger = *std::move(opened);
      config.ledger_url = ledger_path_;
    }
    auto server = TreatdServer::Start(
        config, &store_, [this] { return Now(); }, nullptr, std::move(ledger));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    decide_ = v1::TreatmentService::NewStub(channel_);
    ledger_ = v1::LedgerService::NewStub(channel_);
    if (server_->sweep() == nullptr && ledger_on) {
      SweepOptions options;
      options.holder = "test";
      options.clock = [this] { return Now(); };
      sweep_ =
          std::make_unique<RevisitSweep>(server_->ledger(), &store_, options);
    }
  }

  grpc::Status Decide(const v1::Finding& finding, v1::Decision* decision,
                      bool skip_record = false) {
    v1::DecideRequest request;
    *request.mutable_finding() = finding;
    request.set_skip_record(skip_record);
    v1::DecideResponse response;
    grpc::Status status = decide_->Decide(Context().get(), request, &response);
    if (decision != nullptr) *decision = response.decision();
    return status;
  }

  // A decision on a finding of its own, the `i`-th.
  grpc::Status DecideNumbered(int i) {
    return Decide(Vulnerability(absl::StrCat("f-", i), "web-01",
                                absl::StrCat("CVE-2027-", 1000 + i)),
                  nullptr);
  }

  // `treatctl ledger watch --output jsonl` of this server, running.
  std::unique_ptr<testing::Subprocess> StartWatch(
      const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {
        TREATCTL_BINARY,    "ledger",   "watch", "--target",
        server_->address(), "--output", "jsonl"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testing::Subprocess::Start(argv);
  }

  grpc::Status GetFinding(const std::string& key,
                          v1::GetFindingResponse* response) {
    v1::GetFindingRequest request;
    request.set_identity_key(key);
    request.set_include_history(true);
    return ledger_->GetFinding(Context().get(), request, response);
  }

  grpc::Status Report(const std::string& key, v1::OutcomeKind outcome,
                      absl::Time at, v1::ReportOutcomeResponse* response,
                      const std::string& idempotency_key = "") {
    v1::ReportOutcomeRequest request;
    request.set_identity_key(key);
    request.set_outcome(outcome);
    ToProtoTime(at, request.mutable_occurred_at());
    request.set_actor("alice");
    if (outcome == v1::OUTCOME_KIND_MITIGATED) request.set_control("waf");
    if (outcome == v1::OUTCOME_KIND_REMEDIATED) request.set_evidence("PR-1");
    if (outcome == v1::OUTCOME_KIND_ACCEPTED) {
      ToProtoTime(at + absl::Hours(24 * 30), request.mutable_until());
    }
    request.set_idempotency_key(idempotency_key);
    return ledger_->ReportOutcome(Context().get(), request, response);
  }

  // Decides kKey1's finding on a LOW asset: treatment MITIGATE, review
  // due 7 days later.
  void DecideMitigateFinding() {
    v1::Finding low = Vulnerability("f-1", "web-01", "CVE-2027-0001");
    low.mutable_asset()->set_criticality(v1::CRITICALITY_LOW);
    v1::Decision decision;
    ASSERT_TRUE(Decide(low, &decision).ok());
    ASSERT_EQ(decision.treatment(), v1::TREATMENT_MITIGATE);
  }

  std::vector<v1::LedgerEvent> AllEvents() {
    std::vector<v1::LedgerEvent> events;
    v1::ListEventsRequest request;
    request.set_page_size(2);  // Exercises paging.
    do {
      v1::ListEventsResponse response;
      grpc::Status status =
          ledger_->ListEvents(Context().get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
      for (const auto& event : response.events()) events.push_back(event);
      request.set_page_token(response.next_page_token());
    } while (!request.page_token().empty());
    return events;
  }

  std::ostringstream log_;
  absl::Duration stream_idle_;  // zero: the server's default
  // Non-zero: --max-call-seconds, with the metrics served.
  absl::Duration max_call_;
  // Non-zero: --max-stream-seconds.
  absl::Duration max_stream_;
  // Not empty: the address to listen on (a restart on the same port).
  std::string listen_;
  // The metrics served, so that the decide handlers count decisions.
  bool serve_metrics_ = false;
  // > 0: --max-concurrent-streams.
  int max_streams_ = 0;
  std::atomic<int64_t> now_{0};
  std::string policy_path_;
  std::string ledger_path_;
  std::string ledger_url_;  // when set, the ledger instead of ledger_path_
  PolicyStore store_;
  std::unique_ptr<TreatdServer> server_;
  std::unique_ptr<RevisitSweep> sweep_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TreatmentService::Stub> decide_;
  std::unique_ptr<v1::LedgerService::Stub> ledger_;
};

constexpr char kKey1[] = "vulnerability|id=web-01|CVE-2027-0001|openssl";

TEST_F(LedgerServiceTest, DecideIsRecordedBeforeItIsAnswered) {
  Start();
  v1::Decision decision;
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), &decision).ok());
  v1::GetFindingResponse found;
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  EXPECT_EQ(found.finding().state(), v1::FINDING_STATE_OPEN);
  EXPECT_EQ(found.finding().priority(), "P3");
  EXPECT_EQ(found.finding().decision_id(), decision.decision_id());
  ASSERT_EQ(found.history_size(), 1);
  EXPECT_EQ(found.history(0).type(), v1::LEDGER_EVENT_TYPE_DECISION);
  EXPECT_EQ(found.history(0).decision().decision_id(), decision.decision_id());
  EXPECT_EQ(server_->recorder()->Counts().recorded, 1);
}

// Holds SQLite's write lock on `path` until destroyed.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr),
              SQLITE_OK);
  }
  ~WriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

// Unary Decides go straight to the ledger's committer (no recorder
// thread): many at once are each answered once, all recorded, and group
// commit makes few transactions of them. The first round is sent while the
// test holds the database's write lock, so that every call of it is queued
// behind the transaction that waits for the lock, whatever the machine's
// load: when the lock goes, the queued calls share one transaction.
TEST_F(LedgerServiceTest, ConcurrentDecidesAreEachRecordedAndAnsweredOnce) {
  Start(LedgerDownPolicy::kFailClosed, /*lock_timeout=*/absl::Seconds(60));
  constexpr int kThreads = 16, kPerThread = 5;
  std::atomic<int> failures{0};
  auto decide = [&](int t, int i) {
    v1::Decision decision;
    const grpc::Status status =
        Decide(Vulnerability(absl::StrCat("f-", t, "-", i), "web-01",
                             absl::StrCat("CVE-2027-", 1000 + t * 10 + i)),
               &decision);
    if (!status.ok() || decision.decision_id().empty()) ++failures;
  };
  ledger::LedgerStats first_round;
  {
    auto lock = std::make_unique<WriteLock>(ledger_path_);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(decide, t, 0);
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    // Counted as each call hands its decision to the ledger.
    while (server_->recorder()->Counts().commits < kThreads &&
           absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    // The count comes just before the hand-over.
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_EQ(server_->ledger()->Stats().commits, 0);
    lock.reset();
    for (std::thread& thread : threads) thread.join();
    first_round = server_->ledger()->Stats();
  }
  EXPECT_EQ(first_round.events, kThreads);
  // The transaction that waited for the lock (holding the calls that
  // reached the committer before it began), then one for the calls queued
  // behind it (a third only for a call that reached the ledger after the
  // lock went). One a call would be kThreads. How the 16 split between
  // the first two depends on the threads' timing (10 and 6 was seen on a
  // busy machine), so only the count of transactions is asserted.
  EXPECT_LE(first_round.commits, 3);

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 1; i < kPerThread; ++i) decide(t, i);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  constexpr int kDecisions = kThreads * kPerThread;
  EXPECT_EQ(server_->recorder()->Counts().recorded, kDecisions);
  EXPECT_EQ(AllEvents().size(), static_cast<size_t>(kDecisions));
  const ledger::LedgerStats stats = server_->ledger()->Stats();
  EXPECT_EQ(stats.events, kDecisions);
  EXPECT_EQ(stats.failed_commits, 0);
  // The metrics show the same: fewer transactions than events.
  const std::string metrics = server_->metrics()->Render();
  EXPECT_THAT(metrics, HasSubstr(absl::StrCat(
                           "treatd_ledger_events_written_total ", kDecisions)));
  EXPECT_THAT(metrics,
              HasSubstr(absl::StrCat("treatd_ledger_transactions_total ",
                                     stats.commits)));
  EXPECT_LE(stats.commits, first_round.commits + kDecisions - kThreads);
  EXPECT_LT(stats.commits, kDecisions);
  EXPECT_THAT(metrics, HasSubstr("treatd_ledger_syncs_total "));
}

TEST_F(LedgerServiceTest, SkipRecordLeavesNoTrace) {
  Start();
  ASSERT_TRUE(Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr,
                     /*skip_record=*/true)
                  .ok());
  v1::GetFindingResponse found;
  EXPECT_EQ(GetFinding(kKey1, &found).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(AllEvents().empty());
}

TEST_F(LedgerServiceTest, BatchAndStreamDecisionsAreRecordedPerFinding) {
  Start();
  v1::BatchDecideRequest batch;
  *batch.add_findings() = Vulnerability("b-1", "web-01", "CVE-2027-0001");
  *batch.add_findings() = Vulnerability("b-2", "web-02", "CVE-2027-0002");
  v1::Finding nameless;  // No subject: no identity, so not recordable.
  nameless.set_id("b-3");
  nameless.set_kind(v1::FINDING_KIND_VULNERABILITY);
  *batch.add_findings() = nameless;
  v1::BatchDecideResponse answered;
  ASSERT_TRUE(decide_->BatchDecide(Context().get(), batch, &answered).ok());
  ASSERT_EQ(answered.results_size(), 3);
  EXPECT_TRUE(answered.results(0).has_decision());
  EXPECT_TRUE(answered.results(1).has_decision());
  ASSERT_TRUE(answered.results(2).has_error());
  EXPECT_EQ(answered.results(2).error().code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(answered.results(2).error().message(),
              HasSubstr("cannot be recorded in the ledger"));

  auto context = Context();
  auto stream = decide_->StreamDecide(context.get());
  v1::StreamDecideRequest message;
  *message.add_findings() = Vulnerability("s-1", "web-03", "CVE-2027-0003");
  *message.add_findings() = Vulnerability("s-2", "web-04", "CVE-2027-0004");
  ASSERT_TRUE(stream->Write(message));
  v1::StreamDecideRequest single;
  *single.mutable_finding() = Vulnerability("s-3", "web-05", "CVE-2027-0005");
  ASSERT_TRUE(stream->Write(single));
  stream->WritesDone();
  v1::StreamDecideResponse reply;
  int decided = 0;
  while (stream->Read(&reply)) {
    for (const auto& result : reply.results()) decided += result.has_decision();
    decided += reply.result().has_decision();
  }
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(decided, 3);

  const v1::Finding unary = Vulnerability("u-1", "web-06", "CVE-2027-0006");
  ASSERT_TRUE(Decide(unary, nullptr).ok());

  const std::vector<v1::LedgerEvent> events = AllEvents();
  ASSERT_EQ(events.size(), 6u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), i + 1);
  }
  EXPECT_EQ(server_->recorder()->Counts().rejected, 1);
  // Each new finding's snapshot (for the revisit sweep) is the finding as
  // its call sent it: the ledger serialized it from the request.
  for (const v1::Finding* sent :
       {&batch.findings(0), &batch.findings(1), &message.findings(0),
        &message.findings(1), &single.finding(), &unary}) {
    absl::StatusOr<std::string> key = ledger::FindingIdentityKey(*sent);
    ASSERT_TRUE(key.ok()) << key.status();
    absl::StatusOr<std::string> snapshot =
        server_->ledger()->FindingSnapshot(*key);
    ASSERT_TRUE(snapshot.ok()) << snapshot.status();
    v1::Finding stored;
    ASSERT_TRUE(stored.ParseFromString(*snapshot));
    EXPECT_EQ(stored.SerializeAsString(), sent->SerializeAsString());
  }
}

// The sum of the treatd_decisions_total series in `metrics`.
int64_t DecisionsCounted(const std::string& metrics) {
  int64_t total = 0;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, "treatd_decisions_total{")) continue;
    double value = 0;
    EXPECT_TRUE(absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &value))
        << line;
    total += static_cast<int64_t>(value);
  }
  return total;
}

// A recorded BatchDecide answers what the same what-if call answers,
// result for result, but for the decisions the ledger could not take:
// a finding without identity, and an event the ledger itself refuses (an
// identity key over its 1,024 bytes) after the answer was encoded. Only
// the recorded decisions are counted in the metrics.
TEST_F(LedgerServiceTest, RecordedBatchAnswersAsWhatIfButForRefusedItems) {
  serve_metrics_ = true;
  Start();
  v1::BatchDecideRequest batch;
  ToProtoTime(Now(), batch.mutable_as_of());  // the same decision ids
  *batch.add_findings() = Vulnerability("b-1", "web-01", "CVE-2027-0001");
  v1::Finding long_key = Vulnerability("b-2", "web-02", "CVE-2027-0002");
  long_key.mutable_package()->set_name(std::string(2000, 'p'));
  *batch.add_findings() = long_key;
  v1::Finding nameless;
  nameless.set_id("b-3");
  nameless.set_kind(v1::FINDING_KIND_VULNERABILITY);
  *batch.add_findings() = nameless;
  *batch.add_findings() = Vulnerability("b-4", "web-04", "CVE-2027-0004");

  v1::BatchDecideResponse recorded;
  ASSERT_TRUE(decide_->BatchDecide(Context().get(), batch, &recorded).ok());
  EXPECT_EQ(AllEvents().size(), 2u);
  EXPECT_EQ(DecisionsCounted(server_->metrics()->Render()), 2);

  batch.set_skip_record(true);
  v1::BatchDecideResponse what_if;
  ASSERT_TRUE(decide_->BatchDecide(Context().get(), batch, &what_if).ok());
  ASSERT_EQ(recorded.results_size(), 4);
  ASSERT_EQ(what_if.results_size(), 4);
  for (int i : {0, 3}) {
    ASSERT_TRUE(recorded.results(i).has_decision()) << i;
    EXPECT_EQ(recorded.results(i).SerializeAsString(),
              what_if.results(i).SerializeAsString())
        << i;
  }
  ASSERT_TRUE(recorded.results(1).has_error());
  EXPECT_EQ(recorded.results(1).index(), 1);
  EXPECT_EQ(recorded.results(1).error().code(),
            static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(recorded.results(1).error().message(),
              HasSubstr("finding_key: "));
  ASSERT_TRUE(recorded.results(2).has_error());
  EXPECT_THAT(recorded.results(2).error().message(),
              HasSubstr("cannot be recorded in the ledger"));
}

// With every decision recorded, the answer is the what-if call's, byte for
// byte (the recorded batch's results are encoded as they are decided).
TEST_F(LedgerServiceTest, RecordedBatchAnswersTheWhatIfBytes) {
  serve_metrics_ = true;
  Start();
  v1::BatchDecideRequest batch;
  ToProtoTime(Now(), batch.mutable_as_of());
  for (int i = 1; i <= 20; ++i) {
    *batch.add_findings() =
        Vulnerability(absl::StrCat("b-", i), absl::StrCat("web-", i % 3),
                      absl::StrCat("CVE-2027-", 1000 + i));
  }
  v1::BatchDecideResponse recorded;
  ASSERT_TRUE(decide_->BatchDecide(Context().get(), batch, &recorded).ok());
  batch.set_skip_record(true);
  v1::BatchDecideResponse what_if;
  ASSERT_TRUE(decide_->BatchDecide(Context().get(), batch, &what_if).ok());
  EXPECT_EQ(recorded.SerializeAsString(), what_if.SerializeAsString());
  EXPECT_EQ(AllEvents().size(), 20u);
  EXPECT_EQ(DecisionsCounted(server_->metrics()->Render()), 40);
}

// The bytes of each answer of a StreamDecide stream of `messages`.
std::vector<std::string> StreamAnswers(
    grpc::Channel* channel,
    const std::vector<v1::StreamDecideRequest>& messages) {
  std::vector<std::string> sent;
  for (const v1::StreamDecideRequest& message : messages) {
    sent.push_back(message.SerializeAsString());
  }
  std::vector<std::string> answers;
  const grpc::Status status =
      RawStreamCall(channel, "/treatd.v1.TreatmentService/StreamDecide", sent,
                    nullptr, absl::Seconds(20), &answers);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answers.size(), messages.size());
  return answers;
}

// A recorded StreamDecide chunk is answered with the bytes of the same
// what-if chunk; where the ledger refused decisions (a finding without
// identity, an identity key over the ledger's limit, or the whole chunk
// while the database is down under fail-closed), with protobuf's bytes for
// the answer holding those item errors, every other result's bytes as in
// the what-if answer. Only the recorded decisions are counted.
TEST_F(LedgerServiceTest, RecordedStreamAnswersTheWhatIfBytes) {
  serve_metrics_ = true;
  Start(LedgerDownPolicy::kFailClosed, absl::Milliseconds(200));
  v1::StreamDecideRequest chunk;
  ToProtoTime(Now(), chunk.mutable_as_of());  // the same decision ids
  for (int i = 1; i <= 20; ++i) {
    *chunk.add_findings() =
        Vulnerability(absl::StrCat("s-", i), absl::StrCat("web-", i % 3),
                      absl::StrCat("CVE-2027-", 1000 + i));
  }
  v1::StreamDecideRequest refused;
  ToProtoTime(Now(), refused.mutable_as_of());
  *refused.add_findings() = Vulnerability("r-1", "web-01", "CVE-2027-0001");
  v1::Finding long_key = Vulnerability("r-2", "web-02", "CVE-2027-0002");
  long_key.mutable_package()->set_name(std::string(2000, 'p'));
  *refused.add_findings() = long_key;
  v1::Finding nameless;
  nameless.set_id("r-3");
  nameless.set_kind(v1::FINDING_KIND_VULNERABILITY);
  *refused.add_findings() = nameless;
  *refused.add_findings() = Vulnerability("r-4", "web-04", "CVE-2027-0004");

  const std::vector<std::string> recorded =
      StreamAnswers(channel_.get(), {chunk, refused});
  ASSERT_EQ(recorded.size(), 2u);
  EXPECT_EQ(AllEvents().size(), 22u);
  EXPECT_EQ(DecisionsCounted(server_->metrics()->Render()), 22);

  chunk.set_skip_record(true);
  refused.set_skip_record(true);
  const std::vector<std::string> what_if =
      StreamAnswers(channel_.get(), {chunk, refused});
  ASSERT_EQ(what_if.size(), 2u);
  EXPECT_EQ(recorded[0], what_if[0]);

  // Protobuf's bytes for what was answered.
  v1::StreamDecideResponse answer;
  ASSERT_TRUE(answer.ParseFromString(recorded[1]));
  EXPECT_EQ(recorded[1], answer.SerializeAsString());
  v1::StreamDecideResponse expected;
  ASSERT_TRUE(expected.ParseFromString(what_if[1]));
  EXPECT_EQ(answer.sequence(), 1u);
  ASSERT_EQ(answer.results_size(), 4);
  for (int i : {0, 3}) {
    EXPECT_EQ(answer.results(i).SerializeAsString(),
              expected.results(i).SerializeAsString())
        << i;
  }
  ASSERT_TRUE(answer.results(1).has_error());
  EXPECT_EQ(answer.results(1).index(), 1);
  EXPECT_THAT(answer.results(1).error().message(), HasSubstr("finding_key: "));
  ASSERT_TRUE(answer.results(2).has_error());
  EXPECT_THAT(answer.results(2).error().message(),
              HasSubstr("cannot be recorded in the ledger"));

  // The database down: the chunk's decisions are UNAVAILABLE item errors,
  // in protobuf's bytes, and the stream goes on.
  chunk.set_skip_record(false);
  std::vector<std::string> down;
  {
    WriteLock lock(ledger_path_);
    down = StreamAnswers(channel_.get(), {chunk});
  }
  ASSERT_EQ(down.size(), 1u);
  ASSERT_TRUE(answer.ParseFromString(down[0]));
  EXPECT_EQ(down[0], answer.SerializeAsString());
  ASSERT_EQ(answer.results_size(), 20);
  for (const v1::DecisionResult& result : answer.results()) {
    EXPECT_EQ(result.error().code(),
              static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  }
  EXPECT_EQ(AllEvents().size(), 22u);
  EXPECT_EQ(DecisionsCounted(server_->metrics()->Render()), 22 + 24);
}

TEST_F(LedgerServiceTest, OutcomesMoveTheLifecycleAndBadOnesAreRejected) {
  Start();
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  Advance(absl::Hours(48));

  v1::ReportOutcomeResponse reported;
  ASSERT_TRUE(Report(kKey1, v1::OUTCOME_KIND_MITIGATED, Now() - absl::Hours(1),
                     &reported, "ticket-7")
                  .ok());
  EXPECT_FALSE(reported.duplicate());
  EXPECT_EQ(reported.finding().state(), v1::FINDING_STATE_MITIGATED);
  EXPECT_EQ(reported.event().control(), "waf");
  const uint64_t first = reported.event().sequence();

  // The same report twice: one event.
  v1::ReportOutcomeResponse again;
  ASSERT_TRUE(Report(kKey1, v1::OUTCOME_KIND_MITIGATED, Now() - absl::Hours(1),
                     &again, "ticket-7")
                  .ok());
  EXPECT_TRUE(again.duplicate());
  EXPECT_EQ(again.event().sequence(), first);
  EXPECT_EQ(AllEvents().size(), 2u);

  // Unknown finding, future date, before first seen, missing outcome.
  v1::ReportOutcomeResponse ignored;
  EXPECT_EQ(Report("vulnerability|id=nowhere|CVE-1|x",
                   v1::OUTCOME_KIND_REMEDIATED, Now(), &ignored)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
  grpc::Status future = Report(kKey1, v1::OUTCOME_KIND_REMEDIATED,
                               Now() + absl::Hours(24), &ignored);
  EXPECT_EQ(future.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(future.error_message(), HasSubstr("occurred_at"));
  EXPECT_EQ(Report(kKey1, v1::OUTCOME_KIND_REMEDIATED, kStart - absl::Hours(24),
                   &ignored)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      Report(kKey1, v1::OUTCOME_KIND_UNSPECIFIED, Now(), &ignored).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);

  ASSERT_TRUE(
      Report(kKey1, v1::OUTCOME_KIND_REMEDIATED, Now(), &reported).ok());
  EXPECT_EQ(reported.finding().state(), v1::FINDING_STATE_REMEDIATED);
  EXPECT_EQ(AllEvents().size(), 3u);
}

// Issue 10 audit: a time the ledger does not have is absent from the
// answer (has_...() false, no JSON key), not 1970-01-01.
TEST_F(LedgerServiceTest, UnsetTimesAreAbsentFromResponses) {
  Start();
  v1::Decision decision;
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), &decision).ok());
  ASSERT_TRUE(decision.has_remediate_by());
  Advance(absl::Hours(1));
  v1::ReportOutcomeResponse reported;
  ASSERT_TRUE(Report(kKey1, v1::OUTCOME_KIND_MITIGATED, Now(), &reported).ok());

  auto expect_no_epoch = [](const google::protobuf::Message& message) {
    std::string json;
    ASSERT_TRUE(
        google::protobuf::util::MessageToJsonString(message, &json).ok());
    EXPECT_THAT(json, Not(HasSubstr("1970-01-01"))) << json;
  };
  // Never closed, never accepted.
  const v1::LedgerFinding& finding = reported.finding();
  EXPECT_TRUE(finding.has_mitigated_at());
  EXPECT_FALSE(finding.has_closed_at());
  EXPECT_FALSE(finding.has_accepted_at());
  EXPECT_FALSE(finding.has_accepted_until());
  expect_no_epoch(finding);
  // A mitigation without an end date.
  EXPECT_FALSE(reported.event().has_until());
  expect_no_epoch(reported.event());

  v1::GetFindingResponse found;
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  expect_no_epoch(found);
  ASSERT_EQ(found.history_size(), 2);
  // The decision's deadlines: exactly those the decision had.
  const v1::LedgerDecision& recorded = found.history(0).decision();
  EXPECT_EQ(recorded.has_mitigate_by(), decision.has_mitigate_by());
  EXPECT_TRUE(recorded.has_remediate_by());
  EXPECT_EQ(recorded.has_review_by(), decision.has_review_by());
  EXPECT_FALSE(found.history(0).has_until());

  v1::ListFindingsResponse listed;
  ASSERT_TRUE(
      ledger_->ListFindings(Context().get(), v1::ListFindingsRequest(), &listed)
          .ok());
  ASSERT_EQ(listed.findings_size(), 1);
  EXPECT_FALSE(listed.findings(0).has_closed_at());
  expect_no_epoch(listed);
  for (const v1::LedgerEvent& event : AllEvents()) expect_no_epoch(event);
}

// Issue 10 audit: `treatctl ledger outcome mitigated K --control c` twice
// (no --at: the server's clock dates it) was two events. A retry is one;
// the same report after another state change is a new one.
TEST_F(LedgerServiceTest, UndatedOutcomeRetriesAreOneEventUntilTheStateMoves) {
  Start();
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  Advance(absl::Hours(1));
  auto report = [this](v1::OutcomeKind outcome, v1::ReportOutcomeResponse* r) {
    v1::ReportOutcomeRequest request;
    request.set_identity_key(kKey1);
    request.set_outcome(outcome);
    request.set_actor("alice");
    if (outcome == v1::OUTCOME_KIND_MITIGATED) request.set_control("waf");
    if (outcome == v1::OUTCOME_KIND_REMEDIATED) request.set_evidence("PR-1");
    if (outcome == v1::OUTCOME_KIND_ACCEPTED) {
      ToProtoTime(Now() + absl::Hours(24 * 30), request.mutable_until());
    }
    return ledger_->ReportOutcome(Context().get(), request, r);
  };

  v1::ReportOutcomeResponse first;
  ASSERT_TRUE(report(v1::OUTCOME_KIND_MITIGATED, &first).ok());
  EXPECT_FALSE(first.duplicate());
  Advance(absl::Minutes(1));
  v1::ReportOutcomeResponse retry;
  ASSERT_TRUE(report(v1::OUTCOME_KIND_MITIGATED, &retry).ok());
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.event().sequence(), first.event().sequence());
  // A decision in between changes no state: still a retry.
  Advance(absl::Hours(1));
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  ASSERT_TRUE(report(v1::OUTCOME_KIND_MITIGATED, &retry).ok());
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.event().sequence(), first.event().sequence());
  EXPECT_EQ(AllEvents().size(), 3u);

  // Accepted, then mitigated again with the same control: a new event.
  Advance(absl::Hours(1));
  v1::ReportOutcomeResponse reported;
  ASSERT_TRUE(report(v1::OUTCOME_KIND_ACCEPTED, &reported).ok());
  EXPECT_FALSE(reported.duplicate());
  Advance(absl::Hours(1));
  ASSERT_TRUE(report(v1::OUTCOME_KIND_MITIGATED, &reported).ok());
  EXPECT_FALSE(reported.duplicate());
  EXPECT_EQ(reported.finding().state(), v1::FINDING_STATE_MITIGATED);
  const uint64_t again = reported.event().sequence();
  EXPECT_GT(again, first.event().sequence());
  ASSERT_TRUE(report(v1::OUTCOME_KIND_MITIGATED, &retry).ok());
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.event().sequence(), again);

  // Remediated, reopened by a decision, mitigated again: a new event.
  Advance(absl::Hours(1));
  ASSERT_TRUE(report(v1::OUTCOME_KIND_REMEDIATED, &reported).ok());
  EXPECT_FALSE(reported.duplicate());
  ASSERT_TRUE(report(v1::OUTCOME_KIND_REMEDIATED, &retry).ok());
  EXPECT_TRUE(retry.duplicate());
  Advance(absl::Hours(24));
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  v1::GetFindingResponse found;
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  ASSERT_EQ(found.finding().state(), v1::FINDING_STATE_OPEN);
  Advance(absl::Hours(1));
  ASSERT_TRUE(report(v1::OUTCOME_KIND_MITIGATED, &reported).ok());
  EXPECT_FALSE(reported.duplicate());
  EXPECT_GT(reported.event().sequence(), again);
  EXPECT_EQ(reported.finding().state(), v1::FINDING_STATE_MITIGATED);
}

// Issue 10 review: a report that kept the state (another control) between
// two identical undated reports is not a retry of the first; decisions in
// between still are.
TEST_F(LedgerServiceTest, UndatedOutcomeAfterAnotherReportIsANewEvent) {
  Start();
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  Advance(absl::Hours(1));
  auto mitigate = [this](const std::string& control,
                         v1::ReportOutcomeResponse* r) {
    v1::ReportOutcomeRequest request;
    request.set_identity_key(kKey1);
    request.set_outcome(v1::OUTCOME_KIND_MITIGATED);
    request.set_actor("alice");
    request.set_control(control);
    return ledger_->ReportOutcome(Context().get(), request, r);
  };
  v1::ReportOutcomeResponse c1;
  ASSERT_TRUE(mitigate("waf", &c1).ok());
  Advance(absl::Minutes(1));
  v1::ReportOutcomeResponse d;
  ASSERT_TRUE(mitigate("network-policy", &d).ok());
  EXPECT_FALSE(d.duplicate());
  Advance(absl::Minutes(1));
  // Back to the first control: recorded, and the finding says so.
  v1::ReportOutcomeResponse c2;
  ASSERT_TRUE(mitigate("waf", &c2).ok());
  EXPECT_FALSE(c2.duplicate());
  EXPECT_GT(c2.event().sequence(), d.event().sequence());
  v1::GetFindingResponse found;
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  EXPECT_EQ(found.history(found.history_size() - 1).control(), "waf");

  // Its retries, with decisions in between, are that one event.
  Advance(absl::Hours(1));
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  v1::ReportOutcomeResponse retry;
  ASSERT_TRUE(mitigate("waf", &retry).ok());
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.event().sequence(), c2.event().sequence());
  Advance(absl::Hours(1));
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  ASSERT_TRUE(mitigate("waf", &retry).ok());
  EXPECT_TRUE(retry.duplicate());
  EXPECT_EQ(retry.event().sequence(), c2.event().sequence());
  EXPECT_EQ(AllEvents().size(), 6u);  // 3 decisions, 3 reports
}

// Issue 10 audit: `--until` on a mitigation is its review date (docs,
// proto), and the revisit sweep goes by it; it was refused.
TEST_F(LedgerServiceTest, AMitigationsUntilIsItsReviewDate) {
  Start();
  DecideMitigateFinding();
  Advance(absl::Hours(2));

  v1::ReportOutcomeRequest request;
  request.set_identity_key(kKey1);
  request.set_outcome(v1::OUTCOME_KIND_MITIGATED);
  request.set_control("waf");
  ToProtoTime(Now(), request.mutable_occurred_at());
  // Not after the report's time: refused, naming the field.
  ToProtoTime(Now(), request.mutable_until());
  v1::ReportOutcomeResponse reported;
  grpc::Status early =
      ledger_->ReportOutcome(Context().get(), request, &reported);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(early.error_message(), HasSubstr("until"));
  // A remediation takes no date.
  v1::ReportOutcomeRequest remediated = request;
  remediated.set_outcome(v1::OUTCOME_KIND_REMEDIATED);
  ToProtoTime(Now() + absl::Hours(1), remediated.mutable_until());
  EXPECT_EQ(ledger_->ReportOutcome(Context().get(), remediated, &reported)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // 20 days instead of the policy's 7.
  const absl::Time review = Now() + absl::Hours(24 * 20);
  ToProtoTime(review, request.mutable_until());
  grpc::Status ok = ledger_->ReportOutcome(Context().get(), request, &reported);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(FromProtoTime(reported.event().until()), review);
  EXPECT_EQ(FromProtoTime(reported.finding().review_by()), review);

  Advance(absl::Hours(24 * 8));  // Past the policy's 7 days, not the date.
  absl::StatusOr<SweepReport> before = sweep_->RunOnce();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->review_due, 0);
  Advance(absl::Hours(24 * 13));  // Past the date.
  absl::StatusOr<SweepReport> after = sweep_->RunOnce();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->review_due, 1);
  v1::GetFindingResponse found;
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  EXPECT_EQ(found.history(found.history_size() - 1).type(),
            v1::LEDGER_EVENT_TYPE_SWEEP_DECISION);
}

TEST_F(LedgerServiceTest, AMitigationsUntilOutlivesTheNextDecision) {
  Start();
  DecideMitigateFinding();
  Advance(absl::Hours(2));
  v1::ReportOutcomeRequest request;
  request.set_identity_key(kKey1);
  request.set_outcome(v1::OUTCOME_KIND_MITIGATED);
  request.set_control("waf");
  const absl::Time review = Now() + absl::Hours(24 * 20);
  ToProtoTime(review, request.mutable_until());
  v1::ReportOutcomeResponse reported;
  grpc::Status ok = ledger_->ReportOutcome(Context().get(), request, &reported);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  // A mitigation is not an acceptance.
  EXPECT_FALSE(reported.finding().has_accepted_until());

  // The next scan decides it again: the user's date stays.
  Advance(absl::Hours(24));
  DecideMitigateFinding();
  v1::GetFindingResponse found;
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  EXPECT_EQ(found.history(found.history_size() - 1).type(),
            v1::LEDGER_EVENT_TYPE_DECISION);
  EXPECT_EQ(found.finding().state(), v1::FINDING_STATE_MITIGATED);
  EXPECT_EQ(FromProtoTime(found.finding().review_by()), review);

  Advance(absl::Hours(24 * 8));  // Past the decision's 7 days.
  absl::StatusOr<SweepReport> before = sweep_->RunOnce();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->review_due, 0);
  Advance(absl::Hours(24 * 12));  // Past the date.
  absl::StatusOr<SweepReport> after = sweep_->RunOnce();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->review_due, 1);
  // The sweep's decision sets the policy's date again: not due next pass.
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  EXPECT_EQ(found.history(found.history_size() - 1).type(),
            v1::LEDGER_EVENT_TYPE_SWEEP_DECISION);
  EXPECT_GT(FromProtoTime(found.finding().review_by()), Now());
  absl::StatusOr<SweepReport> again = sweep_->RunOnce();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->review_due, 0);
}

TEST_F(LedgerServiceTest, ScansRemediateAbsentFindingsAndReopenReturningOnes) {
  Start();
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  ASSERT_TRUE(
      Decide(Vulnerability("f-2", "web-01", "CVE-2027-0002"), nullptr).ok());
  Advance(absl::Hours(24 * 5));

  // A complete scan of web-01 that only sees CVE-2027-0002.
  v1::ObserveScanRequest scan;
  scan.set_scope("id=web-01");
  *scan.add_findings() = Vulnerability("x", "web-01", "CVE-2027-0002");
  scan.set_scanner("trivy");
  v1::ObserveScanResponse observed;
  ASSERT_TRUE(ledger_->ObserveScan(Context().get(), scan, &observed).ok());
  EXPECT_EQ(observed.remediated(), 1);
  EXPECT_EQ(observed.still_present(), 1);
  v1::GetFindingResponse found;
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  EXPECT_EQ(found.finding().state(), v1::FINDING_STATE_REMEDIATED);

  // It comes back: the next scan reopens it (a recurrence).
  Advance(absl::Hours(24 * 3));
  *scan.add_findings() = Vulnerability("y", "web-01", "CVE-2027-0001");
  ASSERT_TRUE(ledger_->ObserveScan(Context().get(), scan, &observed).ok());
  EXPECT_EQ(observed.reopened(), 1);
  ASSERT_TRUE(GetFinding(kKey1, &found).ok());
  EXPECT_EQ(found.finding().state(), v1::FINDING_STATE_OPEN);
  EXPECT_EQ(found.finding().recurrences(), 1);

  v1::ObserveScanRequest bad;
  EXPECT_EQ(ledger_->ObserveScan(Context().get(), bad, &observed).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(LedgerServiceTest, ListFindingsFiltersAndPages) {
  Start();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Decide(Vulnerability(absl::StrCat("f-", i), "web-01",
                                     absl::StrCat("CVE-2027-000", i)),
                       nullptr)
                    .ok());
  }
  v1::Finding kev = Vulnerability("k", "db-01", "CVE-2027-0100");
  kev.mutable_vulnerability()->mutable_kev()->set_listed(true);
  ASSERT_TRUE(Decide(kev, nullptr).ok());
  Advance(absl::Hours(24 * 4));  // Past the P1 3-day deadline only.

  v1::ListFindingsRequest request;
  request.set_page_size(2);
  int pages = 0, total = 0;
  do {
    v1::ListFindingsResponse page;
    ASSERT_TRUE(ledger_->ListFindings(Context().get(), request, &page).ok());
    ++pages;
    total += page.findings_size();
    request.set_page_token(page.next_page_token());
  } while (!request.page_token().empty());
  EXPECT_EQ(total, 6);
  EXPECT_EQ(pages, 3);

  v1::ListFindingsRequest overdue;
  overdue.set_overdue(true);
  v1::ListFindingsResponse found;
  ASSERT_TRUE(ledger_->ListFindings(Context().get(), overdue, &found).ok());
  ASSERT_EQ(found.findings_size(), 1);
  EXPECT_EQ(found.findings(0).priority(), "P1");
  EXPECT_TRUE(found.findings(0).overdue());

  v1::ListFindingsRequest by_asset;
  by_asset.set_asset("id=web-01");
  by_asset.set_priority("P3");
  ASSERT_TRUE(ledger_->ListFindings(Context().get(), by_asset, &found).ok());
  EXPECT_EQ(found.findings_size(), 5);

  // Above the maximum is lowered to it (AIP-158); negative is an error.
  v1::ListFindingsRequest large;
  large.set_page_size(5000);
  grpc::Status lowered = ledger_->ListFindings(Context().get(), large, &found);
  ASSERT_TRUE(lowered.ok()) << lowered.error_message();
  EXPECT_EQ(found.findings_size(), 6);
  v1::ListFindingsRequest bad;
  bad.set_page_size(-1);
  EXPECT_EQ(ledger_->ListFindings(Context().get(), bad, &found).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListEventsRequest many;
  many.set_page_size(20000);
  v1::ListEventsResponse events;
  grpc::Status listed = ledger_->ListEvents(Context().get(), many, &events);
  ASSERT_TRUE(listed.ok()) << listed.error_message();
  EXPECT_EQ(events.events_size(), 6);
  many.set_page_size(-1);
  EXPECT_EQ(ledger_->ListEvents(Context().get(), many, &events).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // An asset without "id=" or "name=" matched nothing, silently.
  v1::ListFindingsRequest bare;
  bare.set_asset("web-01");
  grpc::Status unprefixed =
      ledger_->ListFindings(Context().get(), bare, &found);
  EXPECT_EQ(unprefixed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unprefixed.error_message(), HasSubstr("id=web-01"));
}

TEST_F(LedgerServiceTest, KpisCountRemediationsAndOpenFindingsAtAsOf) {
  Start();
  // Two P3 findings decided at day 0 (due day 30); one remediated at day
  // 10 (on time), one still open at day 40 (past due).
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  ASSERT_TRUE(
      Decide(Vulnerability("f-2", "web-01", "CVE-2027-0002"), nullptr).ok());
  Advance(absl::Hours(24 * 10));
  v1::ReportOutcomeResponse reported;
  ASSERT_TRUE(
      Report(kKey1, v1::OUTCOME_KIND_REMEDIATED, Now(), &reported).ok());
  Advance(absl::Hours(24 * 30));

  v1::GetKpisRequest request;
  request.add_group_by(v1::KPI_GROUP_BY_PRIORITY);
  v1::GetKpisResponse kpis;
  grpc::Status got = ledger_->GetKpis(Context().get(), request, &kpis);
  ASSERT_TRUE(got.ok()) << got.error_message();
  const v1::Kpis& total = kpis.total();
  EXPECT_EQ(total.remediated_in_window(), 1);
  EXPECT_EQ(total.remediated_on_time(), 1);
  EXPECT_EQ(total.open_past_due(), 1);
  EXPECT_EQ(total.open(), 1);
  ASSERT_TRUE(total.has_sla_compliance());
  EXPECT_DOUBLE_EQ(total.sla_compliance(), 0.5);
  EXPECT_EQ(total.time_to_remediate().count(), 1);
  EXPECT_DOUBLE_EQ(total.time_to_remediate().median_days(), 10.0);
  EXPECT_EQ(total.age_31_60(), 1);
  ASSERT_EQ(kpis.groups_size(), 1);
  EXPECT_EQ(kpis.groups(0).priority(), "P3");
  EXPECT_EQ(FromProtoTime(kpis.as_of()), Now());

  v1::GetKpisRequest bad;
  bad.mutable_window()->set_seconds(-5);
  EXPECT_EQ(ledger_->GetKpis(Context().get(), bad, &kpis).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(LedgerServiceTest, WatchStreamsNewEventsAndResumesAfterTheLastSeen) {
  Start();
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());

  uint64_t last = 0;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::WatchEventsRequest request;
    auto reader = ledger_->WatchEvents(&context, request);
    v1::WatchEventsResponse response;
    ASSERT_TRUE(reader->Read(&response));  // Already recorded.
    EXPECT_EQ(response.event().sequence(), 1u);
    // One recorded while the watch is open.
    std::thread decider([this] {
      Decide(Vulnerability("f-2", "web-02", "CVE-2027-0002"), nullptr);
    });
    ASSERT_TRUE(reader->Read(&response));
    decider.join();
    last = response.event().sequence();
    EXPECT_EQ(last, 2u);
    context.TryCancel();
    reader->Finish();
  }
  ASSERT_TRUE(
      Decide(Vulnerability("f-3", "web-03", "CVE-2027-0003"), nullptr).ok());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::WatchEventsRequest resume;
  resume.set_after_sequence(last);
  auto reader = ledger_->WatchEvents(&context, resume);
  v1::WatchEventsResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.event().sequence(), 3u);
  context.TryCancel();
  reader->Finish();
}

TEST_F(LedgerServiceTest, QuietWatchOutlivesTheStreamIdleTimeout) {
  stream_idle_ = absl::Milliseconds(300);
  Start();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  auto reader = ledger_->WatchEvents(&context, v1::WatchEventsRequest());
  // Nothing happens for several idle timeouts, then a decision.
  std::thread decider([this] {
    absl::SleepFor(absl::Milliseconds(1500));
    Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr);
  });
  v1::WatchEventsResponse response;
  const bool read = reader->Read(&response);
  decider.join();
  ASSERT_TRUE(read) << reader->Finish().error_message();
  EXPECT_EQ(response.event().sequence(), 1u);
  context.TryCancel();
  reader->Finish();
}

TEST_F(LedgerServiceTest, WatchDeliversReviewDueAndOverdueNoticesOnce) {
  Start();
  v1::Finding low = Vulnerability("f-1", "web-01", "CVE-2027-0001");
  low.mutable_asset()->set_criticality(v1::CRITICALITY_LOW);
  ASSERT_TRUE(Decide(low, nullptr).ok());
  // REMEDIATE P3 within 30 days (a MITIGATE decision sets no such
  // deadline).
  v1::Decision remediate;
  ASSERT_TRUE(
      Decide(Vulnerability("f-2", "web-02", "CVE-2027-0002"), &remediate).ok());
  Advance(absl::Hours(1));
  v1::ReportOutcomeResponse reported;
  ASSERT_TRUE(Report(kKey1, v1::OUTCOME_KIND_MITIGATED, Now(), &reported).ok());

  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::WatchEventsRequest request;
  request.add_types(v1::LEDGER_EVENT_TYPE_REVIEW_DUE);
  request.add_types(v1::LEDGER_EVENT_TYPE_OVERDUE);
  auto reader = ledger_->WatchEvents(&context, request);

  // Day 8: review due (7 days; the sweep's decision sets the next review
  // for day 15); day 31: the second review and overdue (30 days). Each pass
  // runs twice: the second writes nothing.
  Advance(absl::Hours(24 * 8));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(sweep_->RunOnce().ok());
  Advance(absl::Hours(24 * 23));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(sweep_->RunOnce().ok());
  ASSERT_TRUE(
      Decide(Vulnerability("f-3", "web-03", "CVE-2027-0003"), nullptr).ok());

  v1::WatchEventsResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.event().type(), v1::LEDGER_EVENT_TYPE_REVIEW_DUE);
  EXPECT_EQ(response.event().identity_key(), kKey1);
  EXPECT_EQ(FromProtoTime(response.event().until()),
            FromProtoTime(reported.finding().review_by()));
  EXPECT_EQ(response.event().state_after(), v1::FINDING_STATE_MITIGATED);
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.event().type(), v1::LEDGER_EVENT_TYPE_REVIEW_DUE);
  EXPECT_EQ(FromProtoTime(response.event().until()),
            kStart + absl::Hours(24 * 8 + 1) + absl::Hours(24 * 7));
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.event().type(), v1::LEDGER_EVENT_TYPE_OVERDUE);
  EXPECT_EQ(response.event().identity_key(),
            "vulnerability|id=web-02|CVE-2027-0002|openssl");
  EXPECT_EQ(FromProtoTime(response.event().until()),
            FromProtoTime(remediate.remediate_by()));
  EXPECT_THAT(response.event().note(), HasSubstr("overdue: open P3"));
  const uint64_t overdue_seq = response.event().sequence();
  context.TryCancel();
  reader->Finish();
  // Nothing else of those types, though the sweep ran four times.
  int notices = 0;
  for (const v1::LedgerEvent& event : AllEvents()) {
    notices += event.type() == v1::LEDGER_EVENT_TYPE_REVIEW_DUE ||
               event.type() == v1::LEDGER_EVENT_TYPE_OVERDUE;
    if (event.type() == v1::LEDGER_EVENT_TYPE_OVERDUE) {
      EXPECT_EQ(event.sequence(), overdue_seq);
    }
  }
  EXPECT_EQ(notices, 3);
  EXPECT_EQ(sweep_->Counts().review_due_notices, 2);
  EXPECT_EQ(sweep_->Counts().overdue_notices, 1);
}

TEST_F(LedgerServiceTest, TreatctlWatchAndExportShowTheNotices) {
  Start();
  v1::Finding low = Vulnerability("f-1", "web-01", "CVE-2027-0001");
  low.mutable_asset()->set_criticality(v1::CRITICALITY_LOW);
  ASSERT_TRUE(Decide(low, nullptr).ok());
  ASSERT_TRUE(
      Decide(Vulnerability("f-2", "web-02", "CVE-2027-0002"), nullptr).ok());
  v1::ReportOutcomeResponse reported;
  ASSERT_TRUE(Report(kKey1, v1::OUTCOME_KIND_MITIGATED, Now(), &reported).ok());
  Advance(absl::Hours(24 * 31));
  ASSERT_TRUE(sweep_->RunOnce().ok());

  testing::TreatctlRun watch = testing::RunTreatctl(
      {"ledger", "watch", "--target", server_->address(), "--types",
       "review_due,overdue", "--max-events", "2"},
      "", absl::Seconds(30));
  EXPECT_EQ(watch.exit_code, 0) << watch.err;
  EXPECT_THAT(watch.out,
              HasSubstr("review_due  mitigated -> mitigated  by revisit-sweep; "
                        "note review due: mitigated since 2027-01-01"));
  EXPECT_THAT(watch.out, HasSubstr("review_by 2027-01-08"));
  EXPECT_THAT(watch.out, HasSubstr("overdue  open -> open  by revisit-sweep; "
                                   "note overdue: open P3; remediate_by "
                                   "2027-01-31"));
  EXPECT_THAT(watch.out, Not(HasSubstr("decision")));

  testing::TreatctlRun exported =
      testing::RunTreatctl({"ledger", "export", "--target", server_->address(),
                            "--types", "overdue"},
                           "", absl::Seconds(30));
  EXPECT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_EQ(std::count(exported.out.begin(), exported.out.end(), '\n'), 1)
      << exported.out;
  EXPECT_THAT(exported.out,
              HasSubstr("\"type\":\"LEDGER_EVENT_TYPE_OVERDUE\""));
  EXPECT_THAT(exported.out,
              HasSubstr("\"idempotency_key\":\"overdue:vulnerability|id=web-02|"
                        "CVE-2027-0002|openssl#1:2027-01-31T00:00:00Z\""));

  testing::TreatctlRun bad =
      testing::RunTreatctl({"ledger", "export", "--target", server_->address(),
                            "--types", "overdew"},
                           "", absl::Seconds(30));
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("overdew"));
}

// The sequences of `treatctl ledger watch --output jsonl` lines, in order.
std::vector<uint64_t> WatchedSequences(const std::string& jsonl) {
  std::vector<uint64_t> sequences;
  for (absl::string_view line :
       absl::StrSplit(jsonl, '\n', absl::SkipEmpty())) {
    const std::string key = "\"sequence\":\"";
    const size_t at = line.find(key);
    uint64_t sequence = 0;
    if (at == absl::string_view::npos ||
        !absl::SimpleAtoi(
            line.substr(at + key.size(),
                        line.find('"', at + key.size()) - at - key.size()),
            &sequence)) {
      ADD_FAILURE() << "no sequence in " << line;
      continue;
    }
    sequences.push_back(sequence);
  }
  return sequences;
}

std::vector<uint64_t> OneTo(uint64_t n) {
  std::vector<uint64_t> sequences;
  for (uint64_t i = 1; i <= n; ++i) sequences.push_back(i);
  return sequences;
}

// docs/ledger.md: a watch outlives the server's stream limit
// (--max-stream-seconds ends every stream, a WatchEvents too): treatctl
// resumes after the last event it printed, and prints each event once.
TEST_F(LedgerServiceTest, TreatctlWatchResumesAcrossStreamLimits) {
  max_stream_ = absl::Milliseconds(700);
  Start();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(DecideNumbered(i).ok());
  }
  auto watch = StartWatch({"--max-events", "12"});
  ASSERT_NE(watch, nullptr);
  // Nine more over about 2.7 s: several stream limits pass meanwhile.
  for (int i = 3; i < 12; ++i) {
    absl::SleepFor(absl::Milliseconds(300));
    ASSERT_TRUE(DecideNumbered(i).ok());
    watch->Drain();
  }
  ASSERT_EQ(watch->Wait(absl::Seconds(30)), 0) << watch->stderr_text();
  EXPECT_EQ(WatchedSequences(watch->stdout_text()), OneTo(12))
      << watch->stdout_text();
  const std::string& err = watch->stderr_text();
  int resumes = 0;
  for (size_t at = err.find("resuming after"); at != std::string::npos;
       at = err.find("resuming after", at + 1)) {
    ++resumes;
  }
  EXPECT_GE(resumes, 2) << err;
  EXPECT_THAT(err, HasSubstr("DEADLINE_EXCEEDED"));
}

// A restart of the server (same ledger, same address) in the middle of a
// watch: it resumes once the server is back, missing nothing.
TEST_F(LedgerServiceTest, TreatctlWatchResumesAcrossAServerRestart) {
  Start();
  listen_ = server_->address();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(DecideNumbered(i).ok());
  }
  auto watch = StartWatch({"--max-events", "4"});
  ASSERT_NE(watch, nullptr);
  std::string line;
  ASSERT_TRUE(watch->ReadStdoutLine(&line, absl::Seconds(20)));
  ASSERT_TRUE(watch->ReadStdoutLine(&line, absl::Seconds(20)));
  sweep_.reset();
  server_.reset();
  absl::SleepFor(absl::Milliseconds(300));  // Watched while it is down.
  Start();
  ASSERT_EQ(server_->address(), listen_);
  for (int i = 2; i < 4; ++i) {
    ASSERT_TRUE(DecideNumbered(i).ok());
  }
  ASSERT_EQ(watch->Wait(absl::Seconds(60)), 0) << watch->stderr_text();
  EXPECT_EQ(WatchedSequences(watch->stdout_text()),
            std::vector<uint64_t>({3, 4}))
      << watch->stdout_text();
  EXPECT_THAT(watch->stderr_text(), HasSubstr("resuming after 2"));
}

// Ctrl-C (SIGINT) or SIGTERM ends a watch cleanly with where to resume.
TEST_F(LedgerServiceTest, TreatctlWatchStopsOnSigintWithWhereToResume) {
  Start();
  ASSERT_TRUE(DecideNumbered(1).ok());
  for (int signal_number : {SIGINT, SIGTERM}) {
    auto watch = StartWatch({});
    ASSERT_NE(watch, nullptr);
    std::string line;
    ASSERT_TRUE(watch->ReadStdoutLine(&line, absl::Seconds(20)));
    watch->Signal(signal_number);
    EXPECT_EQ(watch->Wait(absl::Seconds(20)), 0) << watch->stderr_text();
    EXPECT_THAT(watch->stderr_text(), HasSubstr("resume with --after 1"));
  }
}

// A watch its client stops is not a server error: no CANCELLED in
// treatd_rpc_errors_total.
TEST_F(LedgerServiceTest, AWatchItsClientStopsIsNotCountedAsAnError) {
  serve_metrics_ = true;
  Start();
  ASSERT_TRUE(DecideNumbered(1).ok());
  auto watch = StartWatch({"--max-events", "1"});
  ASSERT_NE(watch, nullptr);
  ASSERT_EQ(watch->Wait(absl::Seconds(20)), 0) << watch->stderr_text();
  auto second = StartWatch({});
  ASSERT_NE(second, nullptr);
  std::string line;
  ASSERT_TRUE(second->ReadStdoutLine(&line, absl::Seconds(20)));
  second->Signal(SIGINT);
  ASSERT_EQ(second->Wait(absl::Seconds(20)), 0) << second->stderr_text();
  // The server ends each call once it sees the cancel.
  const std::string ended =
      "treatd_rpcs_in_flight{method=\"/treatd.v1.LedgerService/"
      "WatchEvents\"} 0";
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!absl::StrContains(server_->metrics()->Render(), ended) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const std::string metrics = server_->metrics()->Render();
  ASSERT_THAT(metrics, HasSubstr(ended));
  for (absl::string_view metric : absl::StrSplit(metrics, '\n')) {
    if (absl::StartsWith(metric, "treatd_rpc_errors_total")) {
      EXPECT_THAT(std::string(metric), Not(HasSubstr("WatchEvents")));
    }
  }
}

// A watch the server refuses because its streams are all taken
// (--max-concurrent-streams) asks again until one is free.
TEST_F(LedgerServiceTest, TreatctlWatchRetriesWhileTheServerHasNoStreamFree) {
  max_streams_ = 1;
  Start();
  ASSERT_TRUE(DecideNumbered(1).ok());
  auto first = StartWatch({});
  ASSERT_NE(first, nullptr);
  std::string line;
  ASSERT_TRUE(first->ReadStdoutLine(&line, absl::Seconds(20)));
  auto second = StartWatch({"--max-events", "1"});
  ASSERT_NE(second, nullptr);
  // Refused at least once while the first holds the only stream.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!absl::StrContains(second->stderr_text(), "RESOURCE_EXHAUSTED") &&
         absl::Now() < give_up) {
    second->Drain();
  }
  ASSERT_THAT(second->stderr_text(), HasSubstr("RESOURCE_EXHAUSTED"));
  first->Signal(SIGINT);
  ASSERT_EQ(first->Wait(absl::Seconds(20)), 0) << first->stderr_text();
  std::string resumed;
  ASSERT_TRUE(second->ReadStdoutLine(&resumed, absl::Seconds(20)))
      << second->stderr_text();
  EXPECT_EQ(resumed, line);
  EXPECT_EQ(second->Wait(absl::Seconds(20)), 0) << second->stderr_text();
}

// A watch the server's shutdown cuts after its grace was cancelled by the
// server, not its client: a CANCELLED error in treatd_rpc_errors_total.
TEST_F(LedgerServiceTest, AWatchCutByShutdownIsCountedAsAnError) {
  serve_metrics_ = true;
  Start();
  ASSERT_TRUE(DecideNumbered(1).ok());
  auto watch = StartWatch({});
  ASSERT_NE(watch, nullptr);
  std::string line;
  ASSERT_TRUE(watch->ReadStdoutLine(&line, absl::Seconds(20)));
  server_->Shutdown(absl::Milliseconds(300));
  watch->Signal(SIGINT);
  watch->Wait(absl::Seconds(20));
  bool counted = false;
  const std::string metrics = server_->metrics()->Render();
  for (absl::string_view metric : absl::StrSplit(metrics, '\n')) {
    counted = counted || (absl::StartsWith(metric, "treatd_rpc_errors_total") &&
                          absl::StrContains(metric, "WatchEvents") &&
                          absl::StrContains(metric, "CANCELLED"));
  }
  EXPECT_TRUE(counted) << metrics;
}

// `treatctl bench` measures: against a recording server its calls are
// what-if calls unless --record, in every mode.
TEST_F(LedgerServiceTest, TreatctlBenchRecordsOnlyWithRecord) {
  Start();
  // The ledger records a finding once while its decision stays the same:
  // each mode gets a finding of its own.
  const std::vector<std::string> modes = {"unary", "batch", "stream"};
  auto findings = [&](int i) {
    const std::string path = TempPath(absl::StrCat("bench-", i, ".jsonl"));
    std::ofstream(path) << R"({"id":"f-1","kind":"FINDING_KIND_VULNERABILITY",)"
                        << R"("asset":{"id":"web-01"},"vulnerability":)"
                        << R"({"cve_id":"CVE-2027-000)" << i << "\"}}\n";
    return path;
  };
  auto bench = [&](int i, bool record) {
    std::vector<std::string> args = {
        "bench",    findings(i), "--target", server_->address(),
        "--mode",   modes[i],    "-d",       "0.3",
        "--warmup", "0",         "--json"};
    if (record) args.push_back("--record");
    testing::TreatctlRun run =
        testing::RunTreatctl(args, "", absl::Seconds(30));
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.out, HasSubstr("\"errors\":0,")) << run.out;
  };
  auto recorded_events = [&] {
    v1::VerifyLedgerResponse report;
    EXPECT_TRUE(
        ledger_
            ->VerifyLedger(Context().get(), v1::VerifyLedgerRequest(), &report)
            .ok());
    return report.events_checked();
  };
  for (int i = 0; i < 3; ++i) bench(i, /*record=*/false);
  EXPECT_EQ(recorded_events(), 0u);
  for (int i = 0; i < 3; ++i) {
    const uint64_t before = recorded_events();
    bench(i, /*record=*/true);
    EXPECT_GT(recorded_events(), before) << modes[i];
  }
}

TEST_F(LedgerServiceTest, VerifyReportsAnIntactChain) {
  Start();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Decide(Vulnerability(absl::StrCat("f-", i), "web-01",
                                     absl::StrCat("CVE-2027-000", i)),
                       nullptr)
                    .ok());
  }
  v1::VerifyLedgerResponse report;
  ASSERT_TRUE(
      ledger_->VerifyLedger(Context().get(), v1::VerifyLedgerRequest(), &report)
          .ok());
  EXPECT_TRUE(report.ok()) << report.problem();
  EXPECT_EQ(report.events_checked(), 3u);
  EXPECT_EQ(report.head_hash().size(), 64u);
}

TEST_F(LedgerServiceTest, SweepDecidesAgainMitigationsPastReview) {
  Start();
  DecideMitigateFinding();
  Advance(absl::Hours(2));
  v1::ReportOutcomeResponse reported;
  ASSERT_TRUE(Report(kKey1, v1::OUTCOME_KIND_MITIGATED, Now(), &reported).ok());

  absl::StatusOr<SweepReport> early = sweep_->RunOnce();
  ASSERT_TRUE(early.ok()) << early.status();
  EXPECT_TRUE(early->leader);
  EXPECT_EQ(early->review_due, 0);

  Advance(absl::Hours(24 * 8));  // Past the 7-day review.
  v1::ListFindingsRequest due;
  due.set_review_due(true);
  v1::ListFindingsResponse found;
  ASSERT_TRUE(ledger_->ListFindings(Context().get(), due, &found).ok());
  EXPECT_EQ(found.findings_size(), 1);

  absl::StatusOr<SweepReport> report = sweep_->RunOnce();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->review_due, 1);
  v1::GetFindingResponse after;
  ASSERT_TRUE(GetFinding(kKey1, &after).ok());
  EXPECT_EQ(after.history(after.history_size() - 1).type(),
            v1::LEDGER_EVENT_TYPE_SWEEP_DECISION);
  EXPECT_THAT(after.history(after.history_size() - 1).note(),
              HasSubstr("review due"));
  EXPECT_FALSE(after.finding().review_due());
  EXPECT_EQ(sweep_->Counts().review_due, 1);
}

TEST_F(LedgerServiceTest, LedgerOffAnswersUnavailable) {
  Start(LedgerDownPolicy::kFailClosed, absl::Seconds(10), /*ledger_on=*/false);
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  v1::GetFindingResponse found;
  grpc::Status status = GetFinding(kKey1, &found);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("--ledger-off"));
}

TEST_F(LedgerServiceTest, DatabaseDownFailsClosedByDefault) {
  Start(LedgerDownPolicy::kFailClosed, absl::Milliseconds(200));
  WriteLock lock(ledger_path_);
  grpc::Status status =
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("not answered"));
  EXPECT_EQ(server_->recorder()->Counts().refused, 1);
}

// A stream goes on while the database is down: a chunk's decisions that
// were not recorded become UNAVAILABLE item errors, and the next message,
// with the database back, is recorded and answered in order.
TEST_F(LedgerServiceTest, StreamGoesOnWhileTheDatabaseIsDown) {
  Start(LedgerDownPolicy::kFailClosed, absl::Milliseconds(200));
  auto context = Context();
  auto stream = decide_->StreamDecide(context.get());
  v1::StreamDecideRequest chunk;
  *chunk.add_findings() = Vulnerability("s-1", "web-01", "CVE-2027-0001");
  *chunk.add_findings() = Vulnerability("s-2", "web-02", "CVE-2027-0002");
  // The sequence of an answer, then each result's error code (0 for a
  // decision).
  auto outcome = [](const v1::StreamDecideResponse& reply) {
    std::vector<int> codes = {static_cast<int>(reply.sequence())};
    for (const v1::DecisionResult& result : reply.results()) {
      codes.push_back(result.has_decision() ? 0 : result.error().code());
    }
    return codes;
  };
  constexpr int kUnavailable = static_cast<int>(grpc::StatusCode::UNAVAILABLE);
  v1::StreamDecideResponse reply;
  {
    WriteLock lock(ledger_path_);
    ASSERT_TRUE(stream->Write(chunk));
    ASSERT_TRUE(stream->Read(&reply));
  }
  EXPECT_THAT(outcome(reply), ElementsAre(0, kUnavailable, kUnavailable));
  ASSERT_TRUE(stream->Write(chunk));
  ASSERT_TRUE(stream->Read(&reply));
  EXPECT_THAT(outcome(reply), ElementsAre(1, 0, 0));
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&reply));
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(AllEvents().size(), 2u);
  EXPECT_EQ(server_->recorder()->Counts().refused, 2);
}

TEST_F(LedgerServiceTest, DatabaseDownCanAnswerAndCount) {
  Start(LedgerDownPolicy::kAnswerAndCount, absl::Milliseconds(200));
  {
    WriteLock lock(ledger_path_);
    EXPECT_TRUE(
        Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  }
  EXPECT_EQ(server_->recorder()->Counts().unrecorded, 1);
  EXPECT_THAT(server_->metrics()->Render(),
              HasSubstr("treatd_ledger_decisions_unrecorded_total{reason="
                        "\"database_down_answered\"} 1"));
  // The database is back: the next decision is recorded.
  ASSERT_TRUE(
      Decide(Vulnerability("f-2", "web-01", "CVE-2027-0002"), nullptr).ok());
  EXPECT_EQ(AllEvents().size(), 1u);
}

// Corrupts the SQLite file at `path` under a running server: every page
// but the first (the schema) is overwritten once the WAL is checkpointed
// into the file, and a commit from outside makes the server's connections
// drop the pages they cache, so its next transaction reads the damage.
void CorruptUnderTheServer(const std::string& path) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  int busy = -1;
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &stmt,
                               nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  busy = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  ASSERT_EQ(busy, 0) << "the WAL could not be checkpointed";
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const int64_t page_size = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(0, std::ios::end);
    const int64_t size = file.tellg();
    ASSERT_GT(size, 2 * page_size);
    file.seekp(page_size);
    file << std::string(size - page_size, '\x7f');
  }
  ASSERT_EQ(
      sqlite3_exec(db, "PRAGMA user_version = 7", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
}

// A database that fails in any way (here a file corrupted while the
// server runs, which SQLite reports as CORRUPT, not as BUSY or FULL) is a
// ledger that cannot commit: --ledger-down decides, as for a locked or
// unreachable one. Fail closed: UNAVAILABLE, saying what is wrong.
TEST_F(LedgerServiceTest, CorruptedWhileRunningFailsClosed) {
  Start(LedgerDownPolicy::kFailClosed, absl::Milliseconds(200));
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  CorruptUnderTheServer(ledger_path_);
  grpc::Status status =
      Decide(Vulnerability("f-2", "web-01", "CVE-2027-0002"), nullptr);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("not answered"));
  EXPECT_THAT(status.error_message(), HasSubstr("malformed"));
  EXPECT_EQ(server_->recorder()->Counts().refused, 1);
  EXPECT_EQ(server_->recorder()->Counts().rejected, 0);
  // A batch: the call fails whole, as its decisions were not recorded.
  v1::BatchDecideRequest batch;
  *batch.add_findings() = Vulnerability("b-1", "web-01", "CVE-2027-0003");
  v1::BatchDecideResponse answered;
  EXPECT_EQ(
      decide_->BatchDecide(Context().get(), batch, &answered).error_code(),
      grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(server_->recorder()->Counts().refused, 2);
}

// ... and answer and count: answered, and counted as unrecorded.
TEST_F(LedgerServiceTest, CorruptedWhileRunningCanAnswerAndCount) {
  Start(LedgerDownPolicy::kAnswerAndCount, absl::Milliseconds(200));
  ASSERT_TRUE(
      Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());
  CorruptUnderTheServer(ledger_path_);
  v1::Decision decision;
  const grpc::Status status =
      Decide(Vulnerability("f-2", "web-01", "CVE-2027-0002"), &decision);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(decision.decision_id().empty());
  EXPECT_EQ(server_->recorder()->Counts().unrecorded, 1);
  EXPECT_EQ(server_->recorder()->Counts().rejected, 0);
  EXPECT_THAT(server_->metrics()->Render(),
              HasSubstr("treatd_ledger_decisions_unrecorded_total{reason="
                        "\"database_down_answered\"} 1"));
  EXPECT_THAT(log_.str(), HasSubstr("malformed"));
}

// PostgreSQL restarting under a running server, with either --ledger-down:
// while it is down every decision is refused UNAVAILABLE (fail-closed) or
// answered and counted (answer-and-count), never an INTERNAL item error;
// once it is back the next decision is recorded, and the client's retry of
// a refused one is recorded once.
class PostgresLedgerServiceTest : public LedgerServiceTest {
 protected:
  void RestartUnderTheServer(LedgerDownPolicy down) {
    std::string why;
    std::unique_ptr<testing::PostgresServer> pg =
        testing::PostgresServer::Start(&why);
    if (pg == nullptr) GTEST_SKIP() << why;
    ledger_url_ = "postgresql:" + pg->CreateDatabase("ledger_down");
    Start(down, /*lock_timeout=*/absl::Seconds(2));
    ASSERT_TRUE(
        Decide(Vulnerability("f-1", "web-01", "CVE-2027-0001"), nullptr).ok());

    // Restarted between two calls: the next one is recorded.
    ASSERT_TRUE(pg->Stop());
    ASSERT_TRUE(pg->Restart());
    ASSERT_TRUE(
        Decide(Vulnerability("f-2", "web-01", "CVE-2027-0002"), nullptr).ok());
    EXPECT_EQ(server_->recorder()->Counts().recorded, 2);

    // Down.
    ASSERT_TRUE(pg->Stop());
    v1::DecideRequest request;
    *request.mutable_finding() =
        Vulnerability("f-3", "web-01", "CVE-2027-0003");
    ToProtoTime(Now(), request.mutable_as_of());  // a retry is the same
    for (int i = 0; i < 2; ++i) {
      v1::DecideResponse response;
      const grpc::Status status =
          decide_->Decide(Context().get(), request, &response);
      if (down == LedgerDownPolicy::kFailClosed) {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
            << status.error_message();
        EXPECT_THAT(status.error_message(), HasSubstr("postgresql"));
      } else {
        EXPECT_TRUE(status.ok()) << status.error_message();
        EXPECT_FALSE(response.decision().decision_id().empty());
      }
    }
    const RecorderCounts down_counts = server_->recorder()->Counts();
    EXPECT_EQ(down_counts.rejected, 0);
    EXPECT_EQ(down == LedgerDownPolicy::kFailClosed ? down_counts.refused
                                                    : down_counts.unrecorded,
              2);
    EXPECT_THAT(log_.str(), HasSubstr("ledger commit failed"));

    // Back: the retry is recorded, once.
    ASSERT_TRUE(pg->Restart());
    for (int i = 0; i < 2; ++i) {
      v1::DecideResponse response;
      const grpc::Status status =
          decide_->Decide(Context().get(), request, &response);
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    EXPECT_EQ(AllEvents().size(), 3u);
    v1::VerifyLedgerResponse report;
    ASSERT_TRUE(
        ledger_
            ->VerifyLedger(Context().get(), v1::VerifyLedgerRequest(), &report)
            .ok());
    EXPECT_TRUE(report.ok()) << report.problem();
    server_.reset();  // before the database goes
  }
};

TEST_F(PostgresLedgerServiceTest, RestartWhileRunningFailsClosed) {
  RestartUnderTheServer(LedgerDownPolicy::kFailClosed);
}

TEST_F(PostgresLedgerServiceTest, RestartWhileRunningCanAnswerAndCount) {
  RestartUnderTheServer(LedgerDownPolicy::kAnswerAndCount);
}

// A unary Decide is watched only while its answer waits for the ledger's
// commit (TreatmentServiceImpl::Decide); that watch is what ends a call
// stuck behind a locked database at --max-call-seconds, and the decision is
// still recorded, once, when the database is back (docs/ledger.md).
TEST_F(LedgerServiceTest, DecideWaitingForTheLedgerIsCutOffAtTheCallCeiling) {
  max_call_ = absl::Milliseconds(300);
  // The commit waits for the lock far longer than the ceiling.
  Start(LedgerDownPolicy::kFailClosed, /*lock_timeout=*/absl::Seconds(10));
  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability("f-1", "web-01", "CVE-2027-0001");
  // Set so that the retry below is the same decision (docs/ledger.md).
  ToProtoTime(Now(), request.mutable_as_of());
  const uint64_t watches = server_->governor()->watches_started();
  {
    WriteLock lock(ledger_path_);
    grpc::ClientContext context;
    // The client allows more than the server: only the ceiling can end it.
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::DecideResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = decide_->Decide(&context, request, &response);
    const absl::Duration took = absl::Now() - start;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_THAT(status.error_message(), HasSubstr("--max-call-seconds"));
    // The ceiling plus at most one 100 ms scan, with slack for a busy machine.
    EXPECT_GE(took, absl::Milliseconds(300));
    EXPECT_LT(took, absl::Seconds(2));
    EXPECT_EQ(server_->governor()->watches_started(), watches + 1);
  }
  // The lock is gone: the held-up decision commits although its caller
  // was cut off. (The watchdog counts its cut-off just after cancelling.)
  const std::string cut_off =
      "treatd_rpc_rejected_total{reason=\"time_limit\"} 1";
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while ((server_->recorder()->Counts().recorded < 1 ||
          !absl::StrContains(server_->metrics()->Render(), cut_off)) &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(server_->metrics()->Render(), HasSubstr(cut_off));
  ASSERT_EQ(server_->recorder()->Counts().recorded, 1);
  // The client's retry is answered and recorded nothing twice.
  v1::DecideResponse retried;
  ASSERT_TRUE(decide_->Decide(Context().get(), request, &retried).ok());
  const std::vector<v1::LedgerEvent> events = AllEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].decision().decision_id(),
            retried.decision().decision_id());
  EXPECT_EQ(server_->recorder()->Counts().refused, 0);
}

// Without the ledger nothing waits: a Decide whose deadline is past the
// ceiling is answered at once and never watched (the watch costs a lock, a
// table entry and a call reference per call). A BatchDecide is.
TEST_F(LedgerServiceTest, LedgerOffDecideIsNeverWatched) {
  max_call_ = absl::Milliseconds(300);
  Start(LedgerDownPolicy::kFailClosed, absl::Seconds(10), /*ledger_on=*/false);
  const uint64_t watches = server_->governor()->watches_started();
  for (int i = 0; i < 20; ++i) {
    v1::Decision decision;
    // Context(): a 20 s deadline, past the 300 ms ceiling.
    ASSERT_TRUE(
        Decide(Vulnerability(absl::StrCat("f-", i), "web-01", "CVE-2027-0001"),
               &decision)
            .ok());
    EXPECT_FALSE(decision.decision_id().empty());
  }
  EXPECT_EQ(server_->governor()->watches_started(), watches);
  v1::BatchDecideRequest batch;
  *batch.add_findings() = Vulnerability("f-b", "web-01", "CVE-2027-0001");
  v1::BatchDecideResponse answered;
  ASSERT_TRUE(decide_->BatchDecide(Context().get(), batch, &answered).ok());
  EXPECT_EQ(server_->governor()->watches_started(), watches + 1);
  EXPECT_THAT(server_->metrics()->Render(),
              Not(HasSubstr("reason=\"time_limit\"")));
}

}  // namespace
}  // namespace treatd
