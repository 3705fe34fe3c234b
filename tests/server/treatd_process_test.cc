// The treatd binary as a process: it prints where it listens and the next
// command, serves, and exits 0 on SIGTERM after draining.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/server/subprocess.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using testing::Subprocess;

std::string WriteTempFile(const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(
      ::testing::TempDir(), "/treatd_process_test_", getpid(), "_", name);
  std::ofstream(path) << text;
  return path;
}

// The address from "treatd listening on ADDR; try: ...".
std::string AddressFromBanner(const std::string& banner) {
  const std::string prefix = "treatd listening on ";
  const size_t end = banner.find(';');
  if (banner.rfind(prefix, 0) != 0 || end == std::string::npos) return "";
  return banner.substr(prefix.size(), end - prefix.size());
}

TEST(TreatdProcessTest, ServesAndExitsCleanlyOnSigterm) {
  const std::string policy = WriteTempFile("good.yaml", testing::kGoodPolicy);
  auto process = Subprocess::Start(
      {TREATD_BINARY, "--ledger-off", "--listen", "127.0.0.1:0", "--policy",
       policy, "--shutdown-grace-seconds", "2", "--kev", "", "--epss", ""});
  ASSERT_NE(process, nullptr);
  std::string banner;
  ASSERT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(20)))
      << process->stderr_text();
  const std::string address = AddressFromBanner(banner);
  ASSERT_THAT(address, StartsWith("127.0.0.1:"));
  EXPECT_THAT(banner, HasSubstr(absl::StrCat("decide --target ", address,
                                             " examples/findings.jsonl")));

  auto stub = v1::TreatmentService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::DecideRequest request;
  request.mutable_finding()->set_id("p-1");
  request.mutable_finding()->set_kind(v1::FINDING_KIND_VULNERABILITY);
  v1::DecideResponse response;
  grpc::Status status = stub->Decide(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision().treatment(), v1::TREATMENT_REMEDIATE);

  process->Signal(SIGTERM);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 0);
  // Structured logs: one JSON object per line.
  EXPECT_THAT(process->stderr_text(),
              HasSubstr(R"("level":"info","msg":"listening")"));
  EXPECT_THAT(process->stderr_text(), HasSubstr(R"("msg":"stopped")"));
}

// Starts `binary` (treatd) with its default policy and feeds in
// `working_directory`, decides a KEV-listed CVE and stops it. Returns the
// log, or "" after a failed expectation.
std::string ServeWithShippedDefaults(const std::string& binary,
                                     const std::string& working_directory,
                                     std::string* banner_out = nullptr) {
  auto process = Subprocess::Start(
      {binary, "--ledger-off", "--listen", "127.0.0.1:0", "--metrics-listen",
       "", "--shutdown-grace-seconds", "1"},
      working_directory);
  EXPECT_NE(process, nullptr);
  if (process == nullptr) return "";
  std::string banner;
  if (!process->ReadStdoutLine(&banner, absl::Seconds(30))) {
    ADD_FAILURE() << "no banner: " << process->stderr_text();
    return "";
  }
  if (banner_out != nullptr) *banner_out = banner;
  const std::string address = AddressFromBanner(banner);
  auto stub = v1::TreatmentService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::DecideRequest request;
  request.mutable_finding()->set_id("log4shell");
  request.mutable_finding()->set_kind(v1::FINDING_KIND_VULNERABILITY);
  // Only the CVE id: the shipped KEV snapshot must supply the listing.
  request.mutable_finding()->mutable_vulnerability()->set_cve_id(
      "CVE-2021-44228");
  v1::DecideResponse response;
  grpc::Status status = stub->Decide(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.decision().policy().name(), "default");
  EXPECT_THAT(absl::StrJoin(response.decision().intel().feed_versions(), ","),
              HasSubstr("CISA KEV"));
  process->Signal(SIGTERM);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 0);
  return process->stderr_text();
}

