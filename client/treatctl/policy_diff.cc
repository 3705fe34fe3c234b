#include "client/treatctl/policy_diff.h"

#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/client.h"
#include "client/treatctl/finding_reader.h"
#include "client/treatctl/treatctl.h"
#include "common/intel/intel_snapshot.h"
#include "common/io/read_file.h"
#include "common/policy/simulate/simulate.h"
#include "common/text/treatment_name.h"
#include "common/time/proto_time.h"
#include "common/time/time_text.h"
#include "google/protobuf/util/json_util.h"

namespace treatd {
namespace {

// Reads every finding of `path`; unreadable records are reported to `err`
// and counted in `*unreadable`.
absl::StatusOr<std::vector<v1::Finding>> ReadFindings(const std::string& path,
                                                      std::ostream& err,
                                                      int* unreadable) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  FindingReader reader(&file, path);
  FindingReader::Record record;
  std::vector<v1::Finding> findings;
  while (reader.Next(&record)) {
    if (!record.status.ok()) {
      err << record.status.message() << "\n";
      ++*unreadable;
      continue;
    }
    findings.push_back(std::move(record.finding));
  }
  return findings;
}

absl::StatusOr<std::shared_ptr<const CompiledPolicy>> Compile(
    const std::string& path, std::ostream& err) {
  std::vector<v1::PolicyIssue> issues;
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> policy =
      CompiledPolicy::CompileFile(path, &issues);
  if (!policy.ok()) err << policy.status().message() << "\n";
  return policy;
}

void PrintPolicyLine(absl::string_view label, const v1::PolicyRef& ref,
                     std::ostream& out) {
  out << label << ref.name() << " " << ref.version() << " (" << ref.digest()
      << ")\n";
}

int Finish(const v1::SimulationReport& report, const v1::PolicyRef& baseline,
           const v1::PolicyRef& candidate, const PolicyDiffFlags& flags,
           std::ostream& out) {
  if (flags.format == "json") {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    (void)google::protobuf::util::MessageToJsonString(report, &json, options);
    out << json;
    return kExitOk;
  }
  PrintPolicyLine("baseline:  ", baseline, out);
  PrintPolicyLine("candidate: ", candidate, out);
  PrintSimulationReport(report, out);
  return kExitOk;
}

}  // namespace

void AddIntelFlags(CLI::App* command, IntelFlags* flags) {
  command->add_option("--kev", flags->kev,
                      "CISA KEV catalog JSON to enrich findings from; "
                      "\"default\" is the snapshot shipped with treatctl");
  command->add_option("--epss", flags->epss,
                      "FIRST EPSS scores CSV to enrich findings from; "
                      "\"default\" is the snapshot shipped with treatctl");
  command
      ->add_option("--intel-max-age", flags->max_age,
                   "Feeds older than this are stale (e.g. 7d); 0s: no limit")
      ->capture_default_str();
  command->add_flag("--intel-feed-wins", flags->feed_wins,
                    "Feed entries replace KEV/EPSS facts in the findings");
}

absl::StatusOr<std::shared_ptr<const DecisionPipeline>> MakeOfflinePipeline(
    std::shared_ptr<const CompiledPolicy> policy, const IntelFlags& flags) {
  IntelSettings settings;
  settings.feed_wins = flags.feed_wins;
  absl::StatusOr<absl::Duration> max_age = ParseDurationText(flags.max_age);
  if (!max_age.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--intel-max-age: ", max_age.status().message()));
  }
  settings.max_age = *max_age;
  std::shared_ptr<const intel::IntelSnapshot> intel;
  if (!flags.kev.empty() || !flags.epss.empty()) {
    absl::StatusOr<std::shared_ptr<const intel::IntelSnapshot>> loaded =
        intel::IntelSnapshot::Load({flags.kev, flags.epss});
    if (!loaded.ok()) return loaded.status();
    intel = *std::move(loaded);
  }
  return DecisionPipeline::Create(std::move(policy), std::move(intel),
                                  settings);
}

