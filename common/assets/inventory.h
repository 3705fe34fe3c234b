// An asset inventory: the business context scanners do not know (asset id,
// type, environment, criticality, exposure, data classification, owner,
// tags, labels, compensating controls), keyed by the names scanners do know
// (host names, image references, targets) or by shell-style globs over them
// such as "registry.example.com/shop/*" or "web-*.prod.example.com".
// docs/assets.md describes the YAML and CSV forms and the matching rules.
//
// An AssetInventory is immutable after it is built and safe to share
// between threads; lookups are const.
#ifndef TREATD_COMMON_ASSETS_INVENTORY_H_
#define TREATD_COMMON_ASSETS_INVENTORY_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::assets {

// One inventory entry.
struct AssetEntry {
  // Names or globs (fnmatch(3) syntax: *, ?, [...]) this entry applies to.
  // Matching ignores ASCII case; `*` also matches "/".
  std::vector<std::string> patterns;
  // The business fields. `name` is not used: a finding keeps its own.
  v1::Asset asset;
  // Compensating controls in place on the asset.
  std::vector<v1::CompensatingControl> controls;
  // Where the entry was defined, "file:line", for diagnostics.
  std::string origin;
};

// The result of a successful lookup.
struct AssetMatch {
  // The entry that matched; points into the inventory.
  const AssetEntry* entry = nullptr;
  // The pattern of that entry that matched.
  absl::string_view pattern;
  // The finding name it matched.
  std::string name;
};

class AssetInventory {
 public:
  // Parses a YAML inventory (`assets:` list, see docs/assets.md). Returns
  // INVALID_ARGUMENT listing every problem as "file:line:col: message":
  // YAML syntax, unknown keys, wrong node kinds, an unknown enum value
  // (with the allowed values), an entry without patterns.
  static absl::StatusOr<AssetInventory> FromYaml(absl::string_view yaml,
                                                 absl::string_view filename);

  // Parses a CSV inventory with a header row (columns in docs/assets.md;
  // multi-valued cells separated by ";"). Returns INVALID_ARGUMENT listing
  // every problem as "file:line: column NAME: message".
  static absl::StatusOr<AssetInventory> FromCsv(absl::string_view csv,
                                                absl::string_view filename);

  // Reads `path` and parses it as CSV when it ends in ".csv"
  // (case-insensitive), as YAML otherwise. NOT_FOUND or PERMISSION_DENIED
  // when it cannot be read; otherwise as FromYaml()/FromCsv().
  static absl::StatusOr<AssetInventory> Load(const std::string& path);

  // Builds an inventory from entries already in memory (document order).
  // INVALID_ARGUMENT when an entry has no pattern or an empty one.
  static absl::StatusOr<AssetInventory> Create(std::vector<AssetEntry> entries);

  // The entry for `name`: the first entry (document order) with a pattern
  // equal to `name`, else the first entry with a glob matching it. Exact
  // patterns always win over globs, wherever they sit in the document.
  // Returns nullptr when nothing matches.
  const AssetEntry* Match(absl::string_view name) const;

  // The entry for a finding, trying in order the finding's asset.name,
  // asset.id and "import.target" attribute: first an exact match on any of
  // them, then a glob match on any of them. Returns an empty match
  // (entry == nullptr) when nothing matches.
  AssetMatch MatchFinding(const v1::Finding& finding) const;

  const std::vector<AssetEntry>& entries() const { return entries_; }

 private:
  explicit AssetInventory(std::vector<AssetEntry> entries);

  // Exact (non-glob) patterns, lower-cased, to the first entry that has it.
  std::pair<const AssetEntry*, absl::string_view> FindExact(
      absl::string_view name) const;
  std::pair<const AssetEntry*, absl::string_view> FindGlob(
      absl::string_view name) const;

  std::vector<AssetEntry> entries_;
  absl::flat_hash_map<std::string, std::pair<size_t, size_t>> exact_;
  // (entry index, pattern index) of every glob, in document order.
  std::vector<std::pair<size_t, size_t>> globs_;
};

// True when `pattern` contains a glob metacharacter (*, ? or [).
bool IsGlob(absl::string_view pattern);

}  // namespace treatd::assets

#endif  // TREATD_COMMON_ASSETS_INVENTORY_H_
