// Three treatd replicas on one real PostgreSQL ledger (a throwaway server,
// tests/support/postgres_server.h), driven through ONE client channel that
// round-robins over their three addresses with a retry policy, one replica
// killed with SIGKILL mid-load and restarted on its port: every
// acknowledged decision is recorded exactly once, the chain verifies, the
// revisit sweep decides each review-due mitigation again exactly once
// across the replicas, the KPIs are byte-identical whichever replica
// answers, and no client call fails. A second test changes the shared
// policy file and sees every replica serve the new digest.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ledger/ledger.h"
#include "common/time/proto_time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/server/subprocess.h"
#include "tests/support/postgres_server.h"
#include "treatd/v1/admin_service.grpc.pb.h"
#include "treatd/v1/ledger_service.grpc.pb.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using testing::Subprocess;

// Low-criticality assets: MITIGATE P3 with a 7-day review; the rest
// REMEDIATE P3.
constexpr char kPolicy[] = R"yaml(name: replicas-test
version: "1"
priorities:
  - name: P3
    mitigate_within: 7d
    remediate_within: 30d
    review_within: 7d
rules:
  - id: low-asset
    when: asset.criticality == "LOW"
    treatment: MITIGATE
    priority: P3
default:
  treatment: REMEDIATE
  priority: P3
)yaml";

std::string AddressFromBanner(const std::string& banner) {
  const std::string prefix = "treatd listening on ";
  const size_t end = banner.find(';');
  if (banner.rfind(prefix, 0) != 0 || end == std::string::npos) return "";
  return banner.substr(prefix.size(), end - prefix.size());
}

v1::Finding Numbered(int n, bool low) {
  v1::Finding finding;
  finding.set_id(absl::StrCat("r-", n));
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_asset()->set_id(absl::StrCat("host-", n % 17));
  if (low) finding.mutable_asset()->set_criticality(v1::CRITICALITY_LOW);
  finding.mutable_vulnerability()->set_cve_id(
      absl::StrCat("CVE-2027-", 20000 + n));
  return finding;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  return context;
}

// One treatd replica: its process, address and direct stubs (for the
// per-replica checks; the load goes through the shared channel).
struct Replica {
  std::unique_ptr<Subprocess> process;
  std::string address;
  std::unique_ptr<v1::LedgerService::Stub> ledger;
  std::unique_ptr<v1::AdminService::Stub> admin;
};

// Starts treatd on `listen` against the shared ledger and policy; fills
// `replica` and returns "" or why it failed.
std::string StartReplica(const std::string& listen, const std::string& policy,
                         const std::string& conninfo, Replica* replica) {
  // Warnings only: the test reads stderr only at exit, and a chatty server
  // would fill the pipe.
  replica->process = Subprocess::Start(
      {TREATD_BINARY, "--listen", listen, "--policy", policy, "--kev", "",
       "--epss", "", "--metrics-listen", "", "--ledger-postgres", conninfo,
       "--ledger-sweep-seconds", "1", "--reload-poll-ms", "200", "--log-level",
       "warning"});
  if (replica->process == nullptr) return "cannot start treatd";
  std::string banner;
  if (!replica->process->ReadStdoutLine(&banner, absl::Seconds(60))) {
    return absl::StrCat("no banner: ", replica->process->stderr_text());
  }
  replica->address = AddressFromBanner(banner);
  if (replica->address.empty()) return absl::StrCat("bad banner: ", banner);
  auto channel =
      grpc::CreateChannel(replica->address, grpc::InsecureChannelCredentials());
  replica->ledger = v1::LedgerService::NewStub(channel);
  replica->admin = v1::AdminService::NewStub(channel);
  return "";
}

