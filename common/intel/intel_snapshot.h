// IntelSnapshot: one consistent set of threat-intel feeds (CISA KEV and FIRST
// EPSS) that decisions are enriched from, with the metadata a decision names
// (catalog version, model version, score date) and the load reports.
//
// Immutable after construction: all methods are const, lock-free and safe to
// call from any number of threads. The intended use is the one a compiled
// policy gets: the server holds the active snapshot in a
// std::shared_ptr<const IntelSnapshot>, readers copy the pointer, a reload
// builds a new snapshot and swaps the pointer; a load that fails returns an
// error and the old snapshot stays in service. The feeds themselves are
// shared, so a reload where only one feed changed (or only one failed) can
// combine the new feed with the previous snapshot's other feed via Create().
#ifndef TREATD_COMMON_INTEL_INTEL_SNAPSHOT_H_
#define TREATD_COMMON_INTEL_INTEL_SNAPSHOT_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/intel/cve_id.h"
#include "common/intel/epss_feed.h"
#include "common/intel/kev_feed.h"

namespace treatd::intel {

// Where the feeds live. An empty path means that feed is not used.
struct IntelSources {
  // CISA KEV catalog JSON (known_exploited_vulnerabilities.json).
  std::string kev_path;
  // FIRST EPSS CSV (epss_scores-YYYY-MM-DD.csv, decompressed).
  std::string epss_path;
};

class IntelSnapshot {
 public:
  // Loads every configured feed. Returns the snapshot (individual malformed
  // rows are in each feed's malformed()), or the first feed's error with the
  // feed named ("KEV feed: ..."), keeping the error code: NOT_FOUND for a
  // missing file, INVALID_ARGUMENT for a file in the wrong format, and
  // INVALID_ARGUMENT when no path is given at all.
  static absl::StatusOr<std::shared_ptr<const IntelSnapshot>> Load(
      const IntelSources& sources);

  // Combines feeds that are already loaded; either may be null (not used),
  // not both (INVALID_ARGUMENT).
  static absl::StatusOr<std::shared_ptr<const IntelSnapshot>> Create(
      std::shared_ptr<const KevFeed> kev, std::shared_ptr<const EpssFeed> epss);

  IntelSnapshot(const IntelSnapshot&) = delete;
  IntelSnapshot& operator=(const IntelSnapshot&) = delete;

  // The feeds, or nullptr when not used. They live as long as the snapshot.
  const KevFeed* kev() const { return kev_.get(); }
  const EpssFeed* epss() const { return epss_.get(); }
  // The same feeds as shared pointers, to build a successor with Create().
  const std::shared_ptr<const KevFeed>& shared_kev() const { return kev_; }
  const std::shared_ptr<const EpssFeed>& shared_epss() const { return epss_; }

  // The KEV entry for `cve`, or nullptr (not listed, or no KEV feed).
  const KevEntry* FindKev(CveId cve) const;
  // The EPSS scores for `cve`, or nullopt (not scored, or no EPSS feed).
  std::optional<EpssScore> FindEpss(CveId cve) const;
  // As above, from text; nullptr / nullopt too when `cve` is not a CVE id.
  const KevEntry* FindKev(absl::string_view cve) const;
  std::optional<EpssScore> FindEpss(absl::string_view cve) const;

  // When this snapshot was assembled (after its feeds were loaded).
  absl::Time created_at() const { return created_at_; }
  // The used feeds' descriptions, KEV first, e.g. {"CISA KEV 2025.08.25",
  // "FIRST EPSS v2023.03.01 (2024-01-13)"}.
  std::vector<std::string> FeedVersions() const;
  // One line per feed for logs: version, entries, malformed count, source,
  // load time.
  std::string Summary() const;
  // Bytes held by the snapshot and its feeds.
  size_t MemoryBytes() const;

 private:
  IntelSnapshot(std::shared_ptr<const KevFeed> kev,
                std::shared_ptr<const EpssFeed> epss);

  // Constant after construction.
  const std::shared_ptr<const KevFeed> kev_;
  const std::shared_ptr<const EpssFeed> epss_;
  const absl::Time created_at_;
};

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_INTEL_SNAPSHOT_H_
