// Uses the installed treatd client library: creates a Client for a loopback
// port nobody listens on and expects Decide to fail fast.
#include <iostream>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "treatd/v1/finding.pb.h"

int main() {
  treatd::ClientOptions options;
  options.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<treatd::Client>> client =
      treatd::Client::Create("127.0.0.1:1", options);
  if (!client.ok()) {
    std::cerr << "Create failed: " << client.status() << "\n";
    return 1;
  }

  treatd::v1::Finding finding;
  finding.set_id("consumer-1");
  treatd::CallOptions call;
  call.deadline = absl::Now() + absl::Seconds(2);
  absl::StatusOr<treatd::v1::Decision> decision =
      (*client)->Decide(finding, call);
  if (decision.ok()) {
    std::cerr << "Decide succeeded against an unreachable target\n";
    return 1;
  }
  if (decision.status().code() != absl::StatusCode::kUnavailable &&
      decision.status().code() != absl::StatusCode::kDeadlineExceeded) {
    std::cerr << "unexpected status: " << decision.status() << "\n";
    return 1;
  }
  std::cout << "Decide failed as expected: " << decision.status() << "\n";
  return 0;
}
