#include "common/text/treatment_name.h"

#include "absl/strings/strip.h"

namespace treatd {

absl::string_view TreatmentName(v1::Treatment treatment) {
  // Treatment_Name() returns a reference to a static string ("" for an
  // unknown number), so the view stays valid.
  return absl::StripPrefix(v1::Treatment_Name(treatment), "TREATMENT_");
}

}  // namespace treatd
