#include "client/treatctl/ledger_commands.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <fstream>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/treatctl/treatctl.h"
#include "common/assets/finding_keys.h"
#include "common/ledger/identity.h"
#include "common/ledger/ledger.h"
#include "common/time/proto_time.h"
#include "common/time/time_text.h"
#include "google/protobuf/util/json_util.h"
#include "treatd/v1/ledger_service.grpc.pb.h"

namespace treatd {
namespace {

std::string Json(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options)
           .ok()) {
    return "{}";
  }
  return json;
}

std::string Day(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d", FromProtoTime(t), absl::UTCTimeZone());
}

std::string Instant(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", FromProtoTime(t),
                          absl::UTCTimeZone());
}

// An enum value's name without its type prefix, lower case:
// FINDING_STATE_FALSE_POSITIVE -> "false_positive".
std::string Short(const std::string& name, absl::string_view prefix) {
  absl::string_view view = name;
  if (absl::StartsWith(view, prefix)) view.remove_prefix(prefix.size());
  return absl::AsciiStrToLower(view);
}

std::string StateName(v1::FindingState state) {
  return Short(v1::FindingState_Name(state), "FINDING_STATE_");
}
std::string TypeName(v1::LedgerEventType type) {
  return Short(v1::LedgerEventType_Name(type), "LEDGER_EVENT_TYPE_");
}
std::string TreatmentName(v1::Treatment treatment) {
  return v1::Treatment_Name(treatment).substr(sizeof("TREATMENT_") - 1);
}

std::string Number(double value, int decimals = 1) {
  return absl::StrFormat("%.*f", decimals, value);
}

// "12.5" or "-" for an unset optional.
std::string Opt(bool has, double value, int decimals = 1) {
  return has ? Number(value, decimals) : "-";
}

std::string Percent(bool has, double value) {
  return has ? absl::StrCat(Number(100 * value, 1), "%") : "-";
}

std::string GroupName(const v1::Kpis& kpis) {
  std::vector<std::string> parts;
  for (const std::string* part :
       {&kpis.priority(), &kpis.kind(), &kpis.owner()}) {
    if (!part->empty()) parts.push_back(*part);
  }
  return parts.empty() ? "(none)" : absl::StrJoin(parts, "/");
}

std::string Stats(const v1::DurationStats& s) {
  return absl::StrCat(Opt(s.has_mean_days(), s.mean_days()), "/",
                      Opt(s.has_median_days(), s.median_days()), "/",
                      Opt(s.has_p90_days(), s.p90_days()), "/",
                      Opt(s.has_km_median_days(), s.km_median_days()));
}

void WriteTable(const std::vector<std::vector<std::string>>& rows,
                std::ostream& out) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    out << line << "\n";
  }
}

std::vector<std::string> KpiCells(const std::string& group, const v1::Kpis& k) {
  return {
      group,
      absl::StrCat(k.open()),
      absl::StrCat(k.remediated_in_window()),
      absl::StrCat(k.remediated_on_time()),
      absl::StrCat(k.open_past_due()),
      Percent(k.has_sla_compliance(), k.sla_compliance()),
      Stats(k.time_to_remediate()),
      Stats(k.time_to_mitigate()),
      absl::StrCat(k.recurred(), " (",
                   Percent(k.has_recurrence_rate(), k.recurrence_rate()), ")"),
      absl::StrCat(k.mitigation_debt(), " / ",
                   Number(k.mitigation_debt_days())),
      absl::StrCat(Number(k.residual_risk_sum(), 1), " / ",
                   Opt(k.has_residual_risk_mean(), k.residual_risk_mean(), 2)),
      absl::StrCat(k.age_0_30(), "/", k.age_31_60(), "/", k.age_61_90(), "/",
                   k.age_over_90())};
}

const std::vector<std::string>& CsvHeader() {
  static const auto* header =
      new std::vector<std::string>{"priority",
                                   "kind",
                                   "owner",
                                   "open",
                                   "remediated_in_window",
                                   "remediated_on_time",
                                   "open_past_due",
                                   "sla_compliance",
                                   "ttr_count",
                                   "ttr_censored",
                                   "ttr_mean_days",
                                   "ttr_median_days",
                                   "ttr_p90_days",
                                   "ttr_km_median_days",
                                   "ttm_count",
                                   "ttm_censored",
                                   "ttm_mean_days",
                                   "ttm_median_days",
                                   "ttm_p90_days",
                                   "ttm_km_median_days",
                                   "recurred",
                                   "recurrence_rate",
                                   "mitigation_debt",
                                   "mitigation_debt_days",
                                   "residual_risk_sum",
                                   "residual_risk_mean",
                                   "age_0_30",
                                   "age_31_60",
                                   "age_61_90",
                                   "age_over_90"};
  return *header;
}

// The shortest decimal that reads back as `value` (std::to_chars), so that
// a CSV cell holds what the JSON output holds, not absl::StrCat's six
// significant digits ("9.77967").
std::string CsvNumber(double value) {
  char buffer[32];
  const std::to_chars_result written =
      std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, written.ptr);
}

std::string CsvOpt(bool has, double value) {
  return has ? CsvNumber(value) : "";
}

