// treatd::Client: a small C++ API over one gRPC channel to a treatd server.
//
// Retries on UNAVAILABLE come from the channel's service config (every
// TreatmentService method is a pure function of its request, so retrying is
// safe); targets are balanced round robin over every address the name
// resolves to (e.g. "dns:///treatd.internal:50051"); calls carry a deadline,
// and optionally TLS and a bearer token.
//
// Thread-safe: one Client may be shared by any number of threads, and its
// methods may run concurrently. The Client must outlive nothing of its own:
// its destructor waits for callbacks of DecideAsync() still in flight.
#ifndef TREATD_CLIENT_CLIENT_H_
#define TREATD_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "grpcpp/grpcpp.h"
#include "treatd/v1/admin_service.grpc.pb.h"
#include "treatd/v1/treatment_service.grpc.pb.h"

namespace treatd {
namespace internal {
class StreamDecideBytes;
}  // namespace internal

// How the channel is built. The defaults suit a local, plaintext server.
struct ClientOptions {
  // Use TLS. Implied when `tls_root_ca_pem` is set.
  bool use_tls = false;
  // PEM root certificates to verify the server with; the system roots when
  // empty.
  std::string tls_root_ca_pem;
  // PEM client certificate chain and private key for mTLS; both or
  // neither. Imply TLS.
  std::string tls_client_cert_pem;
  std::string tls_client_key_pem;
  // Name to verify the server's certificate against (and send as SNI and
  // :authority) instead of the target's host, e.g. when dialling an IP.
  std::string tls_server_name;
  // Sent as "authorization: Bearer <token>" on every call. Requires TLS
  // unless `allow_token_without_tls` (local testing only: the token would
  // cross the network in clear text).
  std::string bearer_token;
  bool allow_token_without_tls = false;

  // Most findings per BatchDecide call; larger batches are split. Match the
  // server's --max-batch.
  int max_batch = 10000;
  // Attempts per call, first one included, when the server is UNAVAILABLE:
  // 1 disables retries, gRPC allows at most 5.
  int max_attempts = 5;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(2);
  // Deadline of unary and batch calls whose CallOptions set none. Streams
  // have no deadline unless the call sets one.
  absl::Duration default_timeout = absl::Seconds(30);
  // Largest message sent or received.
  int max_message_bytes = 16 * 1024 * 1024;
};

// Per-call options.
struct CallOptions {
  // Absolute deadline; ClientOptions::default_timeout from now when unset
  // (unary and batch calls only).
  std::optional<absl::Time> deadline;
  // Evaluation time; the server's clock when unset.
  std::optional<absl::Time> as_of;
  // Ask for the evaluation trace.
  bool trace = false;
  // Which fields of each decision the server builds (DecisionView;
  // unspecified means FULL).
  v1::DecisionView view = v1::DECISION_VIEW_FULL;
  // StreamDecide only: findings per stream message. 1 (the default) sends
  // each finding in its own message (`finding`), as every treatd server
  // understands; more sends chunks (`findings`), which saves gRPC's
  // per-message cost (several times the findings/s on a local server) but
  // needs a server that knows chunks, and holds each finding back until
  // its chunk is full or the source ends. At most
  // ClientOptions::max_batch (larger values are lowered to it).
  int stream_chunk = 1;
  // Ask the server not to record the decisions in its ledger (a what-if
  // call).
  bool skip_record = false;
};

class Client {
 public:
  // Produces the next finding of a stream into `*finding` (already
  // cleared) and returns true, or returns false at the end.
  using FindingSource = std::function<bool(v1::Finding* finding)>;
  // Receives the answer to each finding of a stream, in the order the
  // source produced them: `sequence` and `result.index()` (while it fits an
  // int32) are the finding's zero-based position in the stream, whatever
  // CallOptions::stream_chunk is.
  using ResultCallback =
      std::function<void(const v1::DecisionResult& result, uint64_t sequence)>;
  // Like ResultCallback, with the finding the answer is for (as the source
  // produced it). Both are valid only during the call.
  using DecidedCallback =
      std::function<void(const v1::Finding& finding,
                         const v1::DecisionResult& result, uint64_t sequence)>;
  // Like FindingSource, and may also set `*wire` (already cleared) to wire
  // bytes that parse to exactly `*finding`, e.g. the bytes a JSON reader
  // built it from: they are sent as they are instead of serializing the
  // finding again. Left empty, the finding is serialized.
  using EncodedFindingSource =
      std::function<bool(v1::Finding* finding, std::string* wire)>;
  // Receives the answer to each finding of a stream as the wire bytes of
  // its DecisionResult (valid only during the call), with the finding, for
  // a caller that writes answers without parsing them
  // (json::AppendDecisionResultJsonFromWire). When `index` is set, the
  // result is the one with that `index` in place of the bytes' own (which
  // is then the finding's position in its chunk).
  using DecidedBytesCallback =
      std::function<void(const v1::Finding& finding, absl::string_view result,
                         std::optional<int32_t> index, uint64_t sequence)>;
  // Receives the outcome of DecideAsync().
  using DecideCallback = std::function<void(absl::StatusOr<v1::Decision>)>;

  // Creates a client for `target` ("host:port", "dns:///name:port",
  // "unix:/path", ...). The channel connects lazily, so an unreachable
  // server shows up as UNAVAILABLE on the first call. INVALID_ARGUMENT for
  // an empty target or inconsistent options.
  static absl::StatusOr<std::unique_ptr<Client>> Create(
      const std::string& target, const ClientOptions& options = {});

