#include "client/treatctl/bench.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "client/byte_stream.h"
#include "client/client.h"
#include "client/stream_answer.h"
#include "client/treatctl/finding_input.h"
#include "client/treatctl/treatctl.h"
#include "common/io/read_file.h"
#include "grpcpp/grpcpp.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace {

// Calls still running this long after the measured window are cancelled.
constexpr int64_t kDrainGraceNs = 5'000'000'000;
// Distinct BatchDecide requests (or stream chunks) the bench cycles through.
constexpr int kMaxBatchRequests = 4;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::chrono::system_clock::time_point DeadlineFromSteady(int64_t steady_ns) {
  return std::chrono::system_clock::now() +
         std::chrono::nanoseconds(steady_ns - NowNs());
}

// The measured interval: calls that complete inside it count.
struct Window {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  bool Contains(int64_t t) const { return t >= start_ns && t <= end_ns; }
};

// What one worker saw. Errors count over the whole run (warmup included),
// successes only inside the window.
struct Tally {
  std::vector<int64_t> latencies_ns;
  int64_t ok = 0;
  int64_t findings = 0;
  int64_t errors = 0;
  std::string first_error;

  void Error(std::string message) {
    if (errors++ == 0) first_error = std::move(message);
  }
  void Merge(Tally& other) {
    latencies_ns.insert(latencies_ns.end(), other.latencies_ns.begin(),
                        other.latencies_ns.end());
    ok += other.ok;
    findings += other.findings;
    if (errors == 0 && other.errors > 0) first_error = other.first_error;
    errors += other.errors;
  }
};

std::string StatusText(const grpc::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(
                          static_cast<int>(status.error_code()))),
                      ": ", status.error_message());
}

// Counts the item errors of results; records the first one.
template <typename Results>
int CountItemErrors(const Results& results, Tally* tally) {
  int errors = 0;
  for (const v1::DecisionResult& result : results) {
    if (!result.has_error()) continue;
    ++errors;
    tally->Error(absl::StrCat("finding ", result.finding_id(), ": ",
                              result.error().message()));
  }
  return errors;
}