std::vector<std::string> CsvStats(const v1::DurationStats& s) {
  return {absl::StrCat(s.count()),
          absl::StrCat(s.censored()),
          CsvOpt(s.has_mean_days(), s.mean_days()),
          CsvOpt(s.has_median_days(), s.median_days()),
          CsvOpt(s.has_p90_days(), s.p90_days()),
          CsvOpt(s.has_km_median_days(), s.km_median_days())};
}

std::string CsvField(const std::string& value) {
  if (value.find_first_of(",\"\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted.push_back('"');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

void WriteCsvRow(const v1::Kpis& k, bool total, std::ostream& out) {
  std::vector<std::string> cells = {
      total ? "(all)" : k.priority(),
      total ? "" : k.kind(),
      total ? "" : k.owner(),
      absl::StrCat(k.open()),
      absl::StrCat(k.remediated_in_window()),
      absl::StrCat(k.remediated_on_time()),
      absl::StrCat(k.open_past_due()),
      CsvOpt(k.has_sla_compliance(), k.sla_compliance())};
  for (std::string& cell : CsvStats(k.time_to_remediate())) {
    cells.push_back(std::move(cell));
  }
  for (std::string& cell : CsvStats(k.time_to_mitigate())) {
    cells.push_back(std::move(cell));
  }
  for (std::string cell :
       {absl::StrCat(k.recurred()),
        CsvOpt(k.has_recurrence_rate(), k.recurrence_rate()),
        absl::StrCat(k.mitigation_debt()), CsvNumber(k.mitigation_debt_days()),
        CsvNumber(k.residual_risk_sum()),
        CsvOpt(k.has_residual_risk_mean(), k.residual_risk_mean()),
        absl::StrCat(k.age_0_30()), absl::StrCat(k.age_31_60()),
        absl::StrCat(k.age_61_90()), absl::StrCat(k.age_over_90())}) {
    cells.push_back(std::move(cell));
  }
  for (std::string& cell : cells) cell = CsvField(cell);
  out << absl::StrJoin(cells, ",") << "\n";
}

int Fail(const absl::Status& status, std::ostream& err, int code) {
  err << "treatctl: " << status.message() << "\n";
  return code;
}

int RpcFail(const grpc::Status& status, absl::string_view what,
            std::ostream& err) {
  err << "treatctl: " << what << " failed: "
      << absl::StatusCodeToString(
             static_cast<absl::StatusCode>(status.error_code()))
      << ": " << status.error_message() << "\n";
  return kExitRpcFailure;
}

absl::StatusOr<absl::Time> ParseTime(const std::string& text,
                                     absl::string_view flag) {
  absl::StatusOr<absl::Time> time = ParseTimestampText(text);
  if (!time.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", time.status().message()));
  }
  return time;
}

absl::StatusOr<absl::Duration> ParseDuration(const std::string& text,
                                             absl::string_view flag) {
  absl::StatusOr<absl::Duration> duration = ParseDurationText(text);
  if (!duration.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", duration.status().message()));
  }
  return duration;
}

// Parses an enum value given as its short lower-case name.
template <typename Enum>
absl::StatusOr<Enum> ParseShortEnum(
    const std::string& text, absl::string_view prefix, absl::string_view flag,
    const google::protobuf::EnumDescriptor* descriptor) {
  const std::string full =
      absl::StrCat(prefix, absl::AsciiStrToUpper(text.empty() ? "?" : text));
  std::string replaced = full;
  std::replace(replaced.begin(), replaced.end(), '-', '_');
  const google::protobuf::EnumValueDescriptor* value =
      descriptor->FindValueByName(replaced);
  if (value == nullptr || value->number() == 0) {
    std::vector<std::string> names;
    for (int i = 1; i < descriptor->value_count(); ++i) {
      names.push_back(Short(descriptor->value(i)->name(), prefix));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": \"", text, "\" is not one of ", absl::StrJoin(names, ", ")));
  }
  return static_cast<Enum>(value->number());
}

struct Connected {
  std::unique_ptr<Client> client;
  std::unique_ptr<v1::LedgerService::Stub> stub;
};

absl::StatusOr<Connected> Connect(const ConnectionFlags& flags) {
  if (flags.target.empty()) {
    return absl::InvalidArgumentError("--target: required");
  }
  absl::StatusOr<std::unique_ptr<Client>> client = ConnectClient(flags);
  if (!client.ok()) return client.status();
  Connected connected;
  connected.stub = v1::LedgerService::NewStub((*client)->channel());
  connected.client = *std::move(client);
  return connected;
}

void PrintVerify(const v1::VerifyLedgerResponse& report, std::ostream& out) {
  if (report.ok()) {
    out << "ledger OK: " << report.events_checked()
        << " events, hash chain intact; head " << report.head_hash() << "\n";
  } else {
    out << "ledger BROKEN at event " << report.first_bad_sequence() << ": "
        << report.problem() << " (" << report.events_checked()
        << " events checked)\n";
  }
}

int RunVerify(const LedgerFlags& flags, std::ostream& out, std::ostream& err) {
  v1::VerifyLedgerResponse report;
  if (!flags.ledger_file.empty() || !flags.ledger_postgres.empty()) {
    ledger::LedgerOptions options;
    options.url =
        !flags.ledger_file.empty()
            ? flags.ledger_file
            : (absl::StartsWith(flags.ledger_postgres, "postgres")
                   ? flags.ledger_postgres
                   : absl::StrCat("postgresql:", flags.ledger_postgres));
    if (!flags.ledger_file.empty() &&
        !std::ifstream(flags.ledger_file).good()) {
      return Fail(absl::NotFoundError(absl::StrCat(
                      "--ledger: no ledger file at ", flags.ledger_file)),
                  err, kExitUsage);
    }
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> opened =
        ledger::Ledger::Open(std::move(options));
    if (!opened.ok()) return Fail(opened.status(), err, kExitRpcFailure);
    absl::StatusOr<ledger::VerifyReport> verified = (*opened)->Verify();
    if (!verified.ok()) return Fail(verified.status(), err, kExitRpcFailure);
    report.set_ok(verified->ok);
    report.set_events_checked(verified->events_checked);
    report.set_first_bad_sequence(verified->first_bad_seq);
    report.set_problem(verified->problem);
    report.set_head_hash(verified->head_hash);
  } else {
    absl::StatusOr<Connected> connected = Connect(flags.connection);
    if (!connected.ok()) return Fail(connected.status(), err, kExitUsage);
    grpc::ClientContext context;
    connected->client->PrepareContext(&context, {}, /*unary=*/false);
    grpc::Status status = connected->stub->VerifyLedger(
        &context, v1::VerifyLedgerRequest(), &report);
    if (!status.ok()) return RpcFail(status, "ledger verify", err);
  }
  PrintVerify(report, out);
  return report.ok() ? kExitOk : kExitFailures;
}

int RunKpi(const LedgerFlags& flags, std::ostream& out, std::ostream& err) {
  v1::GetKpisRequest request;
  if (!flags.as_of.empty()) {
    absl::StatusOr<absl::Time> as_of = ParseTime(flags.as_of, "--as-of");
    if (!as_of.ok()) return Fail(as_of.status(), err, kExitUsage);
    ToProtoTime(*as_of, request.mutable_as_of());
  }
  absl::StatusOr<absl::Duration> window =
      ParseDuration(flags.window, "--window");
  if (!window.ok()) return Fail(window.status(), err, kExitUsage);
  ToProtoDuration(*window, request.mutable_window());
  absl::StatusOr<absl::Duration> recurrence =
      ParseDuration(flags.recurrence, "--recurrence");
  if (!recurrence.ok()) return Fail(recurrence.status(), err, kExitUsage);
  ToProtoDuration(*recurrence, request.mutable_recurrence_window());
  for (const std::string& group : flags.group_by) {
    absl::StatusOr<v1::KpiGroupBy> parsed = ParseShortEnum<v1::KpiGroupBy>(
        group, "KPI_GROUP_BY_", "--group-by", v1::KpiGroupBy_descriptor());
    if (!parsed.ok()) return Fail(parsed.status(), err, kExitUsage);
    request.add_group_by(*parsed);
  }
  if (flags.output != "table" && flags.output != "json" &&
      flags.output != "csv") {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
                    "--output: table, json or csv, got ", flags.output)),
                err, kExitUsage);
  }
  absl::StatusOr<Connected> connected = Connect(flags.connection);
  if (!connected.ok()) return Fail(connected.status(), err, kExitUsage);
  grpc::ClientContext context;
  connected->client->PrepareContext(&context);
  v1::GetKpisResponse response;
  grpc::Status status = connected->stub->GetKpis(&context, request, &response);
  if (!status.ok()) return RpcFail(status, "ledger kpi", err);
  absl::Status written = WriteKpis(response, flags.output, out);
  if (!written.ok()) return Fail(written, err, kExitUsage);
  return kExitOk;
}

