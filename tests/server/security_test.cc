// Issue 6 over real gRPC on loopback: TLS, mTLS, bearer tokens and roles,
// token rotation, the call limits, request ids in logs, Prometheus metrics
// and the drain. Certificates are generated per run with the openssl CLI.
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/faults/raw_calls.h"
#include "common/digest/sha256.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/call_governor.h"
#include "server/logging.h"
#include "server/policy_store.h"
#include "server/request_id.h"
#include "server/security/auth.h"
#include "server/security/roles.h"
#include "server/security/token_store.h"
#include "server/server.h"
#include "server/server_config.h"
#include "tests/client/treatctl_runner.h"
#include "tests/server/event_loop_mode.h"
#include "tests/server/test_policies.h"
#include "treatd/v1/admin_service.grpc.pb.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-decide-token-0123456789";
constexpr char kRootToken[] = "root-admin-token-0123456789abc";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Replaces `path` atomically (write, then rename), as operators are told to
// do, so a poller never reads a half-written file.
void WriteFile(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << content;
  }
  std::rename(temporary.c_str(), path.c_str());
}

// Throwaway PKI: a CA, a server certificate for localhost/127.0.0.1, a
// client certificate (CN ci-bot) and an unrelated CA.
class Pki {
 public:
  static const Pki& Get() {
    static const Pki* pki = new Pki();
    return *pki;
  }
  std::string Path(const std::string& name) const {
    return absl::StrCat(dir_, "/", name);
  }
  std::string Pem(const std::string& name) const { return ReadAll(Path(name)); }
  bool ok() const { return ok_; }

 private:
  Pki() {
    char templ[] = "/tmp/treatd-pki-XXXXXX";
    dir_ = mkdtemp(templ);
    WriteFile(Path("server.ext"),
              "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    WriteFile(Path("client.ext"), "subjectAltName=DNS:ci-bot.example\n");
    const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1";
    const std::string cd = absl::StrCat("cd ", dir_, " && ");
    auto run = [&](const std::string& cmd) {
      return std::system((cd + cmd + " >/dev/null 2>&1").c_str()) == 0;
    };
    ok_ =
        run("openssl req -x509 " + key +
            " -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca") &&
        run("openssl req -x509 " + key +
            " -nodes -keyout other.key -out other.pem -days 2 "
            "-subj /CN=other-ca") &&
        run("openssl req -new " + key +
            " -nodes -keyout server.key -out server.csr -subj /CN=localhost") &&
        run("openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
            "-CAcreateserial -out server.pem -days 2 -extfile server.ext") &&
        run("openssl req -new " + key +
            " -nodes -keyout client.key -out client.csr -subj /CN=ci-bot") &&
        run("openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
            "-CAcreateserial -out client.pem -days 2 -extfile client.ext");
  }
  std::string dir_;
  bool ok_ = false;
};

v1::Finding Vulnerability(const std::string& id, bool kev) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->mutable_kev()->set_listed(kev);
  return finding;
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "") {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (!token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
  return context;
}

// A raw GET of `path` on 127.0.0.1:`port`; the whole HTTP response.
std::string HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "connect failed";
  }
  const std::string request =
      absl::StrCat("GET ", path,
                   " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) < 0) {
    close(fd);
    return "write failed";
  }
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  return response;
}

