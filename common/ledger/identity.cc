#include "common/ledger/identity.h"

#include <algorithm>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/assets/finding_keys.h"

namespace treatd::ledger {
namespace {

constexpr size_t kMaxOverrideBytes = 512;

// Appends `part` to `out`, percent-escaping the separator and the escape
// character, so parts that contain '|' cannot make two different findings
// collide. The runs between them are copied whole (every decision the
// ledger records computes a key).
void AppendEscaped(absl::string_view part, std::string& out) {
  while (true) {
    const size_t special = part.find_first_of("|%");
    if (special == absl::string_view::npos) break;
    out.append(part.data(), special);
    out.append(part[special] == '|' ? "%7C" : "%25");
    part.remove_prefix(special + 1);
  }
  out.append(part.data(), part.size());
}

absl::Status CheckOverride(absl::string_view key) {
  if (key.size() > kMaxOverrideBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("identity_key: ", key.size(), " bytes; at most ",
                     kMaxOverrideBytes, " allowed"));
  }
  for (char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          "identity_key: contains a control character; printable text only");
    }
  }
  return absl::OkStatus();
}

struct Parts {
  absl::string_view kind;
  std::string subject;
  std::string package;
  const char* subject_field;  // named when the subject is missing
};

Parts KindParts(const v1::Finding& finding) {
  switch (finding.kind()) {
    case v1::FINDING_KIND_VULNERABILITY:
      return {"vulnerability",
              CanonicalVulnerabilityId(finding.vulnerability()),
              finding.package().name(), "vulnerability.cve_id"};
    case v1::FINDING_KIND_MISCONFIGURATION:
      return {"misconfiguration", finding.misconfiguration().check_id(),
              finding.misconfiguration().resource(),
              "misconfiguration.check_id"};
    case v1::FINDING_KIND_EXPOSED_SECRET: {
      std::string subject = finding.secret().location();
      if (!subject.empty() && !finding.secret().secret_type().empty()) {
        absl::StrAppend(&subject, "#", finding.secret().secret_type());
      }
      return {"secret", std::move(subject), "", "secret.location"};
    }
    case v1::FINDING_KIND_MALWARE: {
      std::string subject = absl::AsciiStrToLower(finding.malware().sha256());
      if (subject.empty()) subject = finding.malware().path();
      return {"malware", std::move(subject), "", "malware.sha256"};
    }
    default:
      return {"", "", "", "kind"};
  }
}

}  // namespace

std::string CanonicalVulnerabilityId(const v1::Vulnerability& vulnerability) {
  std::vector<std::string> ids = assets::VulnerabilityIds(vulnerability);
  if (ids.empty()) return "";
  std::sort(ids.begin(), ids.end());
  for (const std::string& id : ids) {
    if (absl::StartsWith(id, "CVE-")) return id;
  }
  return ids.front();
}

absl::StatusOr<std::string> FindingIdentityKey(const v1::Finding& finding) {
  if (!finding.identity_key().empty()) {
    absl::Status status = CheckOverride(finding.identity_key());
    if (!status.ok()) return status;
    return finding.identity_key();
  }
  Parts parts = KindParts(finding);
  if (parts.kind.empty()) {
    return absl::InvalidArgumentError(
        "kind: unset; the ledger identifies a finding by its kind (or set "
        "identity_key)");
  }
  if (parts.subject.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(parts.subject_field, ": empty; a ", parts.kind,
                     " finding is identified by it (or set identity_key)"));
  }
  std::string asset = assets::AssetIdentity(finding.asset());
  if (asset.empty()) asset = "-";
  std::string key;
  key.reserve(parts.kind.size() + asset.size() + parts.subject.size() +
              parts.package.size() + 8);
  key.append(parts.kind.data(), parts.kind.size());
  key.push_back('|');
  AppendEscaped(asset, key);
  key.push_back('|');
  AppendEscaped(parts.subject, key);
  key.push_back('|');
  AppendEscaped(parts.package, key);
  return key;
}

}  // namespace treatd::ledger
