#include "client/treatctl/treatctl.h"

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/treatctl/finding_reader.h"
#include "client/treatctl/offline.h"
#include "client/treatctl/result_printer.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/loader/yaml_proto.h"

namespace treatd {
namespace {

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  some findings could not be decided, or policy test cases failed\n"
    "  2  usage error, or an input file that cannot be read or parsed\n"
    "  3  invalid policy\n"
    "  4  server unreachable or RPC failed";

// Flags shared by the commands that print decisions.
struct DecisionFlags {
  std::string input = "-";
  std::string format = "table";
  std::string as_of;
  bool trace = false;
};

struct DecideFlags {
  DecisionFlags decision;
  std::string target;
  std::string tls_ca_file;
  bool tls = false;
  std::string token;
  double timeout_seconds = 0;
};

struct PolicyFlags {
  std::string policy;
  std::string cases;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  }
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

// The input stream for FILE or "-".
class Input {
 public:
  static absl::StatusOr<std::unique_ptr<Input>> Open(const std::string& path,
                                                     std::istream& stdin_) {
    auto input = std::unique_ptr<Input>(new Input);
    if (path == "-") {
      input->stream_ = &stdin_;
      input->name_ = "<stdin>";
      return input;
    }
    input->file_.open(path, std::ios::binary);
    if (!input->file_) {
      return absl::NotFoundError(absl::StrCat("cannot read ", path));
    }
    input->stream_ = &input->file_;
    input->name_ = path;
    return input;
  }
  std::istream* stream() { return stream_; }
  const std::string& name() const { return name_; }

