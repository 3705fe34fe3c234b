// Applies an asset inventory's business context to scanner findings.
// Scanners know packages and targets, not which team owns an image or
// whether a host faces the internet; the inventory does.
//
// Pure functions over their arguments; thread-safe as long as each finding
// is touched by one thread.
#ifndef TREATD_COMMON_ASSETS_ASSET_CONTEXT_H_
#define TREATD_COMMON_ASSETS_ASSET_CONTEXT_H_

#include "absl/strings/string_view.h"
#include "common/assets/inventory.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::assets {

// Attribute recording which inventory pattern gave a finding its context.
inline constexpr absl::string_view kAttrAssetMatch = "asset.inventory_match";

// Looks the finding up with inventory.MatchFinding() and, when an entry
// matches, fills the finding's asset from it:
//   - id, type, environment, criticality, exposure, data_classification and
//     owner: the inventory's value replaces the scanner's guess, but only
//     when the inventory states one (a non-empty string, a non-UNSPECIFIED
//     enum); otherwise the finding keeps what it has;
//   - asset.name is never changed (it is what was scanned);
//   - tags: the finding's, then the inventory's that are not already there;
//   - labels: the inventory's value wins for a key both have; the finding's
//     other keys stay;
//   - compensating controls: the inventory's are appended unless an equal
//     control is already listed;
//   - attribute "asset.inventory_match" = the pattern that matched.
// Returns true when an entry matched, false (finding untouched) otherwise.
bool ApplyAssetContext(const AssetInventory& inventory, v1::Finding* finding);

}  // namespace treatd::assets

#endif  // TREATD_COMMON_ASSETS_ASSET_CONTEXT_H_
