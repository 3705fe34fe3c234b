#include "common/ledger_wire/ledger_wire.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/assets/finding_keys.h"
#include "common/digest/sha256.h"
#include "common/ledger/identity.h"
#include "common/status/status_macros.h"
#include "common/time/proto_time.h"

namespace treatd::ledger {
namespace {

absl::StatusOr<absl::Time> CheckedTime(
    const google::protobuf::Timestamp& timestamp, absl::string_view field) {
  if (timestamp.seconds() < kMinProtoTimestampSeconds ||
      timestamp.seconds() > kMaxProtoTimestampSeconds ||
      timestamp.nanos() < 0 || timestamp.nanos() > 999999999) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ": must be a valid timestamp between 0001-01-01T00:00:00Z and "
        "9999-12-31T23:59:59Z, got seconds=",
        timestamp.seconds(), " nanos=", timestamp.nanos()));
  }
  return FromProtoTime(timestamp);
}

// `set` ? the checked time : `fallback`.
absl::StatusOr<absl::Time> TimeOr(bool set,
                                  const google::protobuf::Timestamp& timestamp,
                                  absl::string_view field,
                                  absl::Time fallback) {
  if (!set) return fallback;
  return CheckedTime(timestamp, field);
}

absl::StatusOr<absl::Duration> PositiveDurationOr(
    bool set, const google::protobuf::Duration& duration,
    absl::string_view field, absl::Duration fallback) {
  if (!set) return fallback;
  const absl::Duration value = FromProtoDuration(duration);
  if (value <= absl::ZeroDuration() || duration.nanos() < -999999999 ||
      duration.nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a positive duration, got seconds=",
                     duration.seconds(), " nanos=", duration.nanos()));
  }
  return value;
}

std::optional<absl::Time> OptionalTime(
    bool set, const google::protobuf::Timestamp& timestamp) {
  if (!set) return std::nullopt;
  return FromProtoTime(timestamp);
}

// Sets the Timestamp field `field` of `out` only when `time` has a value,
// so an unset time stays absent on the wire (has_...() false, no JSON key)
// instead of appearing as 1970-01-01. The stores read an absent time back
// as the epoch (0 microseconds), so the epoch is absent here too.
template <typename Message>
void SetTime(const std::optional<absl::Time>& time, Message* out,
             google::protobuf::Timestamp* (Message::*field)()) {
  if (time.has_value() && *time != absl::UnixEpoch()) {
    ToProtoTime(*time, (out->*field)());
  }
}

// The same for a time that is always known once recorded; the infinities
// stand for "not yet assigned".
template <typename Message>
void SetKnownTime(absl::Time time, Message* out,
                  google::protobuf::Timestamp* (Message::*field)()) {
  if (time != absl::InfinitePast() && time != absl::InfiniteFuture()) {
    ToProtoTime(time, (out->*field)());
  }
}

// The identity key of a request that names its finding by `key` or by
// `finding`: exactly one of them.
absl::StatusOr<std::string> RequestKey(const std::string& key, bool has_finding,
                                       const v1::Finding& finding) {
  if (!key.empty() && has_finding) {
    return absl::InvalidArgumentError(
        "identity_key: set identity_key or finding, not both");
  }
  if (!key.empty()) return key;
  if (!has_finding) {
    return absl::InvalidArgumentError(
        "identity_key: required; name the finding by its identity key (as "
        "`treatctl ledger findings` lists it) or send the finding itself");
  }
  absl::StatusOr<std::string> computed = FindingIdentityKey(finding);
  if (!computed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("finding: ", computed.status().message()));
  }
  return computed;
}

// What an outcome report says apart from its time, each field length
// prefixed so no two reports spell the same text.
std::string ReportedContent(const Event& e) {
  std::string text;
  for (absl::string_view field :
       {absl::string_view(e.finding_key), EventKindName(e.kind),
        absl::string_view(e.actor), absl::string_view(e.control),
        absl::string_view(e.evidence), absl::string_view(e.note)}) {
    absl::StrAppend(&text, field.size(), ":", field, "\n");
  }
  if (e.until.has_value()) {
    absl::StrAppend(&text, "until:", absl::ToUnixMicros(*e.until));
  }
  return text;
}

}  // namespace

