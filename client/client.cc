#include "client/client.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "client/byte_stream.h"
#include "client/stream_answer.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "grpcpp/support/sync_stream.h"

namespace treatd {
namespace {

using internal::HasItemError;
using internal::SplitStreamAnswer;
using internal::StreamAnswer;

constexpr char kServiceName[] = "treatd.v1.TreatmentService";

absl::Status ToAbslStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

// common/time/proto_time.h's ToProtoTime; the client library links no
// common/ library (it is installed on its own), so it keeps this copy.
void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

// Appends field `field` of a StreamDecideRequest holding `finding`, whose
// wire bytes are `wire` when not empty, to the request bytes `*out`.
void AppendFindingField(int field, const v1::Finding& finding,
                        absl::string_view wire, std::string* out) {
  using google::protobuf::io::CodedOutputStream;
  const size_t size = wire.empty() ? finding.ByteSizeLong() : wire.size();
  uint8_t head[10];  // A tag and a length: two varints of 5 bytes at most.
  uint8_t* end = CodedOutputStream::WriteTagToArray(
      google::protobuf::internal::WireFormatLite::MakeTag(
          field, google::protobuf::internal::WireFormatLite::
                     WIRETYPE_LENGTH_DELIMITED),
      head);
  end =
      CodedOutputStream::WriteVarint32ToArray(static_cast<uint32_t>(size), end);
  out->append(reinterpret_cast<const char*>(head),
              static_cast<size_t>(end - head));
  if (!wire.empty()) {
    out->append(wire.data(), wire.size());
    return;
  }
  const size_t at = out->size();
  out->resize(at + size);
  // ByteSizeLong() above cached the sizes this serialization reads.
  finding.SerializeWithCachedSizesToArray(
      reinterpret_cast<uint8_t*>(&(*out)[at]));
}

std::string ProtoDuration(absl::Duration duration) {
  return absl::StrFormat("%.3fs", absl::ToDoubleSeconds(duration));
}

}  // namespace

std::string ClientServiceConfig(const ClientOptions& options) {
  std::string config = absl::StrCat(
      R"({"loadBalancingConfig":[{"round_robin":{}}],"methodConfig":[{"name":[{"service":")",
      kServiceName, R"("}])");
  if (options.max_attempts > 1) {
    absl::StrAppend(
        &config, R"(,"retryPolicy":{"maxAttempts":)", options.max_attempts,
        R"(,"initialBackoff":")", ProtoDuration(options.initial_backoff),
        R"(","maxBackoff":")", ProtoDuration(options.max_backoff),
        R"(","backoffMultiplier":2,"retryableStatusCodes":["UNAVAILABLE"]})");
  }
  config.append("}]}");
  return config;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    const std::string& target, const ClientOptions& options) {
  if (target.empty()) {
    return absl::InvalidArgumentError("target: must name a server");
  }
  if (options.max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_batch: must be at least 1, got ", options.max_batch));
  }
  if (options.max_attempts < 1 || options.max_attempts > 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_attempts: must be within 1..5, got ", options.max_attempts));
  }
  if (options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError(
        "initial_backoff must be positive and at most max_backoff");
  }
  if (options.tls_client_cert_pem.empty() !=
      options.tls_client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_cert_pem and tls_client_key_pem go together");
  }
  const bool tls = options.use_tls || !options.tls_root_ca_pem.empty() ||
                   !options.tls_client_cert_pem.empty();
  if (!options.bearer_token.empty() && !tls &&
      !options.allow_token_without_tls) {
    return absl::InvalidArgumentError(
        "bearer_token: needs TLS, or allow_token_without_tls for local "
        "testing");
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_ca_pem;
    ssl.pem_cert_chain = options.tls_client_cert_pem;
    ssl.pem_private_key = options.tls_client_key_pem;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(ClientServiceConfig(options));
  if (tls && !options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, options.max_attempts > 1 ? 1 : 0);
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target, credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("target: cannot create a channel to ", target));
  }
  return absl::WrapUnique(new Client(std::move(channel), options));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      stub_(v1::TreatmentService::NewStub(channel_)),
      admin_stub_(v1::AdminService::NewStub(channel_)),
      stream_decide_(std::make_unique<internal::StreamDecideBytes>(channel_)),
      options_(std::move(options)) {}

