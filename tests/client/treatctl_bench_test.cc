// Smoke test of `treatctl bench` (the binary) against a server started in
// the test: each mode runs for a fraction of a second and must report calls
// and no errors. No assertion on time or throughput.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/policy/engine/compiled_policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/policy_store.h"
#include "server/server.h"
#include "tests/client/treatctl_runner.h"
#include "tests/server/subprocess.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Subprocess;

constexpr char kFindingsJsonl[] =
    R"({"id":"kev-1","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"kev":{"listed":true}}}
{"id":"plain-2","kind":"FINDING_KIND_MISCONFIGURATION"}
)";

using RunResult = testing::TreatctlRun;

RunResult Treatctl(const std::vector<std::string>& args) {
  return testing::RunTreatctl(args, "", absl::Seconds(60));
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/treatctl_bench_test_", getpid(),
                      "_", name);
}

class TreatctlBenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    findings_ = TempPath("findings.jsonl");
    std::ofstream(findings_) << kFindingsJsonl;
    auto policy = CompiledPolicy::Compile(testing::kGoodPolicy, "good.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    store_.Set(*policy, "good.yaml", absl::Now());
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    auto server = TreatdServer::Start(config, &store_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  RunResult Bench(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        "bench",    findings_, "--target", server_->address(), "-d", "0.5",
        "--warmup", "0.1",     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Treatctl(args);
  }

  std::string findings_;
  PolicyStore store_;
  std::unique_ptr<TreatdServer> server_;
};

TEST_F(TreatctlBenchTest, EveryModeReportsCallsAndNoErrors) {
  for (const std::vector<std::string>& mode :
       {std::vector<std::string>{"--mode", "unary", "-c", "4"},
        std::vector<std::string>{"--mode", "batch", "--batch", "10"},
        std::vector<std::string>{"--mode", "stream", "-c", "2"}}) {
    SCOPED_TRACE(mode[1]);
    RunResult run = Bench(mode);
    EXPECT_EQ(run.exit_code, 0) << run.err << run.out;
    EXPECT_THAT(run.out, HasSubstr("\"errors\":0,"));
    EXPECT_THAT(run.out, HasSubstr("\"first_error\":null"));
    EXPECT_THAT(run.out, Not(HasSubstr("\"ok\":0,")));
  }
}

// The number after "key": in a JSON line, or -1.
double JsonNumber(const std::string& line, const std::string& key) {
  const std::string tag = absl::StrCat("\"", key, "\":");
  const size_t at = line.find(tag);
  if (at == std::string::npos) return -1;
  return std::strtod(line.c_str() + at + tag.size(), nullptr);
}

TEST_F(TreatctlBenchTest, StreamWithBatchSendsChunksAndCountsFindings) {
  RunResult run =
      Bench({"--mode", "stream", "-c", "2", "--batch", "10", "--window", "25"});
  ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
  EXPECT_THAT(run.out, HasSubstr("\"errors\":0,"));
  EXPECT_THAT(run.out, HasSubstr("\"items\":10,"));
  const double qps = JsonNumber(run.out, "qps");
  const double findings = JsonNumber(run.out, "items_per_s");
  ASSERT_GT(qps, 0);
  // Every message carries ten findings, all decided; the figures are
  // printed with one decimal.
  EXPECT_NEAR(findings, 10 * qps, 1.0) << run.out;

  RunResult text =
      Treatctl({"bench", findings_, "--target", server_->address(), "--mode",
                "stream", "-d", "0.3", "--warmup", "0", "--batch", "10"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out,
              HasSubstr("StreamDecide, 10 findings per message, window 32"));
  EXPECT_THAT(text.out, HasSubstr("messages "));
}

TEST_F(TreatctlBenchTest, PrebuiltStreamCountsWhatTheTypedStreamCounts) {
  for (const char* batch : {"1", "10"}) {
    SCOPED_TRACE(batch);
    RunResult run = Bench({"--mode", "stream", "-c", "2", "--batch", batch,
                           "--window", "25", "--prebuilt"});
    ASSERT_EQ(run.exit_code, 0) << run.err << run.out;
    EXPECT_THAT(run.out, HasSubstr("\"errors\":0,"));
    EXPECT_THAT(run.out, HasSubstr(absl::StrCat("\"items\":", batch, ",")));
    const double qps = JsonNumber(run.out, "qps");
    ASSERT_GT(qps, 0);
    EXPECT_NEAR(JsonNumber(run.out, "items_per_s"), std::atoi(batch) * qps, 1.0)
        << run.out;
  }
}

TEST_F(TreatctlBenchTest, PrebuiltStreamReportsItemErrorsFromTheAnswerBytes) {
  // The second finding's CVSS score is out of range: every message of two
  // findings has one error, named with the finding's id and the server's
  // message, the same in both clients.
  const std::string mixed = TempPath("mixed.jsonl");
  std::ofstream(mixed)
      << R"({"id":"kev-1","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"kev":{"listed":true}}}
{"id":"bad-cvss","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"cvss":{"score":11}}}
)";
  std::string typed_error;
  for (bool prebuilt : {false, true}) {
    SCOPED_TRACE(prebuilt);
    std::vector<std::string> args = {
        "bench",  mixed,    "--target", server_->address(),
        "--mode", "stream", "--batch",  "2",
        "-d",     "0.3",    "--warmup", "0",
        "--json"};
    if (prebuilt) args.push_back("--prebuilt");
    RunResult run = Treatctl(args);
    EXPECT_EQ(run.exit_code, 1) << run.err << run.out;
    EXPECT_THAT(run.out, Not(HasSubstr("\"errors\":0,")));
    EXPECT_THAT(run.out, HasSubstr("finding bad-cvss: "));
    const double qps = JsonNumber(run.out, "qps");
    ASSERT_GT(qps, 0);
    // One of each message's two findings is decided.
    EXPECT_NEAR(JsonNumber(run.out, "items_per_s"), qps, 1.0) << run.out;
    const size_t at = run.out.find("\"first_error\":");
    ASSERT_NE(at, std::string::npos);
    if (!prebuilt) {
      typed_error = run.out.substr(at);
    } else {
      EXPECT_EQ(run.out.substr(at), typed_error);
    }
  }
}

