// treatctl run as a process: policy validate / test / eval offline, and
// decide against a server started in the test. Checks output and exit codes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/policy/engine/compiled_policy.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/policy_store.h"
#include "server/server.h"
#include "tests/client/treatctl_runner.h"
#include "tests/server/subprocess.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/simulation.pb.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Subprocess;

using RunResult = testing::TreatctlRun;

RunResult Treatctl(const std::vector<std::string>& args,
                   const std::string& stdin_text = "") {
  return testing::RunTreatctl(args, stdin_text, absl::Seconds(60));
}

std::string WriteTempFile(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/treatctl_test_",
                                        getpid(), "_", name);
  std::ofstream(path) << text;
  return path;
}

std::vector<v1::DecisionResult> ParseJsonl(const std::string& text) {
  std::vector<v1::DecisionResult> results;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    v1::DecisionResult result;
    const auto status =
        google::protobuf::util::JsonStringToMessage(std::string(line), &result);
    EXPECT_TRUE(status.ok()) << line;
    results.push_back(result);
  }
  return results;
}

// Three findings as JSON Lines: KEV-listed, out-of-range CVSS, plain.
constexpr char kFindingsJsonl[] =
    R"({"id":"kev-1","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"kev":{"listed":true}}}
{"id":"bad-2","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"cvss":{"score":11.5}}}
{"id":"plain-3","kind":"FINDING_KIND_MISCONFIGURATION"}
)";

constexpr char kPassingSuite[] = R"yaml(name: passing
as_of: 2026-01-01T00:00:00Z
cases:
  - name: kev is mitigated then remediated
    finding: {id: c1, kind: VULNERABILITY, vulnerability: {kev: {listed: true}}}
    expect:
      treatment: MITIGATE_THEN_REMEDIATE
      priority: P1
      matched_rule: kev
      mitigate_by: 2026-01-02T00:00:00Z
      remediate_by: 2026-01-04T00:00:00Z
  - name: everything else is remediated by default
    finding: {id: c2, kind: MALWARE}
    expect: {treatment: REMEDIATE, match_kind: DEFAULT}
)yaml";

constexpr char kFailingSuite[] = R"yaml(name: failing
as_of: 2026-01-01T00:00:00Z
cases:
  - name: right
    finding: {id: c1, kind: VULNERABILITY}
    expect: {treatment: REMEDIATE}
  - name: wrong
    finding: {id: c2, kind: VULNERABILITY}
    expect: {treatment: ACCEPT, priority: P4}
)yaml";

class TreatctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    good_policy_ = WriteTempFile("good.yaml", testing::kGoodPolicy);
    broken_policy_ = WriteTempFile("broken.yaml", testing::kBrokenPolicy);
  }

  // Starts a server with the good policy; returns its address.
  std::string StartServer() {
    auto policy = CompiledPolicy::Compile(testing::kGoodPolicy, "good.yaml");
    EXPECT_TRUE(policy.ok()) << policy.status();
    store_.Set(*policy, "good.yaml", absl::Now());
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    auto server = TreatdServer::Start(config, &store_);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    return server_->address();
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  std::string good_policy_;
  std::string broken_policy_;
  PolicyStore store_;
  std::unique_ptr<TreatdServer> server_;
};

TEST_F(TreatctlTest, HelpListsTheExitCodes) {
  RunResult run = Treatctl({"--help"});
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_THAT(run.out, HasSubstr("4  server unreachable or RPC failed"));
}

TEST_F(TreatctlTest, UnknownCommandIsAUsageError) {
  EXPECT_EQ(Treatctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Treatctl({}).exit_code, 2);
  EXPECT_EQ(Treatctl({"decide", "-"}).exit_code, 2);  // --target missing.
}

TEST_F(TreatctlTest, PolicyValidateAcceptsAGoodPolicy) {
  RunResult run = Treatctl({"policy", "validate", good_policy_});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("OK: policy test-policy 1.2 (sha256:"));
}