std::string UndatedOutcomeKey(const Event& report,
                              const std::vector<Event>& history) {
  const std::string content = ReportedContent(report);
  int64_t generation = 0;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    const bool kept_state = it->state_before.has_value() &&
                            *it->state_before == it->state_after &&
                            !it->recurrence;
    const bool passes = it->kind == EventKind::kDecision ||
                        it->kind == EventKind::kSweepDecision ||
                        it->kind == EventKind::kReviewDue ||
                        it->kind == EventKind::kOverdue;
    if (kept_state && passes) continue;
    if (ReportedContent(*it) == content) continue;
    generation = it->seq;
    break;
  }
  return absl::StrCat("outcome:g", generation, ":",
                      Sha256Hex(content).substr(0, 32));
}

absl::StatusOr<Event> DecisionEvent(const v1::Finding& finding,
                                    const v1::Decision& decision, bool snapshot,
                                    bool sweep) {
  Event event;
  TREATD_RETURN_IF_ERROR(
      DecisionEventInto(finding, decision, snapshot, sweep, &event));
  return event;
}

absl::Status DecisionEventInto(const v1::Finding& finding,
                               const v1::Decision& decision, bool snapshot,
                               bool sweep, Event* event) {
  TREATD_ASSIGN_OR_RETURN(event->finding_key, FindingIdentityKey(finding));
  event->kind = sweep ? EventKind::kSweepDecision : EventKind::kDecision;
  event->occurred_at = FromProtoTime(decision.evaluated_at());
  event->idempotency_key =
      DecisionIdempotencyKey(sweep, event->occurred_at, decision.decision_id());
  DecisionFacts& facts = event->decision;
  facts.decision_id = decision.decision_id();
  facts.treatment = decision.treatment();
  facts.priority = decision.priority();
  facts.priority_rank = decision.priority_rank();
  facts.rule = decision.matched_rule();
  facts.mitigate_by =
      OptionalTime(decision.has_mitigate_by(), decision.mitigate_by());
  facts.remediate_by =
      OptionalTime(decision.has_remediate_by(), decision.remediate_by());
  facts.review_by =
      OptionalTime(decision.has_review_by(), decision.review_by());
  facts.residual_risk = decision.residual_risk();
  facts.policy_digest = decision.policy().digest();
  facts.kind = finding.kind();
  facts.owner = finding.asset().owner();
  facts.asset = assets::AssetIdentity(finding.asset());
  facts.vulnerability = CanonicalVulnerabilityId(finding.vulnerability());
  facts.first_seen =
      OptionalTime(finding.has_first_seen(), finding.first_seen());
  if (snapshot) finding.SerializeToString(&facts.finding_snapshot);
  return absl::OkStatus();
}