  // Waits for DecideAsync() callbacks still pending.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Decides one finding. The server's status on failure: INVALID_ARGUMENT
  // naming the field, FAILED_PRECONDITION without a policy, UNAVAILABLE
  // once retries are spent, DEADLINE_EXCEEDED.
  absl::StatusOr<v1::Decision> Decide(const v1::Finding& finding,
                                      const CallOptions& call = {}) const;

  // Decides `findings`, split into calls of at most max_batch; returns one
  // result per finding in input order with its index in `findings`. Fails
  // as a whole when any call fails (INVALID_ARGUMENT when `findings` is
  // empty); one bad finding only makes its own result an error.
  absl::StatusOr<std::vector<v1::DecisionResult>> BatchDecide(
      absl::Span<const v1::Finding> findings,
      const CallOptions& call = {}) const;

  // Streams findings from `next` (called on a writer thread this method
  // starts) and hands every answer to `on_result` (called on the calling
  // thread) as it arrives, one per finding. With `call.stream_chunk` > 1
  // the findings travel in chunks, but each finding's result looks as if
  // it had been sent alone: field paths in its error start with "finding"
  // (not "findings[i]"), and a chunk the server rejects as a whole yields
  // that error for each of its findings. Returns OK once every finding was
  // answered, else the stream's status (INVALID_ARGUMENT for a
  // `stream_chunk` below 1; INTERNAL when the server's answers do not match
  // what was sent). If the stream fails while `next` blocks, this method
  // returns only when `next` returns.
  absl::Status StreamDecide(const FindingSource& next,
                            const ResultCallback& on_result,
                            const CallOptions& call = {}) const;
  // StreamDecide() that hands each answer over with its finding: the
  // findings are moved out of each message once it is written (never
  // copied), so a caller that needs them with their results (exporters, a
  // gate) keeps no copy of its own.
  absl::Status StreamDecideFindings(const FindingSource& next,
                                    const DecidedCallback& on_decided,
                                    const CallOptions& call = {}) const;
  // StreamDecideFindings() whose source may hand over each finding's wire
  // bytes with it (EncodedFindingSource), which saves serializing it. The
  // caller vouches that the bytes are the finding's: the server decides
  // what the bytes say, `on_decided` receives the Finding.
  absl::Status StreamDecideEncoded(const EncodedFindingSource& next,
                                   const DecidedCallback& on_decided,
                                   const CallOptions& call = {}) const;
  // StreamDecideEncoded() that hands over each answer as bytes
  // (DecidedBytesCallback): the results of chunks are not parsed, except
  // errors, whose field paths are rewritten as StreamDecide() does.
  // INTERNAL when an answer does not parse.
  absl::Status StreamDecideEncodedBytes(const EncodedFindingSource& next,
                                        const DecidedBytesCallback& on_decided,
                                        const CallOptions& call = {}) const;

  // Decides one finding without blocking; `done` runs exactly once, on a
  // gRPC thread.
  void DecideAsync(const v1::Finding& finding, const CallOptions& call,
                   DecideCallback done) ABSL_LOCKS_EXCLUDED(async_mu_);

  // Describes the server's active policy.
  absl::StatusOr<v1::GetPolicyResponse> GetPolicy(
      const CallOptions& call = {}) const;

  // Checks a policy document on the server without activating it.
  absl::StatusOr<v1::ValidatePolicyResponse> ValidatePolicy(
      const std::string& content, const std::string& filename,
      const CallOptions& call = {}) const;

  // AdminService.Reload: reloads the server's policy, feeds and shadow
  // policy (only changed files unless `force`). The result lists every
  // rejected source with its errors; the call fails only on RPC errors
  // (FAILED_PRECONDITION when the server has no files to reload).
  absl::StatusOr<v1::ReloadResult> Reload(bool force,
                                          const CallOptions& call = {}) const;

  // AdminService.GetStatus: active policy, feeds, reload history, shadow
  // divergences.
  absl::StatusOr<v1::GetStatusResponse> GetStatus(
      const CallOptions& call = {}) const;

  // AdminService.Simulate: compares `request.candidate_policy` with the
  // server's active policy over `request.findings`. INVALID_ARGUMENT with
  // every error when the candidate does not compile.
  absl::StatusOr<v1::SimulateResponse> Simulate(
      const v1::SimulateRequest& request, const CallOptions& call = {}) const;

  // The channel, e.g. for a health check or LedgerService stub.
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // Sets `call`'s deadline (the default timeout for `unary` calls when it
  // sets none) and the credentials metadata on `context`, for calls made
  // with another stub on channel().
  void PrepareContext(grpc::ClientContext* context,
                      const CallOptions& call = {}, bool unary = true) const {
    Prepare(call, unary, context);
  }

 private:
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  // Sets deadline and credentials metadata on `context`.
  void Prepare(const CallOptions& call, bool unary,
               grpc::ClientContext* context) const;

  // Constant after construction.
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::TreatmentService::Stub> stub_;
  const std::unique_ptr<v1::AdminService::Stub> admin_stub_;
  // TreatmentService.StreamDecide, called with requests the client
  // encodes itself (StreamDecideEncoded).
  const std::unique_ptr<const internal::StreamDecideBytes> stream_decide_;
  const ClientOptions options_;

  absl::Mutex async_mu_;
  int async_in_flight_ ABSL_GUARDED_BY(async_mu_) = 0;
};

// The service config the client installs: round robin and, when
// `max_attempts` > 1, a retry policy for UNAVAILABLE. Exposed for tests and
// for callers that build their own channel.
std::string ClientServiceConfig(const ClientOptions& options);

}  // namespace treatd

#endif  // TREATD_CLIENT_CLIENT_H_
