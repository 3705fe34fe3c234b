#include "client/treatctl/status_command.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/treatctl/treatctl.h"
#include "common/time/proto_time.h"

namespace treatd {

CLI::App* AddStatusCommand(CLI::App* app, StatusFlags* flags) {
  CLI::App* status = app->add_subcommand(
      "status",
      "Show the policy each treatd replica runs (--target A,B,C asks each "
      "one) and whether they agree");
  CLI::Option* target = AddConnectionFlags(status, &flags->connection);
  target->description(
      "Server address, or several comma-separated replica addresses, each "
      "asked directly, e.g. 10.0.0.1:50051,10.0.0.2:50051");
  status
      ->add_option("--timeout", flags->timeout_seconds,
                   "Seconds to wait for each replica")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  return status;
}

int RunStatus(const StatusFlags& flags, std::ostream& out, std::ostream& err) {
  std::vector<std::string> targets =
      absl::StrSplit(flags.connection.target, ',', absl::SkipWhitespace());
  if (targets.empty()) {
    err << "treatctl: --target: no address given\n";
    return kExitUsage;
  }
  struct Row {
    std::string target, name, version, digest, loaded, reloads, last, error;
  };
  std::vector<Row> rows;
  std::map<std::string, int> digests;  // digest -> replicas serving it
  int unreachable = 0;
  for (const std::string& target : targets) {
    Row row;
    row.target = target;
    ConnectionFlags one = flags.connection;
    one.target = target;
    absl::StatusOr<std::unique_ptr<Client>> client = ConnectClient(one);
    if (!client.ok()) {
      err << "treatctl: " << client.status().message() << "\n";
      return kExitUsage;
    }
    CallOptions call;
    call.deadline = absl::Now() + absl::Seconds(flags.timeout_seconds);
    absl::StatusOr<v1::GetStatusResponse> status = (*client)->GetStatus(call);
    if (!status.ok()) {
      row.error = absl::StrCat(absl::StatusCodeToString(status.status().code()),
                               ": ", status.status().message());
      ++unreachable;
    } else {
      row.name = status->policy().name();
      row.version = status->policy().version();
      row.digest = status->policy().digest();
      row.loaded = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                    FromProtoTime(status->policy_loaded_at()),
                                    absl::UTCTimeZone());
      row.reloads = absl::StrCat(status->reloads(), " (",
                                 status->rejected_reloads(), " rejected)");
      row.last = !status->has_last_reload()   ? "-"
                 : status->last_reload().ok() ? "ok"
                                              : "REJECTED";
      ++digests[row.digest];
    }
    rows.push_back(std::move(row));
  }
  size_t width = 6;
  for (const Row& row : rows) width = std::max(width, row.target.size());
  out << absl::StrFormat("%-*s  %-20s  %-8s  %-71s  %-20s  %-14s  %s\n", width,
                         "TARGET", "POLICY", "VERSION", "DIGEST", "LOADED",
                         "RELOADS", "LAST RELOAD");
  for (const Row& row : rows) {
    if (!row.error.empty()) {
      out << absl::StrFormat("%-*s  unreachable: %s\n", width, row.target,
                             row.error);
      continue;
    }
    out << absl::StrFormat("%-*s  %-20s  %-8s  %-71s  %-20s  %-14s  %s\n",
                           width, row.target, row.name, row.version, row.digest,
                           row.loaded, row.reloads, row.last);
  }
  const int answered = static_cast<int>(targets.size()) - unreachable;
  if (digests.size() == 1) {
    out << answered << " of " << targets.size()
        << " replicas answered, all run digest " << digests.begin()->first
        << "\n";
  } else if (digests.size() > 1) {
    out << answered << " of " << targets.size() << " replicas answered, "
        << digests.size() << " different policy digests:";
    for (const auto& [digest, count] : digests) {
      out << " " << digest << " on " << count;
    }
    out << "\n";
  } else {
    out << "no replica answered\n";
  }
  if (unreachable > 0) return kExitRpcFailure;
  return digests.size() > 1 ? kExitFailures : kExitOk;
}

}  // namespace treatd