absl::StatusOr<Event> OutcomeEvent(const v1::ReportOutcomeRequest& request,
                                   absl::Time now) {
  Event event;
  switch (request.outcome()) {
    case v1::OUTCOME_KIND_MITIGATED:
      event.kind = EventKind::kMitigated;
      break;
    case v1::OUTCOME_KIND_REMEDIATED:
      event.kind = EventKind::kRemediated;
      break;
    case v1::OUTCOME_KIND_ACCEPTED:
      event.kind = EventKind::kAccepted;
      break;
    case v1::OUTCOME_KIND_FALSE_POSITIVE:
      event.kind = EventKind::kFalsePositive;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("outcome: required; one of OUTCOME_KIND_MITIGATED, "
                       "OUTCOME_KIND_REMEDIATED, OUTCOME_KIND_ACCEPTED, "
                       "OUTCOME_KIND_FALSE_POSITIVE; got ",
                       static_cast<int>(request.outcome())));
  }
  TREATD_ASSIGN_OR_RETURN(event.finding_key,
                          RequestKey(request.identity_key(),
                                     request.has_finding(), request.finding()));
  TREATD_ASSIGN_OR_RETURN(event.occurred_at,
                          TimeOr(request.has_occurred_at(),
                                 request.occurred_at(), "occurred_at", now));
  if (request.has_until()) {
    TREATD_ASSIGN_OR_RETURN(absl::Time until,
                            CheckedTime(request.until(), "until"));
    event.until = until;
  }
  if (event.kind == EventKind::kAccepted) {
    if (!event.until.has_value()) {
      return absl::InvalidArgumentError(
          "until: required for OUTCOME_KIND_ACCEPTED: the date the risk "
          "acceptance ends");
    }
    if (*event.until <= event.occurred_at) {
      return absl::InvalidArgumentError(
          absl::StrCat("until: must be after occurred_at (",
                       absl::FormatTime(event.occurred_at), "), got ",
                       absl::FormatTime(*event.until)));
    }
  } else if (event.until.has_value()) {
    if (event.kind != EventKind::kMitigated) {
      return absl::InvalidArgumentError(
          "until: only OUTCOME_KIND_ACCEPTED (the acceptance's end) and "
          "OUTCOME_KIND_MITIGATED (the mitigation's review date) take a date");
    }
    if (*event.until <= event.occurred_at) {
      return absl::InvalidArgumentError(absl::StrCat(
          "until: the mitigation's review date must be after occurred_at (",
          absl::FormatTime(event.occurred_at), "), got ",
          absl::FormatTime(*event.until)));
    }
  }
  event.actor = request.actor();
  event.control = request.control();
  event.evidence = request.evidence();
  event.note = request.note();
  event.idempotency_key = request.idempotency_key();
  return event;
}

absl::StatusOr<ScanObservation> ScanFromProto(
    const v1::ObserveScanRequest& request, absl::Time now) {
  if (request.scope().empty()) {
    return absl::InvalidArgumentError(
        "scope: required; the asset scanned completely, as identity keys "
        "spell it: \"id=<asset id>\" or \"name=<asset name>\"");
  }
  ScanObservation scan;
  scan.scope = request.scope();
  TREATD_ASSIGN_OR_RETURN(scan.scanned_at,
                          TimeOr(request.has_scanned_at(), request.scanned_at(),
                                 "scanned_at", now));
  scan.present_keys.reserve(request.identity_keys_size() +
                            request.findings_size());
  for (const std::string& key : request.identity_keys()) {
    scan.present_keys.push_back(key);
  }
  for (int i = 0; i < request.findings_size(); ++i) {
    absl::StatusOr<std::string> key = FindingIdentityKey(request.findings(i));
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("findings[", i, "]: ", key.status().message()));
    }
    scan.present_keys.push_back(*std::move(key));
  }
  for (int i = 0; i < request.kinds_size(); ++i) {
    const int kind = request.kinds(i);
    if (kind == v1::FINDING_KIND_UNSPECIFIED ||
        !v1::FindingKind_IsValid(kind)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kinds[", i, "]: must be a FindingKind other than unspecified, got ",
          kind));
    }
    scan.kinds.push_back(static_cast<v1::FindingKind>(kind));
  }
  scan.scanner = request.scanner();
  scan.idempotency_key = request.idempotency_key();
  return scan;
}

absl::StatusOr<FindingFilter> FilterFromProto(
    const v1::ListFindingsRequest& request, absl::Time now) {
  FindingFilter filter;
  if (request.state() != v1::FINDING_STATE_UNSPECIFIED) {
    filter.state = StateFromProto(request.state());
    if (!filter.state.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "state: unknown FindingState ", static_cast<int>(request.state())));
    }
  }
  if (request.kind() != v1::FINDING_KIND_UNSPECIFIED) {
    if (!v1::FindingKind_IsValid(request.kind())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kind: unknown FindingKind ", static_cast<int>(request.kind())));
    }
    filter.kind = request.kind();
  }
  // Above the maximum is lowered to it (AIP-158), by the ledger.
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must not be negative (0: 100, at most 1000), got ",
        request.page_size()));
  }
  filter.priority = request.priority();
  filter.owner = request.owner();
  if (!request.asset().empty() && !absl::StartsWith(request.asset(), "id=") &&
      !absl::StartsWith(request.asset(), "name=")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "asset: an asset key, \"id=<asset id>\" or \"name=<asset name>\" "
        "(as findings list it), got \"",
        request.asset(), "\"; did you mean \"id=", request.asset(), "\"?"));
  }
  filter.asset = request.asset();
  filter.vulnerability = request.vulnerability();
  filter.overdue = request.overdue();
  filter.review_due = request.review_due();
  if (request.has_changed_since()) {
    TREATD_ASSIGN_OR_RETURN(
        absl::Time since,
        CheckedTime(request.changed_since(), "changed_since"));
    filter.changed_since = since;
  }
  TREATD_ASSIGN_OR_RETURN(
      filter.as_of, TimeOr(request.has_as_of(), request.as_of(), "as_of", now));
  return filter;
}

