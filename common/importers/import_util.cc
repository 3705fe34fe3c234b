#include "common/importers/import_util.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/digest/sha256.h"
#include "common/time/proto_time.h"
#include "common/time/time_text.h"

namespace treatd::importers {
namespace {

// Cuts `text` to at most `max_bytes` without splitting a UTF-8 character.
void TruncateUtf8(size_t max_bytes, std::string* text) {
  if (text->size() <= max_bytes) return;
  size_t end = max_bytes;
  // Back up over continuation bytes (10xxxxxx) to a character start.
  while (end > 0 && (static_cast<unsigned char>((*text)[end]) & 0xC0) == 0x80) {
    --end;
  }
  text->resize(end);
}

// Appends the first 8 bytes of SHA-256(`data`) to `out` as 16 lower-case
// hex digits and returns them as a number.
uint64_t AppendShortDigest(absl::string_view data, std::string* out) {
  unsigned char digest[32];
  Sha256Into(data, digest);
  static constexpr char kHex[] = "0123456789abcdef";
  char hex[16];
  for (int i = 0; i < 8; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xF];
  }
  out->append(hex, sizeof(hex));
  uint64_t prefix;
  std::memcpy(&prefix, digest, sizeof(prefix));
  return prefix;
}

// Lower rank is preferred; see PreferredCvss().
int CvssRank(const CvssCandidate& candidate) {
  const absl::string_view version =
      candidate.version.empty() ? CvssVersionFromVector(candidate.vector)
                                : candidate.version;
  int group = 1;
  int tier = 3;
  if (version == "3.1") {
    group = 0;
    tier = 0;
  } else if (version == "3.0" || version == "3") {
    group = 0;
    tier = 1;
  } else if (version == "4.0" || version == "4") {
    group = 0;
    tier = 2;
  } else if (version == "2.0" || version == "2") {
    tier = 4;
  }
  bool nvd = absl::StartsWithIgnoreCase(candidate.source, "nvd");
  int rank = group * 100 + (nvd ? 0 : 10) + tier;
  if (!candidate.score.has_value()) rank += 1000;
  return rank;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10;
}

// Decodes %XX escapes; leaves malformed escapes as they are.
std::string PercentDecode(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() &&
        absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 +
                                      HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool AllDigits(absl::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Length of a CVE id starting at `text` ("CVE-2019-1549..."), or 0.
size_t CveIdLength(absl::string_view text) {
  if (text.size() < 9 || !absl::StartsWithIgnoreCase(text, "CVE-")) return 0;
  if (!AllDigits(text.substr(4, 4)) || text[8] != '-') return 0;
  size_t end = 9;
  while (end < text.size() &&
         absl::ascii_isdigit(static_cast<unsigned char>(text[end]))) {
    ++end;
  }
  return end - 9 >= 4 ? end : 0;
}

// Length of a GHSA id starting at `text` ("GHSA-xxxx-xxxx-xxxx"), or 0.
size_t GhsaIdLength(absl::string_view text) {
  constexpr size_t kLength = 19;
  if (text.size() < kLength || !absl::StartsWithIgnoreCase(text, "GHSA-")) {
    return 0;
  }
  for (size_t i = 5; i < kLength; ++i) {
    bool dash = i == 9 || i == 14;
    char c = text[i];
    if (dash ? c != '-' : !absl::ascii_isalnum(static_cast<unsigned char>(c))) {
      return 0;
    }
  }
  return kLength;
}

}  // namespace

ImportContext::ImportContext(ScannerFormat format, const ImportOptions& options,
                             ImportResult* result)
    : format_(format),
      max_text_bytes_(options.max_text_bytes),
      result_(result) {
  result_->format = format;
}

void ImportContext::AddFinding(v1::Finding&& finding,
                               absl::string_view primary_id,
                               const std::vector<absl::string_view>& identity,
                               std::string entry_path) {
  // The unit separator cannot appear in the parts, so distinct identities
  // never join to the same string.
  key_.clear();
  absl::StrAppend(&key_, finding.source(), "\x1f", finding.kind(), "\x1f",
                  primary_id, "\x1f");
  for (size_t i = 0; i < identity.size(); ++i) {
    if (i > 0) key_.push_back('\x1f');
    key_.append(identity[i].data(), identity[i].size());
  }
  std::string id;
  id.reserve(finding.source().size() + primary_id.size() + 2 + 16);
  absl::StrAppend(&id, finding.source(), ":", primary_id, ":");
  const uint64_t prefix = AppendShortDigest(key_, &id);
  const auto [first, is_new] =
      first_with_prefix_.try_emplace(prefix, result_->findings.size());
  if (!is_new) {
    // A repeat: the first finding with this prefix has its id unsuffixed.
    id_uses_.try_emplace(result_->findings[first->second].id(), 1);
    const int uses = ++id_uses_[id];
    if (uses > 1) absl::StrAppend(&id, "~", uses);
  }
  finding.set_id(std::move(id));

  // Keys as std::string_view, for which protobuf's map is transparent: no
  // temporary strings.
  const absl::string_view format = ScannerFormatName(format_);
  finding.mutable_attributes()->try_emplace(
      std::string_view(kAttrFormat.data(), kAttrFormat.size()), format.data(),
      format.size());
  (*finding.mutable_attributes())[std::string_view(
      kAttrJsonPath.data(), kAttrJsonPath.size())] = std::move(entry_path);
  TruncateUtf8(max_text_bytes_, finding.mutable_title());
  TruncateUtf8(max_text_bytes_, finding.mutable_description());
  if (finding.has_vex()) {
    v1::Vex& vex = *finding.mutable_vex();
    for (std::string* text :
         {vex.mutable_impact_statement(), vex.mutable_action_statement(),
          vex.mutable_mitigation_statement(), vex.mutable_status_notes(),
          vex.mutable_author()}) {
      TruncateUtf8(max_text_bytes_, text);
    }
  }
  for (auto& [unused_key, value] : *finding.mutable_attributes()) {
    TruncateUtf8(max_text_bytes_, &value);
  }
  result_->findings.push_back(std::move(finding));
}

void ImportContext::Reserve(size_t count) {
  // An entry of the document may be 2 bytes ("0,") where a reserved
  // Finding is ~300: beyond the cap the vector grows as entries are kept,
  // so a hostile list of non-entries costs no more than before.
  constexpr size_t kMaxReserve = 4096;
  std::vector<v1::Finding>& findings = result_->findings;
  const size_t needed = findings.size() + std::min(count, kMaxReserve);
  // Geometric growth still: many small lists (a Trivy report's results)
  // must not reallocate once each.
  if (needed > findings.capacity()) {
    findings.reserve(std::max(needed, 2 * findings.capacity()));
  }
  first_with_prefix_.reserve(needed);
}

void ImportContext::Skip(const absl::Status& status) {
  result_->skipped.push_back({JsonPathOf(status), MessageWithoutPath(status)});
}

void ImportContext::Warn(const absl::Status& status) {
  result_->warnings.push_back({JsonPathOf(status), MessageWithoutPath(status)});
}

const CvssCandidate* PreferredCvss(
    const std::vector<CvssCandidate>& candidates) {
  const CvssCandidate* best = nullptr;
  int best_rank = 0;
  for (const CvssCandidate& candidate : candidates) {
    int rank = CvssRank(candidate);
    if (best == nullptr || rank < best_rank) {
      best = &candidate;
      best_rank = rank;
    }
  }
  return best;
}

void SetCvss(const CvssCandidate& candidate, v1::Cvss* cvss) {
  const absl::string_view version =
      candidate.version.empty() ? CvssVersionFromVector(candidate.vector)
                                : candidate.version;
  cvss->set_version(version.data(), version.size());
  if (candidate.score.has_value()) cvss->set_score(*candidate.score);
  cvss->set_vector(candidate.vector.data(), candidate.vector.size());
}

absl::string_view CvssVersionFromVector(absl::string_view vector) {
  if (absl::ConsumePrefix(&vector, "CVSS:")) {
    absl::string_view version = vector.substr(0, vector.find('/'));
    if (version == "3.1" || version == "3.0" || version == "4.0") {
      return version;
    }
    return "";
  }
  if (absl::StrContains(vector, "Au:")) return "2.0";
  return "";
}

std::optional<v1::Severity> SeverityFromWord(absl::string_view word) {
  std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(word));
  if (lower == "critical") return v1::SEVERITY_CRITICAL;
  if (lower == "high") return v1::SEVERITY_HIGH;
  if (lower == "medium" || lower == "moderate") return v1::SEVERITY_MEDIUM;
  if (lower == "low") return v1::SEVERITY_LOW;
  if (lower == "negligible" || lower == "info" || lower == "informational" ||
      lower == "none") {
    return v1::SEVERITY_INFO;
  }
  if (lower.empty() || lower == "unknown") return v1::SEVERITY_UNSPECIFIED;
  return std::nullopt;
}

v1::Severity SeverityFromScore(double score) {
  if (score <= 0.0) return v1::SEVERITY_INFO;
  if (score < 4.0) return v1::SEVERITY_LOW;
  if (score < 7.0) return v1::SEVERITY_MEDIUM;
  if (score < 9.0) return v1::SEVERITY_HIGH;
  return v1::SEVERITY_CRITICAL;
}

namespace {

// The parts of a package URL as written (not yet lower-cased or decoded).
struct PackageUrlParts {
  absl::string_view type;
  absl::string_view name_space;
  absl::string_view name;
  absl::string_view version;
};

// Splits "pkg:type/namespace/name@version?qualifiers#subpath"; false when
// `purl` is not a package URL (the name is empty, decoded or not).
bool SplitPackageUrl(absl::string_view purl, PackageUrlParts* parts) {
  if (!absl::ConsumePrefix(&purl, "pkg:")) return false;
  purl = purl.substr(0, purl.find('#'));
  purl = purl.substr(0, purl.find('?'));
  absl::ConsumePrefix(&purl, "/");
  size_t slash = purl.find('/');
  if (slash == absl::string_view::npos || slash == 0) return false;
  parts->type = purl.substr(0, slash);
  absl::string_view rest = purl.substr(slash + 1);
  // The version follows the last '@' after the last '/': npm scopes
  // ("%40scope" or "@scope") sit in the namespace, before it.
  size_t last_slash = rest.rfind('/');
  size_t at = rest.rfind('@');
  if (at != absl::string_view::npos &&
      (last_slash == absl::string_view::npos || at > last_slash)) {
    parts->version = rest.substr(at + 1);
    rest = rest.substr(0, at);
    last_slash = rest.rfind('/');
  }
  if (last_slash != absl::string_view::npos) {
    parts->name_space = rest.substr(0, last_slash);
    rest = rest.substr(last_slash + 1);
  }
  parts->name = rest;
  // Decoding keeps a name non-empty: every escape gives one byte.
  return !parts->name.empty();
}

}  // namespace

std::optional<PackageUrl> ParsePackageUrl(absl::string_view purl) {
  PackageUrlParts parts;
  if (!SplitPackageUrl(purl, &parts)) return std::nullopt;
  PackageUrl result;
  result.type = absl::AsciiStrToLower(parts.type);
  result.version = PercentDecode(parts.version);
  result.name_space = PercentDecode(parts.name_space);
  result.name = PercentDecode(parts.name);
  return result;
}

std::optional<std::string> EcosystemFromPackageUrl(absl::string_view purl) {
  PackageUrlParts parts;
  if (!SplitPackageUrl(purl, &parts)) return std::nullopt;
  return EcosystemFromPurlType(absl::AsciiStrToLower(parts.type));
}

std::string EcosystemFromPurlType(absl::string_view purl_type) {
  if (purl_type == "golang") return "go";
  return std::string(purl_type);
}

std::string PackageNameFromPurl(const PackageUrl& purl) {
  if (purl.name_space.empty()) return purl.name;
  if (purl.type == "maven")
    return absl::StrCat(purl.name_space, ":", purl.name);
  if (purl.type == "npm" || purl.type == "golang" || purl.type == "github" ||
      purl.type == "composer") {
    return absl::StrCat(purl.name_space, "/", purl.name);
  }
  return purl.name;
}

bool ParseTimestamp(absl::string_view text, google::protobuf::Timestamp* out) {
  const absl::StatusOr<absl::Time> time = ParseTimestampText(text);
  if (!time.ok()) return false;
  ToProtoTime(*time, out);
  return true;
}

void SetTimestampOrWarn(const JsonNode& node, ImportContext& context,
                        google::protobuf::Timestamp* out) {
  absl::StatusOr<std::string> text = node.OptionalString();
  if (!text.ok()) {
    context.Warn(text.status());
    return;
  }
  if (text->empty()) return;
  if (!ParseTimestamp(*text, out)) {
    context.Warn(node.Error(absl::StrCat(
        "not an RFC 3339 time or YYYY-MM-DD date: \"", *text, "\"")));
  }
}

bool IsCveId(absl::string_view id) {
  return CveIdLength(id) == id.size() && !id.empty();
}

std::string FindVulnerabilityId(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    // Only at the start of a word: "XCVE-..." is not a CVE id.
    if (i > 0 && absl::ascii_isalnum(static_cast<unsigned char>(text[i - 1]))) {
      continue;
    }
    absl::string_view rest = text.substr(i);
    if (size_t length = CveIdLength(rest); length > 0) {
      return absl::AsciiStrToUpper(rest.substr(0, length));
    }
    if (size_t length = GhsaIdLength(rest); length > 0) {
      std::string ghsa(rest.substr(0, length));
      // GitHub writes the prefix upper case and the body lower case.
      for (size_t j = 0; j < ghsa.size(); ++j) {
        ghsa[j] =
            j < 4 ? absl::ascii_toupper(static_cast<unsigned char>(ghsa[j]))
                  : absl::ascii_tolower(static_cast<unsigned char>(ghsa[j]));
      }
      return ghsa;
    }
  }
  return "";
}

