#include "server/ledger/ledger_service.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/ledger_wire/ledger_wire.h"
#include "server/request_checks.h"
#include "server/treatment_service.h"

namespace treatd {
namespace {

constexpr char kEventTokenPrefix[] = "after:";
// How long a watch waits for a local commit before it looks at the
// database again (events of other replicas are not signalled).
constexpr absl::Duration kWatchPoll = absl::Milliseconds(500);
constexpr int kWatchPage = 1000;
// The largest ListEvents page (Ledger::ListEvents' limit).
constexpr int kMaxEventPage = 10000;

// The response's copy of the event recorded at `seq`.
absl::Status FillEvent(const ledger::Ledger& ledger, int64_t seq,
                       v1::LedgerEvent* out) {
  absl::StatusOr<std::vector<ledger::Event>> events =
      ledger.ListEvents(seq - 1, 1);
  if (!events.ok()) return events.status();
  if (events->empty() || (*events)[0].seq != seq) {
    return absl::InternalError(
        absl::StrCat("event ", seq, " was recorded but cannot be read back"));
  }
  ledger::EventToProto((*events)[0], out);
  return absl::OkStatus();
}

}  // namespace

std::string EventPageToken(uint64_t sequence) {
  return absl::StrCat(kEventTokenPrefix, sequence);
}

absl::StatusOr<uint64_t> ParseEventPageToken(absl::string_view token) {
  uint64_t sequence = 0;
  if (!absl::ConsumePrefix(&token, kEventTokenPrefix) ||
      !absl::SimpleAtoi(token, &sequence)) {
    return absl::InvalidArgumentError(
        "page_token: not a token ListEvents returned; pass next_page_token "
        "unchanged");
  }
  return sequence;
}

LedgerServiceImpl::LedgerServiceImpl(ledger::Ledger* ledger,
                                     std::function<absl::Time()> clock)
    : ledger_(ledger), clock_(std::move(clock)) {}

absl::StatusOr<ledger::Ledger*> LedgerServiceImpl::LedgerOrError() const {
  if (ledger_ == nullptr) {
    return absl::UnavailableError(
        "this treatd runs without a ledger (--ledger-off); start it with "
        "--ledger FILE or --ledger-postgres CONNINFO");
  }
  return ledger_;
}

grpc::Status LedgerServiceImpl::ReportOutcome(
    grpc::ServerContext* /*context*/, const v1::ReportOutcomeRequest* request,
    v1::ReportOutcomeResponse* response) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  absl::StatusOr<ledger::Event> event =
      ledger::OutcomeEvent(*request, clock_());
  if (!event.ok()) return ToGrpcStatus(event.status());
  const std::string key = event->finding_key;
  if (!request->has_occurred_at() && request->idempotency_key().empty()) {
    // Timed by our clock: a retry would differ in its time, so its key
    // comes from the content and the finding's history instead.
    absl::StatusOr<ledger::FindingHistory> before = (*ledger)->GetFinding(key);
    if (before.ok()) {
      event->idempotency_key =
          ledger::UndatedOutcomeKey(*event, before->events);
    } else if (!absl::IsNotFound(before.status())) {
      return ToGrpcStatus(before.status());
    }  // An unknown finding: the append answers NOT_FOUND.
  }
  std::vector<ledger::Event> events;
  events.push_back(*std::move(event));
  absl::StatusOr<ledger::Appended> appended =
      std::move((*ledger)->Append(std::move(events)).front());
  if (!appended.ok()) return ToGrpcStatus(appended.status());
  response->set_duplicate(appended->duplicate);
  absl::Status filled =
      FillEvent(**ledger, appended->seq, response->mutable_event());
  if (!filled.ok()) return ToGrpcStatus(filled);
  absl::StatusOr<ledger::FindingRecord> finding =
      (*ledger)->GetFindingRecord(key);
  if (!finding.ok()) return ToGrpcStatus(finding.status());
  ledger::FindingToProto(*finding, clock_(), response->mutable_finding());
  return grpc::Status::OK;
}

grpc::Status LedgerServiceImpl::ObserveScan(
    grpc::ServerContext* /*context*/, const v1::ObserveScanRequest* request,
    v1::ObserveScanResponse* response) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  absl::StatusOr<ledger::ScanObservation> scan =
      ledger::ScanFromProto(*request, clock_());
  if (!scan.ok()) return ToGrpcStatus(scan.status());
  absl::StatusOr<ledger::ScanResult> result =
      (*ledger)->RecordScan(*std::move(scan));
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_remediated(result->remediated);
  response->set_reopened(result->reopened);
  response->set_still_present(result->still_present);
  response->set_unknown(result->unknown);
  response->set_duplicate(result->duplicate);
  for (int64_t seq : result->seqs) {
    response->add_sequences(static_cast<uint64_t>(seq));
  }
  return grpc::Status::OK;
}

grpc::Status LedgerServiceImpl::GetFinding(grpc::ServerContext* /*context*/,
                                           const v1::GetFindingRequest* request,
                                           v1::GetFindingResponse* response) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  if (request->identity_key().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "identity_key: required; `treatctl ledger findings` lists them"));
  }
  absl::StatusOr<absl::Time> as_of =
      ResolveAsOf(request->has_as_of(), request->as_of(), clock_());
  if (!as_of.ok()) return ToGrpcStatus(as_of.status());
  if (!request->include_history()) {
    absl::StatusOr<ledger::FindingRecord> finding =
        (*ledger)->GetFindingRecord(request->identity_key());
    if (!finding.ok()) return ToGrpcStatus(finding.status());
    ledger::FindingToProto(*finding, *as_of, response->mutable_finding());
    return grpc::Status::OK;
  }
  absl::StatusOr<ledger::FindingHistory> history =
      (*ledger)->GetFinding(request->identity_key());
  if (!history.ok()) return ToGrpcStatus(history.status());
  ledger::FindingToProto(history->finding, *as_of, response->mutable_finding());
  for (const ledger::Event& event : history->events) {
    ledger::EventToProto(event, response->add_history());
  }
  return grpc::Status::OK;
}