absl::StatusOr<KpiQuery> KpiQueryFromProto(const v1::GetKpisRequest& request,
                                           absl::Time now) {
  KpiQuery query;
  TREATD_ASSIGN_OR_RETURN(
      query.as_of, TimeOr(request.has_as_of(), request.as_of(), "as_of", now));
  TREATD_ASSIGN_OR_RETURN(
      query.window, PositiveDurationOr(request.has_window(), request.window(),
                                       "window", query.window));
  TREATD_ASSIGN_OR_RETURN(
      query.recurrence_within,
      PositiveDurationOr(request.has_recurrence_window(),
                         request.recurrence_window(), "recurrence_window",
                         query.recurrence_within));
  for (int i = 0; i < request.group_by_size(); ++i) {
    switch (request.group_by(i)) {
      case v1::KPI_GROUP_BY_PRIORITY:
        query.group_by.push_back(KpiGroupBy::kPriority);
        break;
      case v1::KPI_GROUP_BY_KIND:
        query.group_by.push_back(KpiGroupBy::kKind);
        break;
      case v1::KPI_GROUP_BY_OWNER:
        query.group_by.push_back(KpiGroupBy::kOwner);
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "group_by[", i,
            "]: must be KPI_GROUP_BY_PRIORITY, KPI_GROUP_BY_KIND or "
            "KPI_GROUP_BY_OWNER, got ",
            static_cast<int>(request.group_by(i))));
    }
  }
  return query;
}

v1::FindingState StateToProto(FindingState state) {
  switch (state) {
    case FindingState::kOpen:
      return v1::FINDING_STATE_OPEN;
    case FindingState::kMitigated:
      return v1::FINDING_STATE_MITIGATED;
    case FindingState::kRemediated:
      return v1::FINDING_STATE_REMEDIATED;
    case FindingState::kAccepted:
      return v1::FINDING_STATE_ACCEPTED;
    case FindingState::kFalsePositive:
      return v1::FINDING_STATE_FALSE_POSITIVE;
  }
  return v1::FINDING_STATE_UNSPECIFIED;
}

std::optional<FindingState> StateFromProto(v1::FindingState state) {
  switch (state) {
    case v1::FINDING_STATE_OPEN:
      return FindingState::kOpen;
    case v1::FINDING_STATE_MITIGATED:
      return FindingState::kMitigated;
    case v1::FINDING_STATE_REMEDIATED:
      return FindingState::kRemediated;
    case v1::FINDING_STATE_ACCEPTED:
      return FindingState::kAccepted;
    case v1::FINDING_STATE_FALSE_POSITIVE:
      return FindingState::kFalsePositive;
    default:
      return std::nullopt;
  }
}

