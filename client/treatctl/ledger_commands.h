// treatctl's ledger commands: `treatctl ledger verify|kpi|findings|finding|
// export|outcome|watch`, and the scan reports of `treatctl decide --record`.
// Each talks to treatd's LedgerService (verify can also open the ledger
// database itself). Not thread-safe: one command at a time.
#ifndef TREATD_CLIENT_TREATCTL_LEDGER_COMMANDS_H_
#define TREATD_CLIENT_TREATCTL_LEDGER_COMMANDS_H_

#include <istream>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/client.h"
#include "client/treatctl/connection.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/ledger_service.pb.h"

namespace treatd {

struct LedgerFlags {
  ConnectionFlags connection;
  // verify: open the database instead of asking a server.
  std::string ledger_file;
  std::string ledger_postgres;
  // kpi
  std::string as_of;
  std::string window = "90d";
  std::string recurrence = "30d";
  std::vector<std::string> group_by;
  std::string output = "table";
  // findings
  std::string state;
  std::string priority;
  std::string owner;
  std::string asset;
  std::string kind;
  std::string vulnerability;
  bool overdue = false;
  bool review_due = false;
  std::string changed_since;
  int limit = 0;
  // finding, outcome
  std::string key;
  bool history = false;
  // outcome
  std::string outcome;
  std::string at;
  std::string actor;
  std::string control;
  std::string evidence;
  std::string until;
  std::string note;
  std::string idempotency_key;
  // export, watch
  uint64_t after = 0;
  std::string output_file;
  std::vector<std::string> types;
  int max_events = 0;
};

struct LedgerCommands {
  LedgerFlags flags;
  CLI::App* ledger = nullptr;
  CLI::App* verify = nullptr;
  CLI::App* kpi = nullptr;
  CLI::App* findings = nullptr;
  CLI::App* finding = nullptr;
  CLI::App* export_events = nullptr;
  CLI::App* outcome = nullptr;
  CLI::App* watch = nullptr;
  bool parsed() const { return ledger != nullptr && ledger->parsed(); }
};

// Adds `ledger` and its subcommands to `app`.
void AddLedgerCommands(CLI::App* app, LedgerCommands* commands);

// Runs the parsed ledger subcommand; returns treatctl's exit code.
int RunLedgerCommand(const LedgerCommands& commands, std::istream& in,
                     std::ostream& out, std::ostream& err);

// The KPI report as a table, JSON (the protobuf JSON mapping) or CSV.
// INVALID_ARGUMENT for another format.
absl::Status WriteKpis(const v1::GetKpisResponse& kpis,
                       const std::string& format, std::ostream& out);

// `treatctl decide --record`: the scopes a run scanned and the findings
// each scan saw.
struct ScanRecordFlags {
  std::vector<std::string> scopes;  // scanned even when nothing was found
  std::vector<std::string> kinds;   // compared kinds; default: those seen
  std::string scanner;              // default: the findings' source
};

void AddScanRecordFlags(CLI::App* command, ScanRecordFlags* flags);

class ScanRecorder {
 public:
  explicit ScanRecorder(ScanRecordFlags flags) : flags_(std::move(flags)) {}

  // Notes what `finding` says about its scope (its asset). Findings
  // without an asset or an identity belong to no scope.
  void Add(const v1::Finding& finding);

  // Sends one ObserveScan per scope and prints what each changed to `out`.
  // The first failed call's status (the rest are not sent).
  absl::Status Report(const Client& client, const CallOptions& call,
                      std::ostream& out) const;

 private:
  struct Scope {
    std::set<std::string> keys;
  };
  const ScanRecordFlags flags_;
  std::map<std::string, Scope> scopes_;
  std::set<int> kinds_;
  std::string source_;
};

}  // namespace treatd

#endif  // TREATD_CLIENT_TREATCTL_LEDGER_COMMANDS_H_
