// Flags and config, log lines and the startup banner of the server.
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