// Every log line, for assertions.
class LogCapture {
 public:
  LogCapture() { SetLogSink(&stream_, LogLevel::kDebug); }
  ~LogCapture() { SetLogSink(nullptr); }
  std::string Text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
};

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Pki::Get().ok()) << "openssl failed";
    auto policy = CompiledPolicy::Compile(testing::kGoodPolicy, "good.yaml");
    ASSERT_TRUE(policy.ok()) << policy.status();
    store_.Set(*policy, "good.yaml", absl::Now());
    tokens_path_ = Pki::Get().Path(absl::StrCat(
        "tokens-",
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    WriteFile(
        tokens_path_,
        absl::StrCat("# test tokens\n", "token alice decide ", kAliceToken,
                     "\n", "token root admin sha256:", Sha256Hex(kRootToken),
                     "\n", "identity ci-bot decide\n"));
    config_.listen = "127.0.0.1:0";
    config_.event_loop_threads = testing::EventLoopThreadsForTest();
  }

  void UseTls(bool mtls, bool tokens) {
    config_.security.tls_cert_path = Pki::Get().Path("server.pem");
    config_.security.tls_key_path = Pki::Get().Path("server.key");
    if (mtls) config_.security.tls_client_ca_path = Pki::Get().Path("ca.pem");
    if (tokens) config_.security.tokens_path = tokens_path_;
  }

  void Start() {
    auto server = TreatdServer::Start(config_, &store_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& ca,
                                         bool client_cert = false) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Pki::Get().Pem(ca);
    if (client_cert) {
      ssl.pem_cert_chain = Pki::Get().Pem("client.pem");
      ssl.pem_private_key = Pki::Get().Pem("client.key");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(server_->address(),
                                     grpc::SslCredentials(ssl), args);
  }

  std::shared_ptr<grpc::Channel> Plaintext() {
    return grpc::CreateChannel(server_->address(),
                               grpc::InsecureChannelCredentials());
  }

  static grpc::Status Decide(grpc::Channel* channel,
                             const std::string& token = "",
                             grpc::ClientContext* context = nullptr) {
    auto stub = v1::TreatmentService::NewStub(channel->shared_from_this());
    v1::DecideRequest request;
    *request.mutable_finding() = Vulnerability("f1", true);
    v1::DecideResponse response;
    std::unique_ptr<grpc::ClientContext> owned;
    if (context == nullptr) {
      owned = Context(token);
      context = owned.get();
    }
    return stub->Decide(context, request, &response);
  }

  static grpc::Status Status(grpc::Channel* channel, const std::string& token) {
    auto stub = v1::AdminService::NewStub(channel->shared_from_this());
    v1::GetStatusResponse response;
    return stub->GetStatus(Context(token).get(), v1::GetStatusRequest(),
                           &response);
  }

  // grpc.health.v1.Health/Check for "", raw: "\x08\x01" is SERVING,
  // "\x08\x02" NOT_SERVING.
  static std::string Health(grpc::Channel* channel) {
    std::string response;
    const grpc::Status status =
        RawUnaryCall(channel, "/grpc.health.v1.Health/Check", "", &response);
    if (!status.ok()) return absl::StrCat("error ", status.error_code());
    return response;
  }

  PolicyStore store_;
  ServerConfig config_;
  std::string tokens_path_;
  std::unique_ptr<TreatdServer> server_;
};

TEST(RolesTest, MethodTableDefaultsClosed) {
  EXPECT_EQ(RequiredAccess("/grpc.health.v1.Health/Check"), Access::kOpen);
  EXPECT_EQ(RequiredAccess("/grpc.reflection.v1alpha.ServerReflection/"
                           "ServerReflectionInfo"),
            Access::kOpen);
  EXPECT_EQ(RequiredAccess("/treatd.v1.TreatmentService/Decide"),
            Access::kDecide);
  EXPECT_EQ(RequiredAccess("/treatd.v1.AdminService/Reload"), Access::kAdmin);
  EXPECT_EQ(RequiredAccess("/treatd.v1.SomethingNew/Do"), Access::kAdmin);
  EXPECT_TRUE(RoleAllows(Role::kAdmin, Access::kDecide));
  EXPECT_FALSE(RoleAllows(Role::kDecide, Access::kAdmin));
}

TEST(TokenTableTest, ParsesAndNeverQuotesSecrets) {
  auto table = ParseTokenTable(
      "token a decide secret-secret-secret\nidentity bot admin\n", "t");
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->tokens.size(), 1u);
  EXPECT_EQ(table->identities.at("bot").role, Role::kAdmin);

  auto bad_role = ParseTokenTable("token a root secret-secret-secret\n", "t");
  EXPECT_EQ(bad_role.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_role.status().message(), HasSubstr("t:1"));
  EXPECT_THAT(bad_role.status().message(), Not(HasSubstr("secret")));
  EXPECT_FALSE(ParseTokenTable("token a decide short\n", "t").ok());
  EXPECT_FALSE(ParseTokenTable("token a decide secret-secret-secret\n"
                               "token b admin secret-secret-secret\n",
                               "t")
                   .ok());
  EXPECT_FALSE(ParseTokenTable("token a decide sha256:abc\n", "t").ok());
  // A file that grants nobody (e.g. caught while truncated) is refused.
  EXPECT_FALSE(ParseTokenTable("", "t").ok());
  EXPECT_FALSE(ParseTokenTable("# only comments\n\n", "t").ok());
}

