// Flags and config, log lines, metrics and the startup banner of the server.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/install/data_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/logging.h"
#include "server/metrics/metrics.h"
#include "server/policy_store.h"
#include "server/server_config.h"
#include "server/startup_banner.h"

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