std::string NormalizeCweId(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  absl::ConsumePrefix(&text, "external/cwe/");
  if (!absl::ConsumePrefix(&text, "CWE-")) absl::ConsumePrefix(&text, "cwe-");
  if (!AllDigits(text)) return "";
  int number = 0;
  if (!absl::SimpleAtoi(text, &number)) return "";
  return absl::StrCat("CWE-", number);
}

void AddUnique(absl::string_view value,
               google::protobuf::RepeatedPtrField<std::string>* field) {
  if (value.empty()) return;
  for (const std::string& existing : *field) {
    if (existing == value) return;
  }
  field->Add(std::string(value));
}

std::optional<v1::VexStatus> VexStatusFromWord(absl::string_view word) {
  if (word == "not_affected") return v1::VEX_STATUS_NOT_AFFECTED;
  if (word == "affected") return v1::VEX_STATUS_AFFECTED;
  if (word == "fixed") return v1::VEX_STATUS_FIXED;
  if (word == "under_investigation") {
    return v1::VEX_STATUS_UNDER_INVESTIGATION;
  }
  return std::nullopt;
}

std::optional<v1::VexJustification> VexJustificationFromLabel(
    absl::string_view label) {
  static constexpr std::pair<absl::string_view, v1::VexJustification> kLabels[] = {
      // OpenVEX and CSAF.
      {"component_not_present", v1::VEX_JUSTIFICATION_COMPONENT_NOT_PRESENT},
      {"vulnerable_code_not_present",
       v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_PRESENT},
      {"vulnerable_code_not_in_execute_path",
       v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH},
      {"vulnerable_code_cannot_be_controlled_by_adversary",
       v1::VEX_JUSTIFICATION_VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY},
      {"inline_mitigations_already_exist",
       v1::VEX_JUSTIFICATION_INLINE_MITIGATIONS_ALREADY_EXIST},
      // CycloneDX analysis.justification.
      {"code_not_present", v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_PRESENT},
      {"code_not_reachable",
       v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH},
      {"requires_dependency", v1::VEX_JUSTIFICATION_COMPONENT_NOT_PRESENT},
      {"requires_configuration",
       v1::VEX_JUSTIFICATION_VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY},
      {"requires_environment",
       v1::VEX_JUSTIFICATION_VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY},
      {"protected_by_compiler",
       v1::VEX_JUSTIFICATION_INLINE_MITIGATIONS_ALREADY_EXIST},
      {"protected_at_runtime",
       v1::VEX_JUSTIFICATION_INLINE_MITIGATIONS_ALREADY_EXIST},
      {"protected_at_perimeter",
       v1::VEX_JUSTIFICATION_INLINE_MITIGATIONS_ALREADY_EXIST},
      {"protected_by_mitigating_control",
       v1::VEX_JUSTIFICATION_INLINE_MITIGATIONS_ALREADY_EXIST},
  };
  for (const auto& [name, value] : kLabels) {
    if (label == name) return value;
  }
  return std::nullopt;
}