const std::vector<std::string>& FindingHeader() {
  static const auto* header = new std::vector<std::string>{
      "IDENTITY",   "STATE",        "TREATMENT", "PRIORITY", "OWNER",
      "FIRST SEEN", "REMEDIATE BY", "REVIEW BY", "FLAGS"};
  return *header;
}

std::vector<std::string> FindingRow(const v1::LedgerFinding& f) {
  std::vector<std::string> flags;
  if (f.overdue()) flags.push_back("overdue");
  if (f.review_due()) flags.push_back("review-due");
  if (f.recurrences() > 0) {
    flags.push_back(absl::StrCat("recurred x", f.recurrences()));
  }
  return {f.identity_key(),
          StateName(f.state()),
          TreatmentName(f.treatment()),
          f.priority(),
          f.owner().empty() ? "-" : f.owner(),
          Day(f.first_seen()),
          Day(f.remediate_by()),
          Day(f.review_by()),
          flags.empty() ? "-" : absl::StrJoin(flags, ",")};
}

void PrintFindingRow(const v1::LedgerFinding& f, std::ostream& out) {
  WriteTable({FindingHeader(), FindingRow(f)}, out);
}

int RunFindings(const LedgerFlags& flags, std::ostream& out,
                std::ostream& err) {
  v1::ListFindingsRequest request;
  if (!flags.state.empty()) {
    absl::StatusOr<v1::FindingState> state = ParseShortEnum<v1::FindingState>(
        flags.state, "FINDING_STATE_", "--state",
        v1::FindingState_descriptor());
    if (!state.ok()) return Fail(state.status(), err, kExitUsage);
    request.set_state(*state);
  }
  if (!flags.kind.empty()) {
    absl::StatusOr<v1::FindingKind> kind = ParseShortEnum<v1::FindingKind>(
        flags.kind, "FINDING_KIND_", "--kind", v1::FindingKind_descriptor());
    if (!kind.ok()) return Fail(kind.status(), err, kExitUsage);
    request.set_kind(*kind);
  }
  request.set_priority(flags.priority);
  request.set_owner(flags.owner);
  request.set_asset(flags.asset);
  request.set_vulnerability(flags.vulnerability);
  request.set_overdue(flags.overdue);
  request.set_review_due(flags.review_due);
  if (!flags.changed_since.empty()) {
    absl::StatusOr<absl::Time> since =
        ParseTime(flags.changed_since, "--changed-since");
    if (!since.ok()) return Fail(since.status(), err, kExitUsage);
    ToProtoTime(*since, request.mutable_changed_since());
  }
  if (!flags.as_of.empty()) {
    absl::StatusOr<absl::Time> as_of = ParseTime(flags.as_of, "--as-of");
    if (!as_of.ok()) return Fail(as_of.status(), err, kExitUsage);
    ToProtoTime(*as_of, request.mutable_as_of());
  }
  const bool jsonl = flags.output == "jsonl";
  if (!jsonl && flags.output != "table") {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
                    "--output: table or jsonl, got ", flags.output)),
                err, kExitUsage);
  }
  absl::StatusOr<Connected> connected = Connect(flags.connection);
  if (!connected.ok()) return Fail(connected.status(), err, kExitUsage);
  request.set_page_size(flags.limit > 0 && flags.limit < 1000 ? flags.limit
                                                              : 1000);
  std::vector<std::vector<std::string>> rows = {FindingHeader()};
  int64_t shown = 0;
  do {
    grpc::ClientContext context;
    connected->client->PrepareContext(&context);
    v1::ListFindingsResponse response;
    grpc::Status status =
        connected->stub->ListFindings(&context, request, &response);
    if (!status.ok()) return RpcFail(status, "ledger findings", err);
    for (const v1::LedgerFinding& f : response.findings()) {
      if (flags.limit > 0 && shown >= flags.limit) break;
      ++shown;
      if (jsonl) {
        out << Json(f) << "\n";
      } else {
        rows.push_back(FindingRow(f));
      }
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty() &&
           (flags.limit <= 0 || shown < flags.limit));
  if (!jsonl) WriteTable(rows, out);
  err << shown << " finding" << (shown == 1 ? "" : "s") << "\n";
  return kExitOk;
}

