// Keys of the Finding.attributes that treatd itself writes, shared by the
// code that writes them and the code that reads them back, so neither has
// to depend on the other. Constants only.
#ifndef TREATD_COMMON_FINDING_ATTRIBUTES_H_
#define TREATD_COMMON_FINDING_ATTRIBUTES_H_

#include "absl/strings/string_view.h"

namespace treatd {

// The ids, comma-separated in input order, of the findings merged into a
// finding (its own id excluded). Written by the de-duplication
// (common/assets/dedup.h); read by the SARIF exporter to map a decision
// back to every original result.
inline constexpr absl::string_view kAttrMergedIds = "dedup.merged_ids";

}  // namespace treatd

#endif  // TREATD_COMMON_FINDING_ATTRIBUTES_H_