TEST_F(TreatctlTest, PolicyValidateListsEveryIssueWithPositions) {
  RunResult run = Treatctl({"policy", "validate", broken_policy_});
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_THAT(run.out, HasSubstr(absl::StrCat(broken_policy_, ":8:")));
  EXPECT_THAT(run.out, HasSubstr("nope"));
  EXPECT_THAT(run.out, HasSubstr("SOMEWHERE"));
  EXPECT_THAT(run.out, HasSubstr("P9"));
  EXPECT_THAT(run.err, HasSubstr("invalid policy (3 errors)"));
}

TEST_F(TreatctlTest, PolicyValidateOfAMissingFileIsAUsageError) {
  RunResult run = Treatctl({"policy", "validate", "/nonexistent/policy.yaml"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("/nonexistent/policy.yaml"));
}

TEST_F(TreatctlTest, PolicyEvalOfADirectoryIsAnErrorNotACrash) {
  const std::string dir = ::testing::TempDir();
  RunResult run = Treatctl({"policy", "eval", good_policy_, dir});
  EXPECT_GT(run.exit_code, 0);
  EXPECT_LT(run.exit_code, 128) << "killed by a signal: " << run.err;
  EXPECT_THAT(run.err, HasSubstr("is a directory"));
}

TEST_F(TreatctlTest, PolicyTestPassesWhenEveryExpectationHolds) {
  const std::string cases = WriteTempFile("passing.yaml", kPassingSuite);
  RunResult run = Treatctl({"policy", "test", good_policy_, cases});
  EXPECT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("PASS  kev is mitigated then remediated"));
  EXPECT_THAT(run.out, HasSubstr("2 passed, 0 failed"));
}

TEST_F(TreatctlTest, PolicyTestReportsFailedCasesWithDiffs) {
  const std::string cases = WriteTempFile("failing.yaml", kFailingSuite);
  RunResult run = Treatctl({"policy", "test", good_policy_, cases});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.out, HasSubstr("PASS  right"));
  EXPECT_THAT(run.out, HasSubstr("FAIL  wrong"));
  EXPECT_THAT(run.out, HasSubstr("treatment: want TREATMENT_ACCEPT, got "
                                 "TREATMENT_REMEDIATE"));
  // Only fields set in `expect` are compared, and priority matched.
  EXPECT_THAT(run.out, Not(HasSubstr("priority:")));
  EXPECT_THAT(run.out, HasSubstr("1 passed, 1 failed"));
}

TEST_F(TreatctlTest, PolicyTestWithAnInvalidPolicyExitsThree) {
  const std::string cases = WriteTempFile("passing2.yaml", kPassingSuite);
  EXPECT_EQ(Treatctl({"policy", "test", broken_policy_, cases}).exit_code, 3);
}

TEST_F(TreatctlTest, PolicyEvalDecidesStdinOfflineAsJsonl) {
  RunResult run = Treatctl({"policy", "eval", good_policy_, "-", "--format",
                            "jsonl", "--as-of", "2026-01-01T00:00:00Z"},
                           kFindingsJsonl);
  EXPECT_EQ(run.exit_code, 1);  // One finding is invalid.
  std::vector<v1::DecisionResult> results = ParseJsonl(run.out);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].finding_id(), "kev-1");
  EXPECT_EQ(results[0].decision().treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(results[0].decision().evaluated_at().seconds(), 1767225600);
  EXPECT_EQ(results[1].error().code(), 3);
  EXPECT_THAT(results[1].error().message(),
              HasSubstr("vulnerability.cvss.score: must be a number within "
                        "0..10, got 11.5"));
  EXPECT_EQ(results[2].decision().treatment(), v1::TREATMENT_REMEDIATE);
  EXPECT_THAT(run.err, HasSubstr("2 decided, 1 failed"));
}