void PrintEventLine(const v1::LedgerEvent& e, std::ostream& out) {
  std::string what;
  if (e.has_decision()) {
    what = absl::StrCat(TreatmentName(e.decision().treatment()), " ",
                        e.decision().priority(), " rule ", e.decision().rule());
  }
  for (const auto& [label, value] :
       {std::make_pair("control", &e.control()),
        std::make_pair("evidence", &e.evidence()),
        std::make_pair("scope", &e.scope()), std::make_pair("by", &e.actor()),
        std::make_pair("note", &e.note())}) {
    if (value->empty()) continue;
    if (!what.empty()) what.append("; ");
    absl::StrAppend(&what, label, " ", *value);
  }
  if (e.has_until() && e.until().seconds() != 0) {
    // The sweep's notices carry the date that passed.
    const char* label = "until";
    if (e.type() == v1::LEDGER_EVENT_TYPE_REVIEW_DUE) label = "review_by";
    if (e.type() == v1::LEDGER_EVENT_TYPE_OVERDUE) label = "remediate_by";
    absl::StrAppend(&what, what.empty() ? "" : "; ", label, " ",
                    Day(e.until()));
  }
  out << "#" << e.sequence() << "  " << Instant(e.occurred_at()) << "  "
      << TypeName(e.type()) << "  "
      << (e.state_before() == v1::FINDING_STATE_UNSPECIFIED
              ? "new"
              : StateName(e.state_before()))
      << " -> " << StateName(e.state_after())
      << (e.recurrence() ? " (recurrence)" : "") << "  " << what << "\n";
}

int RunFinding(const LedgerFlags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<Connected> connected = Connect(flags.connection);
  if (!connected.ok()) return Fail(connected.status(), err, kExitUsage);
  v1::GetFindingRequest request;
  request.set_identity_key(flags.key);
  request.set_include_history(true);
  grpc::ClientContext context;
  connected->client->PrepareContext(&context);
  v1::GetFindingResponse response;
  grpc::Status status =
      connected->stub->GetFinding(&context, request, &response);
  if (!status.ok()) return RpcFail(status, "ledger finding", err);
  if (flags.output == "json") {
    out << Json(response) << "\n";
    return kExitOk;
  }
  PrintFindingRow(response.finding(), out);
  out << "history:\n";
  for (const v1::LedgerEvent& event : response.history()) {
    out << "  ";
    PrintEventLine(event, out);
  }
  return kExitOk;
}

// --types as a set of event types; empty = every type.
absl::StatusOr<std::vector<v1::LedgerEventType>> ParseTypes(
    const std::vector<std::string>& types) {
  std::vector<v1::LedgerEventType> parsed;
  for (const std::string& type : types) {
    absl::StatusOr<v1::LedgerEventType> one =
        ParseShortEnum<v1::LedgerEventType>(type, "LEDGER_EVENT_TYPE_",
                                            "--types",
                                            v1::LedgerEventType_descriptor());
    if (!one.ok()) return one.status();
    parsed.push_back(*one);
  }
  return parsed;
}

