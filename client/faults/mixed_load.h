// MixedLoad: closed-loop load on a treatd that mixes well-behaved calls
// (Decide, BatchDecide, StreamDecide) with the faults a server meets on the
// wire, one after another on a thread of their own: a stream cancelled
// mid-conversation, a batch whose deadline expires while it is decided,
// a message of garbage, a stream opened and left silent, and a connection
// reset (RST) under an open stream. Every call's final status is counted
// per kind of call, so a test can check each against the documented one
// (docs/server.md, "Faults on the wire") and the soak (bench/soak.sh) can
// print them.
//
// Thread-safe: the tally may be read while the load runs; Stop() may be
// called from any one thread.
#ifndef TREATD_CLIENT_FAULTS_MIXED_LOAD_H_
#define TREATD_CLIENT_FAULTS_MIXED_LOAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {

// The kinds of call MixedLoad makes, as the tally names them.
inline constexpr absl::string_view kDecideCall = "decide";
inline constexpr absl::string_view kBatchCall = "batch";
inline constexpr absl::string_view kStreamCall = "stream";
inline constexpr absl::string_view kCancelledStreamFault = "cancelled stream";
inline constexpr absl::string_view kLateBatchFault = "late batch";
inline constexpr absl::string_view kGarbageFault = "garbage";
inline constexpr absl::string_view kSilentStreamFault = "silent stream";
inline constexpr absl::string_view kResetStreamFault = "reset stream";

// Counts calls by kind and final status code. Thread-safe.
class StatusTally {
 public:
  using Counts = std::map<std::string, std::map<grpc::StatusCode, int64_t>>;

  void Add(absl::string_view kind, grpc::StatusCode code)
      ABSL_LOCKS_EXCLUDED(mu_);
  Counts counts() const ABSL_LOCKS_EXCLUDED(mu_);
  // Calls of every kind.
  int64_t total() const ABSL_LOCKS_EXCLUDED(mu_);
  // One line: "batch: OK=12 CANCELLED=1; decide: OK=480; ...".
  std::string Text() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  Counts counts_ ABSL_GUARDED_BY(mu_);
};

// "OK", "CANCELLED", ... (the grpc::StatusCode names).
std::string StatusCodeName(grpc::StatusCode code);

// `size` bytes that do not parse as a protobuf message (pseudo-random,
// the same for the same `seed`).
std::string GarbageBytes(size_t size, uint32_t seed);

// A vulnerability finding (KEV-listed when `kev`) naming CVE-2024-3094.
v1::Finding LoadFinding(const std::string& id, bool kev);

// `size` LoadFindings ("b0", "b1", ...; every other one KEV-listed), with
// an evaluation trace when `trace`.
v1::BatchDecideRequest LoadBatch(int size, bool trace);

// A client context whose deadline is `timeout` from now.
std::unique_ptr<grpc::ClientContext> ContextWithDeadline(
    absl::Duration timeout);

struct MixedLoadOptions {
  int unary_threads = 2;
  int batch_threads = 1;
  // Findings per BatchDecide call.
  int batch_size = 100;
  int stream_threads = 1;
  // One-finding messages per stream before it is closed and a new one
  // opened.
  int stream_messages = 50;
  // A thread that cycles through the faults.
  bool faults = true;
  size_t garbage_bytes = 64 * 1024;
  // The late batch: this many findings (with trace) and this deadline
  // (DEADLINE_EXCEEDED, or OK when it beats the deadline).
  int late_batch_size = 1000;
  absl::Duration late_deadline = absl::Milliseconds(2);
  // A silent stream ends at the server's --stream-idle-seconds or at this
  // client deadline, whichever comes first: DEADLINE_EXCEEDED either way.
  absl::Duration silent_deadline = absl::Seconds(2);
  // Deadline of every other call.
  absl::Duration call_deadline = absl::Seconds(10);
};

class MixedLoad {
 public:
  // Called after every successful call with the decisions it returned
  // (one per stream message), from the load threads.
  using DecisionCheck = std::function<void(
      absl::string_view kind, const std::vector<const v1::Decision*>&)>;

  // Starts the load on `target` ("127.0.0.1:<port>", plaintext). The reset
  // fault goes through a ResettingProxy in front of the target's port.
  MixedLoad(std::string target, MixedLoadOptions options,
            DecisionCheck check = nullptr);
  // Stops the load (see Stop()).
  ~MixedLoad();
  MixedLoad(const MixedLoad&) = delete;
  MixedLoad& operator=(const MixedLoad&) = delete;

  // Asks every thread to stop and waits for them; calls in progress finish
  // (or fail) first and are counted.
  void Stop();

  const StatusTally& tally() const { return tally_; }

 private:
  void Unary();
  void Batches();
  void Streams();
  void Faults();
  void Checked(absl::string_view kind,
               const std::vector<const v1::Decision*>& decisions);

  // Constant after construction.
  const std::string target_;
  const MixedLoadOptions options_;
  const DecisionCheck check_;
  std::shared_ptr<grpc::Channel> channel_;

  StatusTally tally_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_FAULTS_MIXED_LOAD_H_