TEST(TreatdProcessTest, StartsFromTheRootDirectoryWithTheShippedFiles) {
  const std::string log = ServeWithShippedDefaults(TREATD_BINARY, "/");
  // A build-tree binary uses the files of its source tree.
  EXPECT_THAT(log, HasSubstr(absl::StrCat("\"path\":\"", TREATD_SOURCE_DIR,
                                          "/policies/default.yaml\"")));
}

TEST(TreatdProcessTest, InstalledBinariesFindTheirShareDirectoryFromAnywhere) {
  // TempDir() ends with a slash; the binaries report clean paths.
  std::string prefix = ::testing::TempDir();
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  absl::StrAppend(&prefix, "/treatd_process_test_", getpid(), "_prefix");
  auto install =
      Subprocess::Start({CMAKE_COMMAND, "--install", TREATD_BUILD_DIR,
                         "--prefix", prefix, "--component", "server"});
  ASSERT_NE(install, nullptr);
  ASSERT_EQ(install->Wait(absl::Seconds(60)), 0) << install->stderr_text();

  std::string banner;
  const std::string log = ServeWithShippedDefaults(
      absl::StrCat(prefix, "/bin/treatd"), "/", &banner);
  // The hint names the installed treatctl beside it.
  EXPECT_THAT(banner,
              HasSubstr(absl::StrCat("; try: ", prefix, "/bin/treatctl ")));
  EXPECT_THAT(log, HasSubstr(absl::StrCat("\"path\":\"", prefix,
                                          "/share/treatd/default.yaml\"")));

  // treatctl names the same shipped policy "default", from any directory.
  auto validate = Subprocess::Start(
      {absl::StrCat(prefix, "/bin/treatctl"), "policy", "validate", "default"},
      "/");
  ASSERT_NE(validate, nullptr);
  EXPECT_EQ(validate->Wait(absl::Seconds(30)), 0) << validate->stderr_text();
  EXPECT_THAT(
      validate->stdout_text(),
      HasSubstr(absl::StrCat(prefix, "/share/treatd/default.yaml: OK")));

  // A flag still overrides the shipped file.
  const std::string policy =
      WriteTempFile("override.yaml", testing::kGoodPolicy);
  auto overridden = Subprocess::Start(
      {absl::StrCat(prefix, "/bin/treatd"), "--ledger-off", "--listen",
       "127.0.0.1:0", "--metrics-listen", "", "--policy", policy, "--epss", ""},
      "/");
  ASSERT_NE(overridden, nullptr);
  ASSERT_TRUE(overridden->ReadStdoutLine(&banner, absl::Seconds(30)))
      << overridden->stderr_text();
  overridden->Signal(SIGTERM);
  EXPECT_EQ(overridden->Wait(absl::Seconds(20)), 0);
  EXPECT_THAT(overridden->stderr_text(),
              HasSubstr(absl::StrCat("\"path\":\"", policy, "\"")));
  std::filesystem::remove_all(prefix);
}

TEST(TreatdProcessTest, ExitsWithThreeWhenThePolicyIsInvalid) {
  const std::string policy =
      WriteTempFile("broken.yaml", testing::kBrokenPolicy);
  auto process = Subprocess::Start({TREATD_BINARY, "--ledger-off", "--listen",
                                    "127.0.0.1:0", "--policy", policy, "--kev",
                                    "", "--epss", ""});
  ASSERT_NE(process, nullptr);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 3);
  EXPECT_THAT(process->stderr_text(), HasSubstr("cannot load policy"));
  EXPECT_THAT(process->stderr_text(), HasSubstr("P9"));
}

TEST(TreatdProcessTest, ExitsWithTwoOnAnUnknownFlag) {
  auto process = Subprocess::Start({TREATD_BINARY, "--no-such-flag"});
  ASSERT_NE(process, nullptr);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 2);
}