int RunExport(const LedgerFlags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::vector<v1::LedgerEventType>> types =
      ParseTypes(flags.types);
  if (!types.ok()) return Fail(types.status(), err, kExitUsage);
  absl::StatusOr<Connected> connected = Connect(flags.connection);
  if (!connected.ok()) return Fail(connected.status(), err, kExitUsage);
  std::ofstream file;
  std::ostream* sink = &out;
  if (!flags.output_file.empty()) {
    file.open(flags.output_file, std::ios::binary | std::ios::trunc);
    if (!file) {
      return Fail(absl::NotFoundError(
                      absl::StrCat("-o: cannot write ", flags.output_file)),
                  err, kExitUsage);
    }
    sink = &file;
  }
  v1::ListEventsRequest request;
  request.set_after_sequence(flags.after);
  request.set_page_size(5000);
  int64_t written = 0;
  uint64_t last = flags.after;
  do {
    grpc::ClientContext context;
    connected->client->PrepareContext(&context);
    v1::ListEventsResponse response;
    grpc::Status status =
        connected->stub->ListEvents(&context, request, &response);
    if (!status.ok()) return RpcFail(status, "ledger export", err);
    for (const v1::LedgerEvent& event : response.events()) {
      last = event.sequence();
      if (!types->empty() && std::find(types->begin(), types->end(),
                                       event.type()) == types->end()) {
        continue;
      }
      *sink << Json(event) << "\n";
      ++written;
    }
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  sink->flush();
  if (!*sink) {
    return Fail(absl::DataLossError("export: write failed"), err, kExitUsage);
  }
  err << "exported " << written << " events; resume with --after " << last
      << "\n";
  return kExitOk;
}

int RunOutcome(const LedgerFlags& flags, std::ostream& out, std::ostream& err) {
  v1::ReportOutcomeRequest request;
  absl::StatusOr<v1::OutcomeKind> kind = ParseShortEnum<v1::OutcomeKind>(
      flags.outcome, "OUTCOME_KIND_", "OUTCOME", v1::OutcomeKind_descriptor());
  if (!kind.ok()) return Fail(kind.status(), err, kExitUsage);
  request.set_outcome(*kind);
  request.set_identity_key(flags.key);
  if (!flags.at.empty()) {
    absl::StatusOr<absl::Time> at = ParseTime(flags.at, "--at");
    if (!at.ok()) return Fail(at.status(), err, kExitUsage);
    ToProtoTime(*at, request.mutable_occurred_at());
  }
  if (!flags.until.empty()) {
    absl::StatusOr<absl::Time> until = ParseTime(flags.until, "--until");
    if (!until.ok()) return Fail(until.status(), err, kExitUsage);
    ToProtoTime(*until, request.mutable_until());
  }
  request.set_actor(flags.actor);
  request.set_control(flags.control);
  request.set_evidence(flags.evidence);
  request.set_note(flags.note);
  request.set_idempotency_key(flags.idempotency_key);
  absl::StatusOr<Connected> connected = Connect(flags.connection);
  if (!connected.ok()) return Fail(connected.status(), err, kExitUsage);
  grpc::ClientContext context;
  connected->client->PrepareContext(&context);
  v1::ReportOutcomeResponse response;
  grpc::Status status =
      connected->stub->ReportOutcome(&context, request, &response);
  if (!status.ok()) return RpcFail(status, "ledger outcome", err);
  out << (response.duplicate() ? "already recorded: " : "recorded: ");
  PrintEventLine(response.event(), out);
  PrintFindingRow(response.finding(), out);
  return kExitOk;
}

// Set by SIGINT/SIGTERM while a watch runs; the watch's canceller thread
// ends the open stream when it sees it.
std::atomic<bool> watch_stop_requested{false};

extern "C" void RequestWatchStop(int /*signal*/) {
  watch_stop_requested.store(true);
}

// How a stream that ended by itself is resumed: the server's stream limit
// (--max-stream-seconds: DEADLINE_EXCEEDED), a restart or a drain
// (UNAVAILABLE, or CANCELLED when this client did not cancel) end a watch
// that has not failed; a server whose streams are all taken
// (--max-concurrent-streams: RESOURCE_EXHAUSTED, as when every watcher
// reconnects after a restart) is asked again after the same backoff.
bool ResumableWatchEnd(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::CANCELLED ||
         status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// Installs the stop handlers for SIGINT and SIGTERM and restores the
// previous ones when it goes; while it lives, a thread cancels the current
// stream once a stop is requested.
class WatchStopper {
 public:
  WatchStopper() {
    watch_stop_requested.store(false);
    struct sigaction action = {};
    action.sa_handler = RequestWatchStop;
    // A second signal kills: the stream's cancel may never be seen while
    // a write to stdout blocks (a stalled pipe).
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
    canceller_ = std::thread([this] {
      absl::MutexLock lock(&mu_);
      while (!done_) {
        if (watch_stop_requested.load() && context_ != nullptr) {
          context_->TryCancel();
        }
        mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Milliseconds(50));
      }
    });
  }
  ~WatchStopper() {
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    canceller_.join();
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

  // The stream to cancel on a stop; nullptr between streams.
  void Watch(grpc::ClientContext* context) {
    absl::MutexLock lock(&mu_);
    context_ = context;
    if (context_ != nullptr && watch_stop_requested.load()) {
      context_->TryCancel();
    }
  }

  bool stop_requested() const { return watch_stop_requested.load(); }

  // Sleeps for `delay` or until a stop is requested.
  void Sleep(absl::Duration delay) {
    const absl::Time until = absl::Now() + delay;
    while (!stop_requested() && absl::Now() < until) {
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(50)));
    }
  }

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  struct sigaction old_int_ = {};
  struct sigaction old_term_ = {};
  std::thread canceller_;
};

