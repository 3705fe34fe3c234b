// The text forms of finding and decision fields that several exporters
// share (treatment names, deadlines, the vulnerability id, the asset
// label), so that the table, CSV, OpenVEX and SARIF say the same thing the
// same way. Internal to common/exporters. Pure functions, thread-safe.
#ifndef TREATD_COMMON_EXPORTERS_DECISION_FIELDS_H_
#define TREATD_COMMON_EXPORTERS_DECISION_FIELDS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/exporters/exporter.h"
#include "google/protobuf/timestamp.pb.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd::exporters::internal {

// OK when `decided` has a result; INVALID_ARGUMENT naming `index` otherwise.
absl::Status CheckDecided(const DecidedFinding& decided, size_t index);

// The finding, or an empty one when only the result is known.
const v1::Finding& FindingOf(const DecidedFinding& decided);

// The finding id of the result, else of the finding.
std::string FindingIdOf(const DecidedFinding& decided);

// "REMEDIATE", "MITIGATE_THEN_REMEDIATE", ...; "" for UNSPECIFIED.
std::string TreatmentName(v1::Treatment treatment);

// "vulnerability", "misconfiguration", "malware", "exposed_secret"; "".
std::string KindName(v1::FindingKind kind);

// RFC 3339 in UTC with as many fraction digits as needed.
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);
std::string Rfc3339(absl::Time time);

// The decision's deadlines as FormatTimestamp() text, "" when unset.
std::string MitigateBy(const v1::Decision& decision);
std::string RemediateBy(const v1::Decision& decision);
std::string ReviewBy(const v1::Decision& decision);

// CVE id, else the first alias (GHSA, OSV), else "".
std::string VulnerabilityId(const v1::Finding& finding);

// What the finding is about, as a rule id: the vulnerability id, the
// misconfiguration check id, the secret type or the malware family, else
// the kind name, else "finding".
std::string RuleIdOf(const v1::Finding& finding);

// The asset id, else its name, else "".
std::string AssetLabel(const v1::Finding& finding);

// "INVALID_ARGUMENT: message" for an item error.
std::string ErrorText(const v1::ItemError& error);

// The decision's action texts joined with "; ".
std::string ActionsText(const v1::Decision& decision);

// The exception id, with " (expired)" when it matched but did not apply.
std::string ExceptionText(const v1::Decision& decision);

// Shortest decimal form of a risk score ("2", "5.6").
std::string FormatScore(double score);

// The time documents are stamped with: `options.timestamp` when set, else
// the latest evaluated_at among the decisions, else InfinitePast().
absl::Time DocumentTime(absl::Span<const DecidedFinding> decisions,
                        const ExportOptions& options);

}  // namespace treatd::exporters::internal

#endif  // TREATD_COMMON_EXPORTERS_DECISION_FIELDS_H_