// The client side of a replicated treatd: one channel over every address,
// round robin, UNAVAILABLE retried (on another replica: round robin picks
// again for each attempt). gRPC retries an attempt only while the call is
// not committed — no response headers received — so a call whose replica
// died before answering is retried, one that got an answer never is. The
// replica may have recorded the decision before it died: the retry carries
// the same request (same as_of), so the same decision_id, which is the
// ledger's idempotency key — recorded once. Reconnect backoff is short so
// the channel picks a restarted replica up again within a second.
std::shared_ptr<grpc::Channel> RoundRobinChannel(
    const std::vector<std::string>& addresses) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(R"json({
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [{
      "name": [{"service": "treatd.v1.TreatmentService"},
               {"service": "treatd.v1.LedgerService"},
               {"service": "treatd.v1.AdminService"}],
      "retryPolicy": {
        "maxAttempts": 5,
        "initialBackoff": "0.05s",
        "maxBackoff": "1s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"]
      }
    }]
  })json");
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(
      absl::StrCat("ipv4:", absl::StrJoin(addresses, ",")),
      grpc::InsecureChannelCredentials(), args);
}

// A throwaway PostgreSQL, a policy file and three replicas on both.
class LedgerReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    pg_ = testing::PostgresServer::Start(&why);
    if (pg_ == nullptr && why.find("not found") != std::string::npos) {
      GTEST_SKIP() << why;
    }
    ASSERT_NE(pg_, nullptr) << why;
    conninfo_ = pg_->CreateDatabase("replicas");
    ASSERT_FALSE(conninfo_.empty());
    policy_ = absl::StrCat(::testing::TempDir(), "/ledger_replicas_", getpid(),
                           ".yaml");
    std::ofstream(policy_) << kPolicy;
    replicas_.resize(3);
    for (Replica& replica : replicas_) {
      ASSERT_EQ(StartReplica("127.0.0.1:0", policy_, conninfo_, &replica), "");
      addresses_.push_back(replica.address);
    }
  }

  std::unique_ptr<testing::PostgresServer> pg_;
  std::string conninfo_;
  std::string policy_;
  std::vector<Replica> replicas_;
  std::vector<std::string> addresses_;
};

