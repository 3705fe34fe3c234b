#include "client/faults/mixed_load.h"

#include <random>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/faults/raw_calls.h"
#include "client/faults/resetting_proxy.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

using Stub = v1::TreatmentService::Stub;
using StreamPtr =
    std::unique_ptr<grpc::ClientReaderWriter<v1::StreamDecideRequest,
                                             v1::StreamDecideResponse>>;

constexpr char kBatchDecideMethod[] = "/treatd.v1.TreatmentService/BatchDecide";

// A channel of its own, so that a reset or a garbage message cannot take
// down the connection the well-behaved calls use.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

int PortOf(const std::string& target) {
  int port = 0;
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(target.substr(colon + 1), &port)) {
    return 0;
  }
  return port;
}

}  // namespace

void StatusTally::Add(absl::string_view kind, grpc::StatusCode code) {
  absl::MutexLock lock(&mu_);
  ++counts_[std::string(kind)][code];
}

StatusTally::Counts StatusTally::counts() const {
  absl::MutexLock lock(&mu_);
  return counts_;
}

int64_t StatusTally::total() const {
  int64_t total = 0;
  for (const auto& [kind, codes] : counts()) {
    for (const auto& [code, n] : codes) total += n;
  }
  return total;
}

std::string StatusTally::Text() const {
  std::string text;
  for (const auto& [kind, codes] : counts()) {
    absl::StrAppend(&text, text.empty() ? "" : "; ", kind, ":");
    for (const auto& [code, n] : codes) {
      absl::StrAppend(&text, " ", StatusCodeName(code), "=", n);
    }
  }
  return text;
}

std::string StatusCodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  if (index < 0 || index >= static_cast<int>(std::size(kNames))) {
    return absl::StrCat("CODE_", index);
  }
  return kNames[index];
}

std::string GarbageBytes(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random() & 0xff);
  return bytes;
}

v1::Finding LoadFinding(const std::string& id, bool kev) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id("CVE-2024-3094");
  finding.mutable_vulnerability()->mutable_kev()->set_listed(kev);
  return finding;
}

v1::BatchDecideRequest LoadBatch(int size, bool trace) {
  v1::BatchDecideRequest request;
  for (int i = 0; i < size; ++i) {
    *request.add_findings() = LoadFinding(absl::StrCat("b", i), i % 2 == 0);
  }
  request.set_trace(trace);
  return request;
}

