// KevFeed: the CISA Known Exploited Vulnerabilities catalog, loaded from its
// JSON form (known_exploited_vulnerabilities.json, schema v1 as published by
// CISA at cisa.gov/known-exploited-vulnerabilities-catalog), indexed by CVE.
//
// Immutable after construction: all methods are const, lock-free and safe to
// call from any number of threads. Feeds are handed out as
// std::shared_ptr<const KevFeed> so a snapshot can keep using one while a
// reload builds its successor.
#ifndef TREATD_COMMON_INTEL_KEV_FEED_H_
#define TREATD_COMMON_INTEL_KEV_FEED_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/intel/cve_id.h"
#include "common/intel/feed_id.h"
#include "common/intel/feed_issues.h"

namespace treatd::intel {

// One catalog entry: the fields treatd uses (shortDescription, notes and cwes
// are not kept).
struct KevEntry {
  CveId cve = CveId::FromKey(0);
  absl::CivilDay date_added;
  // The remediation due date CISA set for US federal agencies (BOD 22-01).
  absl::CivilDay due_date;
  // knownRansomwareCampaignUse == "Known".
  bool known_ransomware_use = false;
  std::string required_action;
  std::string vendor_project;
  std::string product;
  std::string vulnerability_name;
};

class KevFeed {
 public:
  // Reads and parses the catalog at `path`. Returns the feed, with entries
  // that could not be used listed in malformed(); returns an error when the
  // file cannot be read (NOT_FOUND, PERMISSION_DENIED, ...) or is not a KEV
  // catalog at all (INVALID_ARGUMENT: not JSON, no "vulnerabilities" array,
  // missing catalogVersion or dateReleased, or no usable entry among some).
  static absl::StatusOr<std::shared_ptr<const KevFeed>> LoadFile(
      const std::string& path);

  // As LoadFile, from catalog text already in memory; `source` names it in
  // metadata and messages.
  static absl::StatusOr<std::shared_ptr<const KevFeed>> Parse(
      absl::string_view json, std::string source);

  KevFeed(const KevFeed&) = delete;
  KevFeed& operator=(const KevFeed&) = delete;

  // The entry for `cve`, or nullptr when it is not in the catalog. The
  // pointer lives as long as the feed.
  const KevEntry* Find(CveId cve) const;

  // Entries in CVE order.
  const std::vector<KevEntry>& entries() const { return entries_; }
  size_t size() const { return entries_.size(); }

  // catalogVersion, e.g. "2025.08.25".
  const std::string& catalog_version() const { return catalog_version_; }
  // dateReleased: when CISA published this catalog version. Staleness is
  // measured from it.
  absl::Time date_released() const { return date_released_; }
  // The "count" the catalog declares (-1 when absent). A mismatch with the
  // entries present is recorded in malformed().
  int64_t declared_count() const { return declared_count_; }
  // "CISA KEV 2025.08.25": how decisions name this feed.
  const std::string& description() const { return description_; }

  // The path (or `source` of Parse) the catalog came from.
  const std::string& source() const { return source_; }
  // When this feed was built, and how long parsing and indexing took.
  absl::Time loaded_at() const { return loaded_at_; }
  absl::Duration load_duration() const { return load_duration_; }
  // Entries skipped because a field was missing or malformed, and
  // duplicates (the first occurrence is kept).
  const FeedIssues& malformed() const { return malformed_; }
  // Unique to this feed object in the process (see feed_id.h): what
  // memos of texts derived from the feed key on.
  uint64_t id() const { return id_; }

  // Bytes this feed holds in memory (object, arrays and strings).
  size_t MemoryBytes() const;

 private:
  KevFeed() = default;

  // Constant after construction.
  std::vector<uint64_t> keys_;  // keys_[i] == entries_[i].cve.key(), sorted.
  std::vector<KevEntry> entries_;
  std::string catalog_version_;
  absl::Time date_released_;
  int64_t declared_count_ = -1;
  std::string description_;
  std::string source_;
  absl::Time loaded_at_;
  absl::Duration load_duration_;
  FeedIssues malformed_;
  const uint64_t id_ = NewFeedId();
};

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_KEV_FEED_H_