v1::LedgerEventType KindToProto(EventKind kind) {
  switch (kind) {
    case EventKind::kDecision:
      return v1::LEDGER_EVENT_TYPE_DECISION;
    case EventKind::kMitigated:
      return v1::LEDGER_EVENT_TYPE_MITIGATED;
    case EventKind::kRemediated:
      return v1::LEDGER_EVENT_TYPE_REMEDIATED;
    case EventKind::kAccepted:
      return v1::LEDGER_EVENT_TYPE_ACCEPTED;
    case EventKind::kFalsePositive:
      return v1::LEDGER_EVENT_TYPE_FALSE_POSITIVE;
    case EventKind::kScanRemediated:
      return v1::LEDGER_EVENT_TYPE_SCAN_REMEDIATED;
    case EventKind::kReopened:
      return v1::LEDGER_EVENT_TYPE_REOPENED;
    case EventKind::kSweepDecision:
      return v1::LEDGER_EVENT_TYPE_SWEEP_DECISION;
    case EventKind::kReviewDue:
      return v1::LEDGER_EVENT_TYPE_REVIEW_DUE;
    case EventKind::kOverdue:
      return v1::LEDGER_EVENT_TYPE_OVERDUE;
  }
  return v1::LEDGER_EVENT_TYPE_UNSPECIFIED;
}

void EventToProto(const Event& event, v1::LedgerEvent* out) {
  out->set_sequence(static_cast<uint64_t>(event.seq));
  out->set_type(KindToProto(event.kind));
  out->set_identity_key(event.finding_key);
  SetKnownTime(event.occurred_at, out, &v1::LedgerEvent::mutable_occurred_at);
  SetKnownTime(event.recorded_at, out, &v1::LedgerEvent::mutable_recorded_at);
  if (event.state_before.has_value()) {
    out->set_state_before(StateToProto(*event.state_before));
  }
  out->set_state_after(StateToProto(event.state_after));
  out->set_recurrence(event.recurrence);
  out->set_actor(event.actor);
  out->set_note(event.note);
  out->set_control(event.control);
  out->set_evidence(event.evidence);
  SetTime(event.until, out, &v1::LedgerEvent::mutable_until);
  out->set_scope(event.scope);
  out->set_idempotency_key(event.idempotency_key);
  if (event.kind == EventKind::kDecision ||
      event.kind == EventKind::kSweepDecision) {
    const DecisionFacts& facts = event.decision;
    v1::LedgerDecision* decision = out->mutable_decision();
    decision->set_decision_id(facts.decision_id);
    decision->set_treatment(facts.treatment);
    decision->set_priority(facts.priority);
    decision->set_rule(facts.rule);
    SetTime(facts.mitigate_by, decision,
            &v1::LedgerDecision::mutable_mitigate_by);
    SetTime(facts.remediate_by, decision,
            &v1::LedgerDecision::mutable_remediate_by);
    SetTime(facts.review_by, decision, &v1::LedgerDecision::mutable_review_by);
    decision->set_residual_risk(facts.residual_risk);
    decision->set_policy_digest(facts.policy_digest);
  }
  out->set_prev_hash(event.prev_hash);
  out->set_hash(event.hash);
}

bool IsOverdue(const FindingRecord& finding, absl::Time as_of) {
  return (finding.state == FindingState::kOpen ||
          finding.state == FindingState::kMitigated) &&
         finding.remediate_by.has_value() && *finding.remediate_by < as_of;
}

bool IsReviewDue(const FindingRecord& finding, absl::Time as_of) {
  return (finding.state == FindingState::kMitigated ||
          finding.state == FindingState::kAccepted) &&
         finding.review_by.has_value() && *finding.review_by <= as_of;
}