TEST_F(TreatctlTest, PolicyEvalReadsAJsonArrayAndPrintsATable) {
  const std::string findings =
      WriteTempFile("array.json",
                    R"([{"id": "a-1", "kind": "FINDING_KIND_VULNERABILITY",
           "vulnerability": {"kev": {"listed": true}}},
          {"id": "a-2", "kind": "FINDING_KIND_MALWARE"}])");
  RunResult run = Treatctl({"policy", "eval", good_policy_, findings});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("TREATMENT"));
  EXPECT_THAT(run.out, HasSubstr("MITIGATE_THEN_REMEDIATE"));
  EXPECT_THAT(run.out, HasSubstr("a-2"));
}

TEST_F(TreatctlTest, PolicyEvalEnrichesFromTheFeeds) {
  RunResult run = Treatctl(
      {"policy", "eval", good_policy_, "-", "--format", "jsonl", "--kev",
       absl::StrCat(TREATD_SOURCE_DIR,
                    "/intel/known_exploited_vulnerabilities.json"),
       "--epss",
       absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv")},
      R"({"id":"l","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"cveId":"CVE-2021-44228"}})");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  std::vector<v1::DecisionResult> results = ParseJsonl(run.out);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].decision().matched_rule(), "kev");
  ASSERT_EQ(results[0].decision().intel().feed_versions_size(), 2);
  EXPECT_EQ(results[0].decision().intel().feed_versions(0),
            "CISA KEV 2025.08.25");
}

// The good policy with KEV findings remediated instead of mitigated first.
std::string CandidatePolicy() {
  std::string text = testing::kGoodPolicy;
  const std::string from = "treatment: MITIGATE_THEN_REMEDIATE";
  text.replace(text.find(from), from.size(), "treatment: REMEDIATE");
  return text;
}

TEST_F(TreatctlTest, PolicyDiffComparesTwoFilesOffline) {
  const std::string candidate = WriteTempFile("new.yaml", CandidatePolicy());
  const std::string findings = WriteTempFile("diff.jsonl", kFindingsJsonl);
  RunResult run = Treatctl({"policy", "diff", good_policy_, candidate, findings,
                            "--as-of", "2026-01-01T00:00:00Z"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out,
              HasSubstr("findings: 3  changed: 1  unchanged: 1  errors: 1"));
  EXPECT_THAT(run.out,
              HasSubstr("MITIGATE_THEN_REMEDIATE P1 -> REMEDIATE P1: 1"));
  EXPECT_THAT(run.out, HasSubstr("kev-1: MITIGATE_THEN_REMEDIATE P1 (kev) -> "
                                 "REMEDIATE P1 (kev)"));
  EXPECT_THAT(run.out, HasSubstr("due within 3 days           1          1"));
}

TEST_F(TreatctlTest, PolicyDiffAgainstTheServersActivePolicy) {
  const std::string address = StartServer();
  const std::string candidate = WriteTempFile("new2.yaml", CandidatePolicy());
  const std::string findings = WriteTempFile("diff2.jsonl", kFindingsJsonl);
  RunResult run = Treatctl({"policy", "diff", "--target", address, candidate,
                            findings, "--format", "json"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  v1::SimulationReport report;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(run.out, &report).ok())
      << run.out;
  EXPECT_EQ(report.findings(), 3);
  EXPECT_EQ(report.changed(), 1);
  EXPECT_EQ(report.errors(), 1);
  ASSERT_EQ(report.moved_size(), 1);
  EXPECT_EQ(report.moved(0).finding_id(), "kev-1");

  RunResult broken = Treatctl(
      {"policy", "diff", "--target", address, broken_policy_, findings});
  EXPECT_EQ(broken.exit_code, 3);
}

TEST_F(TreatctlTest, DecideStreamsFindingsToTheServer) {
  const std::string address = StartServer();
  RunResult run =
      Treatctl({"decide", "--target", address, "--format", "jsonl", "-"},
               kFindingsJsonl);
  EXPECT_EQ(run.exit_code, 1) << run.err;  // One finding is invalid.
  std::vector<v1::DecisionResult> results = ParseJsonl(run.out);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].decision().matched_rule(), "kev");
  EXPECT_EQ(results[1].finding_id(), "bad-2");
  EXPECT_THAT(results[1].error().message(),
              HasSubstr("finding.vulnerability.cvss.score"));
  EXPECT_EQ(results[2].index(), 2);
  EXPECT_EQ(results[2].decision().treatment(), v1::TREATMENT_REMEDIATE);
}

