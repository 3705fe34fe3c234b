// Flags and config, log lines, metrics and the startup banner of the server.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "common/install/data_files.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/server_builder_option.h"
#include "gtest/gtest.h"
#include "server/call_governor.h"
#include "server/logging.h"
#include "server/metrics/metrics.h"
#include "server/policy_store.h"
#include "server/server_config.h"
#include "server/startup_banner.h"
#include "server/transport.h"
#include "tests/server/test_policies.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;

ParsedServerFlags Parse(std::vector<const char*> args, std::ostream& out,
                        std::ostream& err) {
  args.insert(args.begin(), "treatd");
  return ParseServerFlags(static_cast<int>(args.size()), args.data(), out, err);
}

TEST(ServerConfigTest, DefaultsBindLoopbackWithDocumentedLimits) {
  std::ostringstream out, err;
  ParsedServerFlags parsed = Parse({}, out, err);
  ASSERT_FALSE(parsed.exit_code.has_value()) << err.str();
  EXPECT_EQ(parsed.config.listen, "127.0.0.1:50051");
  // The shipped files, found from the binary (here: its source tree), so
  // the defaults work from any directory.
  EXPECT_EQ(parsed.config.policy_path, DataFilePath(DataFile::kDefaultPolicy));
  EXPECT_TRUE(absl::StartsWith(parsed.config.policy_path, "/"));
  EXPECT_TRUE(
      absl::EndsWith(parsed.config.policy_path, "/policies/default.yaml"));
  EXPECT_TRUE(absl::EndsWith(parsed.config.kev_path,
                             "/intel/known_exploited_vulnerabilities.json"));
  EXPECT_TRUE(
      absl::EndsWith(parsed.config.epss_path, "/intel/epss_scores_sample.csv"));
  EXPECT_EQ(parsed.config.max_batch, 10000);
  EXPECT_EQ(parsed.config.max_message_bytes, 16 * 1024 * 1024);
  EXPECT_EQ(parsed.config.finding_limits.max_string_bytes, 4096u);
  EXPECT_EQ(parsed.config.finding_limits.max_repeated, 256u);
}

TEST(DataFilesTest, AnInstallPrefixWinsOverTheSourceTree) {
  const std::string prefix =
      absl::StrCat(::testing::TempDir(), "/data_files_test_", getpid());
  std::filesystem::create_directories(prefix + "/bin");
  std::filesystem::create_directories(prefix + "/share/treatd/intel");
  std::ofstream(prefix + "/share/treatd/default.yaml") << "name: x\n";
  EXPECT_EQ(DataFilePathFrom(DataFile::kDefaultPolicy, prefix + "/bin"),
            prefix + "/share/treatd/default.yaml");
  // Not installed there: the source tree the binary was built from.
  EXPECT_TRUE(
      absl::EndsWith(DataFilePathFrom(DataFile::kKevSnapshot, prefix + "/bin"),
                     "/intel/known_exploited_vulnerabilities.json"));
  EXPECT_TRUE(std::filesystem::exists(
      DataFilePathFrom(DataFile::kKevSnapshot, prefix + "/bin")));
  std::filesystem::remove_all(prefix);
}

TEST(ServerConfigTest, FlagsOverrideDefaults) {
  std::ostringstream out, err;
  ParsedServerFlags parsed =
      Parse({"--listen", "0.0.0.0:0", "--max-batch", "5", "--max-string-bytes",
             "64", "--max-list-entries", "8", "--shutdown-grace-seconds", "0.5",
             "--log-level", "warning"},
            out, err);
  ASSERT_FALSE(parsed.exit_code.has_value()) << err.str();
  EXPECT_EQ(parsed.config.listen, "0.0.0.0:0");
  EXPECT_EQ(parsed.config.max_batch, 5);
  EXPECT_EQ(parsed.config.finding_limits.max_string_bytes, 64u);
  EXPECT_EQ(parsed.config.finding_limits.max_repeated, 8u);
  EXPECT_EQ(parsed.config.shutdown_grace, absl::Milliseconds(500));
  EXPECT_EQ(parsed.config.log_level, LogLevel::kWarning);
}

// --max-connection-idle-seconds 0 is "never", not the default (300 s).
TEST(ServerConfigTest, ZeroConnectionIdleIsKeptAsZero) {
  std::ostringstream out, err;
  ParsedServerFlags defaults = Parse({}, out, err);
  ASSERT_FALSE(defaults.exit_code.has_value()) << err.str();
  EXPECT_EQ(defaults.config.max_connection_idle, absl::Minutes(5));
  ParsedServerFlags zero =
      Parse({"--max-connection-idle-seconds", "0"}, out, err);
  ASSERT_FALSE(zero.exit_code.has_value()) << err.str();
  EXPECT_EQ(zero.config.max_connection_idle, absl::ZeroDuration());
}