void AddToken(const std::string& token, grpc::ClientContext* context) {
  if (!token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
}

// Keeps `concurrency` unary calls in flight on one completion queue until
// the window closes. `start_call` starts a call for request `i` in `slot`.
template <typename Request, typename Response>
class UnaryLoop {
 public:
  using Reader = grpc::ClientAsyncResponseReader<Response>;
  using Prepare = std::unique_ptr<Reader> (*)(v1::TreatmentService::Stub*,
                                              grpc::ClientContext*,
                                              const Request&,
                                              grpc::CompletionQueue*);

  UnaryLoop(v1::TreatmentService::Stub* stub, Prepare prepare,
            const std::vector<Request>& requests, int findings_per_call,
            const std::string& token)
      : stub_(stub),
        prepare_(prepare),
        requests_(requests),
        findings_per_call_(findings_per_call),
        token_(token) {}

  void Run(int concurrency, const Window& window, Tally* tally) {
    std::vector<Slot> slots(concurrency);
    for (Slot& slot : slots) Start(&slot, window);
    int outstanding = concurrency;
    void* tag = nullptr;
    bool ok = false;
    while (outstanding > 0 && cq_.Next(&tag, &ok)) {
      Slot* slot = static_cast<Slot*>(tag);
      const int64_t now = NowNs();
      if (!slot->status.ok()) {
        tally->Error(StatusText(slot->status));
      } else {
        const int item_errors = CountItemErrors(Results(slot->response), tally);
        if (window.Contains(now)) {
          ++tally->ok;
          tally->findings += findings_per_call_ - item_errors;
          tally->latencies_ns.push_back(now - slot->start_ns);
        }
      }
      if (now < window.end_ns) {
        Start(slot, window);
      } else {
        --outstanding;
      }
    }
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }

 private:
  struct Slot {
    std::optional<grpc::ClientContext> context;
    std::unique_ptr<Reader> reader;
    Response response;
    grpc::Status status;
    int64_t start_ns = 0;
  };

  static const google::protobuf::RepeatedPtrField<v1::DecisionResult>& Results(
      const v1::BatchDecideResponse& response) {
    return response.results();
  }
  static std::vector<v1::DecisionResult> Results(
      const v1::DecideResponse& /*response*/) {
    return {};
  }

  void Start(Slot* slot, const Window& window) {
    slot->context.emplace();
    slot->context->set_deadline(
        DeadlineFromSteady(window.end_ns + kDrainGraceNs));
    AddToken(token_, &*slot->context);
    const Request& request = requests_[next_++ % requests_.size()];
    slot->start_ns = NowNs();
    slot->reader = prepare_(stub_, &*slot->context, request, &cq_);
    slot->reader->StartCall();
    slot->reader->Finish(&slot->response, &slot->status, slot);
  }

  v1::TreatmentService::Stub* const stub_;
  const Prepare prepare_;
  const std::vector<Request>& requests_;
  const int findings_per_call_;
  const std::string& token_;
  grpc::CompletionQueue cq_;
  size_t next_ = 0;
};

// One StreamDecide stream: a writer keeps up to `window_findings` findings
// unanswered (whole messages of `per_message` findings each, at least one
// message), the calling thread reads the answers. A message counts in QPS
// and latency unless every finding of it failed; its decided findings count
// in findings/s. `failed(response, tally)` returns how many findings of an
// answer failed (recording the errors in `tally`). Typed messages
// (StreamDecideRequest / StreamDecideResponse) or their bytes (--prebuilt).
template <typename Request, typename Response, typename CountFailed>
void RunStream(grpc::ClientReaderWriter<Request, Response>* stream,
               const std::vector<Request>& requests, int per_message,
               int window_findings, const Window& window, CountFailed&& failed,
               Tally* tally) {
  const int window_messages = std::max(1, window_findings / per_message);
  absl::Mutex mu;
  std::deque<int64_t> sent_ns;  // Per message; guarded by mu.
  bool reader_done = false;     // Guarded by mu.
  std::thread writer([&] {
    size_t next = 0;
    while (NowNs() < window.end_ns) {
      {
        absl::MutexLock lock(&mu);
        auto room = [&] {
          return reader_done ||
                 static_cast<int>(sent_ns.size()) < window_messages;
        };
        mu.Await(absl::Condition(&room));
        if (reader_done) break;
        sent_ns.push_back(NowNs());
      }
      if (!stream->Write(requests[next++ % requests.size()])) break;
    }
    stream->WritesDone();
  });
  Response response;
  while (stream->Read(&response)) {
    const int64_t now = NowNs();
    int64_t sent = now;
    {
      absl::MutexLock lock(&mu);
      if (!sent_ns.empty()) {
        sent = sent_ns.front();
        sent_ns.pop_front();
      }
    }
    const int failures = failed(response, tally);
    if (failures < per_message && window.Contains(now)) {
      ++tally->ok;
      tally->findings += per_message - failures;
      tally->latencies_ns.push_back(now - sent);
    }
  }
  {
    absl::MutexLock lock(&mu);
    reader_done = true;
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  if (!status.ok()) tally->Error(StatusText(status));
}

void PrepareStreamContext(const Window& window, const std::string& token,
                          grpc::ClientContext* context) {
  context->set_deadline(DeadlineFromSteady(window.end_ns + kDrainGraceNs));
  AddToken(token, context);
}

// How many findings of a typed answer failed: its results' errors, or all
// `per_message` when a single `result` (one finding, or a message rejected
// as a whole) is an error.
int FailedInAnswer(const v1::StreamDecideResponse& response, int per_message,
                   Tally* tally) {
  if (response.results_size() > 0) {
    return CountItemErrors(response.results(), tally);
  }
  if (!response.result().has_error()) return 0;
  tally->Error(absl::StrCat("finding ", response.result().finding_id(), ": ",
                            response.result().error().message()));
  return per_message;
}

// FailedInAnswer() on an answer's bytes, without parsing its decisions:
// split into results (internal::SplitStreamAnswer), and only results that
// set `error` parsed, for the tally's message. An answer that does not
// split fails as a whole.
class AnswerBytesChecker {
 public:
  explicit AnswerBytesChecker(int per_message) : per_message_(per_message) {}

  int operator()(const grpc::ByteBuffer& response, Tally* tally) {
    const absl::string_view bytes =
        internal::MessageBytes(response, &single_, &flat_);
    if (!internal::SplitStreamAnswer(bytes, &answer_))
      return Undecodable(tally);
    if (!answer_.results.empty()) {
      int errors = 0;
      for (absl::string_view result : answer_.results) {
        if (internal::HasItemError(result)) {
          ++errors;
          ErrorOf(result, tally);
        }
      }
      return errors;
    }
    if (!internal::HasItemError(answer_.result)) return 0;
    ErrorOf(answer_.result, tally);
    return per_message_;
  }

 private:
  int Undecodable(Tally* tally) const {
    tally->Error("an answer does not parse as a StreamDecideResponse");
    return per_message_;
  }
  static void ErrorOf(absl::string_view bytes, Tally* tally) {
    v1::DecisionResult result;
    result.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
    tally->Error(absl::StrCat("finding ", result.finding_id(), ": ",
                              result.error().message()));
  }

  const int per_message_;
  internal::StreamAnswer answer_;
  grpc::Slice single_;
  std::string flat_;
};

// One stream of typed messages, each serialized as it is written and each
// answer parsed whole, as a protobuf client does.
void RunTypedStream(v1::TreatmentService::Stub* stub,
                    const std::vector<v1::StreamDecideRequest>& requests,
                    int per_message, int window_findings,
                    const std::string& token, const Window& window,
                    Tally* tally) {
  grpc::ClientContext context;
  PrepareStreamContext(window, token, &context);
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamDecideRequest,
                                           v1::StreamDecideResponse>>
      stream = stub->StreamDecide(&context);
  RunStream(
      stream.get(), requests, per_message, window_findings, window,
      [per_message](const v1::StreamDecideResponse& response, Tally* t) {
        return FailedInAnswer(response, per_message, t);
      },
      tally);
}

// One stream of prebuilt messages (--prebuilt): the requests' bytes,
// serialized once before the run, and answers checked from their bytes
// (AnswerBytesChecker), the way loadgen drives the unary methods with a
// prebuilt request: the client costs little beside the server it measures.
void RunPrebuiltStream(const internal::StreamDecideBytes& stream_decide,
                       const std::vector<grpc::ByteBuffer>& requests,
                       int per_message, int window_findings,
                       const std::string& token, const Window& window,
                       Tally* tally) {
  grpc::ClientContext context;
  PrepareStreamContext(window, token, &context);
  std::unique_ptr<internal::ByteStream> stream = stream_decide.Open(&context);
  AnswerBytesChecker checker(per_message);
  RunStream(stream.get(), requests, per_message, window_findings, window,
            checker, tally);
}

absl::StatusOr<std::vector<v1::Finding>> ReadFindings(
    const std::vector<std::string>& inputs) {
  std::istringstream no_stdin;
  FindingInputOptions options;
  std::vector<std::string> problems;
  absl::StatusOr<std::unique_ptr<FindingInput>> input = FindingInput::Open(
      inputs, no_stdin, options,
      [&problems](absl::string_view line) { problems.emplace_back(line); });
  if (!input.ok()) return input.status();
  std::vector<v1::Finding> findings;
  v1::Finding finding;
  while ((*input)->Next(&finding)) {
    findings.push_back(finding);
    finding.Clear();
  }
  if (findings.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no readable findings in the input",
        problems.empty() ? "" : absl::StrCat(": ", problems.front())));
  }
  return findings;
}