TEST_F(TreatctlTest, DecideGivesTheSameOutputWhateverTheStreamChunk) {
  const std::string address = StartServer();
  std::string input;
  for (int i = 0; i < 7; ++i) input += kFindingsJsonl;  // 21 findings.
  std::string first;
  for (const char* chunk : {"1", "2", "5", "100"}) {
    SCOPED_TRACE(chunk);
    RunResult run =
        Treatctl({"decide", "--target", address, "--output", "jsonl", "--as-of",
                  "2026-01-01T00:00:00Z", "--stream-chunk", chunk, "-"},
                 input);
    EXPECT_EQ(run.exit_code, 1) << run.err;  // Seven invalid findings.
    EXPECT_THAT(run.err, HasSubstr("14 decided, 7 failed"));
    std::vector<v1::DecisionResult> results = ParseJsonl(run.out);
    ASSERT_EQ(results.size(), 21u);
    for (int i = 0; i < 21; ++i) {
      EXPECT_EQ(results[i].index(), i);
      EXPECT_EQ(results[i].has_error(), i % 3 == 1);
    }
    EXPECT_EQ(results[4].error().field_violations(0).field(),
              "finding.vulnerability.cvss.score");
    if (first.empty()) {
      first = run.out;
    } else {
      EXPECT_EQ(run.out, first);
    }
  }
}

TEST_F(TreatctlTest, DecideSucceedsWhenEveryFindingIsDecided) {
  const std::string address = StartServer();
  const std::string findings = WriteTempFile(
      "one.json", R"({"id": "o-1", "kind": "FINDING_KIND_VULNERABILITY"})");
  RunResult run = Treatctl({"decide", "--target", address, findings});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("o-1"));
  EXPECT_THAT(run.out, HasSubstr("REMEDIATE"));
  EXPECT_THAT(run.err, HasSubstr("1 decided, 0 failed"));
}

TEST_F(TreatctlTest, DecideReportsUnparsableRecordsAndGoesOn) {
  const std::string address = StartServer();
  RunResult run =
      Treatctl({"decide", "--target", address, "--format", "jsonl"},
               "{\"id\": \"x\", \"nosuchfield\": 1}\n"
               "{\"id\": \"y\", \"kind\": \"FINDING_KIND_MALWARE\"}\n");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("<stdin>:1: not a valid Finding"));
  ASSERT_EQ(ParseJsonl(run.out).size(), 1u);
}

TEST_F(TreatctlTest, HealthSaysServingAndFailsWhenTheServerIsGone) {
  const std::string address = StartServer();
  RunResult run = Treatctl({"health", "--target", address});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "SERVING\n");
  run = Treatctl({"health", "--target", address, "--service",
                  "treatd.v1.TreatmentService"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // The health service does not know this name: NOT_FOUND, a failed call.
  run = Treatctl({"health", "--target", address, "--service", "no.Such"});
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_THAT(run.err, HasSubstr("code 5"));
  server_->Shutdown(absl::Seconds(1));
  server_.reset();
  run = Treatctl({"health", "--target", address, "--timeout", "2"});
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_THAT(run.err, HasSubstr(address));
}

TEST_F(TreatctlTest, DecideExitsFourWhenTheServerIsUnreachable) {
  // A port nothing listens on.
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
  RunResult run =
      Treatctl({"decide", "--target", absl::StrCat("127.0.0.1:", port), "-"},
               kFindingsJsonl);
  EXPECT_EQ(run.exit_code, 4);
  EXPECT_THAT(run.err, HasSubstr("UNAVAILABLE"));
}

}  // namespace
}  // namespace treatd
