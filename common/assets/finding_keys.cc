#include "common/assets/finding_keys.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace treatd::assets {

std::string AssetIdentity(const v1::Asset& asset) {
  if (!asset.id().empty()) return absl::StrCat("id=", asset.id());
  if (!asset.name().empty()) return absl::StrCat("name=", asset.name());
  return "";
}

std::vector<std::string> VulnerabilityIds(
    const v1::Vulnerability& vulnerability) {
  std::vector<std::string> ids;
  if (!vulnerability.cve_id().empty()) {
    ids.push_back(absl::AsciiStrToUpper(vulnerability.cve_id()));
  }
  for (const std::string& alias : vulnerability.aliases()) {
    if (!alias.empty()) ids.push_back(absl::AsciiStrToUpper(alias));
  }
  return ids;
}

}  // namespace treatd::assets