TEST_F(LedgerReplicasTest, ThreeReplicasSurviveSigkillRecordOnceAndAgree) {
  const std::string& conninfo = conninfo_;
  const std::string& policy = policy_;
  std::vector<Replica>& replicas = replicas_;
  const std::vector<std::string>& addresses = addresses_;
  auto channel = RoundRobinChannel(addresses);
  auto decide = v1::TreatmentService::NewStub(channel);

  // Four clients on the one channel, unary calls and batches of 5, until
  // the victim has been killed, restarted, and kAfterRestart more calls
  // have been answered (bounded by kLoadLimit). Every request carries its
  // as_of, so a retried one is the same decision. Mitigations are decided
  // 30 days ago, so their review is already due.
  constexpr int kClients = 4;
  constexpr int kBeforeKill = 120;
  constexpr int kAfterRestart = 120;
  const absl::Duration kLoadLimit = absl::Seconds(90);
  const absl::Time past = absl::Now() - absl::Hours(24 * 30);
  absl::Mutex mu;
  std::set<std::string> acknowledged;
  std::vector<v1::Finding> mitigations;
  // The calls after the sweep check (n % 6 == 0) decide more low-asset
  // findings; only those decided before the outcomes are reported
  // mitigated.
  size_t mitigations_reported = 0;
  std::map<grpc::StatusCode, int> failures;
  std::atomic<int> calls{0}, answered{0}, in_flight{0}, next{0};
  std::atomic<bool> stop{false};
  auto one_call = [&](int n) {
    const int base = n * 5;
    std::vector<std::string> ids;
    grpc::Status status;
    ++in_flight;
    if (n % 2 == 0) {
      v1::DecideRequest request;
      const bool low = n % 6 == 0;
      *request.mutable_finding() = Numbered(base, low);
      ToProtoTime(low ? past : absl::Now(), request.mutable_as_of());
      v1::DecideResponse response;
      status = decide->Decide(Context().get(), request, &response);
      if (status.ok()) {
        ids.push_back(response.decision().decision_id());
        if (low) {
          absl::MutexLock lock(&mu);
          mitigations.push_back(request.finding());
        }
      }
    } else {
      v1::BatchDecideRequest request;
      for (int k = 0; k < 5; ++k) {
        *request.add_findings() = Numbered(base + k, false);
      }
      ToProtoTime(absl::Now(), request.mutable_as_of());
      v1::BatchDecideResponse response;
      status = decide->BatchDecide(Context().get(), request, &response);
      for (const auto& result : response.results()) {
        if (result.has_decision()) {
          ids.push_back(result.decision().decision_id());
        } else {
          status = grpc::Status(grpc::StatusCode::INTERNAL, "item error");
        }
      }
    }
    --in_flight;
    ++calls;
    absl::MutexLock lock(&mu);
    if (!status.ok()) {
      ++failures[status.error_code()];
      ADD_FAILURE() << "call " << n << ": " << status.error_code() << " "
                    << status.error_message();
      return;
    }
    ++answered;
    acknowledged.insert(ids.begin(), ids.end());
  };
  const absl::Time load_deadline = absl::Now() + kLoadLimit;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      while (!stop.load() && absl::Now() < load_deadline) one_call(next++);
    });
  }
  auto wait_answered = [&](int count) {
    while (answered.load() < count && absl::Now() < load_deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  };

  // Mid-load: SIGKILL one replica (no drain, no lease release), keep the
  // load on for a second, restart it on the same port.
  wait_answered(kBeforeKill);
  Replica& victim = replicas[1];
  const int in_flight_at_kill = in_flight.load();
  const int answered_at_kill = answered.load();
  victim.process->Signal(SIGKILL);
  EXPECT_EQ(victim.process->Wait(absl::Seconds(30)), 128 + SIGKILL);
  absl::SleepFor(absl::Seconds(1));
  const int answered_while_down = answered.load() - answered_at_kill;
  const std::string victim_address = victim.address;
  ASSERT_EQ(StartReplica(victim_address, policy, conninfo, &victim), "");
  ASSERT_EQ(victim.address, victim_address);
  wait_answered(answered.load() + kAfterRestart);
  stop = true;
  for (std::thread& client : clients) client.join();
  int failed = 0;
  for (const auto& [code, count] : failures) failed += count;
  EXPECT_EQ(failed, 0);
  ASSERT_GT(answered_while_down, 0);
  ASSERT_FALSE(mitigations.empty());

  // The mitigations are reported through the channel 30 days ago + 1h:
  // now they are mitigated and past their review date.
  auto ledger_rr = v1::LedgerService::NewStub(channel);
  mitigations_reported = mitigations.size();
  for (const v1::Finding& finding : mitigations) {
    v1::ReportOutcomeRequest request;
    *request.mutable_finding() = finding;
    request.set_outcome(v1::OUTCOME_KIND_MITIGATED);
    request.set_control("segmentation");
    request.set_idempotency_key(absl::StrCat("mitigated:", finding.id()));
    ToProtoTime(past + absl::Hours(1), request.mutable_occurred_at());
    v1::ReportOutcomeResponse response;
    grpc::Status status =
        ledger_rr->ReportOutcome(Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Wait (bounded) until every mitigation has been swept, then a few more
  // sweep intervals to see that none is swept twice.
  ledger::LedgerOptions options;
  options.url = absl::StrCat("postgresql:", conninfo);
  auto ledger = ledger::Ledger::Open(options);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  // review_due notices per finding, filled by count_events.
  std::map<std::string, int> review_notices;
  auto count_events = [&](std::map<std::string, int>* decisions,
                          std::map<std::string, int>* sweeps) {
    decisions->clear();
    sweeps->clear();
    review_notices.clear();
    int64_t after = 0;
    while (true) {
      auto events = (*ledger)->ListEvents(after, 10000);
      if (!events.ok() || events->empty()) return;
      for (const ledger::Event& event : *events) {
        if (event.kind == ledger::EventKind::kDecision) {
          ++(*decisions)[event.decision.decision_id];
        } else if (event.kind == ledger::EventKind::kSweepDecision) {
          ++(*sweeps)[event.finding_key];
        } else if (event.kind == ledger::EventKind::kReviewDue) {
          ++review_notices[event.finding_key];
        }
        after = event.seq;
      }
    }
  };
  std::map<std::string, int> decisions, sweeps;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    count_events(&decisions, &sweeps);
    if (sweeps.size() >= mitigations_reported) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  absl::SleepFor(absl::Seconds(4));

  // KPIs: the same request to each replica directly gives the same bytes.
  v1::GetKpisRequest kpis_request;
  ToProtoTime(absl::Now(), kpis_request.mutable_as_of());
  kpis_request.add_group_by(v1::KPI_GROUP_BY_PRIORITY);
  kpis_request.add_group_by(v1::KPI_GROUP_BY_KIND);
  std::vector<std::string> kpis;
  for (Replica& replica : replicas) {
    v1::GetKpisResponse response;
    grpc::Status status =
        replica.ledger->GetKpis(Context().get(), kpis_request, &response);
    ASSERT_TRUE(status.ok())
        << replica.address << ": " << status.error_message();
    std::string bytes;
    ASSERT_TRUE(response.SerializeToString(&bytes));
    kpis.push_back(bytes);
    EXPECT_GT(response.total().open(), 0) << response.DebugString();
  }
  EXPECT_EQ(kpis[0], kpis[1]);
  EXPECT_EQ(kpis[0], kpis[2]);

  // The channel took the restarted replica back: with the other two shut
  // down, calls through it still succeed, so they reach the victim.
  for (Replica& replica : replicas) {
    if (&replica == &victim) continue;
    replica.process->Signal(SIGTERM);
    EXPECT_EQ(replica.process->Wait(absl::Seconds(30)), 0);
  }
  const int before_alone = answered.load();
  for (int i = 0; i < 10; ++i) one_call(next++);
  EXPECT_EQ(answered.load() - before_alone, 10);

  count_events(&decisions, &sweeps);
  // Exactly once: every acknowledged decision once, nothing else.
  int lost = 0, duplicates = 0;
  for (const std::string& id : acknowledged) {
    auto it = decisions.find(id);
    if (it == decisions.end()) {
      ++lost;
    } else if (it->second != 1) {
      ++duplicates;
    }
  }
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicates, 0);
  // A decision the victim recorded but could not answer is retried and
  // acknowledged under the same id: nothing recorded is unacknowledged.
  EXPECT_EQ(decisions.size(), acknowledged.size());
  // One sweep: each review-due mitigation decided again exactly once.
  EXPECT_EQ(sweeps.size(), mitigations_reported);
  int swept_twice = 0;
  for (const auto& [key, count] : sweeps) {
    EXPECT_EQ(count, 1) << key;
    swept_twice += count != 1;
  }
  // One review_due notice per mitigation, before its sweep decision.
  EXPECT_EQ(review_notices.size(), mitigations_reported);
  int noticed_twice = 0;
  for (const auto& [key, count] : review_notices) {
    EXPECT_EQ(count, 1) << key;
    noticed_twice += count != 1;
  }
  auto verified = (*ledger)->Verify();
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;

  victim.process->Signal(SIGTERM);
  EXPECT_EQ(victim.process->Wait(absl::Seconds(30)), 0);
  std::cout << "three replicas, one SIGKILLed at call " << answered_at_kill
            << " with " << in_flight_at_kill << " calls in flight, "
            << answered_while_down
            << " answered while it was down, restarted on " << victim_address
            << ": calls " << calls.load() << ", client failures " << failed
            << ", acknowledged decisions " << acknowledged.size()
            << ", recorded " << decisions.size() << ", lost " << lost
            << ", duplicates " << duplicates << "; review-due mitigations "
            << mitigations_reported << ", swept " << sweeps.size()
            << " (twice: " << swept_twice << "), review_due notices "
            << review_notices.size() << " (twice: " << noticed_twice
            << "); KPIs byte-equal on 3 "
            << "replicas: " << (kpis[0] == kpis[1] && kpis[0] == kpis[2])
            << "; chain " << (verified->ok ? "verifies" : "BROKEN") << " over "
            << verified->events_checked << " events\n";
}

TEST_F(LedgerReplicasTest, PolicyReloadReachesEveryReplica) {
  const std::string& policy = policy_;
  std::vector<Replica>& replicas = replicas_;
  auto digests = [&] {
    std::vector<std::string> found;
    for (Replica& replica : replicas) {
      v1::GetStatusResponse status;
      grpc::Status call = replica.admin->GetStatus(
          Context().get(), v1::GetStatusRequest(), &status);
      found.push_back(call.ok() ? status.policy().digest()
                                : call.error_message());
    }
    return found;
  };
  const std::vector<std::string> before = digests();
  ASSERT_FALSE(before[0].empty());
  EXPECT_EQ(before[1], before[0]);
  EXPECT_EQ(before[2], before[0]);

  // A new version of the shared file, written aside and renamed into place
  // (as a ConfigMap update does): each replica's poll sees it.
  std::string changed = kPolicy;
  changed.replace(changed.find("version: \"1\""), 12, "version: \"2\"");
  changed.replace(changed.find("review_within: 7d"), 17, "review_within: 3d");
  const std::string aside = policy + ".new";
  std::ofstream(aside) << changed;
  ASSERT_EQ(std::rename(aside.c_str(), policy.c_str()), 0);

  std::vector<std::string> after;
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    after = digests();
    if (after[0] != before[0] && after[1] == after[0] && after[2] == after[0]) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_NE(after[0], before[0]);
  EXPECT_EQ(after[1], after[0]);
  EXPECT_EQ(after[2], after[0]);

  // treatctl status asks each replica and says whether they agree; with
  // one replica gone it names it and exits 4.
  const std::vector<std::string>& addresses = addresses_;
  auto status = Subprocess::Start(
      {TREATCTL_BINARY, "status", "--target", absl::StrJoin(addresses, ",")});
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->Wait(absl::Seconds(60)), 0) << status->stderr_text();
  EXPECT_THAT(status->stdout_text(),
              ::testing::HasSubstr(absl::StrCat(
                  "3 of 3 replicas answered, all run digest ", after[0])));
  EXPECT_THAT(status->stdout_text(), ::testing::HasSubstr("replicas-test"));
  std::cout << status->stdout_text();
  replicas[2].process->Signal(SIGTERM);
  EXPECT_EQ(replicas[2].process->Wait(absl::Seconds(30)), 0);
  status = Subprocess::Start({TREATCTL_BINARY, "status", "--target",
                              absl::StrJoin(addresses, ","), "--timeout", "2"});
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(status->Wait(absl::Seconds(60)), 4);
  EXPECT_THAT(status->stdout_text(),
              ::testing::HasSubstr(
                  absl::StrCat(addresses[2], "  unreachable: UNAVAILABLE")));
  EXPECT_THAT(status->stdout_text(),
              ::testing::HasSubstr("2 of 3 replicas answered"));
  replicas.pop_back();
  for (Replica& replica : replicas) {
    replica.process->Signal(SIGTERM);
    EXPECT_EQ(replica.process->Wait(absl::Seconds(30)), 0);
  }
  std::cout << "policy reload: digest " << before[0] << " -> " << after[0]
            << " on all 3 replicas\n";
}

}  // namespace
}  // namespace treatd