// Records the integer channel arguments a ServerBuilder hands its server:
// added after ConfigureTransport(), it is given them last.
class IntArgumentsSpy : public grpc::ServerBuilderOption {
 public:
  explicit IntArgumentsSpy(std::map<std::string, int>* ints) : ints_(ints) {}
  void UpdateArguments(grpc::ChannelArguments* args) override {
    const grpc_channel_args c = args->c_channel_args();
    for (size_t i = 0; i < c.num_args; ++i) {
      if (c.args[i].type == GRPC_ARG_INTEGER) {
        (*ints_)[c.args[i].key] = c.args[i].value.integer;
      }
    }
  }
  void UpdatePlugins(
      std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*) override {}

 private:
  std::map<std::string, int>* ints_;
};

// The idle limit gRPC is given for --max-connection-idle-seconds, or -1
// when it is given none (gRPC then never closes an idle connection).
int ConnectionIdleArgument(absl::Duration idle) {
  ServerConfig config;
  config.max_connection_idle = idle;
  std::unique_ptr<CallGovernor> governor =
      CallGovernor::Create(config.call_limits, nullptr);
  grpc::ServerBuilder builder;
  ConfigureTransport(config, governor.get(), &builder);
  std::map<std::string, int> ints;
  builder.SetOption(std::make_unique<IntArgumentsSpy>(&ints));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server != nullptr) server->Shutdown();
  EXPECT_TRUE(ints.count(GRPC_ARG_KEEPALIVE_TIME_MS)) << "spy saw nothing";
  const auto it = ints.find(GRPC_ARG_MAX_CONNECTION_IDLE_MS);
  return it == ints.end() ? -1 : it->second;
}

// 0 leaves gRPC's idle limit (and its per-call filter) out: neither 0 ms
// (close at once) nor the default. LimitsTest in security_test.cc checks
// the behaviour over a connection; 300 s is too long to wait for there.
TEST(TransportTest, ZeroConnectionIdleGivesGrpcNoIdleLimit) {
  EXPECT_EQ(ConnectionIdleArgument(absl::ZeroDuration()), -1);
  EXPECT_EQ(ConnectionIdleArgument(absl::Milliseconds(500)), 500);
  EXPECT_EQ(ConnectionIdleArgument(ServerConfig().max_connection_idle), 300000);
}

TEST(ServerConfigTest, RejectsOutOfRangeValuesWithUsageExit) {
  std::ostringstream out, err;
  ParsedServerFlags parsed = Parse({"--max-batch", "0"}, out, err);
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 2);
  EXPECT_THAT(err.str(), HasSubstr("--max-batch"));
}

TEST(ServerConfigTest, HelpExitsZeroAndListsFlagsAndExitCodes) {
  std::ostringstream out, err;
  ParsedServerFlags parsed = Parse({"--help"}, out, err);
  ASSERT_TRUE(parsed.exit_code.has_value());
  EXPECT_EQ(*parsed.exit_code, 0);
  EXPECT_THAT(out.str(), HasSubstr("--max-message-bytes"));
  EXPECT_THAT(out.str(), HasSubstr("--config"));
  EXPECT_THAT(out.str(), HasSubstr("Exit codes"));
}

TEST(LoggingTest, FormatsOneJsonObjectWithEscapedFields) {
  const std::string line = FormatLogLine(
      absl::FromUnixSeconds(0), LogLevel::kWarning, "say \"hi\"\n",
      {{"path", "a\\b"}, {"port", 50051}, {"ok", true}, {"ratio", 0.5}});
  EXPECT_EQ(line,
            R"({"ts":"1970-01-01T00:00:00.000000Z","level":"warning",)"
            R"("msg":"say \"hi\"\n","fields":{"path":"a\\b","port":50051,)"
            R"("ok":true,"ratio":0.5}})");
}

TEST(LoggingTest, WritesLinesAtOrAboveTheMinimumLevelToTheSink) {
  std::ostringstream sink;
  SetLogSink(&sink, LogLevel::kWarning);
  LogInfo("dropped");
  LogError("kept", {{"code", 3}});
  SetLogSink(nullptr);
  EXPECT_THAT(sink.str(), ::testing::Not(HasSubstr("dropped")));
  EXPECT_THAT(sink.str(), HasSubstr(R"("level":"error","msg":"kept")"));
  EXPECT_EQ(sink.str().back(), '\n');
}

