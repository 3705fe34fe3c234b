#include "server/startup_banner.h"

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace treatd {

std::string SiblingTreatctlPath(absl::string_view argv0) {
  const size_t slash = argv0.rfind('/');
  if (slash == absl::string_view::npos) return "treatctl";
  absl::string_view dir = argv0.substr(0, slash);  // .../server or .../bin
  // Installed, treatctl sits next to treatd in <prefix>/bin.
  const std::string beside = absl::StrCat(dir, "/treatctl");
  if (access(beside.c_str(), X_OK) == 0) return beside;
  const size_t parent_slash = dir.rfind('/');
  if (parent_slash == absl::string_view::npos) {
    // "server/treatd" -> "client/treatctl"; "./treatd" -> "./../client/...".
    return dir == "." ? "../client/treatctl" : "client/treatctl";
  }
  return absl::StrCat(dir.substr(0, parent_slash), "/client/treatctl");
}

std::string StartupBanner(absl::string_view argv0, absl::string_view address) {
  return absl::StrCat("treatd listening on ", address,
                      "; try: ", SiblingTreatctlPath(argv0),
                      " decide --target ", address, " examples/findings.jsonl");
}

std::string LedgerBanner(absl::string_view argv0, absl::string_view address,
                         absl::string_view ledger_description) {
  if (ledger_description == "off") {
    return "ledger: off (--ledger-off): decisions are not recorded";
  }
  return absl::StrCat("ledger: recording decisions in ", ledger_description,
                      "; try: ", SiblingTreatctlPath(argv0),
                      " ledger kpi --target ", address);
}

}  // namespace treatd
