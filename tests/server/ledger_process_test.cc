// The treatd binary with its SQLite ledger, as a process: kill -9 after
// acknowledged decisions loses none of them and the chain still verifies;
// a corrupt or locked ledger file stops the start with exit code 4 and a
// clear message.
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ledger/ledger.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/server/subprocess.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;
using testing::Subprocess;

std::string TempPath(const std::string& name) {
  const std::string path = absl::StrCat(
      ::testing::TempDir(), "/ledger_process_test_", getpid(), "_", name);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove(absl::StrCat(path, suffix).c_str());
  }
  return path;
}

std::string AddressFromBanner(const std::string& banner) {
  const std::string prefix = "treatd listening on ";
  const size_t end = banner.find(';');
  if (banner.rfind(prefix, 0) != 0 || end == std::string::npos) return "";
  return banner.substr(prefix.size(), end - prefix.size());
}

std::unique_ptr<Subprocess> StartTreatd(const std::string& policy,
                                        const std::string& ledger) {
  return Subprocess::Start({TREATD_BINARY, "--listen", "127.0.0.1:0",
                            "--policy", policy, "--kev", "", "--epss", "",
                            "--metrics-listen", "", "--ledger", ledger,
                            "--ledger-sweep-seconds", "0"});
}

v1::Finding Numbered(int thread, int n) {
  v1::Finding finding;
  finding.set_id(absl::StrCat("t", thread, "-", n));
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_asset()->set_id(absl::StrCat("host-", thread));
  finding.mutable_vulnerability()->set_cve_id(
      absl::StrCat("CVE-2027-", 10000 + n));
  return finding;
}