// Follows the ledger: one WatchEvents stream after another, each resumed
// after the last event printed, so that every event is printed once and in
// order whatever ends a stream (docs/ledger.md). Stops at --max-events, on
// SIGINT or SIGTERM, or on an error a new stream would not cure; a server
// that cannot be reached at the start is such an error (exit 4).
int RunWatch(const LedgerFlags& flags, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::vector<v1::LedgerEventType>> types =
      ParseTypes(flags.types);
  if (!types.ok()) return Fail(types.status(), err, kExitUsage);
  absl::StatusOr<Connected> connected = Connect(flags.connection);
  if (!connected.ok()) return Fail(connected.status(), err, kExitUsage);
  // Between resumes: 100 ms doubling to 10 s, each +-25 % so that the
  // watchers of a restarted server do not come back in step; back to
  // 100 ms after a stream that delivered an event or stayed open a second.
  constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
  constexpr absl::Duration kMaxBackoff = absl::Seconds(10);
  absl::Duration backoff = kFirstBackoff;
  absl::BitGen random;
  WatchStopper stopper;
  uint64_t last = flags.after;
  int seen = 0;
  for (int attempt = 0;; ++attempt) {
    v1::WatchEventsRequest request;
    request.set_after_sequence(last);
    for (v1::LedgerEventType type : *types) request.add_types(type);
    grpc::ClientContext context;
    connected->client->PrepareContext(&context, {}, /*unary=*/false);
    stopper.Watch(&context);
    const absl::Time opened = absl::Now();
    std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> reader =
        connected->stub->WatchEvents(&context, request);
    v1::WatchEventsResponse response;
    bool delivered = false;
    bool enough = false;
    while (reader->Read(&response)) {
      // A resumed stream starts after `last`; nothing at or before it is
      // printed again.
      if (response.event().sequence() <= last) continue;
      if (flags.output == "jsonl") {
        out << Json(response.event()) << "\n";
      } else {
        PrintEventLine(response.event(), out);
      }
      out.flush();
      last = response.event().sequence();
      delivered = true;
      if (flags.max_events > 0 && ++seen >= flags.max_events) {
        enough = true;
        context.TryCancel();
        break;
      }
    }
    const grpc::Status status = reader->Finish();
    stopper.Watch(nullptr);
    if (enough) return kExitOk;
    if (stopper.stop_requested()) {
      err << "treatctl: ledger watch stopped; resume with --after " << last
          << "\n";
      return kExitOk;
    }
    const bool progressed =
        delivered || absl::Now() - opened >= absl::Seconds(1);
    const bool unreachable =
        attempt == 0 && !progressed &&
        status.error_code() == grpc::StatusCode::UNAVAILABLE;
    if (status.ok() || !ResumableWatchEnd(status) || unreachable) {
      const int code =
          status.ok() ? kExitOk : RpcFail(status, "ledger watch", err);
      err << "treatctl: resume with --after " << last << "\n";
      return code;
    }
    if (progressed) backoff = kFirstBackoff;
    const absl::Duration delay = backoff * absl::Uniform(random, 0.75, 1.25);
    backoff = std::min(2 * backoff, kMaxBackoff);
    err << "treatctl: ledger watch: stream ended ("
        << absl::StatusCodeToString(
               static_cast<absl::StatusCode>(status.error_code()))
        << ": " << status.error_message() << "); resuming after " << last
        << " in "
        << absl::FormatDuration(absl::Trunc(delay, absl::Milliseconds(1)))
        << "\n";
    stopper.Sleep(delay);
    if (stopper.stop_requested()) {
      err << "treatctl: ledger watch stopped; resume with --after " << last
          << "\n";
      return kExitOk;
    }
  }
}

}  // namespace

absl::Status WriteKpis(const v1::GetKpisResponse& kpis,
                       const std::string& format, std::ostream& out) {
  if (format == "json") {
    out << Json(kpis) << "\n";
    return absl::OkStatus();
  }
  if (format == "csv") {
    out << absl::StrJoin(CsvHeader(), ",") << "\n";
    WriteCsvRow(kpis.total(), true, out);
    for (const v1::Kpis& group : kpis.groups()) {
      WriteCsvRow(group, false, out);
    }
    return absl::OkStatus();
  }
  if (format != "table") {
    return absl::InvalidArgumentError(
        absl::StrCat("--output: table, json or csv, got ", format));
  }
  out << "KPIs as of " << Instant(kpis.as_of()) << ", window "
      << FormatDurationText(FromProtoDuration(kpis.window()))
      << ", recurrence within "
      << FormatDurationText(FromProtoDuration(kpis.recurrence_window()))
      << " (days; TTR/TTM = time to remediate/mitigate as "
         "mean/median/p90/Kaplan-Meier median)\n";
  std::vector<std::vector<std::string>> rows = {
      {"GROUP", "OPEN", "REMEDIATED", "ON TIME", "PAST DUE", "SLA", "TTR",
       "TTM", "RECURRED", "MITIGATION DEBT (n / days)",
       "RESIDUAL RISK (sum / mean)", "AGE 0-30/31-60/61-90/>90"}};
  rows.push_back(KpiCells("all", kpis.total()));
  for (const v1::Kpis& group : kpis.groups()) {
    rows.push_back(KpiCells(GroupName(group), group));
  }
  WriteTable(rows, out);
  return absl::OkStatus();
}

