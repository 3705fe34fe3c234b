#include "common/assets/dedup.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/assets/finding_keys.h"
#include "google/protobuf/util/message_differencer.h"

namespace treatd::assets {
namespace {

using google::protobuf::Timestamp;
using google::protobuf::util::MessageDifferencer;

// "\x1f"-joined identity of asset and package, or "" when the finding
// cannot be matched (no asset, no package).
std::string GroupKey(const v1::Finding& finding) {
  std::string asset_key = AssetIdentity(finding.asset());
  if (asset_key.empty() || finding.package().name().empty()) return "";
  return absl::StrCat(asset_key, "\x1f", finding.package().name(), "\x1f",
                      finding.package().installed_version());
}

// Union-find whose root is always the smallest index of its set, so the
// first finding of a group (input order) is the one kept.
class Groups {
 public:
  explicit Groups(size_t n) : parent_(n) {
    std::iota(parent_.begin(), parent_.end(), 0);
  }
  size_t Find(size_t i) {
    while (parent_[i] != i) {
      parent_[i] = parent_[parent_[i]];
      i = parent_[i];
    }
    return i;
  }
  void Join(size_t a, size_t b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return;
    if (b < a) std::swap(a, b);
    parent_[b] = a;
  }

 private:
  std::vector<size_t> parent_;
};

bool Before(const Timestamp& a, const Timestamp& b) {
  return std::make_pair(a.seconds(), a.nanos()) <
         std::make_pair(b.seconds(), b.nanos());
}

// Adds each comma-separated source ("grype,trivy" after an earlier merge).
void AddSources(absl::string_view source, std::set<std::string>* sources) {
  for (absl::string_view part :
       absl::StrSplit(source, ',', absl::SkipEmpty())) {
    sources->emplace(part);
  }
}

template <typename Repeated, typename Value>
void AddUnique(const Value& value, Repeated* values) {
  if (std::find(values->begin(), values->end(), value) == values->end()) {
    *values->Add() = value;
  }
}

void MergeVulnerability(const v1::Vulnerability& from, v1::Vulnerability* to) {
  if (to->cve_id().empty()) to->set_cve_id(from.cve_id());
  std::string to_cve = absl::AsciiStrToUpper(to->cve_id());
  auto add_alias = [&](const std::string& id) {
    if (id.empty() || absl::AsciiStrToUpper(id) == to_cve) return;
    for (const std::string& existing : to->aliases()) {
      if (absl::EqualsIgnoreCase(existing, id)) return;
    }
    to->add_aliases(id);
  };
  add_alias(from.cve_id());
  for (const std::string& alias : from.aliases()) add_alias(alias);
  for (const std::string& cwe : from.cwe_ids()) {
    AddUnique(cwe, to->mutable_cwe_ids());
  }
  if (from.cvss().has_score() &&
      (!to->cvss().has_score() || from.cvss().score() > to->cvss().score())) {
    *to->mutable_cvss() = from.cvss();
  } else if (!to->has_cvss() && from.has_cvss()) {
    *to->mutable_cvss() = from.cvss();
  }
  if (from.epss().has_score() &&
      (!to->epss().has_score() || from.epss().score() > to->epss().score())) {
    *to->mutable_epss() = from.epss();
  } else if (!to->has_epss() && from.has_epss()) {
    *to->mutable_epss() = from.epss();
  }
  if (from.kev().listed()) {
    if (!to->kev().listed()) {
      *to->mutable_kev() = from.kev();
    } else {
      v1::Kev& kev = *to->mutable_kev();
      kev.set_known_ransomware_use(kev.known_ransomware_use() ||
                                   from.kev().known_ransomware_use());
      if (from.kev().has_due_date() &&
          (!kev.has_due_date() ||
           Before(from.kev().due_date(), kev.due_date()))) {
        *kev.mutable_due_date() = from.kev().due_date();
      }
      if (!kev.has_date_added() && from.kev().has_date_added()) {
        *kev.mutable_date_added() = from.kev().date_added();
      }
      if (kev.required_action().empty()) {
        kev.set_required_action(from.kev().required_action());
      }
    }
  }
  to->set_exploit_maturity(
      std::max(to->exploit_maturity(), from.exploit_maturity()));
  to->set_automatable(std::max(to->automatable(), from.automatable()));
  to->set_technical_impact(
      std::max(to->technical_impact(), from.technical_impact()));
  if (from.has_published() &&
      (!to->has_published() || Before(from.published(), to->published()))) {
    *to->mutable_published() = from.published();
  }
}

void MergeAsset(const v1::Asset& from, v1::Asset* to) {
  if (to->id().empty()) to->set_id(from.id());
  if (to->name().empty()) to->set_name(from.name());
  if (to->owner().empty()) to->set_owner(from.owner());
  if (to->type() == v1::ASSET_TYPE_UNSPECIFIED) to->set_type(from.type());
  if (to->environment() == v1::ENVIRONMENT_UNSPECIFIED) {
    to->set_environment(from.environment());
  }
  if (to->criticality() == v1::CRITICALITY_UNSPECIFIED) {
    to->set_criticality(from.criticality());
  }
  if (to->exposure() == v1::EXPOSURE_UNSPECIFIED) {
    to->set_exposure(from.exposure());
  }
  if (to->data_classification() == v1::DATA_CLASSIFICATION_UNSPECIFIED) {
    to->set_data_classification(from.data_classification());
  }
  for (const std::string& tag : from.tags()) AddUnique(tag, to->mutable_tags());
  for (const auto& [key, value] : from.labels()) {
    to->mutable_labels()->insert({key, value});
  }
}

void MergeFix(const v1::Fix& from, v1::Fix* to) {
  if (from.availability() == v1::FIX_AVAILABILITY_AVAILABLE ||
      to->availability() == v1::FIX_AVAILABILITY_UNSPECIFIED) {
    if (from.availability() != v1::FIX_AVAILABILITY_UNSPECIFIED) {
      to->set_availability(from.availability());
    }
  }
  to->set_change_freeze(to->change_freeze() || from.change_freeze());
  to->set_restart_required(to->restart_required() || from.restart_required());
  if (!to->has_next_maintenance_window() &&
      from.has_next_maintenance_window()) {
    *to->mutable_next_maintenance_window() = from.next_maintenance_window();
  }
}

// Folds `from` into `to` (the first finding of the group).
void Merge(const v1::Finding& from, v1::Finding* to,
           std::set<std::string>* sources, std::vector<std::string>* ids) {
  AddSources(from.source(), sources);
  ids->push_back(from.id());
  auto merged = from.attributes().find(std::string(kAttrMergedIds));
  if (merged != from.attributes().end()) {
    for (absl::string_view id :
         absl::StrSplit(merged->second, ',', absl::SkipEmpty())) {
      ids->emplace_back(id);
    }
  }
  if (to->kind() == v1::FINDING_KIND_UNSPECIFIED) to->set_kind(from.kind());
  if (to->title().empty()) to->set_title(from.title());
  if (to->description().empty()) to->set_description(from.description());
  to->set_severity(std::max(to->severity(), from.severity()));
  MergeVulnerability(from.vulnerability(), to->mutable_vulnerability());

  v1::Package& package = *to->mutable_package();
  if (package.ecosystem().empty()) {
    package.set_ecosystem(from.package().ecosystem());
  }
  if (package.purl().empty()) package.set_purl(from.package().purl());
  for (const std::string& version : from.package().fixed_versions()) {
    AddUnique(version, package.mutable_fixed_versions());
  }
  if (from.has_fix()) MergeFix(from.fix(), to->mutable_fix());
  MergeAsset(from.asset(), to->mutable_asset());

  for (const v1::CompensatingControl& control : from.compensating_controls()) {
    bool present = false;
    for (const v1::CompensatingControl& existing :
         to->compensating_controls()) {
      present |= MessageDifferencer::Equals(existing, control);
    }
    if (!present) *to->add_compensating_controls() = control;
  }
  to->set_active_incident(to->active_incident() || from.active_incident());
  if (from.has_first_seen() &&
      (!to->has_first_seen() || Before(from.first_seen(), to->first_seen()))) {
    *to->mutable_first_seen() = from.first_seen();
  }
  if (from.has_last_seen() &&
      (!to->has_last_seen() || Before(to->last_seen(), from.last_seen()))) {
    *to->mutable_last_seen() = from.last_seen();
  }
  for (const auto& [key, value] : from.attributes()) {
    if (key == kAttrMergedIds) continue;
    to->mutable_attributes()->insert({key, value});
  }
}

}  // namespace

size_t DeduplicateFindings(std::vector<v1::Finding>* findings) {
  const size_t n = findings->size();
  Groups groups(n);
  // Candidates by asset and package; duplicates are only looked for inside.
  absl::flat_hash_map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < n; ++i) {
    std::string key = GroupKey((*findings)[i]);
    if (!key.empty()) by_key[std::move(key)].push_back(i);
  }
  bool any = false;
  for (const auto& [unused_key, members] : by_key) {
    if (members.size() < 2) continue;
    absl::flat_hash_map<std::string, size_t> first_with_id;
    for (size_t i : members) {
      for (std::string& id : VulnerabilityIds((*findings)[i].vulnerability())) {
        auto [it, inserted] = first_with_id.try_emplace(std::move(id), i);
        if (!inserted) {
          groups.Join(it->second, i);
          any = true;
        }
      }
    }
  }
  if (!any) return 0;