TEST(TreatdProcessTest, ReadsOptionsFromAConfigFile) {
  const std::string policy = WriteTempFile("good2.yaml", testing::kGoodPolicy);
  const std::string config = WriteTempFile(
      "treatd.toml", absl::StrCat("listen = \"127.0.0.1:0\"\npolicy = \"",
                                  policy, "\"\nmax-batch = 7\n"));
  auto process = Subprocess::Start({TREATD_BINARY, "--ledger-off", "--config",
                                    config, "--kev", "", "--epss", ""});
  ASSERT_NE(process, nullptr);
  std::string banner;
  ASSERT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(20)))
      << process->stderr_text();
  EXPECT_THAT(AddressFromBanner(banner), StartsWith("127.0.0.1:"));
  process->Signal(SIGINT);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 0);
  EXPECT_THAT(process->stderr_text(), HasSubstr(R"("max_batch":7)"));
}

// SIGHUP reloads (polling is off, so nothing else could have); a missing
// feed file at start is a startup error like a bad policy.
TEST(TreatdProcessTest, ReloadsOnSighup) {
  const std::string policy = WriteTempFile("hup.yaml", testing::kGoodPolicy);
  auto process = Subprocess::Start(
      {TREATD_BINARY, "--ledger-off", "--listen", "127.0.0.1:0", "--policy",
       policy, "--reload-poll-ms", "0", "--kev",
       absl::StrCat(TREATD_SOURCE_DIR,
                    "/intel/known_exploited_vulnerabilities.json"),
       "--epss",
       absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv"),
       "--shutdown-grace-seconds", "1"});
  ASSERT_NE(process, nullptr);
  std::string banner;
  ASSERT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(20)))
      << process->stderr_text();
  const std::string address = AddressFromBanner(banner);
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::TreatmentService::NewStub(channel);
  auto version = [&stub] {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::GetPolicyResponse response;
    grpc::Status status =
        stub->GetPolicy(&context, v1::GetPolicyRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  EXPECT_EQ(version().policy().version(), "1.2");

  std::string changed = testing::kGoodPolicy;
  changed.replace(changed.find("version: \"1.2\""), 14, "version: \"1.3\"");
  { std::ofstream(policy) << changed; }
  process->Signal(SIGHUP);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (version().policy().version() != "1.3" && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const v1::GetPolicyResponse after = version();
  EXPECT_EQ(after.policy().version(), "1.3");
  EXPECT_EQ(after.last_reload().trigger(), "sighup");

  process->Signal(SIGTERM);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 0);
}

TEST(TreatdProcessTest, ExitsWithThreeWhenAFeedCannotBeLoaded) {
  const std::string policy = WriteTempFile("feed.yaml", testing::kGoodPolicy);
  auto process = Subprocess::Start({TREATD_BINARY, "--ledger-off", "--listen",
                                    "127.0.0.1:0", "--policy", policy, "--kev",
                                    "/nonexistent/kev.json", "--epss", ""});
  ASSERT_NE(process, nullptr);
  EXPECT_EQ(process->Wait(absl::Seconds(20)), 3);
  EXPECT_THAT(process->stderr_text(), HasSubstr("/nonexistent/kev.json"));
}

// Kubernetes and load balancers may keep a grpc.health.v1 Watch open: on
// SIGTERM it gets NOT_SERVING and ends, and the open watch does not keep
// the process draining for its grace, in either server mode.
TEST(TreatdProcessTest, SigtermEndsAnOpenHealthWatchWellBeforeTheGrace) {
  using grpc::health::v1::HealthCheckResponse;
  const std::string policy = WriteTempFile("good.yaml", testing::kGoodPolicy);
  for (const char* event_loop_threads : {"0", "1"}) {
    SCOPED_TRACE(absl::StrCat("--event-loop-threads ", event_loop_threads));
    auto process = Subprocess::Start(
        {TREATD_BINARY, "--ledger-off", "--listen", "127.0.0.1:0", "--policy",
         policy, "--kev", "", "--epss", "", "--metrics-listen", "",
         "--drain-delay-seconds", "0", "--shutdown-grace-seconds", "20",
         "--event-loop-threads", event_loop_threads});
    ASSERT_NE(process, nullptr);
    std::string banner;
    ASSERT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(20)))
        << process->stderr_text();
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        AddressFromBanner(banner), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    // Past the grace: a watch held until the grace ends fails below, not
    // here.
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(25)));
    auto watch = stub->Watch(&context, grpc::health::v1::HealthCheckRequest());
    HealthCheckResponse response;
    ASSERT_TRUE(watch->Read(&response));
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

    const absl::Time start = absl::Now();
    process->Signal(SIGTERM);
    HealthCheckResponse::ServingStatus last = response.status();
    while (watch->Read(&response)) last = response.status();
    const grpc::Status status = watch->Finish();
    const absl::Duration watch_ended = absl::Now() - start;
    EXPECT_EQ(last, HealthCheckResponse::NOT_SERVING);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED)
        << status.error_message();
    EXPECT_EQ(status.error_message(), "not writing due to shutdown");
    EXPECT_EQ(process->Wait(absl::Seconds(25)), 0) << process->stderr_text();
    // Far below the 20 s grace: the watch ends within milliseconds. The
    // exit may take up to 5 s more with no call in flight: this test's
    // channel stays open, and gRPC closes it only once the client has
    // answered the server's PING, which an idle C++ channel reads in its
    // 5 s backup poll (docs/server.md, Shutdown).
    EXPECT_LT(watch_ended, absl::Seconds(5));
    EXPECT_LT(absl::Now() - start, absl::Seconds(12));
  }
}

