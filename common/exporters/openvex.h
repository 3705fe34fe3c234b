// The OpenVEX status rule of the OpenVEX exporter, exposed so that callers
// (a CI gate, a summary) can tell which findings a VEX document will call
// not_affected without writing the document. Pure functions, thread-safe.
#ifndef TREATD_COMMON_EXPORTERS_OPENVEX_H_
#define TREATD_COMMON_EXPORTERS_OPENVEX_H_

#include "absl/strings/string_view.h"
#include "common/exporters/exporter.h"

namespace treatd::exporters {

// OpenVEX 0.2 statement statuses.
enum class VexStatus { kNotAffected, kAffected, kFixed, kUnderInvestigation };

// The status the OpenVEX exporter gives `decided`:
//   - under_investigation: the result is an error (or has no treatment);
//   - not_affected (justification inline_mitigations_already_exist): the
//     finding lists a compensating control of FULL effectiveness AND the
//     decision is ACCEPT or MITIGATE AND its residual risk is strictly below
//     options.not_affected_max_residual_risk;
//   - affected otherwise (with an action_statement). `fixed` is never
//     produced: a decision is about a finding that is still present.
VexStatus VexStatusFor(const DecidedFinding& decided,
                       const ExportOptions& options);

// "not_affected", "affected", "fixed", "under_investigation".
absl::string_view VexStatusName(VexStatus status);

}  // namespace treatd::exporters

#endif  // TREATD_COMMON_EXPORTERS_OPENVEX_H_
