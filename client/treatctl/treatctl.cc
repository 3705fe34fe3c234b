#include "client/treatctl/treatctl.h"

#include <unistd.h>

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/treatctl/bench.h"
#include "client/treatctl/connection.h"
#include "client/treatctl/decision_output.h"
#include "client/treatctl/fail_on.h"
#include "client/treatctl/finding_input.h"
#include "client/treatctl/health.h"
#include "client/treatctl/ledger_commands.h"
#include "client/treatctl/ledger_report.h"
#include "client/treatctl/offline.h"
#include "client/treatctl/policy_diff.h"
#include "client/treatctl/progress.h"
#include "client/treatctl/run_summary.h"
#include "client/treatctl/status_command.h"
#include "common/assets/inventory.h"
#include "common/exporters/exporter.h"
#include "common/importers/vex_statements.h"
#include "common/install/data_files.h"
#include "common/io/read_file.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/loader/yaml_proto.h"
#include "common/policy/pipeline/decide_item.h"

namespace treatd {
namespace {

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  some findings could not be decided, policy test cases failed, or\n"
    "     (status) the replicas run different policies\n"
    "  2  usage error, or an input file that cannot be read or parsed\n"
    "  3  invalid policy\n"
    "  4  server unreachable or RPC failed\n"
    "  5  --fail-on: some decision matched the condition";

// Flags shared by the commands that print decisions.
struct DecisionFlags {
  std::vector<std::string> inputs = {"-"};
  std::string input_format = "auto";
  std::string output = "table";
  std::string output_file;
  std::string inventory;
  std::vector<std::string> vex;
  bool no_dedup = false;
  bool annotate_sarif = false;
  std::string fail_on;
  bool progress = false;
  bool no_progress = false;
  std::string as_of;
  bool trace = false;
  v1::DecisionView view = v1::DECISION_VIEW_FULL;
};

struct DecideFlags {
  DecisionFlags decision;
  ConnectionFlags connection;
  double timeout_seconds = 0;
  int stream_chunk = 100;
  // Ledger: skip_record on every message, or report the scans afterwards.
  bool no_record = false;
  bool record = false;
  ScanRecordFlags scan;
};

struct PolicyFlags {
  std::string policy;
  std::string cases;
};

// FormatIssues() output, ending with a newline.
void PrintIssues(const std::vector<v1::PolicyIssue>& issues,
                 std::ostream& out) {
  const std::string text = FormatIssues(issues);
  out << text;
  if (!text.empty() && text.back() != '\n') out << '\n';
}

absl::StatusOr<std::optional<absl::Time>> ParseAsOf(const std::string& text) {
  if (text.empty()) return std::nullopt;
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--as-of: not an RFC 3339 time (", error, "): ", text));
  }
  return time;
}

// What the flags shared by decide and policy eval resolve to.
struct PreparedRun {
  FindingInputOptions input;
  std::optional<assets::AssetInventory> inventory;
  // The statements of the --vex documents, when any.
  std::optional<importers::VexStatements> vex;
  std::optional<FailOnGate> gate;
  DecisionOutputOptions output;
  bool progress = false;
  std::optional<absl::Time> as_of;
};

// Checks the flags and loads what they name (inventory, gate). On failure
// prints why and returns false.
bool PrepareRun(const DecisionFlags& flags, bool err_is_terminal,
                std::ostream& err, PreparedRun* run) {
  auto fail = [&](const absl::Status& status) {
    err << "treatctl: " << status.message() << "\n";
    return false;
  };
  absl::StatusOr<InputFormat> input_format =
      ParseInputFormat(flags.input_format);
  if (!input_format.ok()) return fail(input_format.status());
  run->input.format = *input_format;
  run->input.dedup = !flags.no_dedup;
  run->input.keep_sarif = flags.annotate_sarif;

  absl::StatusOr<exporters::ExportFormat> format =
      exporters::ParseExportFormat(flags.output);
  if (!format.ok()) {
    if (ParseInputFormat(flags.output).ok()) {
      return fail(absl::InvalidArgumentError(absl::StrCat(
          "--output/--format name the output format (table, jsonl, csv, "
          "openvex, sarif), got \"",
          flags.output, "\"; use --input-format ", flags.output,
          " for the input")));
    }
    return fail(absl::InvalidArgumentError(
        absl::StrCat("--output: ", format.status().message())));
  }
  run->output.format = *format;
  run->output.annotate_sarif = flags.annotate_sarif;
  run->output.path = flags.output_file;

  absl::StatusOr<std::optional<absl::Time>> as_of = ParseAsOf(flags.as_of);
  if (!as_of.ok()) return fail(as_of.status());
  run->as_of = *as_of;
  // Document timestamps: the evaluation time when given, else the latest
  // evaluated_at of the decisions (never the wall clock).
  if (run->as_of.has_value()) run->output.export_options.timestamp = **as_of;

  if (!flags.inventory.empty()) {
    absl::StatusOr<assets::AssetInventory> inventory =
        assets::AssetInventory::Load(flags.inventory);
    if (!inventory.ok()) {
      return fail(absl::Status(
          inventory.status().code(),
          absl::StrCat("--inventory: ", inventory.status().message())));
    }
    run->inventory = *std::move(inventory);
  }
  if (!flags.vex.empty()) {
    run->vex.emplace();
    for (const std::string& path : flags.vex) {
      absl::StatusOr<std::string> document =
          ReadFileToString(path, "VEX document");
      if (!document.ok()) return fail(document.status());
      absl::StatusOr<importers::ImportResult> imported =
          run->vex->AddDocument(*document);
      if (!imported.ok()) {
        return fail(absl::Status(
            imported.status().code(),
            absl::StrCat("--vex ", path, ": ", imported.status().message())));
      }
      for (const importers::ImportIssue& issue : imported->skipped) {
        err << "--vex " << path << ": skipped " << issue.json_path << ": "
            << issue.message << "\n";
      }
    }
  }
  if (!flags.fail_on.empty()) {
    absl::StatusOr<FailOnGate> gate = FailOnGate::Compile(flags.fail_on);
    if (!gate.ok()) return fail(gate.status());
    if (!gate->warning().empty()) err << gate->warning() << "\n";
    run->gate = *std::move(gate);
  }
  run->progress = flags.progress || (err_is_terminal && !flags.no_progress);
  return true;
}

// Hands each decided finding (may be null) and its result to a run.
using ResultSink =
    std::function<void(const v1::Finding* finding, const v1::DecisionResult&)>;
// Hands each decided finding and its DecisionResult's wire bytes (with
// the index to show in place of theirs, when set) to a run whose output is
// JSON Lines or CSV and which reads nothing else of the result than what
// those writers note (no --fail-on gate).
using BytesSink =
    std::function<void(const v1::Finding* finding, absl::string_view result,
                       std::optional<int32_t> index)>;
// Decides every finding of the input, in order, handing each result to
// `bytes_sink` when it is given and the decider can, else to `sink`;
// returns a non-OK status only when deciding as a whole failed (RPC).
// With `bytes_sink`, `labels` says whether the output reads the findings'
// labels (FindingInput::set_identity_only).
using DecideAll =
    std::function<absl::Status(FindingInput& input, const ResultSink& sink,
                               const BytesSink* bytes_sink, bool labels)>;

// The body of decide and policy eval: opens inputs and output, decides with
// `decide_all`, writes results, checks the gate, prints the summary.
int RunDecisions(const DecisionFlags& flags, PreparedRun& run,
                 const std::string& what, const DecideAll& decide_all,
                 std::istream& in, std::ostream& out, std::ostream& err) {
  FindingInput* input_ptr = nullptr;
  Progress progress(&err, run.progress, absl::Milliseconds(250), [&] {
    return input_ptr != nullptr ? input_ptr->fraction() : -1.0;
  });
  if (run.inventory.has_value()) run.input.inventory = &*run.inventory;
  if (run.vex.has_value()) run.input.vex = &*run.vex;
  absl::StatusOr<std::unique_ptr<FindingInput>> input = FindingInput::Open(
      flags.inputs, in, run.input,
      [&progress](absl::string_view line) { progress.Log(line); });
  if (!input.ok()) {
    err << "treatctl: " << input.status().message() << "\n";
    return kExitUsage;
  }
  input_ptr = input->get();
  if (flags.annotate_sarif && (*input)->sarif_document().empty()) {
    err << "treatctl: --annotate-sarif needs exactly one input, a SARIF "
           "document\n";
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<DecisionOutput>> output =
      DecisionOutput::Open(run.output, &out);
  if (!output.ok()) {
    err << "treatctl: " << output.status().message() << "\n";
    return kExitUsage;
  }

  const absl::Time gate_now = run.as_of.value_or(absl::Now());
  RunSummary summary;
  absl::Status write_status;
  int64_t gate_errors = 0;
  if ((*input)->total() >= 0) progress.SetTotal((*input)->total());
  progress.Start();
  auto sink = [&](const v1::Finding* finding,
                  const v1::DecisionResult& result) {
    if (write_status.ok()) write_status = (*output)->Write(finding, result);
    bool tripped = false;
    if (run.gate.has_value()) {
      absl::StatusOr<bool> trips = run.gate->Trips(finding, result, gate_now);
      // A condition that cannot be evaluated fails the gate: a CI gate
      // fails closed.
      tripped = !trips.ok() || *trips;
      if (!trips.ok() && gate_errors++ < 5) {
        progress.Log(
            absl::StrCat(result.finding_id(), ": ", trips.status().message()));
      }
    }
    summary.Add(finding, result, tripped);
    progress.Add(1);
  };
  // JSON Lines and CSV are written from the answers' bytes: parsing each
  // answer into messages cost ~20,000 instructions of a FULL decision,
  // more than writing its JSON (callgrind, issue 15). The summary reads
  // the fields the writer notes.
  v1::DecisionResult notes;
  const BytesSink bytes_sink = [&](const v1::Finding* finding,
                                   absl::string_view result,
                                   std::optional<int32_t> index) {
    if (write_status.ok()) {
      write_status = (*output)->WriteFromWire(finding, result, index, &notes);
    } else {
      notes.ParseFromArray(result.data(), static_cast<int>(result.size()));
    }
    summary.Add(finding, notes, /*tripped=*/false);
    progress.Add(1);
  };
  const bool by_bytes = !run.gate.has_value() && (*output)->WritesFromWire();
  const absl::Status status =
      decide_all(**input, sink, by_bytes ? &bytes_sink : nullptr,
                 (*output)->ReadsFindingLabels());
  progress.Finish();
  if (!status.ok()) {
    err << "treatctl: " << what
        << " failed: " << absl::StatusCodeToString(status.code()) << ": "
        << status.message() << "\n";
    return kExitRpcFailure;
  }
  std::string note;
  if (write_status.ok()) {
    write_status = (*output)->Finish((*input)->sarif_document(), &note);
  }
  const FindingInputStats& stats = (*input)->stats();
  if (stats.merged > 0) {
    err << "dedup: " << stats.imported << " imported findings merged into "
        << stats.imported - stats.merged << "\n";
  }
  if (run.inventory.has_value()) {
    err << "inventory: " << stats.inventory_matched
        << " findings matched an asset entry\n";
  }
  if (run.vex.has_value()) {
    err << "vex: " << stats.vex_matched << " findings matched one of "
        << run.vex->size() << " VEX statements\n";
  }
  if (!note.empty()) err << note << "\n";
  summary.Print(stats.unreadable, flags.fail_on, err);
  if (!write_status.ok()) {
    if (write_status.code() == absl::StatusCode::kInternal) {
      // An answer the server sent that protobuf refuses: the server's
      // fault, like a failed stream, not the output's.
      err << "treatctl: " << what
          << " failed: " << absl::StatusCodeToString(write_status.code())
          << ": " << write_status.message() << "\n";
      return kExitRpcFailure;
    }
    err << "treatctl: output: " << write_status.message() << "\n";
    return kExitUsage;
  }
  if (summary.tripped() > 0) return kExitGateTripped;
  return summary.failed() + stats.unreadable > 0 ? kExitFailures : kExitOk;
}

int RunDecide(const DecideFlags& flags, bool err_is_terminal, std::istream& in,
              std::ostream& out, std::ostream& err) {
  PreparedRun run;
  if (!PrepareRun(flags.decision, err_is_terminal, err, &run)) {
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<Client>> client =
      ConnectClient(flags.connection);
  if (!client.ok()) {
    err << "treatctl: " << client.status().message() << "\n";
    return kExitUsage;
  }
  ScanRecorder scans(flags.scan);
  CallOptions call;
  call.skip_record = flags.no_record;
  call.as_of = run.as_of;
  call.trace = flags.decision.trace;
  call.view = flags.decision.view;
  call.stream_chunk = flags.stream_chunk;
  if (flags.timeout_seconds > 0) {
    call.deadline = absl::Now() + absl::Seconds(flags.timeout_seconds);
  }

  auto decide_all = [&](FindingInput& input, const ResultSink& sink,
                        const BytesSink* bytes_sink, bool labels) {
    // The source runs on the client's writer thread, results arrive on
    // this one, each with its finding (which the exporters and the gate
    // read): the client moves the findings along, no copy is kept here.
    // The reader's wire bytes of each finding go on the stream as they
    // are: serializing the finding again cost ~4,500 instructions of it
    // (callgrind, issue 15).
    auto next = [&](v1::Finding* finding, std::string* wire) {
      if (!input.Next(finding, wire)) return false;
      if (flags.record) scans.Add(*finding);
      return true;
    };
    if (bytes_sink != nullptr) {
      // The JSON Lines run reads only the findings' ids and CVE ids (chunk
      // errors, the summary), a CSV run also their labels; --record keeps
      // the whole findings.
      if (!flags.record) input.set_identity_only(true, labels);
      return (*client)->StreamDecideEncodedBytes(
          next,
          [&](const v1::Finding& finding, absl::string_view result,
              std::optional<int32_t> index,
              uint64_t) { (*bytes_sink)(&finding, result, index); },
          call);
    }
    auto on_decided = [&](const v1::Finding& finding,
                          const v1::DecisionResult& result,
                          uint64_t) { sink(&finding, result); };
    return (*client)->StreamDecideEncoded(next, on_decided, call);
  };
  const int code = RunDecisions(
      flags.decision, run, absl::StrCat("decide via ", flags.connection.target),
      decide_all, in, out, err);
  if (!flags.record || code == kExitUsage || code == kExitRpcFailure) {
    return code;
  }
  // The decisions are recorded; now what the scans saw (and no longer saw).
  CallOptions scan_call;
  scan_call.as_of = run.as_of;
  const absl::Status recorded = scans.Report(**client, scan_call, err);
  if (!recorded.ok()) {
    err << "treatctl: recording the scans failed: "
        << absl::StatusCodeToString(recorded.code()) << ": "
        << recorded.message() << "\n";
    return kExitRpcFailure;
  }
  return code;
}

// Compiles the policy at `path`; on failure prints why and returns the exit
// code in `exit_code`.
std::shared_ptr<const CompiledPolicy> LoadPolicy(const std::string& path,
                                                 std::ostream& out,
                                                 std::ostream& err,
                                                 int* exit_code) {
  std::vector<v1::PolicyIssue> issues;
  absl::StatusOr<std::shared_ptr<const CompiledPolicy>> policy =
      CompiledPolicy::CompileFile(path, &issues);
  PrintIssues(issues, out);
  if (policy.ok()) return *std::move(policy);
  if (absl::IsNotFound(policy.status()) ||
      absl::IsPermissionDenied(policy.status())) {
    err << "treatctl: " << policy.status().message() << "\n";
    *exit_code = kExitUsage;
    return nullptr;
  }
  if (issues.empty()) out << policy.status().message() << "\n";
  int errors = 0;
  for (const v1::PolicyIssue& issue : issues) {
    if (issue.severity() != v1::ISSUE_SEVERITY_WARNING) ++errors;
  }
  err << path << ": invalid policy (" << std::max(errors, 1) << " error"
      << (errors == 1 ? "" : "s") << ")\n";
  *exit_code = kExitInvalidPolicy;
  return nullptr;
}

int RunPolicyValidate(const PolicyFlags& flags, std::ostream& out,
                      std::ostream& err) {
  int exit_code = kExitOk;
  std::shared_ptr<const CompiledPolicy> policy =
      LoadPolicy(flags.policy, out, err, &exit_code);
  if (policy == nullptr) return exit_code;
  out << flags.policy << ": OK: policy " << policy->ref().name() << " "
      << policy->ref().version() << " (" << policy->ref().digest() << ")\n";
  return kExitOk;
}

int RunPolicyEval(const PolicyFlags& policy_flags, const DecisionFlags& flags,
                  const IntelFlags& intel, bool err_is_terminal,
                  std::istream& in, std::ostream& out, std::ostream& err) {
  PreparedRun run;
  if (!PrepareRun(flags, err_is_terminal, err, &run)) return kExitUsage;
  int exit_code = kExitOk;
  // Issues (warnings) of a valid policy go to stderr here: stdout carries
  // only decisions.
  std::shared_ptr<const CompiledPolicy> policy =
      LoadPolicy(policy_flags.policy, err, err, &exit_code);
  if (policy == nullptr) return exit_code;
  absl::StatusOr<std::shared_ptr<const DecisionPipeline>> pipeline =
      MakeOfflinePipeline(policy, intel);
  if (!pipeline.ok()) {
    err << "treatctl: " << pipeline.status().message() << "\n";
    return kExitUsage;
  }

  EvalOptions options;
  options.as_of = run.as_of.value_or(absl::Now());
  options.trace = flags.trace;
  options.view = flags.view;
  auto decide_all = [&](FindingInput& input, const ResultSink& sink,
                        const BytesSink*, bool) {
    v1::Finding finding;
    v1::DecisionResult result;
    int index = 0;
    while (input.Next(&finding)) {
      result.Clear();
      result.set_index(index++);
      DecideInto(**pipeline, finding, options, FindingLimits(),
                 /*field_prefix=*/"", &result);
      sink(&finding, result);
      finding.Clear();
    }
    return absl::OkStatus();
  };
  return RunDecisions(flags, run, "policy eval", decide_all, in, out, err);
}

int RunPolicyTest(const PolicyFlags& flags, std::ostream& out,
                  std::ostream& err) {
  absl::StatusOr<std::string> cases =
      ReadFileToString(flags.cases, "test cases");
  if (!cases.ok()) {
    err << "treatctl: " << cases.status().message() << "\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  std::shared_ptr<const CompiledPolicy> policy =
      LoadPolicy(flags.policy, out, err, &exit_code);
  if (policy == nullptr) return exit_code;

  v1::PolicyTestSuite suite;
  std::vector<v1::PolicyIssue> issues;
  if (!YamlToMessage(*cases, flags.cases, &suite, nullptr, &issues).ok()) {
    PrintIssues(issues, err);
    err << flags.cases << ": not a valid test suite\n";
    return kExitUsage;
  }
  if (suite.cases_size() == 0) {
    err << flags.cases << ": no test cases\n";
    return kExitUsage;
  }
  int failed = 0;
  for (const TestCaseOutcome& outcome :
       RunPolicyTests(*policy, suite, absl::Now())) {
    out << (outcome.passed ? "PASS  " : "FAIL  ") << outcome.name << "\n";
    for (const std::string& problem : outcome.problems) {
      out << "      " << problem << "\n";
    }
    if (!outcome.passed) ++failed;
  }
  out << suite.cases_size() - failed << " passed, " << failed << " failed\n";
  return failed > 0 ? kExitFailures : kExitOk;
}

// Replaces the word "default" in `value` by the path of the shipped `file`.
void ResolveShipped(DataFile file, std::string* value) {
  if (*value == "default") *value = DataFilePath(file);
}

void AddDecisionFlags(CLI::App* command, DecisionFlags* flags) {
  command
      ->add_option("FILE", flags->inputs,
                   "Inputs, - for stdin: findings (a JSON object, a JSON "
                   "array or JSON Lines in the protobuf JSON mapping) or "
                   "scanner documents (Trivy incl. Kubernetes cluster "
                   "reports, Grype, SARIF, CycloneDX, OpenVEX, CSAF)")
      ->capture_default_str();
  command
      ->add_option("--input-format", flags->input_format,
                   "auto, json, jsonl, trivy, grype, sarif, cyclonedx, "
                   "openvex or csaf (auto: detected per input from its "
                   "content)")
      ->capture_default_str();
  command
      ->add_option("--output,--format", flags->output,
                   "Output format: table, jsonl, csv, openvex or sarif "
                   "(--format is the older name)")
      ->capture_default_str();
  command->add_option("-o,--output-file", flags->output_file,
                      "Write the output to this file (default: stdout)");
  command->add_option("--inventory", flags->inventory,
                      "Asset inventory (YAML, or CSV when the name ends in "
                      ".csv) applied to every finding");
  command->add_option(
      "--vex", flags->vex,
      "VEX document (OpenVEX, CycloneDX VEX or CSAF; repeatable) whose "
      "statements are matched to the findings by vulnerability and "
      "product/purl: a matched finding is decided with the statement");
  command->add_flag("--no-dedup", flags->no_dedup,
                    "Do not merge duplicate findings of scanner documents");
  command->add_flag("--annotate-sarif", flags->annotate_sarif,
                    "Write the SARIF input back with each decision in its "
                    "result's properties (one SARIF input only)");
  command->add_option(
      "--fail-on", flags->fail_on,
      "Exit 5 when any decision matches this condition, "
      "e.g. 'decision.treatment == \"MITIGATE_THEN_REMEDIATE\"'");
  CLI::Option* progress = command->add_flag(
      "--progress", flags->progress,
      "Show the progress line on stderr even when it is not a terminal");
  command
      ->add_flag("--no-progress", flags->no_progress,
                 "Never show the progress line")
      ->excludes(progress);
  command->add_option("--as-of", flags->as_of,
                      "Evaluation time, RFC 3339 (default: now)");
  command->add_flag("--trace", flags->trace,
                    "Include why each rule did or did not match (jsonl)");
  AddViewOption(command, &flags->view);
}

}  // namespace

int RunTreatctl(int argc, const char* const* argv, std::istream& in,
                std::ostream& out, std::ostream& err) {
  // The progress line is drawn only on a terminal, unless forced.
  const bool err_is_terminal = &err == &std::cerr && isatty(STDERR_FILENO);
  CLI::App app("treatctl: decide how to treat security findings with treatd.",
               "treatctl");
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);

  DecideFlags decide_flags;
  CLI::App* decide = app.add_subcommand(
      "decide", "Stream findings to a treatd server and print its decisions");
  AddDecisionFlags(decide, &decide_flags.decision);
  AddConnectionFlags(decide, &decide_flags.connection);
  CLI::Option* no_record = decide->add_flag(
      "--no-record", decide_flags.no_record,
      "A what-if run: the server does not record these decisions in its "
      "ledger (skip_record)");
  decide
      ->add_flag("--record", decide_flags.record,
                 "After deciding, record in the ledger that each scanned "
                 "scope (the assets of the findings, and --scan-scope) was "
                 "scanned completely: its findings absent from the input are "
                 "remediated, remediated ones present again reopened; prints "
                 "what each scan changed")
      ->excludes(no_record);
  AddScanRecordFlags(decide, &decide_flags.scan);
  decide
      ->add_option("--timeout", decide_flags.timeout_seconds,
                   "Give up after this many seconds (default: no limit)")
      ->check(CLI::PositiveNumber);
  decide
      ->add_option("--stream-chunk", decide_flags.stream_chunk,
                   "Findings per stream message; 1 sends each finding as "
                   "soon as it is read, more is faster (at most the "
                   "server's --max-batch)")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();

  CLI::App* policy = app.add_subcommand("policy", "Work with policy files");
  policy->require_subcommand(1);
  PolicyFlags policy_flags;
  CLI::App* validate = policy->add_subcommand(
      "validate", "Check a policy file and list every issue as file:line:col");
  constexpr char kPolicyHelp[] =
      "Policy YAML file; \"default\" is the shipped default policy";
  validate->add_option("POLICY", policy_flags.policy, kPolicyHelp)->required();
  CLI::App* test = policy->add_subcommand(
      "test", "Run a PolicyTestSuite YAML file against a policy");
  test->add_option("POLICY", policy_flags.policy, kPolicyHelp)->required();
  test->add_option("CASES", policy_flags.cases, "Test suite YAML file")
      ->required();
  DecisionFlags eval_flags;
  CLI::App* eval = policy->add_subcommand(
      "eval", "Decide findings with a local policy file, without a server");
  eval->add_option("POLICY", policy_flags.policy, kPolicyHelp)->required();
  AddDecisionFlags(eval, &eval_flags);
  IntelFlags eval_intel;
  AddIntelFlags(eval, &eval_intel);
  PolicyDiffFlags diff_flags;
  CLI::App* diff = AddPolicyDiffCommand(policy, &diff_flags);
  BenchFlags bench_flags;
  CLI::App* bench = AddBenchCommand(&app, &bench_flags);
  LedgerCommands ledger_commands;
  AddLedgerCommands(&app, &ledger_commands);
  LedgerReportFlags report_flags;
  CLI::App* report =
      AddLedgerReportCommand(ledger_commands.ledger, &report_flags);
  HealthFlags health_flags;
  CLI::App* health = AddHealthCommand(&app, &health_flags);
  StatusFlags status_flags;
  CLI::App* status = AddStatusCommand(&app, &status_flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  // "default" names the files shipped with treatctl, found relative to the
  // binary (common/install/data_files.h): any directory, any install.
  ResolveShipped(DataFile::kDefaultPolicy, &policy_flags.policy);
  for (IntelFlags* intel : {&eval_intel, &diff_flags.intel}) {
    ResolveShipped(DataFile::kKevSnapshot, &intel->kev);
    ResolveShipped(DataFile::kEpssSnapshot, &intel->epss);
  }
  for (std::string& arg : diff_flags.args) {
    if (&arg != &diff_flags.args.back()) {
      ResolveShipped(DataFile::kDefaultPolicy, &arg);
    }
  }

  if (decide->parsed()) {
    return RunDecide(decide_flags, err_is_terminal, in, out, err);
  }
  if (validate->parsed()) return RunPolicyValidate(policy_flags, out, err);
  if (test->parsed()) return RunPolicyTest(policy_flags, out, err);
  if (eval->parsed()) {
    return RunPolicyEval(policy_flags, eval_flags, eval_intel, err_is_terminal,
                         in, out, err);
  }
  if (diff->parsed()) return RunPolicyDiff(diff_flags, out, err);
  if (bench->parsed()) return RunBench(bench_flags, out, err);
  if (health->parsed()) return RunHealth(health_flags, out, err);
  // `ledger report` opens the database itself (client/report); the other
  // ledger commands talk to the server.
  if (report->parsed()) return RunLedgerReport(report_flags, out, err);
  if (status->parsed()) return RunStatus(status_flags, out, err);
  if (ledger_commands.parsed()) {
    return RunLedgerCommand(ledger_commands, in, out, err);
  }
  err << app.help();
  return kExitUsage;
}

}  // namespace treatd