void SetVexJustification(absl::string_view label, const JsonNode& node,
                         ImportContext& context, v1::Vex* vex) {
  if (label.empty()) return;
  vex->set_justification_label(std::string(label));
  std::optional<v1::VexJustification> justification =
      VexJustificationFromLabel(label);
  if (justification.has_value()) {
    vex->set_justification(*justification);
  } else {
    context.Warn(
        node.Error(absl::StrCat("unknown VEX justification \"", label, "\"")));
  }
}

void SetVexTimestamp(const JsonNode& node, ImportContext& context,
                     v1::Vex* vex) {
  google::protobuf::Timestamp when;
  when.set_nanos(-1);  // Marks "not set": a parsed time has nanos >= 0.
  SetTimestampOrWarn(node, context, &when);
  if (when.nanos() >= 0) *vex->mutable_timestamp() = when;
}

ReportTimestamp::ReportTimestamp(const JsonNode& node) : node_(node) {
  ImportResult scratch;
  ImportContext context(ScannerFormat::kAuto, ImportOptions(), &scratch);
  google::protobuf::Timestamp time;
  time.set_nanos(-1);  // Marks "not set": a parsed time has nanos >= 0.
  SetTimestampOrWarn(node_, context, &time);
  clean_ = scratch.warnings.empty();
  if (clean_ && time.nanos() >= 0) time_ = time;
}

void ReportTimestamp::Set(ImportContext& context,
                          google::protobuf::Timestamp* out) const {
  if (!clean_) {
    SetTimestampOrWarn(node_, context, out);
  } else if (time_.has_value()) {
    *out = *time_;
  }
}

void SetAttribute(absl::string_view key, absl::string_view value,
                  v1::Finding* finding) {
  if (value.empty()) return;
  // Looked up by a std::string_view (protobuf's map is transparent for
  // them, not for absl::string_view): no temporary copy of the key or of
  // the value.
  (*finding->mutable_attributes())[std::string_view(key.data(), key.size())]
      .assign(value.data(), value.size());
}

}  // namespace treatd::importers
