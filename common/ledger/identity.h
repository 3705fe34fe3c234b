// Finding identity: which reports are "the same finding" across scans,
// scanners and callers. docs/ledger.md documents the key.
//
// Pure functions; thread-safe.
#ifndef TREATD_COMMON_LEDGER_IDENTITY_H_
#define TREATD_COMMON_LEDGER_IDENTITY_H_

#include <string>

#include "absl/status/statusor.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::ledger {

// The identity key of `finding`:
//   - finding.identity_key when set (the caller's override, used verbatim;
//     at most 512 bytes, no control characters);
//   - else "<kind>|<asset>|<subject>|<package>" where
//       kind    = vulnerability, misconfiguration, malware, secret;
//       asset   = "id=<asset.id>", else "name=<asset.name>", else "-";
//       subject = vulnerability: the canonical vulnerability id
//                 (CanonicalVulnerabilityId); misconfiguration: check_id;
//                 secret: location (with "#<secret_type>" when set);
//                 malware: sha256 (lower case), else path;
//       package = package.name (vulnerability), misconfiguration.resource,
//                 or "" — not the installed version: an upgrade that is
//                 still vulnerable is the same finding.
//     '|' and '%' inside parts are percent-escaped.
// The asset and vulnerability-id pieces are the importers' dedup pieces
// (common/assets/finding_keys.h), so findings the importers merge get one
// key. INVALID_ARGUMENT (naming the field) when the kind is unset, the
// subject is empty, or the override is malformed.
absl::StatusOr<std::string> FindingIdentityKey(const v1::Finding& finding);

// The vulnerability id that names a vulnerability finding: among cve_id and
// aliases (upper-cased), the smallest "CVE-" id, else the smallest id; ""
// when there is none. Scanners that report the same CVE under different
// primary ids (a GHSA with a CVE alias) therefore agree.
std::string CanonicalVulnerabilityId(const v1::Vulnerability& vulnerability);

}  // namespace treatd::ledger

#endif  // TREATD_COMMON_LEDGER_IDENTITY_H_