CLI::App* AddPolicyDiffCommand(CLI::App* policy, PolicyDiffFlags* flags) {
  CLI::App* diff = policy->add_subcommand(
      "diff",
      "What a candidate policy changes: OLD NEW FINDINGS offline, or NEW "
      "FINDINGS against a server's active policy with --target");
  diff->add_option("ARGS", flags->args,
                   "OLD.yaml NEW.yaml FINDINGS, or NEW.yaml FINDINGS with "
                   "--target")
      ->required()
      ->expected(2, 3);
  diff->add_option("--target", flags->target,
                   "Compare with this server's active policy "
                   "(AdminService.Simulate)");
  diff->add_option("--as-of", flags->as_of,
                   "Evaluation time, RFC 3339 (default: now)");
  diff->add_option("--format", flags->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  diff->add_option("--max-moved", flags->max_moved,
                   "Most moved findings to list")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  AddIntelFlags(diff, &flags->intel);
  return diff;
}

int RunPolicyDiff(const PolicyDiffFlags& flags, std::ostream& out,
                  std::ostream& err) {
  const bool remote = !flags.target.empty();
  const size_t want = remote ? 2 : 3;
  if (flags.args.size() != want) {
    err << "treatctl: policy diff takes "
        << (remote ? "NEW FINDINGS with --target" : "OLD NEW FINDINGS") << "\n";
    return kExitUsage;
  }
  absl::Time as_of = absl::Now();
  if (!flags.as_of.empty()) {
    absl::StatusOr<absl::Time> parsed = ParseTimestampText(flags.as_of);
    if (!parsed.ok()) {
      err << "treatctl: --as-of: " << parsed.status().message() << "\n";
      return kExitUsage;
    }
    as_of = *parsed;
  }
  int unreadable = 0;
  absl::StatusOr<std::vector<v1::Finding>> findings =
      ReadFindings(flags.args.back(), err, &unreadable);
  if (!findings.ok()) {
    err << "treatctl: " << findings.status().message() << "\n";
    return kExitUsage;
  }
  if (findings->empty()) {
    err << "treatctl: " << flags.args.back() << ": no findings\n";
    return kExitUsage;
  }
  const std::string& new_path = flags.args[want - 2];

  if (remote) {
    absl::StatusOr<std::string> content = ReadFileToString(new_path, "policy");
    if (!content.ok()) {
      err << "treatctl: " << content.status().message() << "\n";
      return kExitUsage;
    }
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create(flags.target);
    if (!client.ok()) {
      err << "treatctl: " << client.status().message() << "\n";
      return kExitUsage;
    }
    v1::SimulateRequest request;
    request.set_candidate_policy(*content);
    request.set_candidate_filename(new_path);
    for (v1::Finding& f : *findings) *request.add_findings() = std::move(f);
    ToProtoTime(as_of, request.mutable_as_of());
    request.set_max_moved(flags.max_moved);
    absl::StatusOr<v1::SimulateResponse> response =
        (*client)->Simulate(request);
    if (!response.ok()) {
      err << "treatctl: simulate via " << flags.target
          << " failed: " << absl::StatusCodeToString(response.status().code())
          << ": " << response.status().message() << "\n";
      return absl::IsInvalidArgument(response.status()) ? kExitInvalidPolicy
                                                        : kExitRpcFailure;
    }
    return Finish(response->report(), response->baseline_policy(),
                  response->candidate_policy(), flags, out);
  }

  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> old_policy =
      Compile(flags.args[0], err);
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> new_policy =
      Compile(new_path, err);
  for (const auto* p : {&old_policy, &new_policy}) {
    if (!p->ok()) {
      return absl::IsInvalidArgument(p->status()) ? kExitInvalidPolicy
                                                  : kExitUsage;
    }
  }
  absl::StatusOr<std::shared_ptr<const DecisionPipeline>> baseline =
      MakeOfflinePipeline(*old_policy, flags.intel);
  absl::StatusOr<std::shared_ptr<const DecisionPipeline>> candidate =
      MakeOfflinePipeline(*new_policy, flags.intel);
  for (const auto* p : {&baseline, &candidate}) {
    if (!p->ok()) {
      err << "treatctl: " << p->status().message() << "\n";
      return kExitUsage;
    }
  }
  std::vector<const v1::Finding*> pointers;
  for (const v1::Finding& f : *findings) pointers.push_back(&f);
  EvalOptions options;
  options.as_of = as_of;
  const v1::SimulationReport report =
      Simulate(**baseline, **candidate, pointers, options, FindingLimits(),
               flags.max_moved);
  return Finish(report, (*old_policy)->ref(), (*new_policy)->ref(), flags, out);
}

void PrintSimulationReport(const v1::SimulationReport& report,
                           std::ostream& out) {
  out << "findings: " << report.findings() << "  changed: " << report.changed()
      << "  unchanged: " << report.unchanged()
      << "  errors: " << report.errors() << "\n";
  if (report.transitions_size() > 0) {
    out << "\nchanges (treatment priority -> treatment priority: count):\n";
    for (const v1::TreatmentTransition& t : report.transitions()) {
      out << absl::StrFormat("  %s %s -> %s %s: %d\n",
                             TreatmentName(t.from_treatment()),
                             t.from_priority(), TreatmentName(t.to_treatment()),
                             t.to_priority(), t.count());
    }
  }
  if (report.moved_size() > 0) {
    out << "\nmoved findings:\n";
    for (const v1::MovedFinding& m : report.moved()) {
      out << absl::StrFormat(
          "  %s: %s %s (%s) -> %s %s (%s)\n", m.finding_id(),
          TreatmentName(m.from_treatment()), m.from_priority(), m.from_rule(),
          TreatmentName(m.to_treatment()), m.to_priority(), m.to_rule());
    }
    if (report.moved_truncated()) out << "  ... (more not listed)\n";
  }
  const v1::DeadlineWorkload& a = report.baseline_workload();
  const v1::DeadlineWorkload& b = report.candidate_workload();
  out << "\nremediation workload   baseline  candidate\n";
  const auto row = [&out](absl::string_view label, int x, int y) {
    out << absl::StrFormat("  %-20s %8d %10d\n", label, x, y);
  };
  row("due within 3 days", a.within_3_days(), b.within_3_days());
  row("within 14 days", a.within_14_days(), b.within_14_days());
  row("within 60 days", a.within_60_days(), b.within_60_days());
  row("beyond 60 days", a.beyond_60_days(), b.beyond_60_days());
  row("no remediation date", a.no_remediation_deadline(),
      b.no_remediation_deadline());
}

}  // namespace treatd
