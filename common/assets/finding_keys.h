// The pieces that say two findings are about the same thing: which asset,
// which vulnerability. Shared by the importers' de-duplication (dedup.h) and
// the ledger's finding identity (common/ledger/identity.h), so the two agree.
//
// Pure functions; thread-safe.
#ifndef TREATD_COMMON_ASSETS_FINDING_KEYS_H_
#define TREATD_COMMON_ASSETS_FINDING_KEYS_H_

#include <string>
#include <vector>

#include "treatd/v1/finding.pb.h"

namespace treatd::assets {

// "id=<asset.id>" when the asset has an id, else "name=<asset.name>", else
// "" (the asset cannot be identified).
std::string AssetIdentity(const v1::Asset& asset);

// The vulnerability's ids, upper case: cve_id first, then the aliases in
// order; empty ones skipped.
std::vector<std::string> VulnerabilityIds(
    const v1::Vulnerability& vulnerability);

}  // namespace treatd::assets

#endif  // TREATD_COMMON_ASSETS_FINDING_KEYS_H_