// treatd with `policy`, no ledger and no feeds, on 127.0.0.1 port 0 and
// --event-loop-threads `event_loop_threads`; `address` is where it
// listens once it has said so (null process on failure to start).
std::unique_ptr<Subprocess> StartServing(const std::string& policy,
                                         const char* event_loop_threads,
                                         const char* metrics_listen,
                                         std::string* address) {
  auto process = Subprocess::Start(
      {TREATD_BINARY, "--ledger-off", "--listen", "127.0.0.1:0", "--policy",
       policy, "--kev", "", "--epss", "", "--metrics-listen", metrics_listen,
       "--event-loop-threads", event_loop_threads});
  if (process == nullptr) return nullptr;
  std::string banner;
  EXPECT_TRUE(process->ReadStdoutLine(&banner, absl::Seconds(20)))
      << process->stderr_text();
  *address = AddressFromBanner(banner);
  return process;
}

// One Decide of a vulnerability finding over `channel`.
grpc::Status DecideOnce(const std::shared_ptr<grpc::Channel>& channel,
                        v1::DecideRequest* decide) {
  grpc::ClientContext context;
  decide->mutable_finding()->set_id("p-1");
  decide->mutable_finding()->set_kind(v1::FINDING_KIND_VULNERABILITY);
  v1::DecideResponse decided;
  return v1::TreatmentService::NewStub(channel)->Decide(&context, *decide,
                                                        &decided);
}

