// The treatd binary's drain as a process: SIGTERM starts a graceful drain;
// a second SIGTERM ends it at once. Also: insecure security settings are a
// startup error.
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/subprocess.h"
#include "tests/server/test_policies.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;
using testing::Subprocess;

std::string WritePolicy() {
  const std::string path = absl::StrCat(
      ::testing::TempDir(), "/treatd_drain_test_", getpid(), ".yaml");
  std::ofstream(path) << testing::kGoodPolicy;
  return path;
}

TEST(TreatdDrainTest, SecondSignalExitsAtOnce) {
  auto process = Subprocess::Start(
      {TREATD_BINARY, "--ledger-off", "--listen", "127.0.0.1:0", "--policy",
       WritePolicy(), "--kev", "", "--epss", "", "--metrics-listen", "",
       "--drain-delay-seconds", "30", "--shutdown-grace-seconds", "30"});
  ASSERT_NE(process, nullptr);
  std::string banner;
  ASSERT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(20)))
      << process->stderr_text();
  process->Signal(SIGTERM);
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time start = absl::Now();
  process->Signal(SIGTERM);
  EXPECT_EQ(process->Wait(absl::Seconds(10)), 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_THAT(process->stderr_text(), HasSubstr("not serving; draining soon"));
}

TEST(TreatdDrainTest, TokensWithoutTlsDoNotStart) {
  auto process = Subprocess::Start(
      {TREATD_BINARY, "--ledger-off", "--listen", "127.0.0.1:0", "--policy",
       WritePolicy(), "--kev", "", "--epss", "", "--metrics-listen", "",
       "--tokens-file", "/nonexistent/tokens"});
  ASSERT_NE(process, nullptr);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 1);
  EXPECT_THAT(process->stderr_text(), HasSubstr("needs TLS"));
}

}  // namespace
}  // namespace treatd