std::unique_ptr<grpc::ClientContext> ContextWithDeadline(
    absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

MixedLoad::MixedLoad(std::string target, MixedLoadOptions options,
                     DecisionCheck check)
    : target_(std::move(target)),
      options_(std::move(options)),
      check_(std::move(check)),
      channel_(OwnChannel(target_)) {
  for (int i = 0; i < options_.unary_threads; ++i) {
    threads_.emplace_back([this] { Unary(); });
  }
  for (int i = 0; i < options_.batch_threads; ++i) {
    threads_.emplace_back([this] { Batches(); });
  }
  for (int i = 0; i < options_.stream_threads; ++i) {
    threads_.emplace_back([this] { Streams(); });
  }
  if (options_.faults) threads_.emplace_back([this] { Faults(); });
}

MixedLoad::~MixedLoad() { Stop(); }

void MixedLoad::Stop() {
  stop_ = true;
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void MixedLoad::Checked(absl::string_view kind,
                        const std::vector<const v1::Decision*>& decisions) {
  if (check_) check_(kind, decisions);
}

void MixedLoad::Unary() {
  std::unique_ptr<Stub> stub = v1::TreatmentService::NewStub(channel_);
  v1::DecideRequest request;
  *request.mutable_finding() = LoadFinding("u", true);
  while (!stop_) {
    v1::DecideResponse response;
    const grpc::Status status = stub->Decide(
        ContextWithDeadline(options_.call_deadline).get(), request, &response);
    if (status.ok()) Checked(kDecideCall, {&response.decision()});
    tally_.Add(kDecideCall, status.error_code());
  }
}

void MixedLoad::Batches() {
  std::unique_ptr<Stub> stub = v1::TreatmentService::NewStub(channel_);
  const v1::BatchDecideRequest request = LoadBatch(options_.batch_size, false);
  while (!stop_) {
    v1::BatchDecideResponse response;
    const grpc::Status status = stub->BatchDecide(
        ContextWithDeadline(options_.call_deadline).get(), request, &response);
    if (status.ok()) {
      std::vector<const v1::Decision*> decisions;
      for (const v1::DecisionResult& result : response.results()) {
        if (result.has_decision()) decisions.push_back(&result.decision());
      }
      Checked(kBatchCall, decisions);
    }
    tally_.Add(kBatchCall, status.error_code());
  }
}

void MixedLoad::Streams() {
  std::unique_ptr<Stub> stub = v1::TreatmentService::NewStub(channel_);
  v1::StreamDecideRequest request;
  *request.mutable_finding() = LoadFinding("s", true);
  while (!stop_) {
    auto context = ContextWithDeadline(options_.call_deadline);
    StreamPtr stream = stub->StreamDecide(context.get());
    v1::StreamDecideResponse response;
    for (int i = 0; i < options_.stream_messages && !stop_; ++i) {
      if (!stream->Write(request) || !stream->Read(&response)) break;
      if (response.result().has_decision()) {
        Checked(kStreamCall, {&response.result().decision()});
      }
    }
    stream->WritesDone();
    tally_.Add(kStreamCall, stream->Finish().error_code());
  }
}

void MixedLoad::Faults() {
  std::shared_ptr<grpc::Channel> channel = OwnChannel(target_);
  std::unique_ptr<Stub> stub = v1::TreatmentService::NewStub(channel);
  const std::string garbage = GarbageBytes(options_.garbage_bytes, 7);
  const v1::BatchDecideRequest late =
      LoadBatch(options_.late_batch_size, /*trace=*/true);
  v1::StreamDecideRequest request;
  *request.mutable_finding() = LoadFinding("f", false);
  const int port = PortOf(target_);
  for (int i = 0; !stop_; ++i) {
    switch (i % 5) {
      case 0: {
        grpc::ClientContext context;
        StreamPtr stream = stub->StreamDecide(&context);
        v1::StreamDecideResponse response;
        if (stream->Write(request)) stream->Read(&response);
        context.TryCancel();
        tally_.Add(kCancelledStreamFault, stream->Finish().error_code());
        break;
      }
      case 1: {
        v1::BatchDecideResponse response;
        tally_.Add(
            kLateBatchFault,
            stub->BatchDecide(ContextWithDeadline(options_.late_deadline).get(),
                              late, &response)
                .error_code());
        break;
      }
      case 2: {
        std::string response;
        tally_.Add(kGarbageFault,
                   RawUnaryCall(channel.get(), kBatchDecideMethod, garbage,
                                &response, options_.call_deadline)
                       .error_code());
        break;
      }
      case 3: {
        auto context = ContextWithDeadline(options_.silent_deadline);
        StreamPtr stream = stub->StreamDecide(context.get());
        v1::StreamDecideResponse response;
        stream->Read(&response);
        tally_.Add(kSilentStreamFault, stream->Finish().error_code());
        break;
      }
      case 4: {
        if (port == 0) break;
        ResettingProxy proxy(port);
        if (proxy.port() == 0) break;
        std::unique_ptr<Stub> proxied =
            v1::TreatmentService::NewStub(OwnChannel(proxy.address()));
        auto context = ContextWithDeadline(options_.call_deadline);
        StreamPtr stream = proxied->StreamDecide(context.get());
        v1::StreamDecideResponse response;
        if (stream->Write(request) && stream->Read(&response)) {
          proxy.ResetAll();
        }
        while (stream->Read(&response)) {
        }
        tally_.Add(kResetStreamFault, stream->Finish().error_code());
        break;
      }
    }
  }
}

}  // namespace treatd