// `count` findings cycling through `findings`, starting at `first`; repeats
// get an id suffix so that every finding of a batch has its own id.
void FillBatch(const std::vector<v1::Finding>& findings, size_t first,
               int count,
               google::protobuf::RepeatedPtrField<v1::Finding>* out) {
  out->Reserve(count);
  for (int k = 0; k < count; ++k) {
    const size_t index = first + k;
    v1::Finding* finding = out->Add();
    *finding = findings[index % findings.size()];
    if (index >= findings.size()) {
      finding->set_id(absl::StrCat(finding->id(), "#", index));
    }
  }
}

// How many distinct requests of `per_request` findings to cycle through.
int DistinctRequests(size_t findings, int per_request) {
  return std::max<int>(
      1, std::min<int>(
             kMaxBatchRequests,
             static_cast<int>(findings / static_cast<size_t>(per_request))));
}

double Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(p * (sorted.size() - 1) + 0.5);
  return static_cast<double>(sorted[std::min(rank, sorted.size() - 1)]);
}

std::string Millis(double ns) { return absl::StrFormat("%.3f ms", ns / 1e6); }

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
  return out;
}

int WriteRequest(const BenchFlags& flags,
                 const std::vector<v1::Finding>& findings, std::ostream& err) {
  std::string bytes;
  if (flags.mode == "unary") {
    v1::DecideRequest request;
    *request.mutable_finding() = findings.front();
    request.set_view(flags.view);
    request.set_skip_record(!flags.record);
    bytes = request.SerializeAsString();
  } else if (flags.mode == "batch") {
    v1::BatchDecideRequest request;
    FillBatch(findings, 0, flags.batch, request.mutable_findings());
    request.set_view(flags.view);
    request.set_skip_record(!flags.record);
    bytes = request.SerializeAsString();
  } else {
    err << "treatctl: --write-request needs --mode unary or batch\n";
    return kExitUsage;
  }
  std::ofstream file(flags.write_request, std::ios::binary | std::ios::trunc);
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) {
    err << "treatctl: cannot write " << flags.write_request << "\n";
    return kExitUsage;
  }
  err << "wrote " << bytes.size() << " bytes to " << flags.write_request
      << "\n";
  return kExitOk;
}

}  // namespace