void FindingToProto(const FindingRecord& finding, absl::Time as_of,
                    v1::LedgerFinding* out) {
  out->set_identity_key(finding.key);
  out->set_state(StateToProto(finding.state));
  out->set_kind(finding.kind);
  out->set_asset(finding.asset);
  out->set_owner(finding.owner);
  out->set_vulnerability(finding.vulnerability);
  out->set_treatment(finding.treatment);
  out->set_priority(finding.priority);
  out->set_rule(finding.rule);
  out->set_decision_id(finding.decision_id);
  out->set_policy_digest(finding.policy_digest);
  SetKnownTime(finding.first_seen, out, &v1::LedgerFinding::mutable_first_seen);
  SetKnownTime(finding.opened_at, out, &v1::LedgerFinding::mutable_opened_at);
  SetKnownTime(finding.state_since, out,
               &v1::LedgerFinding::mutable_state_since);
  SetKnownTime(finding.updated_at, out, &v1::LedgerFinding::mutable_updated_at);
  SetTime(finding.mitigated_at, out, &v1::LedgerFinding::mutable_mitigated_at);
  SetTime(finding.accepted_at, out, &v1::LedgerFinding::mutable_accepted_at);
  SetTime(finding.closed_at, out, &v1::LedgerFinding::mutable_closed_at);
  SetTime(finding.mitigate_by, out, &v1::LedgerFinding::mutable_mitigate_by);
  SetTime(finding.remediate_by, out, &v1::LedgerFinding::mutable_remediate_by);
  SetTime(finding.review_by, out, &v1::LedgerFinding::mutable_review_by);
  SetTime(
      finding.accepted_at.has_value() ? finding.outcome_until : std::nullopt,
      out, &v1::LedgerFinding::mutable_accepted_until);
  out->set_residual_risk(finding.residual_risk);
  out->set_recurrences(finding.recurrences);
  out->set_episode(finding.episode);
  out->set_last_sequence(static_cast<uint64_t>(finding.last_seq));
  out->set_overdue(IsOverdue(finding, as_of));
  out->set_review_due(IsReviewDue(finding, as_of));
}

namespace {

void DurationStatsToProto(const DurationStats& stats, v1::DurationStats* out) {
  out->set_count(stats.count);
  out->set_censored(stats.censored);
  if (stats.mean_days.has_value()) out->set_mean_days(*stats.mean_days);
  if (stats.median_days.has_value()) out->set_median_days(*stats.median_days);
  if (stats.p90_days.has_value()) out->set_p90_days(*stats.p90_days);
  if (stats.km_median_days.has_value()) {
    out->set_km_median_days(*stats.km_median_days);
  }
}

}  // namespace

void KpiRowToProto(const KpiRow& row, v1::Kpis* out) {
  out->set_priority(row.priority);
  out->set_kind(row.kind);
  out->set_owner(row.owner);
  DurationStatsToProto(row.time_to_remediate, out->mutable_time_to_remediate());
  DurationStatsToProto(row.time_to_mitigate, out->mutable_time_to_mitigate());
  out->set_remediated_in_window(row.remediated_in_window);
  out->set_remediated_on_time(row.remediated_on_time);
  out->set_open_past_due(row.open_past_due);
  if (row.sla_compliance.has_value()) {
    out->set_sla_compliance(*row.sla_compliance);
  }
  out->set_open(row.open);
  out->set_age_0_30(row.age_0_30);
  out->set_age_31_60(row.age_31_60);
  out->set_age_61_90(row.age_61_90);
  out->set_age_over_90(row.age_over_90);
  out->set_recurred(row.recurred);
  if (row.recurrence_rate.has_value()) {
    out->set_recurrence_rate(*row.recurrence_rate);
  }
  out->set_mitigation_debt(row.mitigation_debt);
  out->set_mitigation_debt_days(row.mitigation_debt_days);
  out->set_residual_risk_sum(row.residual_risk_sum);
  if (row.residual_risk_mean.has_value()) {
    out->set_residual_risk_mean(*row.residual_risk_mean);
  }
}

void KpiReportToProto(const KpiReport& report, v1::GetKpisResponse* out) {
  KpiRowToProto(report.total, out->mutable_total());
  for (const KpiRow& row : report.rows) KpiRowToProto(row, out->add_groups());
  ToProtoTime(report.as_of, out->mutable_as_of());
  ToProtoDuration(report.window, out->mutable_window());
  ToProtoDuration(report.recurrence_within, out->mutable_recurrence_window());
}

void VerifyToProto(const VerifyReport& report, v1::VerifyLedgerResponse* out) {
  out->set_ok(report.ok);
  out->set_events_checked(static_cast<uint64_t>(report.events_checked));
  out->set_first_bad_sequence(static_cast<uint64_t>(report.first_bad_seq));
  out->set_problem(report.problem);
  out->set_head_hash(report.head_hash);
}

}  // namespace treatd::ledger