void AddScanRecordFlags(CLI::App* command, ScanRecordFlags* flags) {
  command->add_option("--scan-scope", flags->scopes,
                      "With --record: a scope (\"id=<asset id>\" or "
                      "\"name=<asset name>\") scanned completely even if "
                      "the input has no finding on it (a clean re-scan)");
  command->add_option("--scan-kinds", flags->kinds,
                      "With --record: the finding kinds the scan covers "
                      "(vulnerability, misconfiguration, secret, malware); "
                      "default: the kinds the input holds");
  command->add_option("--scanner", flags->scanner,
                      "With --record: the scanner's name for the ledger; "
                      "default: the findings' source");
}

void ScanRecorder::Add(const v1::Finding& finding) {
  if (source_.empty()) source_ = finding.source();
  kinds_.insert(finding.kind());
  const std::string scope = assets::AssetIdentity(finding.asset());
  if (scope.empty()) return;
  absl::StatusOr<std::string> key = ledger::FindingIdentityKey(finding);
  if (!key.ok()) return;
  scopes_[scope].keys.insert(*std::move(key));
}

absl::Status ScanRecorder::Report(const Client& client, const CallOptions& call,
                                  std::ostream& out) const {
  std::map<std::string, Scope> scopes = scopes_;
  for (const std::string& scope : flags_.scopes) scopes[scope];
  auto stub = v1::LedgerService::NewStub(client.channel());
  std::vector<v1::FindingKind> kinds;
  for (const std::string& kind : flags_.kinds) {
    absl::StatusOr<v1::FindingKind> parsed = ParseShortEnum<v1::FindingKind>(
        kind, "FINDING_KIND_", "--scan-kinds", v1::FindingKind_descriptor());
    if (!parsed.ok()) return parsed.status();
    kinds.push_back(*parsed);
  }
  if (flags_.kinds.empty()) {
    for (int kind : kinds_) kinds.push_back(static_cast<v1::FindingKind>(kind));
  }
  for (const auto& [scope, seen] : scopes) {
    v1::ObserveScanRequest request;
    request.set_scope(scope);
    if (call.as_of.has_value()) {
      ToProtoTime(*call.as_of, request.mutable_scanned_at());
    }
    for (const std::string& key : seen.keys) request.add_identity_keys(key);
    for (v1::FindingKind kind : kinds) request.add_kinds(kind);
    request.set_scanner(flags_.scanner.empty() ? source_ : flags_.scanner);
    grpc::ClientContext context;
    client.PrepareContext(&context, call);
    v1::ObserveScanResponse response;
    grpc::Status status = stub->ObserveScan(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(
          static_cast<absl::StatusCode>(status.error_code()),
          absl::StrCat("scan of ", scope, ": ", status.error_message()));
    }
    out << "scan of " << scope << ": " << seen.keys.size() << " seen, "
        << response.still_present() << " still open, " << response.remediated()
        << " remediated (absent), " << response.reopened() << " reopened, "
        << response.unknown() << " not in the ledger"
        << (response.duplicate() ? " (already recorded)" : "") << "\n";
  }
  return absl::OkStatus();
}