CLI::App* AddBenchCommand(CLI::App* app, BenchFlags* flags) {
  CLI::App* bench = app->add_subcommand(
      "bench",
      "Load a treatd server for a fixed time and print QPS, findings/s, "
      "latency percentiles and errors");
  bench
      ->add_option("FILE", flags->inputs,
                   "Findings to send, cycled (same inputs as decide)")
      ->required();
  bench->add_option("--target", flags->target,
                    "Server address, e.g. 127.0.0.1:50051");
  bench->add_option("--mode", flags->mode, "unary, batch or stream")
      ->check(CLI::IsMember({"unary", "batch", "stream"}))
      ->capture_default_str();
  bench
      ->add_option("-c,--concurrency", flags->concurrency,
                   "Calls (or streams) in flight")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  bench
      ->add_option("-d,--duration", flags->duration_seconds, "Seconds measured")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  bench
      ->add_option("--warmup", flags->warmup_seconds,
                   "Seconds of load before measuring")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  bench
      ->add_option("--batch", flags->batch,
                   "Findings per BatchDecide call (batch mode; default 100) "
                   "or per StreamDecide message (stream mode; default 1)")
      ->check(CLI::Range(1, 1000000));
  bench
      ->add_option("--window", flags->window,
                   "Unanswered findings per stream, in whole messages "
                   "(stream mode; default 32, or 2 messages when more)")
      ->check(CLI::Range(1, 10000000));
  bench->add_flag("--prebuilt", flags->prebuilt,
                  "Stream mode: send each message's bytes serialized once "
                  "before the run and check answers from their bytes "
                  "(errors only), to measure the server with a cheap client");
  bench->add_flag("--tls", flags->tls,
                  "Use TLS with the system root certificates");
  bench->add_option("--tls-ca", flags->tls_ca_file,
                    "Use TLS, verifying the server with this PEM CA file");
  bench->add_option("--token", flags->token, "Bearer token (needs TLS)")
      ->envname("TREATD_TOKEN");
  bench->add_flag("--json", flags->json,
                  "Print one JSON line instead of the text report");
  bench->add_option("--label", flags->label, "Label of the JSON line");
  AddViewOption(bench, &flags->view);
  bench->add_flag("--record", flags->record,
                  "Have the server record the decisions in its ledger (to "
                  "measure a recording server); without it every call is a "
                  "what-if call (skip_record) that leaves the ledger as it "
                  "was");
  bench->add_option("--write-request", flags->write_request,
                    "Write one serialized DecideRequest (unary) or "
                    "BatchDecideRequest (batch) to this file and exit");
  return bench;
}

CLI::Option* AddViewOption(CLI::App* command, v1::DecisionView* view) {
  return command
      ->add_option_function<std::string>(
          "--view",
          [view](const std::string& name) {
            *view = absl::AsciiStrToLower(name) == "basic"
                        ? v1::DECISION_VIEW_BASIC
                        : v1::DECISION_VIEW_FULL;
          },
          "Fields of each decision: full (default) or basic (treatment, "
          "priority, deadlines, rule, exception id, table outcomes, ids; no "
          "actions or reasons)")
      ->check(CLI::IsMember({"basic", "full"}, CLI::ignore_case));
}

