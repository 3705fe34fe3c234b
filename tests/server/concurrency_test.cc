// The server's shared state under concurrent use, without gRPC traffic:
// the policy store (snapshots decided against while writers swap them),
// the tokens store (lookups while the file is rewritten and reloaded), the
// call governor's slots, and the decision recorder with the ledger's group
// committer behind it (handlers on many threads, one recorder thread, a
// real SQLite file). Written for ThreadSanitizer (make test runs
// this binary in the TSan stage): each test drives many threads through
// the same objects; the assertions check what every reader must see.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/ledger/ledger.h"
#include "common/policy/engine/compiled_policy.h"
#include "gtest/gtest.h"
#include "server/call_governor.h"
#include "server/ledger/decision_recorder.h"
#include "server/policy_store.h"
#include "server/security/roles.h"
#include "server/security/token_store.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

constexpr absl::Duration kRun = absl::Milliseconds(700);

std::string PolicyVersion(const std::string& version) {
  std::string text = testing::kGoodPolicy;
  text.replace(text.find("version: \"1.2\""), 14,
               absl::StrCat("version: \"", version, "\""));
  return text;
}

TEST(PolicyStoreConcurrencyTest,
     ReadersDecideOnWholeSnapshotsWhileWritersSwap) {
  std::vector<std::shared_ptr<const CompiledPolicy>> policies;
  for (const char* version : {"1", "2", "3"}) {
    auto policy = CompiledPolicy::Compile(PolicyVersion(version), "p.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    policies.push_back(*std::move(policy));
  }
  PolicyStore store;
  std::atomic<int64_t> notified{0};
  store.AddListener([&](const ActivePolicy& active) {
    if (active.policy != nullptr) ++notified;
  });
  store.Set(policies[0], "p.yaml", absl::Now());

  v1::Finding finding;
  finding.set_id("f");
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->mutable_kev()->set_listed(true);

  std::atomic<bool> stop{false};
  std::atomic<int64_t> decided{0}, torn{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      EvalOptions options;
      options.as_of = absl::FromUnixSeconds(1767225600);
      options.trace = true;
      while (!stop) {
        std::shared_ptr<const ActivePolicy> active = store.Get();
        v1::Decision decision;
        if (!active->pipeline->Decide(finding, options, &decision).ok()) {
          ++torn;
          continue;
        }
        // The decision names the snapshot's own policy: never a mix.
        if (decision.policy().digest() != active->policy->ref().digest() ||
            decision.treatment() != v1::TREATMENT_MITIGATE_THEN_REMEDIATE) {
          ++torn;
        }
        ++decided;
      }
    });
  }
  threads.emplace_back([&] {  // Status readers.
    while (!stop) {
      const ReloadHistory history = store.History();
      if (history.rejected > history.reloads) ++torn;
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        store.Set(policies[(i + w) % policies.size()], "p.yaml", absl::Now());
        v1::ReloadResult result;
        result.set_ok(i % 3 != 0);
        store.RecordReload(result);
      }
    });
  }
  absl::SleepFor(kRun);
  stop = true;
  for (std::thread& t : threads) t.join();
  for (std::thread& t : writers) t.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(decided.load(), 10);
  EXPECT_GT(notified.load(), 10);
  EXPECT_GT(store.History().reloads, 10);
}

TEST(TokenStoreConcurrencyTest, LookupsSeeOneTableWhileTheFileIsReloaded) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/concurrency_tokens_", getpid());
  auto write = [&](int generation) {
    const std::string temporary = path + ".tmp";
    std::ofstream(temporary)
        << "token alice decide alice-token-0123456789abcdef\n"
        << "token root admin root-token-0123456789abcdef\n"
        << "identity bot-" << generation % 2 << " decide\n";
    std::rename(temporary.c_str(), path.c_str());
  };
  write(0);
  auto store = TokenStore::Create(path);
  ASSERT_TRUE(store.ok()) << store.status();
  std::atomic<bool> stop{false};
  std::atomic<int64_t> lookups{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      const std::vector<std::string> names = {"bot-0", "bot-1"};
      while (!stop) {
        const auto alice = (*store)->FindToken("alice-token-0123456789abcdef");
        const auto root = (*store)->FindToken("root-token-0123456789abcdef");
        if (!alice || alice->role != Role::kDecide || !root ||
            root->role != Role::kAdmin || !(*store)->FindIdentity(names) ||
            (*store)->FindToken("nobody-0123456789abcdef")) {
          ++wrong;
        }
        ++lookups;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 1; !stop; ++i) {
      write(i);
      if (i % 2) {
        (*store)->Reload().IgnoreError();
      } else {
        (*store)->ReloadIfChanged().IgnoreError();
      }
    }
  });
  absl::SleepFor(kRun);
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(lookups.load(), 10);
  std::remove(path.c_str());
}

