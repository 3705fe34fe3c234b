// The name treatd shows for a treatment in decisions' reasons, policy
// checks, exports and the CLI: the enum value without its TREATMENT_
// prefix. Stateless, thread-safe.
#ifndef TREATD_COMMON_TEXT_TREATMENT_NAME_H_
#define TREATD_COMMON_TEXT_TREATMENT_NAME_H_

#include "absl/strings/string_view.h"
#include "treatd/v1/decision.pb.h"

namespace treatd {

// "REMEDIATE", "MITIGATE", "MITIGATE_THEN_REMEDIATE", "ACCEPT";
// "UNSPECIFIED" for TREATMENT_UNSPECIFIED; "" for a number the enum does
// not define.
absl::string_view TreatmentName(v1::Treatment treatment);

}  // namespace treatd

#endif  // TREATD_COMMON_TEXT_TREATMENT_NAME_H_