// The series are kept after their first use (metrics.h); repeated calls
// land on the same series, and label sets whose text runs together stay
// apart.
TEST(ServerMetricsTest, KeptSeriesCountLikeFreshOnes) {
  PolicyStore store;
  auto metrics = ServerMetrics::Create("", &store, absl::ZeroDuration());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  constexpr char kDecide[] = "/treatd.v1.TreatmentService/Decide";
  for (int i = 0; i < 3; ++i) {
    (*metrics)->CallStarted(kDecide);
    (*metrics)->CallFinished(kDecide, grpc::StatusCode::OK,
                             absl::Milliseconds(2));
  }
  (*metrics)->CallStarted(kDecide);
  v1::Decision short_priority;
  short_priority.set_treatment(v1::TREATMENT_REMEDIATE);
  short_priority.set_priority("P1");
  short_priority.set_matched_rule("0x");
  v1::Decision long_priority = short_priority;
  long_priority.set_priority("P10");
  long_priority.set_matched_rule("x");
  (*metrics)->RecordDecision(short_priority);
  (*metrics)->RecordDecision(long_priority);
  (*metrics)->RecordDecision(short_priority);

  const std::string page = (*metrics)->Render();
  EXPECT_THAT(page, HasSubstr("treatd_rpcs_in_flight{method=\"/treatd.v1."
                              "TreatmentService/Decide\"} 1"));
  EXPECT_THAT(page, HasSubstr("treatd_rpc_duration_seconds_count{method=\"/"
                              "treatd.v1.TreatmentService/Decide\"} 3"));
  EXPECT_THAT(page, HasSubstr("treatd_rpc_duration_seconds_bucket{method=\"/"
                              "treatd.v1.TreatmentService/Decide\",le="
                              "\"0.0025\"} 3"));
  EXPECT_THAT(page,
              HasSubstr("treatd_decisions_total{priority=\"P1\","
                        "rule=\"0x\",treatment=\"TREATMENT_REMEDIATE\"} 2"));
  EXPECT_THAT(page,
              HasSubstr("treatd_decisions_total{priority=\"P10\","
                        "rule=\"x\",treatment=\"TREATMENT_REMEDIATE\"} 1"));
}

// The HTTP endpoint stops at once, on a loopback or a wildcard address (its
// listener thread took up to 2 s to notice, at every exit of treatd).
TEST(ServerMetricsTest, StopsServingWithinASecond) {
  PolicyStore store;
  for (const char* listen : {"127.0.0.1:0", "0.0.0.0:0"}) {
    SCOPED_TRACE(listen);
    auto metrics = ServerMetrics::Create(listen, &store, absl::ZeroDuration());
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    ASSERT_NE((*metrics)->port(), 0);
    // Time for its listener thread to be waiting for connections.
    absl::SleepFor(absl::Milliseconds(100));
    const absl::Time start = absl::Now();
    metrics->reset();
    // Milliseconds when idle; a second leaves room for a loaded machine.
    EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  }
}

// A scrape reads the active policy and the reload counters at one moment:
// the policy it names is the one the counted reloads led to, even while
// reloads go on.
TEST(ServerMetricsTest, AScrapePairsThePolicyWithItsReloadCount) {
  PolicyStore store;
  auto metrics = ServerMetrics::Create("", &store, absl::ZeroDuration());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  // Reload n activates version "odd" or "even", as n is.
  std::shared_ptr<const ActivePolicy> snapshots[2];
  for (int i = 0; i < 2; ++i) {
    const std::string document = absl::StrReplaceAll(
        testing::kGoodPolicy,
        {{"version: \"1.2\"", i == 1 ? "version: odd" : "version: even"}});
    auto policy = CompiledPolicy::Compile(document, "good.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    auto pipeline = DecisionPipeline::Create(*policy, nullptr, {});
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    auto active = std::make_shared<ActivePolicy>();
    active->policy = *policy;
    active->pipeline = *pipeline;
    active->source = "good.yaml";
    snapshots[i] = std::move(active);
  }
  v1::ReloadResult ok;
  ok.set_ok(true);
  std::atomic<bool> stop{false};
  std::thread reloads([&] {
    for (int n = 1; !stop.load(); ++n) store.Publish(snapshots[n % 2], ok);
  });
  const std::string kOk = "treatd_policy_reloads_total{result=\"ok\"} ";
  int scraped = 0;
  int mismatched = 0;
  while (scraped < 20000) {
    const std::string page = (*metrics)->Render();
    const bool odd = absl::StrContains(page, "version=\"odd\"");
    if (!odd && !absl::StrContains(page, "version=\"even\"")) continue;
    const size_t at = page.find(kOk);
    ASSERT_NE(at, std::string::npos) << page;
    int64_t reloads = 0;
    ASSERT_TRUE(absl::SimpleAtoi(
        page.substr(at + kOk.size(), page.find('\n', at) - at - kOk.size()),
        &reloads));
    ++scraped;
    if ((reloads % 2 == 1) != odd) ++mismatched;
  }
  stop = true;
  reloads.join();
  EXPECT_EQ(mismatched, 0) << "of " << scraped << " scrapes";
}

TEST(StartupBannerTest, NamesTheAddressAndARunnableTreatctlCommand) {
  EXPECT_EQ(StartupBanner("./build/server/treatd", "127.0.0.1:50051"),
            "treatd listening on 127.0.0.1:50051; try: "
            "./build/client/treatctl decide --target 127.0.0.1:50051 "
            "examples/findings.jsonl");
  EXPECT_EQ(SiblingTreatctlPath("treatd"), "treatctl");
  EXPECT_EQ(SiblingTreatctlPath("/opt/treatd/build/server/treatd"),
            "/opt/treatd/build/client/treatctl");
}

}  // namespace
}  // namespace treatd
