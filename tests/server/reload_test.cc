// Threat intel, live reload, simulate and shadow mode through a real server
// on 127.0.0.1:0: enrichment in decisions, reload on file change and via
// AdminService.Reload, rejected reloads keeping the last good snapshot,
// decisions under continuous reloads, Simulate and shadow divergences.
#include <atomic>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/faults/raw_calls.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/logging.h"
#include "server/policy_store.h"
#include "server/reloader.h"
#include "server/server.h"
#include "server/server_config.h"
#include "treatd/v1/admin_service.grpc.pb.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const absl::Time kServerNow = absl::FromUnixSeconds(1767225600);  // 2026-01-01

// Two valid policies that decide a KEV finding differently, and a broken one.
constexpr char kPolicyA[] = R"yaml(name: reload-test
version: "A"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P4
    remediate_within: 90d
rules:
  - id: kev
    when: vulnerability.kev.listed
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P4
)yaml";

constexpr char kPolicyB[] = R"yaml(name: reload-test
version: "B, a longer version string so the file size differs"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P4
    remediate_within: 90d
rules:
  - id: kev-remediate
    when: vulnerability.kev.listed
    treatment: REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P4
)yaml";

constexpr char kPolicyBroken[] = R"yaml(name: reload-test
version: "broken"
priorities:
  - name: P1
    remediate_within: 3d
rules:
  - id: bad-field
    when: vulnerability.nope > 1
    treatment: REMEDIATE
    priority: P1
  - id: bad-priority
    when: asset.exposure == "SOMEWHERE"
    treatment: REMEDIATE
    priority: P9
default:
  treatment: REMEDIATE
  priority: P1
)yaml";

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/reload_test_", getpid(), "_",
                      name);
}

void WriteFile(const std::string& path, const std::string& text) {
  // Write beside, then rename: readers never see a half-written file.
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0) << path;
}

std::string ShippedKev() {
  return absl::StrCat(TREATD_SOURCE_DIR,
                      "/intel/known_exploited_vulnerabilities.json");
}
std::string ShippedEpss() {
  return absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv");
}

std::string Digest(const std::string& yaml) {
  auto policy = CompiledPolicy::Compile(yaml, "x.yaml");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? (*policy)->ref().digest() : "";
}

ReloadSources Sources(std::string kev, std::string epss,
                      std::string shadow = "") {
  ReloadSources sources;
  sources.kev_path = std::move(kev);
  sources.epss_path = std::move(epss);
  sources.shadow_policy_path = std::move(shadow);
  return sources;
}

