// Two treatd processes on one real PostgreSQL ledger (a throwaway server,
// tests/support/postgres_server.h) under round-robin load: every
// acknowledged decision is recorded exactly once, the chain verifies, and
// the revisit sweep runs on one replica only — each review-due mitigation
// is decided again exactly once.
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ledger/ledger.h"
#include "common/time/proto_time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/server/subprocess.h"
#include "tests/support/postgres_server.h"
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

TEST(LedgerReplicasTest, TwoReplicasRecordEveryDecisionOnceAndSweepOnce) {
  std::string why;
  auto pg = testing::PostgresServer::Start(&why);
  if (pg == nullptr && why.find("not found") != std::string::npos) {
    GTEST_SKIP() << why;
  }
  ASSERT_NE(pg, nullptr) << why;
  const std::string conninfo = pg->CreateDatabase("replicas");
  ASSERT_FALSE(conninfo.empty());
  const std::string policy = absl::StrCat(
      ::testing::TempDir(), "/ledger_replicas_", getpid(), ".yaml");
  std::ofstream(policy) << kPolicy;

  struct Replica {
    std::unique_ptr<Subprocess> process;
    std::string address;
    std::unique_ptr<v1::TreatmentService::Stub> decide;
    std::unique_ptr<v1::LedgerService::Stub> ledger;
  };
  std::vector<Replica> replicas(2);
  for (Replica& replica : replicas) {
    replica.process = Subprocess::Start(
        {TREATD_BINARY, "--listen", "127.0.0.1:0", "--policy", policy, "--kev",
         "", "--epss", "", "--metrics-listen", "", "--ledger-postgres",
         conninfo, "--ledger-sweep-seconds", "1"});
    ASSERT_NE(replica.process, nullptr);
    std::string banner;
    ASSERT_TRUE(replica.process->ReadStdoutLine(&banner, absl::Seconds(30)))
        << replica.process->stderr_text();
    replica.address = AddressFromBanner(banner);
    ASSERT_FALSE(replica.address.empty()) << banner;
    auto channel = grpc::CreateChannel(replica.address,
                                       grpc::InsecureChannelCredentials());
    replica.decide = v1::TreatmentService::NewStub(channel);
    replica.ledger = v1::LedgerService::NewStub(channel);
  }

  // Round robin: call i goes to replica i % 2, from four clients at once;
  // unary calls and batches of 5. Mitigations are decided 30 days ago, so
  // their review is already due.
  constexpr int kClients = 4;
  constexpr int kCallsPerClient = 60;
  const absl::Time past = absl::Now() - absl::Hours(24 * 30);
  absl::Mutex mu;
  std::set<std::string> acknowledged;
  std::vector<v1::Finding> mitigations;
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kCallsPerClient; ++i) {
        Replica& replica = replicas[(c + i) % 2];
        const int base = (c * kCallsPerClient + i) * 5;
        std::vector<std::string> ids;
        if (i % 2 == 0) {
          v1::DecideRequest request;
          const bool low = i % 6 == 0;
          *request.mutable_finding() = Numbered(base, low);
          if (low) ToProtoTime(past, request.mutable_as_of());
          v1::DecideResponse response;
          if (!replica.decide->Decide(Context().get(), request, &response)
                   .ok()) {
            ++failures;
            continue;
          }
          ids.push_back(response.decision().decision_id());
          if (low) {
            absl::MutexLock lock(&mu);
            mitigations.push_back(request.finding());
          }
        } else {
          v1::BatchDecideRequest request;
          for (int k = 0; k < 5; ++k) {
            *request.add_findings() = Numbered(base + k, false);
          }
          v1::BatchDecideResponse response;
          if (!replica.decide->BatchDecide(Context().get(), request, &response)
                   .ok()) {
            ++failures;
            continue;
          }
          for (const auto& result : response.results()) {
            if (result.has_decision()) {
              ids.push_back(result.decision().decision_id());
            } else {
              ++failures;
            }
          }
        }
        absl::MutexLock lock(&mu);
        acknowledged.insert(ids.begin(), ids.end());
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_FALSE(mitigations.empty());

  // The mitigations are reported (alternating replicas) 30 days ago + 1h:
  // now they are mitigated and past their review date.
  for (size_t i = 0; i < mitigations.size(); ++i) {
    v1::ReportOutcomeRequest request;
    *request.mutable_finding() = mitigations[i];
    request.set_outcome(v1::OUTCOME_KIND_MITIGATED);
    request.set_control("segmentation");
    ToProtoTime(past + absl::Hours(1), request.mutable_occurred_at());
    v1::ReportOutcomeResponse response;
    grpc::Status status = replicas[i % 2].ledger->ReportOutcome(
        Context().get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Wait (bounded) until every mitigation has been swept, then a few more
  // sweep intervals to see that none is swept twice.
  ledger::LedgerOptions options;
  options.url = absl::StrCat("postgresql:", conninfo);
  auto ledger = ledger::Ledger::Open(options);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  auto count_events = [&](std::map<std::string, int>* decisions,
                          std::map<std::string, int>* sweeps) {
    decisions->clear();
    sweeps->clear();
    int64_t after = 0;
    while (true) {
      auto events = (*ledger)->ListEvents(after, 10000);
      if (!events.ok() || events->empty()) return;
      for (const ledger::Event& event : *events) {
        if (event.kind == ledger::EventKind::kDecision) {
          ++(*decisions)[event.decision.decision_id];
        } else if (event.kind == ledger::EventKind::kSweepDecision) {
          ++(*sweeps)[event.finding_key];
        }
        after = event.seq;
      }
    }
  };
  std::map<std::string, int> decisions, sweeps;
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (absl::Now() < give_up) {
    count_events(&decisions, &sweeps);
    if (sweeps.size() >= mitigations.size()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  absl::SleepFor(absl::Seconds(3));
  count_events(&decisions, &sweeps);

  // Exactly once: every acknowledged decision once, nothing else.
  int missing = 0, doubled = 0;
  for (const std::string& id : acknowledged) {
    auto it = decisions.find(id);
    if (it == decisions.end()) {
      ++missing;
    } else if (it->second != 1) {
      ++doubled;
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(doubled, 0);
  EXPECT_EQ(decisions.size(), acknowledged.size());
  // One sweep: each review-due mitigation decided again exactly once.
  EXPECT_EQ(sweeps.size(), mitigations.size());
  for (const auto& [key, count] : sweeps) EXPECT_EQ(count, 1) << key;
  auto verified = (*ledger)->Verify();
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;

  // Only one replica ran sweep passes that changed something.
  int sweeping = 0;
  for (Replica& replica : replicas) {
    replica.process->Signal(SIGTERM);
    EXPECT_EQ(replica.process->Wait(absl::Seconds(30)), 0);
    sweeping += replica.process->stderr_text().find("\"revisit sweep\"") !=
                std::string::npos;
  }
  EXPECT_EQ(sweeping, 1);
  std::cout << "two replicas: " << acknowledged.size()
            << " acknowledged decisions, " << decisions.size()
            << " recorded (missing " << missing << ", twice " << doubled
            << "); " << mitigations.size() << " review-due mitigations, "
            << sweeps.size() << " swept once by " << sweeping
            << " replica; chain " << (verified->ok ? "verifies" : "BROKEN")
            << " over " << verified->events_checked << " events\n";
}

}  // namespace
}  // namespace treatd