TEST(LedgerProcessTest, KillNineLosesNoAcknowledgedDecision) {
  const std::string policy = TempPath("policy.yaml");
  std::ofstream(policy) << testing::kGoodPolicy;
  const std::string ledger_path = TempPath("kill9.db");
  auto process = StartTreatd(policy, ledger_path);
  ASSERT_NE(process, nullptr);
  std::string banner;
  ASSERT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(30)))
      << process->stderr_text();
  const std::string address = AddressFromBanner(banner);
  ASSERT_FALSE(address.empty()) << banner;
  std::string ledger_line;
  ASSERT_TRUE(process->ReadStdoutLine(&ledger_line, absl::Seconds(5)));
  EXPECT_THAT(ledger_line, HasSubstr(ledger_path));

  // Eight clients decide as fast as they can (unary, batches of 10 and
  // stream chunks of 10, each answered only once recorded); once 600
  // decisions are acknowledged, treatd is killed mid-flight.
  constexpr int kThreads = 8;
  constexpr int kTarget = 600;
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::TreatmentService::NewStub(channel);
  absl::Mutex mu;
  std::set<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int t = 0; t < kThreads; ++t) {
    clients.emplace_back([&, t] {
      for (int n = 0; !stop.load(); ++n) {
        grpc::ClientContext context;
        context.set_deadline(
            absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
        std::vector<std::string> ids;
        if (n % 3 == 2) {
          // A chunk on a stream: its answer is acknowledged as it arrives.
          auto stream = stub->StreamDecide(&context);
          v1::StreamDecideRequest request;
          for (int i = 0; i < 10; ++i) {
            *request.add_findings() = Numbered(t, n * 10 + i);
          }
          v1::StreamDecideResponse response;
          if (!stream->Write(request) || !stream->Read(&response)) return;
          for (const auto& result : response.results()) {
            if (result.has_decision()) {
              ids.push_back(result.decision().decision_id());
            }
          }
          {
            absl::MutexLock lock(&mu);
            acknowledged.insert(ids.begin(), ids.end());
          }
          stream->WritesDone();
          if (!stream->Finish().ok()) return;
          continue;
        }
        if (n % 3 == 0) {
          v1::DecideRequest request;
          *request.mutable_finding() = Numbered(t, n * 10);
          v1::DecideResponse response;
          if (!stub->Decide(&context, request, &response).ok()) return;
          ids.push_back(response.decision().decision_id());
        } else {
          v1::BatchDecideRequest request;
          for (int i = 0; i < 10; ++i) {
            *request.add_findings() = Numbered(t, n * 10 + i);
          }
          v1::BatchDecideResponse response;
          if (!stub->BatchDecide(&context, request, &response).ok()) return;
          for (const auto& result : response.results()) {
            if (result.has_decision()) {
              ids.push_back(result.decision().decision_id());
            }
          }
        }
        absl::MutexLock lock(&mu);
        acknowledged.insert(ids.begin(), ids.end());
      }
    });
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(60);
  while (absl::Now() < give_up) {
    {
      absl::MutexLock lock(&mu);
      if (acknowledged.size() >= kTarget) break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  process->Signal(SIGKILL);
  EXPECT_EQ(process->Wait(absl::Seconds(10)), 128 + SIGKILL);
  stop = true;
  for (std::thread& client : clients) client.join();

  // Every acknowledged decision is in the file, and the chain verifies.
  ledger::LedgerOptions options;
  options.url = ledger_path;
  auto ledger = ledger::Ledger::Open(options);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  auto verified = (*ledger)->Verify();
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;
  std::set<std::string> recorded;
  int64_t after = 0;
  while (true) {
    auto events = (*ledger)->ListEvents(after, 10000);
    ASSERT_TRUE(events.ok()) << events.status();
    if (events->empty()) break;
    for (const ledger::Event& event : *events) {
      recorded.insert(event.decision.decision_id);
      after = event.seq;
    }
  }
  absl::MutexLock lock(&mu);
  EXPECT_GE(acknowledged.size(), static_cast<size_t>(kTarget));
  int missing = 0;
  for (const std::string& id : acknowledged) missing += !recorded.count(id);
  EXPECT_EQ(missing, 0) << "of " << acknowledged.size() << " acknowledged";
  EXPECT_GE(recorded.size(), acknowledged.size());
  RecordProperty("acknowledged", static_cast<int>(acknowledged.size()));
  RecordProperty("recorded", static_cast<int>(recorded.size()));
  std::cout << "kill -9: " << acknowledged.size() << " acknowledged, "
            << recorded.size() << " recorded (" << verified->events_checked
            << " events, chain ok=" << verified->ok << "), missing " << missing
            << "\n";
}

TEST(LedgerProcessTest, ACorruptLedgerFileStopsTheStartWithExitCodeFour) {
  const std::string policy = TempPath("policy2.yaml");
  std::ofstream(policy) << testing::kGoodPolicy;
  const std::string ledger_path = TempPath("corrupt.db");
  {
    std::ofstream file(ledger_path, std::ios::binary);
    file << std::string(8192, 'x');
  }
  auto process = StartTreatd(policy, ledger_path);
  ASSERT_NE(process, nullptr);
  EXPECT_EQ(process->Wait(absl::Seconds(30)), 4);
  EXPECT_THAT(process->stderr_text(), HasSubstr("cannot open the ledger"));
  EXPECT_THAT(process->stderr_text(), HasSubstr(ledger_path));
}

TEST(LedgerProcessTest, ALockedLedgerFileStopsTheStartWithExitCodeFour) {
  const std::string policy = TempPath("policy3.yaml");
  std::ofstream(policy) << testing::kGoodPolicy;
  const std::string ledger_path = TempPath("locked.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(ledger_path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE other(x); BEGIN EXCLUSIVE", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  auto process = StartTreatd(policy, ledger_path);
  ASSERT_NE(process, nullptr);
  EXPECT_EQ(process->Wait(absl::Seconds(60)), 4);
  EXPECT_THAT(process->stderr_text(), HasSubstr("cannot open the ledger"));
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

}  // namespace
}  // namespace treatd
