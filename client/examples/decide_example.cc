// decide_example: decides one finding with treatd::Client, then a small
// batch, and prints the results. Run a server first, then:
//   ./build/client/decide_example 127.0.0.1:50051
#include <iostream>
#include <vector>

#include "absl/time/time.h"
#include "client/client.h"

int main(int argc, char** argv) {
  const std::string target = argc > 1 ? argv[1] : "127.0.0.1:50051";
  absl::StatusOr<std::unique_ptr<treatd::Client>> client =
      treatd::Client::Create(target);
  if (!client.ok()) {
    std::cerr << "cannot create client: " << client.status() << "\n";
    return 2;
  }

  treatd::v1::Finding finding;
  finding.set_id("example-1");
  finding.set_kind(treatd::v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id("CVE-2024-3094");
  finding.mutable_vulnerability()->mutable_cvss()->set_score(10.0);
  finding.mutable_vulnerability()->mutable_kev()->set_listed(true);
  finding.mutable_asset()->set_id("build-host-7");
  finding.mutable_asset()->set_exposure(treatd::v1::EXPOSURE_INTERNET);
  finding.mutable_asset()->set_environment(treatd::v1::ENVIRONMENT_PRODUCTION);

  treatd::CallOptions call;
  call.deadline = absl::Now() + absl::Seconds(5);
  absl::StatusOr<treatd::v1::Decision> decision =
      (*client)->Decide(finding, call);
  if (!decision.ok()) {
    std::cerr << "Decide failed: " << decision.status() << "\n";
    return 4;
  }
  std::cout << finding.id() << ": "
            << treatd::v1::Treatment_Name(decision->treatment()) << " "
            << decision->priority() << " (rule " << decision->matched_rule()
            << ")\n";

  // A batch with one invalid finding: it gets its own error, the rest are
  // decided.
  std::vector<treatd::v1::Finding> batch(3, finding);
  batch[1].set_id("example-2");
  batch[1].mutable_vulnerability()->mutable_cvss()->set_score(42);
  batch[2].set_id("example-3");
  absl::StatusOr<std::vector<treatd::v1::DecisionResult>> results =
      (*client)->BatchDecide(batch, call);
  if (!results.ok()) {
    std::cerr << "BatchDecide failed: " << results.status() << "\n";
    return 4;
  }
  for (const treatd::v1::DecisionResult& result : *results) {
    std::cout << result.index() << " " << result.finding_id() << ": ";
    if (result.has_error()) {
      std::cout << "error: " << result.error().message() << "\n";
    } else {
      std::cout << treatd::v1::Treatment_Name(result.decision().treatment())
                << " " << result.decision().priority() << "\n";
    }
  }
  return 0;
}