// The names of the process's threads, sorted
// (/proc/PID/task/*/comm).
std::vector<std::string> ThreadNames(pid_t pid) {
  std::vector<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator(
           absl::StrCat("/proc/", pid, "/task"))) {
    std::string name;
    std::getline(std::ifstream(task.path() / "comm"), name);
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// On an event loop no method is on the callback API: gRPC's "nexting"
// threads, which would poll the loop's connections too
// (docs/performance.md), are never started, not even once health Check
// and Watch (on the loop's queues) have been served. The default mode has
// them, as a check that they are seen.
TEST(TreatdProcessTest, AnEventLoopServesHealthWithoutCallbackThreads) {
  using grpc::health::v1::HealthCheckResponse;
  const std::string policy = WriteTempFile("good.yaml", testing::kGoodPolicy);
  for (const char* event_loop_threads : {"0", "1"}) {
    SCOPED_TRACE(absl::StrCat("--event-loop-threads ", event_loop_threads));
    std::string address;
    auto process = StartServing(policy, event_loop_threads, "", &address);
    ASSERT_NE(process, nullptr);
    {
      auto channel =
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      auto health = grpc::health::v1::Health::NewStub(channel);
      grpc::ClientContext watch_context;
      watch_context.set_deadline(
          absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
      auto watch =
          health->Watch(&watch_context, grpc::health::v1::HealthCheckRequest());
      HealthCheckResponse response;
      ASSERT_TRUE(watch->Read(&response));
      EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
      grpc::ClientContext check_context;
      ASSERT_TRUE(health
                      ->Check(&check_context,
                              grpc::health::v1::HealthCheckRequest(), &response)
                      .ok());
      EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
      v1::DecideRequest decide;
      ASSERT_TRUE(DecideOnce(channel, &decide).ok());

      const std::vector<std::string> names = ThreadNames(process->pid());
      if (std::string(event_loop_threads) == "0") {
        EXPECT_THAT(names, Contains("nexting_thread"));
      } else {
        EXPECT_THAT(names, Not(Contains("nexting_thread")));
      }
      watch_context.TryCancel();
      while (watch->Read(&response)) {
      }
      watch->Finish();
    }  // The client hangs up: the exit need not wait for its channel.
    process->Signal(SIGTERM);
    EXPECT_EQ(process->Wait(absl::Seconds(15)), 0) << process->stderr_text();
  }
}

// Nothing in flight, the client gone: SIGTERM to exit takes milliseconds,
// whichever thread pools have served (callback and sync methods, or the
// event loop). Stopping the metrics endpoint took 0 to 2 s before (the
// listener thread of its HTTP server noticed the stop only between polls
// of up to 2 s), at every exit. Eight runs, alternating the server modes,
// with the default 10 s grace.
TEST(TreatdProcessTest, ExitsPromptlyOnSigtermWithNothingInFlight) {
  const std::string policy = WriteTempFile("good.yaml", testing::kGoodPolicy);
  for (int run = 0; run < 8; ++run) {
    const char* event_loop_threads = run % 2 == 0 ? "0" : "1";
    SCOPED_TRACE(absl::StrCat("run ", run, ", --event-loop-threads ",
                              event_loop_threads));
    std::string address;
    auto process =
        StartServing(policy, event_loop_threads, "127.0.0.1:0", &address);
    ASSERT_NE(process, nullptr);
    {
      auto channel =
          grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      auto treatment = v1::TreatmentService::NewStub(channel);
      auto health = grpc::health::v1::Health::NewStub(channel);
      for (int i = 0; i < 3; ++i) {
        v1::DecideRequest decide;
        const grpc::Status status = DecideOnce(channel, &decide);
        ASSERT_TRUE(status.ok()) << status.error_message();
        grpc::ClientContext batch_context;
        v1::BatchDecideRequest batch;
        *batch.add_findings() = decide.finding();
        v1::BatchDecideResponse batch_decided;
        ASSERT_TRUE(
            treatment->BatchDecide(&batch_context, batch, &batch_decided).ok());
        grpc::ClientContext health_context;
        grpc::health::v1::HealthCheckResponse serving;
        ASSERT_TRUE(health
                        ->Check(&health_context,
                                grpc::health::v1::HealthCheckRequest(),
                                &serving)
                        .ok());
      }
    }  // The client hangs up.

    const absl::Time start = absl::Now();
    process->Signal(SIGTERM);
    ASSERT_EQ(process->Wait(absl::Seconds(15)), 0) << process->stderr_text();
    // Milliseconds when idle; 1.5 s leaves room for a loaded machine and the
    // sanitizer builds, and stays under the 2 s the metrics listener's poll
    // used to hold every exit.
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500))
        << process->stderr_text();
  }
}

}  // namespace
}  // namespace treatd