  // Fold every finding into its group's first, in input order.
  absl::flat_hash_map<size_t, std::set<std::string>> sources;
  absl::flat_hash_map<size_t, std::vector<std::string>> merged_ids;
  for (size_t i = 0; i < n; ++i) {
    size_t root = groups.Find(i);
    if (root == i) continue;
    v1::Finding& kept = (*findings)[root];
    auto [it, inserted] = sources.try_emplace(root);
    if (inserted) {
      AddSources(kept.source(), &it->second);
      auto existing = kept.attributes().find(std::string(kAttrMergedIds));
      if (existing != kept.attributes().end()) {
        for (absl::string_view id :
             absl::StrSplit(existing->second, ',', absl::SkipEmpty())) {
          merged_ids[root].emplace_back(id);
        }
      }
    }
    Merge((*findings)[i], &kept, &it->second, &merged_ids[root]);
  }
  for (const auto& [root, set] : sources) {
    v1::Finding& kept = (*findings)[root];
    kept.set_source(absl::StrJoin(set, ","));
    (*kept.mutable_attributes())[std::string(kAttrMergedIds)] =
        absl::StrJoin(merged_ids[root], ",");
  }

  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (groups.Find(i) != i) continue;
    if (out != i) (*findings)[out] = std::move((*findings)[i]);
    ++out;
  }
  size_t removed = n - out;
  findings->resize(out);
  return removed;
}

}  // namespace treatd::assets