TEST_F(SecurityTest, TokensWithoutTlsAreRefusedAtStart) {
  config_.security.tokens_path = tokens_path_;
  auto server = TreatdServer::Start(config_, &store_);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SecurityTest, TlsServesAndRefusesPlaintextAndUnknownCa) {
  UseTls(/*mtls=*/false, /*tokens=*/false);
  Start();
  EXPECT_TRUE(Decide(Channel("ca.pem").get()).ok());
  EXPECT_EQ(Decide(Plaintext().get()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Decide(Channel("other.pem").get()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, MtlsRequiresAClientCertificate) {
  UseTls(/*mtls=*/true, /*tokens=*/false);
  Start();
  EXPECT_EQ(Decide(Channel("ca.pem").get()).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(Decide(Channel("ca.pem", /*client_cert=*/true).get()).ok());
}

TEST_F(SecurityTest, ClientLibraryTakesTheTlsOptions) {
  UseTls(/*mtls=*/true, /*tokens=*/true);
  Start();
  ClientOptions options;
  options.tls_root_ca_pem = Pki::Get().Pem("ca.pem");
  options.tls_client_cert_pem = Pki::Get().Pem("client.pem");
  options.tls_client_key_pem = Pki::Get().Pem("client.key");
  options.tls_server_name = "localhost";
  options.bearer_token = kRootToken;
  auto client = Client::Create(server_->address(), options);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Decide(Vulnerability("f", false)).ok());
  EXPECT_TRUE((*client)->GetStatus().ok());
  options.tls_client_key_pem.clear();
  EXPECT_EQ(Client::Create(server_->address(), options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// The Kubernetes probes (deploy/kubernetes/treatd.yaml) run `treatctl
// health` because the port is TLS with tokens on: it must pass with the CA
// and fail without it.
TEST_F(SecurityTest, TreatctlHealthProbesATlsPortWithTokensOn) {
  UseTls(/*mtls=*/false, /*tokens=*/true);
  Start();
  testing::TreatctlRun run = testing::RunTreatctl(
      {"health", "--target", server_->address(), "--tls-ca",
       Pki::Get().Path("ca.pem"), "--tls-server-name", "localhost", "--timeout",
       "5"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "SERVING\n");
  run = testing::RunTreatctl(
      {"health", "--target", server_->address(), "--timeout", "2"});
  EXPECT_EQ(run.exit_code, 4) << run.out;
}

TEST_F(SecurityTest, TokensAndRoles) {
  UseTls(/*mtls=*/false, /*tokens=*/true);
  Start();
  auto channel = Channel("ca.pem");
  const grpc::Status none = Decide(channel.get());
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Decide(channel.get(), "not-a-token-at-all-xxxx").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Decide(channel.get(), kAliceToken).ok());
  const grpc::Status denied = Status(channel.get(), kAliceToken);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(), HasSubstr("needs admin"));
  EXPECT_TRUE(Status(channel.get(), kRootToken).ok());
  EXPECT_TRUE(Decide(channel.get(), kRootToken).ok());  // admin ⊇ decide
  EXPECT_EQ(Health(channel.get()), "\x08\x01");         // open
}

TEST_F(SecurityTest, MtlsIdentityMapsToARole) {
  UseTls(/*mtls=*/true, /*tokens=*/true);
  Start();
  auto channel = Channel("ca.pem", /*client_cert=*/true);
  EXPECT_TRUE(Decide(channel.get()).ok());  // identity ci-bot: decide
  EXPECT_EQ(Status(channel.get(), "").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Status(channel.get(), kRootToken).ok());  // token wins
}

TEST_F(SecurityTest, TokenRotationThroughReloadAndPolling) {
  UseTls(/*mtls=*/false, /*tokens=*/true);
  config_.reload_poll = absl::Milliseconds(50);
  Start();
  auto channel = Channel("ca.pem");
  ASSERT_TRUE(Decide(channel.get(), kAliceToken).ok());

  const std::string rotated = "alice-rotated-token-9876543210";
  WriteFile(tokens_path_, absl::StrCat("token alice decide ", rotated, "\n"));
  ASSERT_TRUE(server_->ReloadCredentials().ok());
  EXPECT_EQ(Decide(channel.get(), kAliceToken).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Decide(channel.get(), rotated).ok());

  // A broken file keeps the previous tokens.
  WriteFile(tokens_path_, "token alice superuser x\n");
  EXPECT_FALSE(server_->ReloadCredentials().ok());
  EXPECT_TRUE(Decide(channel.get(), rotated).ok());

  // The poller picks up a change without SIGHUP.
  const std::string third = "alice-third-token-000000000000";
  WriteFile(tokens_path_, absl::StrCat("token alice decide ", third, "\n"));
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!Decide(channel.get(), third).ok() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(Decide(channel.get(), third).ok());
}

TEST_F(SecurityTest, LogsCarryRequestIdAndCallerButNoToken) {
  UseTls(/*mtls=*/false, /*tokens=*/true);
  Start();
  LogCapture logs;
  auto channel = Channel("ca.pem");
  auto context = Context(kAliceToken);
  context->AddMetadata("x-request-id", "req-42");
  ASSERT_TRUE(Decide(channel.get(), "", context.get()).ok());
  auto echoed = context->GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(echoed, context->GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(echoed->second.data(), echoed->second.size()),
            "req-42");
  EXPECT_EQ(Decide(channel.get(), "wrong-token-wrong-token").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const std::string text = logs.Text();
  EXPECT_THAT(text, HasSubstr("\"request_id\":\"req-42\""));
  EXPECT_THAT(text, HasSubstr("\"caller\":\"token:alice\""));
  EXPECT_THAT(text, Not(HasSubstr(kAliceToken)));
  EXPECT_THAT(text, Not(HasSubstr("wrong-token")));
  EXPECT_EQ(RequestIdFrom("bad id with spaces").size(), 32u);
}

// --- Limits -------------------------------------------------------------

using StreamPtr =
    std::unique_ptr<grpc::ClientReaderWriter<v1::StreamDecideRequest,
                                             v1::StreamDecideResponse>>;

class LimitsTest : public SecurityTest {
 protected:
  void StartPlain() {
    Start();
    channel_ = Plaintext();
    stub_ = v1::TreatmentService::NewStub(channel_);
  }
  // Opens a stream and waits for the answer to one finding, so the server
  // has admitted it.
  StreamPtr OpenStream(grpc::ClientContext* context) {
    StreamPtr stream = stub_->StreamDecide(context);
    v1::StreamDecideRequest request;
    *request.mutable_finding() = Vulnerability("s", false);
    v1::StreamDecideResponse response;
    if (!stream->Write(request) || !stream->Read(&response)) return nullptr;
    return stream;
  }
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TreatmentService::Stub> stub_;
};

TEST_F(LimitsTest, ConcurrentCalls) {
  config_.call_limits.max_concurrent_calls = 1;
  StartPlain();
  grpc::ClientContext context;
  StreamPtr stream = OpenStream(&context);
  ASSERT_NE(stream, nullptr);
  const grpc::Status refused = Decide(channel_.get());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max-concurrent-calls"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(Decide(channel_.get()).ok());       // The slot came back.
  EXPECT_EQ(Health(channel_.get()), "\x08\x01");  // Never limited.
}

TEST_F(LimitsTest, ConcurrentStreams) {
  config_.call_limits.max_concurrent_streams = 1;
  StartPlain();
  grpc::ClientContext first_context;
  StreamPtr first = OpenStream(&first_context);
  ASSERT_NE(first, nullptr);
  grpc::ClientContext second_context;
  StreamPtr second = stub_->StreamDecide(&second_context);
  v1::StreamDecideResponse response;
  EXPECT_FALSE(second->Read(&response));
  const grpc::Status refused = second->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max-concurrent-streams"));
  EXPECT_TRUE(Decide(channel_.get()).ok());  // Unary calls still fit.
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
}

// Decisions counted in the metrics so far, over every series.
int64_t DecisionsCounted(const std::string& page) {
  int64_t total = 0;
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (!absl::StartsWith(line, "treatd_decisions_total{")) continue;
    int64_t count = 0;
    if (absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &count)) {
      total += count;
    }
  }
  return total;
}

// A client that writes but stops reading its answers stops the stream:
// once HTTP/2 flow control holds the server's answers, the server reads
// and decides nothing more (it holds at most one decided answer besides
// the one being written), and it goes on where it stopped once the client
// reads.
TEST_F(LimitsTest, AStreamWhoseClientStopsReadingIsNotReadFurther) {
  config_.metrics_listen = "127.0.0.1:0";
  StartPlain();
  // Traced answers of 1,000 findings are large: about a dozen fill the
  // connection's and the stream's windows here.
  constexpr int kMessages = 80;
  constexpr int kChunk = 1000;
  v1::StreamDecideRequest chunk;
  chunk.set_trace(true);
  for (int i = 0; i < kChunk; ++i) {
    *chunk.add_findings() = Vulnerability(absl::StrCat("f-", i), i % 2 == 0);
  }
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
  StreamPtr stream = stub_->StreamDecide(&context);
  // The requests are small: the writer may finish long before the server
  // has read them all, or wait for the server's window.
  std::thread writer([&] {
    for (int m = 0; m < kMessages; ++m) {
      if (!stream->Write(chunk)) break;
    }
    stream->WritesDone();
  });
  // Until the count of decisions stands still for a second.
  int64_t decided = -1;
  for (int waited = 0; waited < 60; ++waited) {
    absl::SleepFor(absl::Seconds(1));
    const int64_t now = DecisionsCounted(server_->metrics()->Render());
    if (now == decided) break;
    decided = now;
  }
  EXPECT_GT(decided, 0);
  EXPECT_LT(decided, kMessages * kChunk / 2)
      << "the server went on reading while its answers were not read";
  v1::StreamDecideResponse response;
  int answered = 0;
  while (stream->Read(&response)) {
    EXPECT_EQ(response.sequence(), static_cast<uint64_t>(answered));
    EXPECT_EQ(response.results_size(), kChunk);
    ++answered;
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answered, kMessages);
  EXPECT_EQ(DecisionsCounted(server_->metrics()->Render()), kMessages * kChunk);
}

TEST_F(LimitsTest, IdleStreamIsClosed) {
  config_.call_limits.stream_idle_timeout = absl::Milliseconds(300);
  StartPlain();
  grpc::ClientContext context;
  StreamPtr stream = OpenStream(&context);
  ASSERT_NE(stream, nullptr);
  const absl::Time start = absl::Now();
  v1::StreamDecideResponse response;
  EXPECT_FALSE(stream->Read(&response));  // Blocks until the cut.
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("--stream-idle-seconds"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// A connection without calls for --max-connection-idle-seconds is closed
// (GOAWAY): the client's channel leaves READY by itself.
TEST_F(LimitsTest, IdleConnectionIsClosed) {
  config_.max_connection_idle = absl::Milliseconds(500);
  StartPlain();
  ASSERT_TRUE(Decide(channel_.get()).ok());
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(channel_->WaitForStateChange(
      GRPC_CHANNEL_READY,
      std::chrono::system_clock::now() + std::chrono::seconds(5)));
  EXPECT_TRUE(Decide(channel_.get()).ok());  // The client reconnects.
}

// --max-connection-idle-seconds 0: idle connections stay open (and gRPC
// leaves its idle-tracking filter out of every call).
TEST_F(LimitsTest, ZeroConnectionIdleKeepsIdleConnectionsOpen) {
  config_.max_connection_idle = absl::ZeroDuration();
  StartPlain();
  ASSERT_TRUE(Decide(channel_.get()).ok());
  ASSERT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_FALSE(channel_->WaitForStateChange(
      GRPC_CHANNEL_READY,
      std::chrono::system_clock::now() + std::chrono::milliseconds(1500)));
  EXPECT_EQ(channel_->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(Decide(channel_.get()).ok());
}

TEST_F(LimitsTest, ClientThatNeverReadsCannotPinTheServer) {
  config_.call_limits.stream_idle_timeout = absl::Milliseconds(500);
  config_.call_limits.max_concurrent_calls = 1;
  StartPlain();
  grpc::ClientContext context;
  StreamPtr stream = stub_->StreamDecide(&context);
  v1::StreamDecideRequest request;
  *request.mutable_finding() = Vulnerability("flood", true);
  // Writes until flow control stops the writer: the server's writes block
  // first, so it stops reading and buffers nothing more.
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (written < 5000000 && stream->Write(request)) ++written;
  });
  int last = -1;
  while (written != last) {
    last = written;
    absl::SleepFor(absl::Milliseconds(300));
  }
  EXPECT_LT(written, 5000000);  // Held back, not buffered without bound.
  // The stalled stream holds the only call slot until the idle timeout
  // cuts it off; then the slot is free again.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  grpc::Status decided = Decide(channel_.get());
  while (!decided.ok() && absl::Now() < give_up) {
    EXPECT_EQ(decided.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    absl::SleepFor(absl::Milliseconds(100));
    decided = Decide(channel_.get());
  }
  EXPECT_TRUE(decided.ok());
  context.TryCancel();  // Unblocks our own writer.
  writer.join();
  stream->Finish().IgnoreError();
}

TEST_F(LimitsTest, StreamDurationCeiling) {
  config_.call_limits.max_stream_duration = absl::Milliseconds(400);
  StartPlain();
  grpc::ClientContext context;  // No deadline of its own.
  StreamPtr stream = OpenStream(&context);
  ASSERT_NE(stream, nullptr);
  v1::StreamDecideRequest request;
  *request.mutable_finding() = Vulnerability("tick", false);
  v1::StreamDecideResponse response;
  const absl::Time start = absl::Now();
  // Busy, never idle: only the ceiling can stop it.
  while (absl::Now() - start < absl::Seconds(10) && stream->Write(request) &&
         stream->Read(&response)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("--max-stream-seconds"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(LimitsTest, AStreamInUseOutlivesTheIdleTimeout) {
  // Idle means no message: a stream that sends one every 100 ms for four
  // times the idle timeout is never cut off.
  config_.call_limits.stream_idle_timeout = absl::Milliseconds(300);
  StartPlain();
  grpc::ClientContext context;
  StreamPtr stream = OpenStream(&context);
  ASSERT_NE(stream, nullptr);
  v1::StreamDecideRequest request;
  *request.mutable_finding() = Vulnerability("busy", true);
  v1::StreamDecideResponse response;
  int answered = 0;
  for (const absl::Time end = absl::Now() + absl::Milliseconds(1200);
       absl::Now() < end; ++answered) {
    ASSERT_TRUE(stream->Write(request) && stream->Read(&response))
        << "cut off after " << answered << " answers";
    EXPECT_TRUE(response.result().has_decision());
    absl::SleepFor(absl::Milliseconds(100));
  }
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GE(answered, 8);
}

TEST_F(LimitsTest, UnaryCallCeilingCutsLongBatches) {
  config_.call_limits.max_call_duration = absl::ZeroDuration();
  StartPlain();
  // Every unary call already exceeds a zero ceiling when the watchdog looks;
  // a big batch takes long enough for it to look.
  v1::BatchDecideRequest request;
  for (int i = 0; i < 10000; ++i) {
    *request.add_findings() = Vulnerability(absl::StrCat("b", i), i % 2 == 0);
  }
  request.set_trace(true);
  v1::BatchDecideResponse response;
  grpc::Status status;
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  do {
    status = stub_->BatchDecide(Context().get(), request, &response);
  } while (status.ok() && absl::Now() < give_up);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("--max-call-seconds"));
}

TEST_F(LimitsTest, PolicySizeAndExpressionDepth) {
  config_.call_limits.max_policy_bytes = 2048;
  StartPlain();
  v1::ValidatePolicyRequest big;
  big.set_content(std::string(testing::kGoodPolicy) + "#" +
                  std::string(4096, 'x') + "\n");
  v1::ValidatePolicyResponse response;
  const grpc::Status refused =
      stub_->ValidatePolicy(Context().get(), big, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max-policy-bytes"));

  std::string deep = testing::kGoodPolicy;
  const std::string when = "when: vulnerability.kev.listed";
  deep.replace(deep.find(when), when.size(),
               absl::StrCat("when: ", std::string(100, '('),
                            "vulnerability.kev.listed", std::string(100, ')')));
  v1::ValidatePolicyRequest nested;
  nested.set_content(deep);
  ASSERT_TRUE(stub_->ValidatePolicy(Context().get(), nested, &response).ok());
  EXPECT_FALSE(response.valid());
  EXPECT_THAT(response.DebugString(), HasSubstr("nested deeper than"));
}

TEST_F(LimitsTest, MessageBatchStringAndListLimits) {
  config_.max_batch = 2;
  config_.max_message_bytes = 64 * 1024;
  config_.finding_limits.max_string_bytes = 64;
  config_.finding_limits.max_repeated = 2;
  StartPlain();
  v1::BatchDecideRequest batch;
  for (int i = 0; i < 3; ++i) *batch.add_findings() = Vulnerability("b", false);
  v1::BatchDecideResponse batch_response;
  EXPECT_EQ(
      stub_->BatchDecide(Context().get(), batch, &batch_response).error_code(),
      grpc::StatusCode::RESOURCE_EXHAUSTED);

  v1::DecideRequest request;
  *request.mutable_finding() = Vulnerability(std::string(100 * 1024, 'x'), 0);
  v1::DecideResponse response;
  EXPECT_EQ(stub_->Decide(Context().get(), request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  *request.mutable_finding() = Vulnerability(std::string(65, 'x'), false);
  EXPECT_EQ(stub_->Decide(Context().get(), request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  *request.mutable_finding() = Vulnerability("ok", false);
  for (int i = 0; i < 3; ++i) {
    request.mutable_finding()->mutable_vulnerability()->add_aliases(
        absl::StrCat("CVE-2024-000", i));
  }
  const grpc::Status too_many =
      stub_->Decide(Context().get(), request, &response);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(too_many.error_message(), HasSubstr("aliases"));
}

// --- Metrics and drain --------------------------------------------------

TEST_F(SecurityTest, MetricsAreScrapedOverHttp) {
  config_.metrics_listen = "127.0.0.1:0";
  Start();
  ASSERT_GT(server_->metrics_port(), 0);
  auto channel = Plaintext();
  ASSERT_TRUE(Decide(channel.get()).ok());
  auto stub = v1::TreatmentService::NewStub(channel);
  v1::BatchDecideRequest batch;
  *batch.add_findings() = Vulnerability("a", false);
  *batch.add_findings() = Vulnerability("b", false);
  v1::BatchDecideResponse batch_response;
  ASSERT_TRUE(stub->BatchDecide(Context().get(), batch, &batch_response).ok());
  v1::DecideRequest empty;
  v1::DecideResponse response;
  ASSERT_FALSE(stub->Decide(Context().get(), empty, &response).ok());

  const std::string page = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(page, HasSubstr("200 OK"));
  EXPECT_THAT(page,
              HasSubstr("treatd_decisions_total{priority=\"P1\",rule=\"kev\","
                        "treatment=\"TREATMENT_MITIGATE_THEN_REMEDIATE\"} 1"));
  EXPECT_THAT(page, HasSubstr("treatd_decisions_total{priority=\"P4\","
                              "rule=\"default\",treatment="
                              "\"TREATMENT_REMEDIATE\"} 2"));
  EXPECT_THAT(page, HasSubstr("treatd_rpc_duration_seconds_count{method=\"/"
                              "treatd.v1.TreatmentService/Decide\"} 2"));
  EXPECT_THAT(page, HasSubstr("treatd_batch_size_sum 2"));
  EXPECT_THAT(page, HasSubstr("treatd_rpc_errors_total{code="
                              "\"INVALID_ARGUMENT\",method=\"/treatd.v1."
                              "TreatmentService/Decide\"} 1"));
  EXPECT_THAT(page, HasSubstr("treatd_rpcs_in_flight{method="));
  EXPECT_THAT(page, HasSubstr("treatd_policy_info{digest=\"sha256:"));
  EXPECT_THAT(page, HasSubstr("\",name=\"test-policy\",version=\"1.2\"} 1"));
  EXPECT_THAT(page, HasSubstr("treatd_policy_reloads_total{result=\"ok\"}"));
}

TEST_F(SecurityTest, MetricsCountUndecodableRequestsAsRefusals) {
  config_.metrics_listen = "127.0.0.1:0";
  Start();
  ASSERT_GT(server_->metrics_port(), 0);
  auto channel = Plaintext();
  // A truncated protobuf: field 1 claims 5 bytes, 2 follow.
  const std::string broken(
      "\x0a\x05"
      "ab",
      4);
  for (const char* method : {"/treatd.v1.TreatmentService/Decide",
                             "/treatd.v1.TreatmentService/BatchDecide",
                             "/treatd.v1.TreatmentService/GetPolicy"}) {
    grpc::GenericStub stub(channel);
    grpc::CompletionQueue cq;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Slice slice(broken);
    grpc::ByteBuffer request(&slice, 1);
    auto call = stub.PrepareUnaryCall(&context, method, request, &cq);
    call->StartCall();
    grpc::ByteBuffer response;
    grpc::Status status;
    call->Finish(&response, &status, reinterpret_cast<void*>(1));
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method;
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
  const std::string page = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(page, HasSubstr("treatd_rpc_rejected_total{reason="
                              "\"undecodable_request\"} 3"));
  EXPECT_THAT(page, HasSubstr("treatd_rpc_errors_total{code="
                              "\"INVALID_ARGUMENT\",method=\"/treatd.v1."
                              "TreatmentService/GetPolicy\"} 1"));
}

TEST_F(SecurityTest, MetricsCountEveryDecisionOfStreamChunks) {
  config_.metrics_listen = "127.0.0.1:0";
  Start();
  ASSERT_GT(server_->metrics_port(), 0);
  auto channel = Plaintext();
  auto stub = v1::TreatmentService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto stream = stub->StreamDecide(&context);
  v1::StreamDecideResponse response;
  // A chunk of four (two KEV, one plain, one without kind), one single
  // finding, and a chunk rejected as a whole (both fields set).
  v1::StreamDecideRequest chunk;
  *chunk.add_findings() = Vulnerability("k1", true);
  *chunk.add_findings() = Vulnerability("p1", false);
  *chunk.add_findings() = Vulnerability("k2", true);
  chunk.add_findings()->set_id("no-kind");
  ASSERT_TRUE(stream->Write(chunk) && stream->Read(&response));
  ASSERT_EQ(response.results_size(), 4);
  v1::StreamDecideRequest single;
  *single.mutable_finding() = Vulnerability("p2", false);
  ASSERT_TRUE(stream->Write(single) && stream->Read(&response));
  ASSERT_TRUE(response.result().has_decision());
  v1::StreamDecideRequest both = chunk;
  *both.mutable_finding() = Vulnerability("p3", false);
  ASSERT_TRUE(stream->Write(both) && stream->Read(&response));
  ASSERT_TRUE(response.result().has_error());
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());

  const std::string page = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(page, HasSubstr("200 OK"));
  EXPECT_THAT(page,
              HasSubstr("treatd_decisions_total{priority=\"P1\",rule=\"kev\","
                        "treatment=\"TREATMENT_MITIGATE_THEN_REMEDIATE\"} 2"));
  EXPECT_THAT(page, HasSubstr("treatd_decisions_total{priority=\"P4\","
                              "rule=\"default\",treatment="
                              "\"TREATMENT_REMEDIATE\"} 2"));
  EXPECT_THAT(page, HasSubstr("treatd_rpc_duration_seconds_count{method=\"/"
                              "treatd.v1.TreatmentService/StreamDecide\"} 1"));
}

TEST_F(SecurityTest, DrainReportsNotServingAndFinishesInFlightCalls) {
  config_.drain_delay = absl::Milliseconds(600);
  Start();
  auto channel = Plaintext();
  auto stub = v1::TreatmentService::NewStub(channel);
  grpc::ClientContext context;
  auto stream = stub->StreamDecide(&context);
  v1::StreamDecideRequest request;
  *request.mutable_finding() = Vulnerability("s", false);
  v1::StreamDecideResponse response;
  ASSERT_TRUE(stream->Write(request) && stream->Read(&response));

  std::atomic<bool> stopped{false};
  std::thread shutdown([&] {
    server_->Shutdown(absl::Seconds(5));
    stopped = true;
  });
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(Health(channel.get()), "\x08\x02");  // NOT_SERVING, still up.
  // The stream in flight keeps working through the drain.
  EXPECT_TRUE(stream->Write(request) && stream->Read(&response));
  absl::SleepFor(absl::Milliseconds(600));
  EXPECT_FALSE(stopped);  // Waiting for the stream.
  EXPECT_TRUE(stream->Write(request) && stream->Read(&response));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  shutdown.join();
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace treatd