TEST_F(TreatctlBenchTest, PrebuiltNeedsStreamMode) {
  RunResult run = Bench({"--mode", "batch", "--prebuilt"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("--prebuilt needs --mode stream"));
}

TEST_F(TreatctlBenchTest, StreamWindowSmallerThanAMessageIsAUsageError) {
  RunResult run =
      Bench({"--mode", "stream", "--batch", "100", "--window", "50"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("--window 50"));
  EXPECT_THAT(run.err, HasSubstr("--batch 100"));
}

TEST_F(TreatctlBenchTest, TextReportNamesTheFigures) {
  RunResult run = Treatctl({"bench", findings_, "--target", server_->address(),
                            "-d", "0.3", "--warmup", "0"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("QPS"));
  EXPECT_THAT(run.out, HasSubstr("findings/s"));
  EXPECT_THAT(run.out, HasSubstr("p99"));
  EXPECT_THAT(run.out, HasSubstr(" 0 errors"));
}

TEST_F(TreatctlBenchTest, WritesSerializedRequests) {
  const std::string path = TempPath("batch.bin");
  RunResult run = Treatctl({"bench", findings_, "--mode", "batch", "--batch",
                            "5", "--write-request", path});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  v1::BatchDecideRequest request;
  ASSERT_TRUE(request.ParseFromString(bytes.str()));
  ASSERT_EQ(request.findings_size(), 5);
  EXPECT_EQ(request.findings(0).id(), "kev-1");
  EXPECT_EQ(request.findings(2).id(), "kev-1#2");
  // A what-if request unless --record (for a load generator's bytes too).
  EXPECT_TRUE(request.skip_record());
  run = Treatctl({"bench", findings_, "--mode", "unary", "--record",
                  "--write-request", path});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::ifstream recorded(path, std::ios::binary);
  bytes.str("");
  bytes << recorded.rdbuf();
  v1::DecideRequest unary;
  ASSERT_TRUE(unary.ParseFromString(bytes.str()));
  EXPECT_FALSE(unary.skip_record());
}

TEST_F(TreatctlBenchTest, WithoutATargetIsAUsageError) {
  RunResult run = Treatctl({"bench", findings_});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("--target"));
}

}  // namespace
}  // namespace treatd