v1::Finding KevFinding(const std::string& id) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->mutable_kev()->set_listed(true);
  return finding;
}

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink(&log_, LogLevel::kWarning);
    policy_path_ = TempPath("policy.yaml");
    WriteFile(policy_path_, kPolicyA);
  }
  void TearDown() override {
    server_.reset();
    reloader_.reset();
    SetLogSink(nullptr);
  }

  void Start(ReloadSources sources) {
    sources.policy_path = policy_path_;
    auto reloader = Reloader::Create(sources, &store_);
    ASSERT_TRUE(reloader.ok()) << reloader.status();
    reloader_ = *std::move(reloader);
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    auto server = TreatdServer::Start(
        config, &store_, [] { return kServerNow; }, reloader_.get());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(server_->address(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::TreatmentService::NewStub(channel_);
    admin_ = v1::AdminService::NewStub(channel_);
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return context;
  }

  v1::Decision Decide(const v1::Finding& finding) {
    v1::DecideRequest request;
    *request.mutable_finding() = finding;
    v1::DecideResponse response;
    grpc::Status status = stub_->Decide(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.decision();
  }

  v1::GetPolicyResponse GetPolicy() {
    v1::GetPolicyResponse response;
    grpc::Status status =
        stub_->GetPolicy(Context().get(), v1::GetPolicyRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::GetStatusResponse GetStatus() {
    v1::GetStatusResponse response;
    grpc::Status status =
        admin_->GetStatus(Context().get(), v1::GetStatusRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // grpc.health.v1.Health/Check for "" as raw bytes (the health protos are
  // not installed): "\x08\x01" is status SERVING.
  std::string HealthCheck() {
    std::string response;
    const grpc::Status status = RawUnaryCall(
        channel_.get(), "/grpc.health.v1.Health/Check", "", &response);
    return status.ok() ? response : "failed";
  }

  v1::ReloadResult ReloadRpc(bool force) {
    v1::ReloadRequest request;
    request.set_force(force);
    v1::ReloadResponse response;
    grpc::Status status = admin_->Reload(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.result();
  }

  std::ostringstream log_;
  std::string policy_path_;
  PolicyStore store_;
  std::unique_ptr<Reloader> reloader_;
  std::unique_ptr<TreatdServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TreatmentService::Stub> stub_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

TEST_F(ReloadTest, DecisionsAreEnrichedAndNameTheFeeds) {
  Start(Sources(ShippedKev(), ShippedEpss()));
  v1::Finding finding;
  finding.set_id("log4shell");
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  const v1::Decision d = Decide(finding);
  EXPECT_EQ(d.matched_rule(), "kev");
  EXPECT_THAT(d.intel().feed_versions(),
              ElementsAre("CISA KEV 2025.08.25",
                          "FIRST EPSS v2023.03.01 (2024-01-13)"));
  EXPECT_THAT(d.intel().facts(),
              Contains("vulnerability.kev from CISA KEV 2025.08.25 for "
                       "CVE-2021-44228"));

  // The caller's "not listed" wins over the feed by default.
  finding.mutable_vulnerability()->mutable_kev()->set_listed(false);
  const v1::Decision caller = Decide(finding);
  EXPECT_EQ(caller.matched_rule(), "default");
  EXPECT_THAT(caller.intel().caller_facts_kept(),
              Contains(HasSubstr("kept from the caller")));

  // Not in either feed.
  finding.mutable_vulnerability()->clear_kev();
  finding.mutable_vulnerability()->set_cve_id("CVE-2024-99999");
  const v1::Decision missing = Decide(finding);
  EXPECT_EQ(missing.matched_rule(), "default");
  EXPECT_THAT(missing.intel().facts(),
              ElementsAre("vulnerability.kev from CISA KEV 2025.08.25: not "
                          "listed"));

  const v1::GetStatusResponse status = GetStatus();
  ASSERT_EQ(status.feeds_size(), 2);
  EXPECT_EQ(status.feeds(0).version(), "CISA KEV 2025.08.25");
  EXPECT_EQ(status.feeds(1).entries(), 4820);
}

TEST_F(ReloadTest, FeedWinsAndStaleFeedsThroughTheServer) {
  ReloadSources sources = Sources(ShippedKev(), ShippedEpss());
  sources.intel.feed_wins = true;
  sources.intel.max_age = absl::Hours(24 * 7);
  Start(sources);
  v1::Finding finding = KevFinding("f");
  finding.mutable_vulnerability()->set_cve_id("CVE-2024-99999");
  // The feed does not list it, but "not listed" never overrides the caller.
  EXPECT_EQ(Decide(finding).matched_rule(), "kev");
  finding.mutable_vulnerability()->mutable_kev()->set_listed(false);
  finding.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  const v1::Decision d = Decide(finding);
  EXPECT_EQ(d.matched_rule(), "kev");  // The feed won.
  EXPECT_TRUE(d.intel().stale());
  EXPECT_EQ(d.intel().stale_feeds_size(), 2);
  EXPECT_TRUE(GetStatus().feeds(0).stale());
}

TEST_F(ReloadTest, ReloadsWhenThePolicyFileChanges) {
  Start({});
  EXPECT_EQ(Decide(KevFinding("f")).matched_rule(), "kev");
  reloader_->StartPolling(absl::Milliseconds(20));
  WriteFile(policy_path_, kPolicyB);
  const std::string digest_b = Digest(kPolicyB);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  // The new snapshot and its reload's record are published together: the
  // answer that shows the one shows the other.
  v1::GetPolicyResponse policy = GetPolicy();
  while (policy.policy().digest() != digest_b && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
    policy = GetPolicy();
  }
  EXPECT_EQ(policy.policy().digest(), digest_b);
  EXPECT_EQ(policy.last_reload().trigger(), "file-change");
  EXPECT_EQ(Decide(KevFinding("f")).matched_rule(), "kev-remediate");
}

// A listener runs right after a snapshot is swapped in: by then the store's
// reload record must already be that reload's (a reader calling GetPolicy
// or GetStatus at that moment sees the two together). A rejected reload
// records its result and swaps nothing.
TEST_F(ReloadTest, SnapshotAndItsReloadRecordArePublishedTogether) {
  struct Seen {
    std::string active_digest;
    std::string recorded_digest;
    std::string trigger;
    int64_t reloads = 0;
  };
  std::vector<Seen> seen;
  store_.AddListener([this, &seen](const ActivePolicy& active) {
    const ReloadHistory history = store_.History();
    const PolicyStoreState state = store_.GetWithHistory();
    EXPECT_EQ(state.active->policy->ref().digest(),
              active.policy->ref().digest());
    EXPECT_EQ(state.history.reloads, history.reloads);
    seen.push_back({active.policy->ref().digest(),
                    history.last.active_policy().digest(),
                    history.last.trigger(), history.reloads});
  });
  ReloadSources sources;
  sources.policy_path = policy_path_;
  auto reloader = Reloader::Create(sources, &store_);
  ASSERT_TRUE(reloader.ok()) << reloader.status();
  WriteFile(policy_path_, kPolicyB);
  ASSERT_TRUE((*reloader)->Reload("admin-rpc", /*force=*/false).ok());
  WriteFile(policy_path_, kPolicyBroken);
  EXPECT_FALSE((*reloader)->Reload("admin-rpc", /*force=*/false).ok());

  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].active_digest, Digest(kPolicyA));
  EXPECT_EQ(seen[0].recorded_digest, Digest(kPolicyA));
  EXPECT_EQ(seen[0].trigger, "start");
  EXPECT_EQ(seen[0].reloads, 1);
  EXPECT_EQ(seen[1].active_digest, Digest(kPolicyB));
  EXPECT_EQ(seen[1].recorded_digest, Digest(kPolicyB));
  EXPECT_EQ(seen[1].trigger, "admin-rpc");
  EXPECT_EQ(seen[1].reloads, 2);
  // The rejected reload: recorded, B still active, no listener call.
  const PolicyStoreState state = store_.GetWithHistory();
  EXPECT_EQ(state.active->policy->ref().digest(), Digest(kPolicyB));
  EXPECT_EQ(state.history.reloads, 3);
  EXPECT_EQ(state.history.rejected, 1);
  EXPECT_FALSE(state.history.last.ok());
  EXPECT_EQ(state.history.last.active_policy().digest(), Digest(kPolicyB));
}

TEST_F(ReloadTest, ReloadsThroughTheAdminRpc) {
  Start({});
  WriteFile(policy_path_, kPolicyB);
  const v1::ReloadResult result = ReloadRpc(/*force=*/false);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.trigger(), "admin-rpc");
  ASSERT_EQ(result.sources_size(), 1);
  EXPECT_EQ(result.sources(0).outcome(), v1::SOURCE_RELOAD_OUTCOME_LOADED);
  EXPECT_EQ(result.active_policy().digest(), Digest(kPolicyB));
  EXPECT_EQ(Decide(KevFinding("f")).treatment(), v1::TREATMENT_REMEDIATE);
  // Nothing changed since: nothing is reloaded.
  EXPECT_EQ(ReloadRpc(false).sources(0).outcome(),
            v1::SOURCE_RELOAD_OUTCOME_UNCHANGED);
}

TEST_F(ReloadTest, ClientLibraryReloadsAndReadsTheStatus) {
  Start({});
  auto client = Client::Create(server_->address());
  ASSERT_TRUE(client.ok()) << client.status();
  WriteFile(policy_path_, kPolicyB);
  absl::StatusOr<v1::ReloadResult> result = (*client)->Reload(/*force=*/true);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->active_policy().digest(), Digest(kPolicyB));
  absl::StatusOr<v1::GetStatusResponse> status = (*client)->GetStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->policy().digest(), Digest(kPolicyB));
  EXPECT_EQ(status->last_reload().trigger(), "admin-rpc");
  EXPECT_EQ(status->reloads(), 2);
}

TEST_F(ReloadTest, RejectedReloadKeepsTheLastGoodSnapshotAndShowsErrors) {
  const std::string kev_path = TempPath("kev.json");
  std::ifstream shipped(ShippedKev(), std::ios::binary);
  std::stringstream kev_text;
  kev_text << shipped.rdbuf();
  WriteFile(kev_path, kev_text.str());
  Start(Sources(kev_path, ""));
  const std::string digest_a = Digest(kPolicyA);

  WriteFile(policy_path_, kPolicyBroken);
  WriteFile(kev_path, "{ not json");
  const v1::ReloadResult result = ReloadRpc(/*force=*/false);
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.sources_size(), 2);
  EXPECT_EQ(result.sources(0).outcome(), v1::SOURCE_RELOAD_OUTCOME_REJECTED);
  EXPECT_THAT(result.sources(0).error(), HasSubstr("nope"));
  EXPECT_THAT(result.sources(0).error(), HasSubstr("P9"));
  EXPECT_GE(result.sources(0).issues_size(), 2);
  EXPECT_EQ(result.sources(1).outcome(), v1::SOURCE_RELOAD_OUTCOME_REJECTED);
  EXPECT_EQ(result.sources(1).version(), "CISA KEV 2025.08.25");
  EXPECT_EQ(result.active_policy().digest(), digest_a);

  // Still serving A with the old feed; errors visible in GetPolicy and
  // GetStatus; health unchanged.
  v1::Finding finding;
  finding.set_id("f");
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  const v1::Decision d = Decide(finding);
  EXPECT_EQ(d.policy().digest(), digest_a);
  EXPECT_EQ(d.matched_rule(), "kev");
  const v1::GetPolicyResponse policy = GetPolicy();
  EXPECT_EQ(policy.policy().digest(), digest_a);
  EXPECT_FALSE(policy.last_reload().ok());
  EXPECT_THAT(policy.last_reload().sources(0).error(), HasSubstr("nope"));
  const v1::GetStatusResponse status = GetStatus();
  EXPECT_EQ(status.rejected_reloads(), 1);
  EXPECT_EQ(status.reloads(), 2);  // Start, then the rejected one.
  EXPECT_THAT(log_.str(), HasSubstr("reload rejected"));

  EXPECT_EQ(HealthCheck(), "\x08\x01");  // status: SERVING

  // Fixing the policy brings the next reload through.
  WriteFile(policy_path_, kPolicyB);
  const v1::ReloadResult fixed = ReloadRpc(false);
  EXPECT_EQ(fixed.sources(0).outcome(), v1::SOURCE_RELOAD_OUTCOME_LOADED);
  EXPECT_EQ(Decide(KevFinding("f")).matched_rule(), "kev-remediate");
}

// Several clients decide continuously while the policy flips between A and B
// (and broken versions) every few milliseconds. Every call must succeed and
// every decision must be the one its reported digest's policy makes.
TEST_F(ReloadTest, DecisionsStayConsistentUnderContinuousReloads) {
  Start({});
  const std::map<std::string, v1::Treatment> expected = {
      {Digest(kPolicyA), v1::TREATMENT_MITIGATE_THEN_REMEDIATE},
      {Digest(kPolicyB), v1::TREATMENT_REMEDIATE}};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> calls{0}, failures{0}, inconsistent{0};
  absl::Mutex seen_mu;
  std::map<std::string, int64_t> seen;
  auto check = [&](const v1::Decision& d) {
    auto it = expected.find(d.policy().digest());
    if (it == expected.end() || it->second != d.treatment()) ++inconsistent;
    absl::MutexLock lock(&seen_mu);
    ++seen[d.policy().digest()];
  };
  std::vector<std::thread> clients;
  for (int t = 0; t < 3; ++t) {
    clients.emplace_back([&, t] {
      auto stub = v1::TreatmentService::NewStub(channel_);
      while (!stop.load()) {
        v1::DecideRequest request;
        *request.mutable_finding() = KevFinding(absl::StrCat("unary-", t));
        v1::DecideResponse response;
        grpc::Status status = stub->Decide(Context().get(), request, &response);
        ++calls;
        if (!status.ok()) {
          ++failures;
          continue;
        }
        check(response.decision());
      }
    });
  }
  clients.emplace_back([&] {
    auto stub = v1::TreatmentService::NewStub(channel_);
    grpc::ClientContext context;
    auto stream = stub->StreamDecide(&context);
    v1::StreamDecideRequest request;
    *request.mutable_finding() = KevFinding("stream");
    v1::StreamDecideResponse response;
    while (!stop.load()) {
      ++calls;
      if (!stream->Write(request) || !stream->Read(&response) ||
          !response.result().has_decision()) {
        ++failures;
        break;
      }
      check(response.result().decision());
    }
    stream->WritesDone();
    if (!stream->Finish().ok()) ++failures;
  });

  int swaps = 0, rejected = 0;
  absl::Duration slowest;
  const absl::Time end = absl::Now() + absl::Seconds(3);
  for (int i = 0; absl::Now() < end; ++i) {
    const char* text =
        i % 5 == 4 ? kPolicyBroken : (i % 2 ? kPolicyB : kPolicyA);
    WriteFile(policy_path_, text);
    const absl::Time start = absl::Now();
    const v1::ReloadResult result = reloader_->Reload("test", /*force=*/true);
    slowest = std::max(slowest, absl::Now() - start);
    if (result.ok()) {
      ++swaps;
    } else {
      ++rejected;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
  stop = true;
  for (std::thread& t : clients) t.join();

  std::cout << "concurrent reload: " << calls.load() << " calls, "
            << failures.load() << " failed, " << inconsistent.load()
            << " inconsistent; " << swaps << " swaps, " << rejected
            << " rejected reloads; slowest reload "
            << absl::FormatDuration(slowest) << "\n";
  RecordProperty("calls", static_cast<int>(calls.load()));
  RecordProperty("failures", static_cast<int>(failures.load()));
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_GT(calls.load(), 100);
  EXPECT_GT(swaps, 20);
  EXPECT_GT(rejected, 5);
  // Both policies served traffic.
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(ReloadTest, SimulateComparesACandidateWithTheActivePolicy) {
  Start({});
  v1::SimulateRequest request;
  request.set_candidate_policy(kPolicyB);
  *request.add_findings() = KevFinding("kev-1");
  *request.add_findings() = KevFinding("kev-2");
  v1::Finding plain = KevFinding("plain");
  plain.mutable_vulnerability()->clear_kev();
  *request.add_findings() = plain;
  v1::SimulateResponse response;
  grpc::Status status = admin_->Simulate(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.baseline_policy().digest(), Digest(kPolicyA));
  EXPECT_EQ(response.candidate_policy().digest(), Digest(kPolicyB));
  const v1::SimulationReport& r = response.report();
  EXPECT_EQ(r.findings(), 3);
  EXPECT_EQ(r.changed(), 2);
  EXPECT_EQ(r.unchanged(), 1);
  ASSERT_EQ(r.transitions_size(), 1);
  EXPECT_EQ(r.transitions(0).count(), 2);
  EXPECT_EQ(r.moved(0).to_rule(), "kev-remediate");
  EXPECT_EQ(r.baseline_workload().within_3_days(), 2);
  EXPECT_EQ(r.candidate_workload().within_3_days(), 2);
  EXPECT_EQ(r.candidate_workload().beyond_60_days(), 1);
  // Nothing was activated.
  EXPECT_EQ(GetPolicy().policy().digest(), Digest(kPolicyA));

  request.set_candidate_policy(kPolicyBroken);
  status = admin_->Simulate(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("nope"));
}

TEST_F(ReloadTest, ShadowPolicyDivergencesAreCountedByRulePair) {
  const std::string shadow_path = TempPath("shadow.yaml");
  WriteFile(shadow_path, kPolicyB);
  Start(Sources("", "", shadow_path));
  for (int i = 0; i < 7; ++i) {
    // Answers come from the active policy only.
    EXPECT_EQ(Decide(KevFinding(absl::StrCat("kev-", i))).treatment(),
              v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  }
  v1::Finding plain = KevFinding("plain");
  plain.mutable_vulnerability()->clear_kev();
  Decide(plain);
  const v1::ShadowStatus shadow = GetStatus().shadow();
  EXPECT_EQ(shadow.policy().digest(), Digest(kPolicyB));
  EXPECT_EQ(shadow.evaluated(), 8);
  EXPECT_EQ(shadow.diverged(), 7);
  ASSERT_EQ(shadow.divergences_size(), 1);
  EXPECT_EQ(shadow.divergences(0).active_rule(), "kev");
  EXPECT_EQ(shadow.divergences(0).shadow_rule(), "kev-remediate");
  EXPECT_EQ(shadow.divergences(0).count(), 7);
  EXPECT_THAT(shadow.divergences(0).sample_finding_ids(),
              ElementsAre("kev-0", "kev-1", "kev-2", "kev-3", "kev-4"));

  // The shadow policy reloads with the rest; counters start over.
  WriteFile(shadow_path, kPolicyA);
  EXPECT_TRUE(ReloadRpc(false).ok());
  Decide(KevFinding("again"));
  const v1::ShadowStatus after = GetStatus().shadow();
  EXPECT_EQ(after.policy().digest(), Digest(kPolicyA));
  EXPECT_EQ(after.evaluated(), 1);
  EXPECT_EQ(after.diverged(), 0);
}

}  // namespace
}  // namespace treatd