grpc::Status LedgerServiceImpl::ListFindings(
    grpc::ServerContext* /*context*/, const v1::ListFindingsRequest* request,
    v1::ListFindingsResponse* response) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  absl::StatusOr<ledger::FindingFilter> filter =
      ledger::FilterFromProto(*request, clock_());
  if (!filter.ok()) return ToGrpcStatus(filter.status());
  ledger::PageRequest page;
  page.page_size = request->page_size();
  page.page_token = request->page_token();
  absl::StatusOr<ledger::FindingPage> found =
      (*ledger)->ListFindings(*filter, page);
  if (!found.ok()) return ToGrpcStatus(found.status());
  for (const ledger::FindingRecord& finding : found->findings) {
    ledger::FindingToProto(finding, filter->as_of, response->add_findings());
  }
  response->set_next_page_token(found->next_page_token);
  return grpc::Status::OK;
}

grpc::Status LedgerServiceImpl::ListEvents(grpc::ServerContext* /*context*/,
                                           const v1::ListEventsRequest* request,
                                           v1::ListEventsResponse* response) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  if (request->page_size() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "page_size: must not be negative (0: 1000, at most 10000), got ",
        request->page_size())));
  }
  // Above the maximum is lowered to it (AIP-158).
  const int limit = request->page_size() == 0
                        ? 1000
                        : std::min(request->page_size(), kMaxEventPage);
  uint64_t after = request->after_sequence();
  if (!request->page_token().empty()) {
    absl::StatusOr<uint64_t> parsed =
        ParseEventPageToken(request->page_token());
    if (!parsed.ok()) return ToGrpcStatus(parsed.status());
    after = *parsed;
  }
  absl::StatusOr<std::vector<ledger::Event>> events = (*ledger)->ListEvents(
      static_cast<int64_t>(after), limit, request->identity_key());
  if (!events.ok()) return ToGrpcStatus(events.status());
  for (const ledger::Event& event : *events) {
    ledger::EventToProto(event, response->add_events());
  }
  if (static_cast<int>(events->size()) == limit) {
    response->set_next_page_token(
        EventPageToken(static_cast<uint64_t>(events->back().seq)));
  }
  return grpc::Status::OK;
}

grpc::Status LedgerServiceImpl::GetKpis(grpc::ServerContext* /*context*/,
                                        const v1::GetKpisRequest* request,
                                        v1::GetKpisResponse* response) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  absl::StatusOr<ledger::KpiQuery> query =
      ledger::KpiQueryFromProto(*request, clock_());
  if (!query.ok()) return ToGrpcStatus(query.status());
  absl::StatusOr<ledger::KpiReport> report = (*ledger)->Kpis(*query);
  if (!report.ok()) return ToGrpcStatus(report.status());
  ledger::KpiReportToProto(*report, response);
  return grpc::Status::OK;
}

grpc::Status LedgerServiceImpl::WatchEvents(
    grpc::ServerContext* context, const v1::WatchEventsRequest* request,
    grpc::ServerWriter<v1::WatchEventsResponse>* writer) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  for (int i = 0; i < request->types_size(); ++i) {
    if (request->types(i) == v1::LEDGER_EVENT_TYPE_UNSPECIFIED ||
        !v1::LedgerEventType_IsValid(request->types(i))) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "types[", i, "]: not a LedgerEventType, got ", request->types(i))));
    }
  }
  auto wanted = [request](v1::LedgerEventType type) {
    return request->types().empty() ||
           std::find(request->types().begin(), request->types().end(), type) !=
               request->types().end();
  };
  int64_t after = static_cast<int64_t>(request->after_sequence());
  v1::WatchEventsResponse response;
  while (!context->IsCancelled()) {
    absl::StatusOr<std::vector<ledger::Event>> events =
        (*ledger)->ListEvents(after, kWatchPage);
    if (!events.ok()) return ToGrpcStatus(events.status());
    for (const ledger::Event& event : *events) {
      after = event.seq;
      response.Clear();
      ledger::EventToProto(event, response.mutable_event());
      if (!wanted(response.event().type())) continue;
      if (!writer->Write(response)) {
        return grpc::Status(grpc::StatusCode::CANCELLED,
                            "the client stopped reading the watch");
      }
    }
    if (static_cast<int>(events->size()) < kWatchPage) {
      (*ledger)->WaitForEvents(after, kWatchPoll);
    }
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
}

grpc::Status LedgerServiceImpl::VerifyLedger(
    grpc::ServerContext* /*context*/,
    const v1::VerifyLedgerRequest* /*request*/,
    v1::VerifyLedgerResponse* response) {
  absl::StatusOr<ledger::Ledger*> ledger = LedgerOrError();
  if (!ledger.ok()) return ToGrpcStatus(ledger.status());
  absl::StatusOr<ledger::VerifyReport> report = (*ledger)->Verify();
  if (!report.ok()) return ToGrpcStatus(report.status());
  ledger::VerifyToProto(*report, response);
  return grpc::Status::OK;
}

}  // namespace treatd