void AddLedgerCommands(CLI::App* app, LedgerCommands* commands) {
  LedgerFlags& f = commands->flags;
  CLI::App* ledger = app->add_subcommand(
      "ledger", "Query and feed treatd's ledger (findings, outcomes, KPIs)");
  ledger->require_subcommand(1);
  commands->ledger = ledger;

  commands->verify = ledger->add_subcommand(
      "verify", "Check the ledger's hash chain (exit 1 when it is broken)");
  CLI::Option* target =
      AddConnectionFlags(commands->verify, &f.connection, false);
  CLI::Option* file = commands->verify
                          ->add_option("--ledger", f.ledger_file,
                                       "Open this SQLite ledger file "
                                       "instead of asking a server")
                          ->excludes(target);
  commands->verify
      ->add_option("--ledger-postgres", f.ledger_postgres,
                   "Open this PostgreSQL ledger (libpq conninfo) instead")
      ->excludes(target)
      ->excludes(file);

  commands->kpi = ledger->add_subcommand(
      "kpi",
      "Time to remediate/mitigate, SLA compliance, age, recurrence, "
      "mitigation debt, residual risk (docs/ledger.md)");
  AddConnectionFlags(commands->kpi, &f.connection);
  commands->kpi->add_option("--as-of", f.as_of,
                            "Compute as of this time (RFC 3339 or "
                            "YYYY-MM-DD; default: now)");
  commands->kpi->add_option("--window", f.window, "Window ending at as-of")
      ->capture_default_str();
  commands->kpi
      ->add_option("--recurrence", f.recurrence,
                   "A remediation reopened within this long is a recurrence")
      ->capture_default_str();
  commands->kpi
      ->add_option("--group-by", f.group_by,
                   "priority, kind and/or owner (repeat or comma-separate)")
      ->delimiter(',');
  commands->kpi->add_option("--output,--format", f.output, "table, json or csv")
      ->capture_default_str();

  commands->findings = ledger->add_subcommand(
      "findings", "List findings by state, priority, owner, asset, ...");
  AddConnectionFlags(commands->findings, &f.connection);
  commands->findings->add_option(
      "--state", f.state,
      "open, mitigated, remediated, accepted or false_positive");
  commands->findings->add_option("--priority", f.priority, "e.g. P1");
  commands->findings->add_option("--owner", f.owner, "Asset owner");
  commands->findings->add_option("--asset", f.asset,
                                 "\"id=<asset id>\" or \"name=<name>\"");
  commands->findings->add_option(
      "--kind", f.kind, "vulnerability, misconfiguration, secret, malware");
  commands->findings->add_option("--vulnerability", f.vulnerability,
                                 "e.g. CVE-2024-3094");
  commands->findings->add_flag("--overdue", f.overdue,
                               "Only open/mitigated past remediate-by");
  commands->findings->add_flag("--review-due", f.review_due,
                               "Only mitigated/accepted past review-by");
  commands->findings->add_option("--changed-since", f.changed_since,
                                 "Only findings changed since this time");
  commands->findings->add_option("--as-of", f.as_of,
                                 "Judge overdue/review-due at this time");
  commands->findings->add_option("--limit", f.limit, "Show at most N");
  commands->findings
      ->add_option("--output,--format", f.output, "table or jsonl")
      ->capture_default_str();

  commands->finding =
      ledger->add_subcommand("finding", "One finding's state and history");
  commands->finding->add_option("KEY", f.key, "Identity key")->required();
  AddConnectionFlags(commands->finding, &f.connection);
  commands->finding->add_option("--output,--format", f.output, "table or json")
      ->capture_default_str();

  commands->export_events = ledger->add_subcommand(
      "export", "Write ledger events as JSON Lines (for a SIEM)");
  AddConnectionFlags(commands->export_events, &f.connection);
  commands->export_events->add_option(
      "--after", f.after, "Only events after this sequence (resume)");
  commands->export_events->add_option("-o,--output-file", f.output_file,
                                      "Write to this file (default: stdout)");
  commands->export_events
      ->add_option("--types", f.types,
                   "Only these event types, e.g. review_due,overdue")
      ->delimiter(',');

  commands->outcome =
      ledger->add_subcommand("outcome", "Report what happened to a finding");
  commands->outcome
      ->add_option("OUTCOME", f.outcome,
                   "mitigated, remediated, accepted or false-positive")
      ->required();
  commands->outcome->add_option("KEY", f.key, "Identity key")->required();
  AddConnectionFlags(commands->outcome, &f.connection);
  commands->outcome->add_option("--at", f.at,
                                "When it happened (default: now)");
  commands->outcome->add_option("--by,--approver", f.actor,
                                "Who did it / who approved the acceptance");
  commands->outcome->add_option("--control", f.control,
                                "mitigated: the compensating control");
  commands->outcome->add_option("--evidence", f.evidence,
                                "remediated: what proves it");
  commands->outcome->add_option(
      "--until", f.until,
      "accepted: when the acceptance ends; mitigated: "
      "the mitigation's review date");
  commands->outcome->add_option("--note", f.note, "Free text");
  commands->outcome->add_option("--idempotency-key", f.idempotency_key,
                                "Retries with the same key record once");

  commands->watch = ledger->add_subcommand(
      "watch",
      "Print ledger events as they are recorded, until --max-events, "
      "Ctrl-C or SIGTERM; a stream the server ends (--max-stream-seconds, "
      "restart, drain) is resumed after the last event printed");
  AddConnectionFlags(commands->watch, &f.connection);
  commands->watch->add_option("--after", f.after,
                              "Start after this sequence (0: from the "
                              "first event)");
  commands->watch
      ->add_option("--types", f.types,
                   "Only these event types, e.g. review_due,overdue,"
                   "reopened,sweep_decision")
      ->delimiter(',');
  commands->watch->add_option("--output,--format", f.output, "table or jsonl")
      ->capture_default_str();
  commands->watch->add_option("--max-events", f.max_events,
                              "Stop after N events");
}

int RunLedgerCommand(const LedgerCommands& commands, std::istream& /*in*/,
                     std::ostream& out, std::ostream& err) {
  const LedgerFlags& flags = commands.flags;
  if (commands.verify->parsed()) return RunVerify(flags, out, err);
  if (commands.kpi->parsed()) return RunKpi(flags, out, err);
  if (commands.findings->parsed()) return RunFindings(flags, out, err);
  if (commands.finding->parsed()) return RunFinding(flags, out, err);
  if (commands.export_events->parsed()) return RunExport(flags, out, err);
  if (commands.outcome->parsed()) return RunOutcome(flags, out, err);
  if (commands.watch->parsed()) return RunWatch(flags, out, err);
  err << commands.ledger->help();
  return kExitUsage;
}

}  // namespace treatd