int RunBench(const BenchFlags& given, std::ostream& out, std::ostream& err) {
  BenchFlags flags = given;
  if (flags.batch == 0) flags.batch = flags.mode == "stream" ? 1 : 100;
  if (flags.window == 0) flags.window = std::max(32, 2 * flags.batch);
  if (flags.mode == "stream" && flags.window < flags.batch) {
    err << "treatctl: --window " << flags.window
        << " is less than one stream message of --batch " << flags.batch
        << " findings; give --window of at least " << flags.batch
        << " (2 messages, " << 2 * flags.batch << ", keep the stream busy)\n";
    return kExitUsage;
  }
  absl::StatusOr<std::vector<v1::Finding>> findings =
      ReadFindings(flags.inputs);
  if (!findings.ok()) {
    err << "treatctl: " << findings.status().message() << "\n";
    return kExitUsage;
  }
  if (flags.prebuilt && flags.mode != "stream") {
    err << "treatctl: --prebuilt needs --mode stream (for unary and batch, "
           "--write-request writes the bytes a generic load generator "
           "sends)\n";
    return kExitUsage;
  }
  if (!flags.write_request.empty()) return WriteRequest(flags, *findings, err);
  if (flags.target.empty()) {
    err << "treatctl: bench needs --target (or --write-request)\n";
    return kExitUsage;
  }

  ClientOptions options;
  options.use_tls = flags.tls;
  options.max_attempts = 1;
  if (!flags.tls_ca_file.empty()) {
    absl::StatusOr<std::string> pem =
        ReadFileToString(flags.tls_ca_file, "CA file");
    if (!pem.ok()) {
      err << "treatctl: --tls-ca: " << pem.status().message() << "\n";
      return kExitUsage;
    }
    options.tls_root_ca_pem = *std::move(pem);
  }
  // The bench adds the token itself; the client only checks it needs TLS.
  options.bearer_token = flags.token;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(flags.target, options);
  if (!client.ok()) {
    err << "treatctl: " << client.status().message() << "\n";
    return kExitUsage;
  }
  std::unique_ptr<v1::TreatmentService::Stub> stub =
      v1::TreatmentService::NewStub((*client)->channel());

  Window window;
  window.start_ns = NowNs() + static_cast<int64_t>(flags.warmup_seconds * 1e9);
  window.end_ns =
      window.start_ns + static_cast<int64_t>(flags.duration_seconds * 1e9);
  Tally total;
  int findings_per_call = 1;
  std::string what;
  if (flags.mode == "unary") {
    what = "Decide";
    std::vector<v1::DecideRequest> requests(findings->size());
    for (size_t i = 0; i < findings->size(); ++i) {
      *requests[i].mutable_finding() = (*findings)[i];
      requests[i].set_view(flags.view);
      requests[i].set_skip_record(!flags.record);
    }
    UnaryLoop<v1::DecideRequest, v1::DecideResponse> loop(
        stub.get(),
        [](v1::TreatmentService::Stub* s, grpc::ClientContext* context,
           const v1::DecideRequest& request, grpc::CompletionQueue* cq) {
          return s->PrepareAsyncDecide(context, request, cq);
        },
        requests, 1, flags.token);
    loop.Run(flags.concurrency, window, &total);
  } else if (flags.mode == "batch") {
    what = absl::StrCat("BatchDecide of ", flags.batch);
    findings_per_call = flags.batch;
    const int distinct = DistinctRequests(findings->size(), flags.batch);
    std::vector<v1::BatchDecideRequest> requests(distinct);
    for (int j = 0; j < distinct; ++j) {
      FillBatch(*findings, static_cast<size_t>(j) * flags.batch, flags.batch,
                requests[j].mutable_findings());
      requests[j].set_view(flags.view);
      requests[j].set_skip_record(!flags.record);
    }
    UnaryLoop<v1::BatchDecideRequest, v1::BatchDecideResponse> loop(
        stub.get(),
        [](v1::TreatmentService::Stub* s, grpc::ClientContext* context,
           const v1::BatchDecideRequest& request, grpc::CompletionQueue* cq) {
          return s->PrepareAsyncBatchDecide(context, request, cq);
        },
        requests, flags.batch, flags.token);
    loop.Run(flags.concurrency, window, &total);
  } else {
    findings_per_call = flags.batch;
    std::vector<v1::StreamDecideRequest> requests;
    if (flags.batch == 1) {
      // One finding per message, in `finding`: the classic stream.
      what = absl::StrCat("StreamDecide, 1 finding per message, window ",
                          flags.window);
      requests.resize(findings->size());
      for (size_t i = 0; i < findings->size(); ++i) {
        *requests[i].mutable_finding() = (*findings)[i];
      }
    } else {
      what = absl::StrCat("StreamDecide, ", flags.batch,
                          " findings per message, window ", flags.window);
      requests.resize(DistinctRequests(findings->size(), flags.batch));
      for (size_t j = 0; j < requests.size(); ++j) {
        FillBatch(*findings, j * flags.batch, flags.batch,
                  requests[j].mutable_findings());
      }
    }
    for (v1::StreamDecideRequest& request : requests) {
      request.set_view(flags.view);
      request.set_skip_record(!flags.record);
    }
    std::vector<grpc::ByteBuffer> prebuilt;
    if (flags.prebuilt) {
      what += ", prebuilt";
      for (const v1::StreamDecideRequest& request : requests) {
        const std::string bytes = request.SerializeAsString();
        grpc::Slice slice(bytes);
        prebuilt.emplace_back(&slice, 1);
      }
    }
    const internal::StreamDecideBytes stream_decide((*client)->channel());
    std::vector<Tally> tallies(flags.concurrency);
    std::vector<std::thread> streams;
    streams.reserve(flags.concurrency);
    for (int i = 0; i < flags.concurrency; ++i) {
      streams.emplace_back([&, i] {
        if (flags.prebuilt) {
          RunPrebuiltStream(stream_decide, prebuilt, flags.batch, flags.window,
                            flags.token, window, &tallies[i]);
        } else {
          RunTypedStream(stub.get(), requests, flags.batch, flags.window,
                         flags.token, window, &tallies[i]);
        }
      });
    }
    for (std::thread& stream : streams) stream.join();
    for (Tally& tally : tallies) total.Merge(tally);
  }

  std::vector<int64_t>& latencies = total.latencies_ns;
  std::sort(latencies.begin(), latencies.end());
  const double seconds = flags.duration_seconds;
  const double qps = static_cast<double>(total.ok) / seconds;
  const double findings_per_s = static_cast<double>(total.findings) / seconds;
  const double p50 = Percentile(latencies, 0.50);
  const double p90 = Percentile(latencies, 0.90);
  const double p99 = Percentile(latencies, 0.99);
  const double max =
      latencies.empty() ? 0 : static_cast<double>(latencies.back());
  if (flags.json) {
    out << absl::StrFormat(
               "{\"label\":%s,\"tool\":\"treatctl bench\",\"mode\":%s,"
               "\"concurrency\":%d,\"items\":%d,\"duration_s\":%.3f,"
               "\"qps\":%.1f,\"items_per_s\":%.1f,\"p50_us\":%.1f,"
               "\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"ok\":%d,"
               "\"errors\":%d,\"first_error\":",
               JsonString(flags.label), JsonString(flags.mode),
               flags.concurrency, findings_per_call, seconds, qps,
               findings_per_s, p50 / 1e3, p90 / 1e3, p99 / 1e3, max / 1e3,
               total.ok, total.errors)
        << (total.errors == 0
                ? "null"
                : absl::StrCat("{\"name\":\"ERROR\",\"message\":",
                               JsonString(total.first_error), "}"))
        << "}\n";
  } else {
    out << "treatctl bench: " << what << ", " << flags.concurrency
        << (flags.mode == "stream" ? " streams" : " calls in flight")
        << " against " << flags.target << ", "
        << absl::StrFormat("%.1f", seconds) << " s after "
        << absl::StrFormat("%.1f", flags.warmup_seconds) << " s warmup\n"
        << (flags.mode == "stream" ? "messages    " : "calls       ")
        << total.ok << " ok, " << total.errors << " errors\n"
        << "QPS         " << absl::StrFormat("%.1f", qps) << "\n"
        << "findings/s  " << absl::StrFormat("%.1f", findings_per_s) << "\n"
        << "latency     p50 " << Millis(p50) << "  p90 " << Millis(p90)
        << "  p99 " << Millis(p99) << "  max " << Millis(max) << "\n";
    if (total.errors > 0) out << "first error " << total.first_error << "\n";
  }
  if (total.ok == 0) return kExitRpcFailure;
  return total.errors > 0 ? kExitFailures : kExitOk;
}

}  // namespace treatd