 private:
  Input() = default;
  std::ifstream file_;
  std::istream* stream_ = nullptr;
  std::string name_;
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

void PrintSummary(const ResultPrinter& printer, int64_t unreadable,
                  std::ostream& err) {
  err << printer.decided() << " decided, " << printer.failed() + unreadable
      << " failed";
  if (unreadable > 0) err << " (" << unreadable << " unreadable)";
  err << "\n";
}

int RunDecide(const DecideFlags& flags, std::istream& in, std::ostream& out,
              std::ostream& err) {
  absl::StatusOr<OutputFormat> format =
      ParseOutputFormat(flags.decision.format);
  absl::StatusOr<std::optional<absl::Time>> as_of =
      ParseAsOf(flags.decision.as_of);
  for (const absl::Status& status : {format.status(), as_of.status()}) {
    if (!status.ok()) {
      err << "treatctl: " << status.message() << "\n";
      return kExitUsage;
    }
  }
  ClientOptions options;
  options.use_tls = flags.tls;
  options.bearer_token = flags.token;
  if (!flags.tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(flags.tls_ca_file);
    if (!ca.ok()) {
      err << "treatctl: --tls-ca: " << ca.status().message() << "\n";
      return kExitUsage;
    }
    options.tls_root_ca_pem = *std::move(ca);
  }
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(flags.target, options);
  if (!client.ok()) {
    err << "treatctl: " << client.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<Input>> input =
      Input::Open(flags.decision.input, in);
  if (!input.ok()) {
    err << "treatctl: " << input.status().message() << "\n";
    return kExitUsage;
  }

  CallOptions call;
  call.as_of = *as_of;
  call.trace = flags.decision.trace;
  if (flags.timeout_seconds > 0) {
    call.deadline = absl::Now() + absl::Seconds(flags.timeout_seconds);
  }
  FindingReader reader((*input)->stream(), (*input)->name());
  ResultPrinter printer(*format, &out);
  // The source runs on the client's writer thread while results print on
  // this one; both may write to `err`.
  absl::Mutex err_mu;
  int64_t unreadable = 0;
  auto next = [&](v1::Finding* finding) {
    FindingReader::Record record;
    while (reader.Next(&record)) {
      if (record.status.ok()) {
        *finding = std::move(record.finding);
        return true;
      }
      absl::MutexLock lock(&err_mu);
      ++unreadable;
      err << record.status.message() << "\n";
    }
    return false;
  };
  auto on_result = [&](const v1::DecisionResult& result, uint64_t) {
    printer.Print(result);
  };
  absl::Status status = (*client)->StreamDecide(next, on_result, call);
  out.flush();
  absl::MutexLock lock(&err_mu);
  if (!status.ok()) {
    err << "treatctl: decide via " << flags.target
        << " failed: " << absl::StatusCodeToString(status.code()) << ": "
        << status.message() << "\n";
    return kExitRpcFailure;
  }
  PrintSummary(printer, unreadable, err);
  return printer.failed() + unreadable > 0 ? kExitFailures : kExitOk;
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
                  std::istream& in, std::ostream& out, std::ostream& err) {
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(flags.format);
  absl::StatusOr<std::optional<absl::Time>> as_of = ParseAsOf(flags.as_of);
  for (const absl::Status& status : {format.status(), as_of.status()}) {
    if (!status.ok()) {
      err << "treatctl: " << status.message() << "\n";
      return kExitUsage;
    }
  }
  absl::StatusOr<std::unique_ptr<Input>> input = Input::Open(flags.input, in);
  if (!input.ok()) {
    err << "treatctl: " << input.status().message() << "\n";
    return kExitUsage;
  }
  int exit_code = kExitOk;
  // Issues (warnings) of a valid policy go to stderr here: stdout carries
  // only decisions.
  std::shared_ptr<const CompiledPolicy> policy =
      LoadPolicy(policy_flags.policy, err, err, &exit_code);
  if (policy == nullptr) return exit_code;

  EvalOptions options;
  options.as_of = as_of->value_or(absl::Now());
  options.trace = flags.trace;
  FindingReader reader((*input)->stream(), (*input)->name());
  ResultPrinter printer(*format, &out);
  FindingReader::Record record;
  v1::DecisionResult result;
  int64_t unreadable = 0;
  int index = 0;
  while (reader.Next(&record)) {
    if (!record.status.ok()) {
      ++unreadable;
      err << record.status.message() << "\n";
      continue;
    }
    result.Clear();
    result.set_index(index++);
    DecideOffline(*policy, record.finding, options, FindingLimits(), &result);
    printer.Print(result);
  }
  out.flush();
  PrintSummary(printer, unreadable, err);
  return printer.failed() + unreadable > 0 ? kExitFailures : kExitOk;
}

int RunPolicyTest(const PolicyFlags& flags, std::ostream& out,
                  std::ostream& err) {
  absl::StatusOr<std::string> cases = ReadFile(flags.cases);
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

void AddDecisionFlags(CLI::App* command, DecisionFlags* flags) {
  command
      ->add_option("FILE", flags->input,
                   "Findings: a JSON object, a JSON array or JSON Lines in "
                   "the protobuf JSON mapping; - for stdin")
      ->capture_default_str();
  command->add_option("--format", flags->format, "table or jsonl")
      ->check(CLI::IsMember({"table", "jsonl"}))
      ->capture_default_str();
  command->add_option("--as-of", flags->as_of,
                      "Evaluation time, RFC 3339 (default: now)");
  command->add_flag("--trace", flags->trace,
                    "Include why each rule did or did not match (jsonl)");
}

}  // namespace

int RunTreatctl(int argc, const char* const* argv, std::istream& in,
                std::ostream& out, std::ostream& err) {
  CLI::App app("treatctl: decide how to treat security findings with treatd.",
               "treatctl");
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);

  DecideFlags decide_flags;
  CLI::App* decide = app.add_subcommand(
      "decide", "Stream findings to a treatd server and print its decisions");
  AddDecisionFlags(decide, &decide_flags.decision);
  decide
      ->add_option("--target", decide_flags.target,
                   "Server address, e.g. 127.0.0.1:50051 or "
                   "dns:///treatd.internal:50051")
      ->required();
  decide->add_flag("--tls", decide_flags.tls,
                   "Use TLS with the system root certificates");
  decide->add_option("--tls-ca", decide_flags.tls_ca_file,
                     "Use TLS, verifying the server with this PEM CA file");
  decide->add_option("--token", decide_flags.token, "Bearer token (needs TLS)")
      ->envname("TREATD_TOKEN");
  decide
      ->add_option("--timeout", decide_flags.timeout_seconds,
                   "Give up after this many seconds (default: no limit)")
      ->check(CLI::PositiveNumber);

  CLI::App* policy = app.add_subcommand("policy", "Work with policy files");
  policy->require_subcommand(1);
  PolicyFlags policy_flags;
  CLI::App* validate = policy->add_subcommand(
      "validate", "Check a policy file and list every issue as file:line:col");
  validate->add_option("POLICY", policy_flags.policy, "Policy YAML file")
      ->required();
  CLI::App* test = policy->add_subcommand(
      "test", "Run a PolicyTestSuite YAML file against a policy");
  test->add_option("POLICY", policy_flags.policy, "Policy YAML file")
      ->required();
  test->add_option("CASES", policy_flags.cases, "Test suite YAML file")
      ->required();
  DecisionFlags eval_flags;
  CLI::App* eval = policy->add_subcommand(
      "eval", "Decide findings with a local policy file, without a server");
  eval->add_option("POLICY", policy_flags.policy, "Policy YAML file")
      ->required();
  AddDecisionFlags(eval, &eval_flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  if (decide->parsed()) return RunDecide(decide_flags, in, out, err);
  if (validate->parsed()) return RunPolicyValidate(policy_flags, out, err);
  if (test->parsed()) return RunPolicyTest(policy_flags, out, err);
  if (eval->parsed()) {
    return RunPolicyEval(policy_flags, eval_flags, in, out, err);
  }
  err << app.help();
  return kExitUsage;
}

}  // namespace treatd