TEST(CallGovernorConcurrencyTest, SlotsAreNeverOverAdmittedAndAllComeBack) {
  CallLimits limits;
  limits.max_concurrent_calls = 6;
  limits.max_concurrent_streams = 3;
  std::unique_ptr<CallGovernor> governor =
      CallGovernor::Create(limits, nullptr);
  std::atomic<int> calls{0}, streams{0}, over{0};
  std::atomic<int64_t> admitted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      const absl::Time end = absl::Now() + kRun;
      const bool stream = t % 2 == 0;
      while (absl::Now() < end) {
        if (!governor->Admit(stream).ok()) {
          ++refused;
          continue;
        }
        ++admitted;
        if (++calls > limits.max_concurrent_calls) ++over;
        if (stream && ++streams > limits.max_concurrent_streams) ++over;
        std::this_thread::yield();
        if (stream) --streams;
        --calls;
        governor->Release(stream);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(over.load(), 0);
  EXPECT_GT(admitted.load(), 0);
  // Every slot came back: the limits can be filled again exactly.
  for (int i = 0; i < limits.max_concurrent_streams; ++i) {
    EXPECT_TRUE(governor->Admit(/*stream=*/true).ok());
  }
  EXPECT_EQ(governor->Admit(/*stream=*/true).code(),
            absl::StatusCode::kResourceExhausted);
  for (int i = limits.max_concurrent_streams; i < limits.max_concurrent_calls;
       ++i) {
    EXPECT_TRUE(governor->Admit(/*stream=*/false).ok());
  }
  EXPECT_EQ(governor->Admit(/*stream=*/false).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(DecisionRecorderConcurrencyTest, EveryEventHandedOverIsRecordedOnce) {
  const std::string path = absl::StrCat(
      ::testing::TempDir(), "/concurrency_ledger_", getpid(), ".db");
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove(absl::StrCat(path, suffix).c_str());
  }
  ledger::LedgerOptions options;
  options.url = path;
  options.sqlite_synchronous = "normal";  // the threads, not the fsyncs
  absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened =
      ledger::Ledger::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<ledger::Ledger> ledger = *std::move(opened);

  constexpr int kThreads = 6, kCalls = 40, kPerCall = 3;
  const absl::Time at = absl::Now() - absl::Hours(1);
  const auto events = [&](int thread, int call) {
    std::vector<ledger::Event> out;
    for (int i = 0; i < kPerCall; ++i) {
      ledger::Event e;
      e.kind = ledger::EventKind::kDecision;
      e.finding_key =
          absl::StrCat("f-", thread, "-", (call * kPerCall + i) % 7);
      e.occurred_at = at;
      e.idempotency_key = absl::StrCat("call-", thread, "-", call, "-", i);
      e.decision.decision_id = e.idempotency_key;
      e.decision.treatment = v1::TREATMENT_REMEDIATE;
      e.decision.priority = "p2";
      e.decision.kind = v1::FINDING_KIND_VULNERABILITY;
      out.push_back(std::move(e));
    }
    return out;
  };
  std::atomic<int> ok{0}, failed{0}, callbacks{0};
  {
    DecisionRecorder recorder(ledger.get(), LedgerDownPolicy::kFailClosed);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int c = 0; c < kCalls; ++c) {
          // Unary handlers hand over and return; streams and the sweep
          // wait. Both at once, as the server does.
          if (c % 2 == 0) {
            recorder.RecordAsync(events(t, c),
                                 [&](std::vector<absl::Status> statuses) {
                                   for (const absl::Status& s : statuses) {
                                     (s.ok() ? ok : failed).fetch_add(1);
                                   }
                                   callbacks.fetch_add(1);
                                 });
          } else {
            for (const absl::Status& s : recorder.Record(events(t, c))) {
              (s.ok() ? ok : failed).fetch_add(1);
            }
          }
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    // The destructor records what is still handed over and runs its
    // callbacks before it returns.
  }
  EXPECT_EQ(callbacks.load(), kThreads * kCalls / 2);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(ok.load(), kThreads * kCalls * kPerCall);
  absl::StatusOr<ledger::VerifyReport> report = ledger->Verify();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->events_checked, kThreads * kCalls * kPerCall);
  ledger.reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove(absl::StrCat(path, suffix).c_str());
  }
}

}  // namespace
}  // namespace treatd