Client::~Client() {
  absl::MutexLock lock(&async_mu_);
  async_mu_.Await(absl::Condition(
      +[](int* in_flight) { return *in_flight == 0; }, &async_in_flight_));
}

void Client::Prepare(const CallOptions& call, bool unary,
                     grpc::ClientContext* context) const {
  if (call.deadline.has_value()) {
    context->set_deadline(absl::ToChronoTime(*call.deadline));
  } else if (unary && options_.default_timeout != absl::InfiniteDuration()) {
    context->set_deadline(
        absl::ToChronoTime(absl::Now() + options_.default_timeout));
  }
  if (!options_.bearer_token.empty()) {
    context->AddMetadata("authorization",
                         absl::StrCat("Bearer ", options_.bearer_token));
  }
}

absl::StatusOr<v1::Decision> Client::Decide(const v1::Finding& finding,
                                            const CallOptions& call) const {
  v1::DecideRequest request;
  *request.mutable_finding() = finding;
  if (call.as_of.has_value()) ToProto(*call.as_of, request.mutable_as_of());
  request.set_trace(call.trace);
  request.set_skip_record(call.skip_record);
  request.set_view(call.view);
  v1::DecideResponse response;
  grpc::ClientContext context;
  Prepare(call, /*unary=*/true, &context);
  grpc::Status status = stub_->Decide(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return std::move(*response.mutable_decision());
}

absl::StatusOr<std::vector<v1::DecisionResult>> Client::BatchDecide(
    absl::Span<const v1::Finding> findings, const CallOptions& call) const {
  if (findings.empty()) {
    return absl::InvalidArgumentError("findings: must hold at least one");
  }
  std::vector<v1::DecisionResult> results;
  results.reserve(findings.size());
  const size_t chunk_size = static_cast<size_t>(options_.max_batch);
  for (size_t offset = 0; offset < findings.size(); offset += chunk_size) {
    const size_t count = std::min(chunk_size, findings.size() - offset);
    v1::BatchDecideRequest request;
    request.mutable_findings()->Reserve(static_cast<int>(count));
    for (size_t i = offset; i < offset + count; ++i) {
      *request.add_findings() = findings[i];
    }
    if (call.as_of.has_value()) ToProto(*call.as_of, request.mutable_as_of());
    request.set_trace(call.trace);
    request.set_skip_record(call.skip_record);
    request.set_view(call.view);
    v1::BatchDecideResponse response;
    grpc::ClientContext context;
    Prepare(call, /*unary=*/true, &context);
    grpc::Status status = stub_->BatchDecide(&context, request, &response);
    if (!status.ok()) {
      absl::Status error = ToAbslStatus(status);
      return absl::Status(
          error.code(), absl::StrCat("findings[", offset, "..", offset + count,
                                     "): ", error.message()));
    }
    if (static_cast<size_t>(response.results_size()) != count) {
      return absl::InternalError(
          absl::StrCat("the server answered ", response.results_size(),
                       " results for ", count, " findings at offset ", offset));
    }
    for (v1::DecisionResult& result : *response.mutable_results()) {
      result.set_index(static_cast<int32_t>(offset) + result.index());
      results.push_back(std::move(result));
    }
  }
  return results;
}

absl::Status Client::StreamDecide(const FindingSource& next,
                                  const ResultCallback& on_result,
                                  const CallOptions& call) const {
  return StreamDecideFindings(
      next,
      [&on_result](const v1::Finding&, const v1::DecisionResult& result,
                   uint64_t sequence) { on_result(result, sequence); },
      call);
}

absl::Status Client::StreamDecideFindings(const FindingSource& next,
                                          const DecidedCallback& on_decided,
                                          const CallOptions& call) const {
  return StreamDecideEncoded(
      [&next](v1::Finding* finding, std::string*) { return next(finding); },
      on_decided, call);
}

absl::Status Client::StreamDecideEncoded(const EncodedFindingSource& next,
                                         const DecidedCallback& on_decided,
                                         const CallOptions& call) const {
  // Each answer is parsed into an arena reset for each result: a result is
  // dozens of strings, and freeing them one by one cost the reader more
  // than parsing them (callgrind, issue 15).
  constexpr size_t kArenaBlock = size_t{1} << 16;
  auto arena_block = std::make_unique<char[]>(kArenaBlock);
  google::protobuf::ArenaOptions arena_options;
  arena_options.initial_block = arena_block.get();
  arena_options.initial_block_size = kArenaBlock;
  google::protobuf::Arena arena(arena_options);
  absl::Status parse_error;
  absl::Status status = StreamDecideEncodedBytes(
      next,
      [&](const v1::Finding& finding, absl::string_view bytes,
          std::optional<int32_t> index, uint64_t sequence) {
        arena.Reset();
        auto* result =
            google::protobuf::Arena::CreateMessage<v1::DecisionResult>(&arena);
        if (!result->ParseFromArray(bytes.data(),
                                    static_cast<int>(bytes.size()))) {
          // Only the server's answer can be at fault (gRPC would have
          // failed the call on a response it could not parse).
          if (parse_error.ok()) {
            parse_error = absl::InternalError(absl::StrCat(
                "the server's answer ", sequence, " does not parse"));
          }
          return;
        }
        if (index.has_value()) result->set_index(*index);
        on_decided(finding, *result, sequence);
      },
      call);
  if (!status.ok()) return status;
  return parse_error;
}

absl::Status Client::StreamDecideEncodedBytes(
    const EncodedFindingSource& next, const DecidedBytesCallback& on_decided,
    const CallOptions& call) const {
  if (call.stream_chunk < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream_chunk: must be at least 1, got ", call.stream_chunk));
  }
  const int chunk = std::min(call.stream_chunk, options_.max_batch);
  grpc::ClientContext context;
  Prepare(call, /*unary=*/false, &context);
  // Requests and answers go as bytes: the writer encodes the requests (the
  // generated stub would serialize every finding, whose bytes the source
  // may already hold) and the answers are split into their results'
  // bytes, which the caller may write without parsing them.
  std::unique_ptr<internal::ByteStream> stream = stream_decide_->Open(&context);

  std::atomic<uint64_t> written{0};
  // The messages sent and not yet answered, in order: how many results
  // each answer must hold, and the findings to hand over with them (and to
  // name in the errors of a chunk rejected as a whole). Bounded by flow
  // control like the messages themselves.
  struct SentMessage {
    int count = 0;
    google::protobuf::RepeatedPtrField<v1::Finding> findings;
  };
  absl::Mutex mu;
  std::deque<SentMessage> pending;  // Guarded by mu.
  // Writing and reading run concurrently: a writer that waited for each
  // answer would pay a round trip per message, and one that wrote
  // everything first would deadlock against the server's flow control.
  std::thread writer([&] {
    // What every message repeats, encoded once; a message is these bytes
    // followed by its findings (`finding`, or `findings` in chunks).
    v1::StreamDecideRequest header;
    if (call.as_of.has_value()) ToProto(*call.as_of, header.mutable_as_of());
    header.set_trace(call.trace);
    header.set_skip_record(call.skip_record);
    header.set_view(call.view);
    const std::string prefix = header.SerializeAsString();
    const int field = chunk == 1
                          ? v1::StreamDecideRequest::kFindingFieldNumber
                          : v1::StreamDecideRequest::kFindingsFieldNumber;
    std::string bytes;
    std::string wire;
    while (true) {
      google::protobuf::RepeatedPtrField<v1::Finding> findings;
      bytes.assign(prefix);
      while (findings.size() < chunk) {
        wire.clear();
        v1::Finding* finding = findings.Add();
        if (!next(finding, &wire)) {
          findings.RemoveLast();
          break;
        }
        AppendFindingField(field, *finding, wire, &bytes);
      }
      const int count = findings.size();
      if (count == 0) break;
      {
        // Queued before writing: the answer may arrive before Write()
        // returns.
        absl::MutexLock lock(&mu);
        SentMessage& sent = pending.emplace_back();
        sent.count = count;
        sent.findings.Swap(&findings);
      }
      grpc::Slice slice(bytes);
      grpc::ByteBuffer buffer(&slice, 1);
      if (!stream->Write(buffer)) break;  // The reader sees the status.
      written.fetch_add(count, std::memory_order_relaxed);
      if (count < chunk) break;  // The source ended inside this chunk.
    }
    stream->WritesDone();
  });

  uint64_t messages = 0;
  uint64_t delivered = 0;
  absl::Status order_error;
  grpc::ByteBuffer buffer;
  grpc::Slice single;
  std::string flat;
  StreamAnswer answer;
  // Results rewritten or re-encoded here (errors of a chunk, a rejected
  // chunk, an answer in another encoding), kept while they are delivered.
  std::string rewritten;
  v1::DecisionResult result;
  while (stream->Read(&buffer)) {
    if (!SplitStreamAnswer(internal::MessageBytes(buffer, &single, &flat),
                           &answer)) {
      if (order_error.ok()) {
        order_error = absl::InternalError(absl::StrCat(
            "the server's answer to message ", messages, " does not parse"));
      }
      context.TryCancel();
      break;
    }
    if (answer.sequence != messages && order_error.ok()) {
      order_error = absl::InternalError(
          absl::StrCat("the server answered sequence ", answer.sequence,
                       " where ", messages, " was due"));
    }
    ++messages;
    SentMessage sent;
    {
      absl::MutexLock lock(&mu);
      if (!pending.empty()) {
        sent = std::move(pending.front());
        pending.pop_front();
      }
    }
    const int count = sent.count;
    const int results = static_cast<int>(answer.results.size());
    if (chunk == 1 && count == 1) {
      on_decided(sent.findings.Get(0), answer.result, std::nullopt,
                 answer.sequence);
      ++delivered;
      continue;
    }
    // Hands one finding's result to the caller with its stream position.
    auto deliver = [&](int i, absl::string_view bytes) {
      std::optional<int32_t> index;
      if (delivered <=
          static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
        index = static_cast<int32_t>(delivered);
      }
      on_decided(sent.findings.Get(i), bytes, index, delivered);
      ++delivered;
    };
    bool refused = false;
    if (count > 0 && results == count) {
      for (int i = 0; i < count; ++i) {
        const absl::string_view bytes = answer.results[i];
        if (!HasItemError(bytes)) {
          deliver(i, bytes);
          continue;
        }
        // "findings[i].kind" reads "finding.kind", as if sent alone.
        result.Clear();
        if (!result.ParseFromArray(bytes.data(),
                                   static_cast<int>(bytes.size()))) {
          refused = true;
          break;
        }
        const std::string prefix = absl::StrCat("findings[", i, "]");
        v1::ItemError* error = result.mutable_error();
        error->set_message(
            absl::StrReplaceAll(error->message(), {{prefix, "finding"}}));
        for (v1::FieldViolation& violation :
             *error->mutable_field_violations()) {
          if (absl::StartsWith(violation.field(), prefix)) {
            violation.set_field(absl::StrCat(
                "finding", violation.field().substr(prefix.size())));
          }
        }
        result.SerializeToString(&rewritten);
        deliver(i, rewritten);
      }
    } else if (count > 0 && results == 0 && HasItemError(answer.result)) {
      // The server rejected the chunk as a whole (e.g. larger than its
      // --max-batch): every finding of it gets that error.
      for (int i = 0; i < count; ++i) {
        result.Clear();
        if (!result.ParseFromArray(answer.result.data(),
                                   static_cast<int>(answer.result.size()))) {
          refused = true;
          break;
        }
        result.set_finding_id(sent.findings.Get(i).id());
        result.SerializeToString(&rewritten);
        deliver(i, rewritten);
      }
    } else {
      if (order_error.ok()) {
        order_error = absl::InternalError(absl::StrCat(
            "the server answered message ", answer.sequence, " with ", results,
            " results for ", count, " findings"));
      }
      // Results can no longer be matched with findings: stop.
      context.TryCancel();
      break;
    }
    if (refused) {
      // SplitStreamAnswer found an error result protobuf does not parse.
      if (order_error.ok()) {
        order_error = absl::InternalError(
            absl::StrCat("the server's answer to message ", answer.sequence,
                         " does not parse"));
      }
      context.TryCancel();
      break;
    }
  }
  // Once the call is over, the writer's next Write() fails at once, so the
  // join waits at most for the source to return. Cancelling here instead
  // would race with a call that just completed and turn OK into CANCELLED.
  writer.join();
  absl::Status status = ToAbslStatus(stream->Finish());
  if (!order_error.ok()) {
    if (!status.ok() && status.code() != absl::StatusCode::kCancelled) {
      return status;
    }
    return order_error;
  }
  if (!status.ok()) return status;
  if (delivered != written.load()) {
    return absl::InternalError(absl::StrCat("the stream ended after ",
                                            delivered, " answers to ",
                                            written.load(), " findings"));
  }
  return absl::OkStatus();
}

void Client::DecideAsync(const v1::Finding& finding, const CallOptions& call,
                         DecideCallback done) {
  struct AsyncCall {
    grpc::ClientContext context;
    v1::DecideRequest request;
    v1::DecideResponse response;
    DecideCallback done;
  };
  auto* pending = new AsyncCall;
  *pending->request.mutable_finding() = finding;
  if (call.as_of.has_value()) {
    ToProto(*call.as_of, pending->request.mutable_as_of());
  }
  pending->request.set_trace(call.trace);
  pending->request.set_skip_record(call.skip_record);
  pending->request.set_view(call.view);
  pending->done = std::move(done);
  Prepare(call, /*unary=*/true, &pending->context);
  {
    absl::MutexLock lock(&async_mu_);
    ++async_in_flight_;
  }
  stub_->async()->Decide(
      &pending->context, &pending->request, &pending->response,
      [this, pending](grpc::Status status) {
        if (status.ok()) {
          pending->done(std::move(*pending->response.mutable_decision()));
        } else {
          pending->done(ToAbslStatus(status));
        }
        delete pending;
        absl::MutexLock lock(&async_mu_);
        --async_in_flight_;
      });
}

absl::StatusOr<v1::GetPolicyResponse> Client::GetPolicy(
    const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, /*unary=*/true, &context);
  v1::GetPolicyResponse response;
  grpc::Status status =
      stub_->GetPolicy(&context, v1::GetPolicyRequest(), &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<v1::ValidatePolicyResponse> Client::ValidatePolicy(
    const std::string& content, const std::string& filename,
    const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, /*unary=*/true, &context);
  v1::ValidatePolicyRequest request;
  request.set_content(content);
  request.set_filename(filename);
  v1::ValidatePolicyResponse response;
  grpc::Status status = stub_->ValidatePolicy(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<v1::ReloadResult> Client::Reload(bool force,
                                                const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, /*unary=*/true, &context);
  v1::ReloadRequest request;
  request.set_force(force);
  v1::ReloadResponse response;
  grpc::Status status = admin_stub_->Reload(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return std::move(*response.mutable_result());
}

absl::StatusOr<v1::GetStatusResponse> Client::GetStatus(
    const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, /*unary=*/true, &context);
  v1::GetStatusResponse response;
  grpc::Status status =
      admin_stub_->GetStatus(&context, v1::GetStatusRequest(), &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

absl::StatusOr<v1::SimulateResponse> Client::Simulate(
    const v1::SimulateRequest& request, const CallOptions& call) const {
  grpc::ClientContext context;
  Prepare(call, /*unary=*/true, &context);
  v1::SimulateResponse response;
  grpc::Status status = admin_stub_->Simulate(&context, request, &response);
  if (!status.ok()) return ToAbslStatus(status);
  return response;
}

}  // namespace treatd
