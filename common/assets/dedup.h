// Merges findings that report the same vulnerability in the same package on
// the same asset — the same CVE seen by two scanners, or in two layers of
// one image — into one finding, so that it is decided, ticketed and counted
// once.
//
// A pure function of its input (same input, same output, same order);
// thread-safe for distinct vectors.
#ifndef TREATD_COMMON_ASSETS_DEDUP_H_
#define TREATD_COMMON_ASSETS_DEDUP_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/finding/attributes.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::assets {

// The merged ids go into the attribute kAttrMergedIds.
using ::treatd::kAttrMergedIds;

// Merges duplicates in `findings` in place and returns how many findings
// were removed.
//
// Two findings are duplicates when all of these hold:
//   - same asset: equal non-empty asset.id, or, when neither has an id,
//     equal non-empty asset.name;
//   - same package: equal non-empty package.name and equal
//     package.installed_version;
//   - they share a vulnerability id: the cve_id and aliases of one and of
//     the other intersect (compared without ASCII case).
// Duplication is transitive (A~B and B~C put A, B and C together).
//
// The merged finding stands where the first of its group stood, keeps the
// first one's id, and combines the facts: the union of aliases, CWE ids,
// fixed versions, tags and compensating controls; `source` is the sorted,
// comma-joined set of sources; the highest CVSS (whole rating), EPSS
// score and severity; the most advanced exploit maturity, automatable and
// technical impact; KEV listed if any listing says so (earliest due date,
// ransomware use if any); fix available if any says so; the earliest
// first_seen and published, the latest last_seen; active_incident if any;
// fields the first lacks are filled from the others (first wins for
// attributes, labels, title and description). Findings that are not
// duplicates are left as they are, in order.
size_t DeduplicateFindings(std::vector<v1::Finding>* findings);

// The ids `finding`'s vulnerability is known by, upper-cased: the CVE id,
// then the aliases, empty ones left out. Duplicates and VEX statements
// (common/importers/vex_statements.h) are matched on them.
std::vector<std::string> VulnerabilityIds(const v1::Finding& finding);

}  // namespace treatd::assets

#endif  // TREATD_COMMON_ASSETS_DEDUP_H_
