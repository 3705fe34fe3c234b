// EpssFeed: FIRST EPSS scores (the daily epss_scores-YYYY-MM-DD.csv from
// first.org/epss/data_stats, decompressed), indexed by CVE. The file starts
// with a "#model_version:...,score_date:..." line, then a
// "cve,epss,percentile" header, then one row per scored CVE (~250,000).
//
// Stored compactly: a sorted array of 64-bit CVE keys beside an array of
// fixed-point (1e-9) score pairs, 16 bytes per CVE, so the full file takes
// about 4 MB and a lookup is one binary search.
//
// Immutable after construction: all methods are const, lock-free and safe to
// call from any number of threads. Handed out as
// std::shared_ptr<const EpssFeed> so a snapshot can keep using one while a
// reload builds its successor.
#ifndef TREATD_COMMON_INTEL_EPSS_FEED_H_
#define TREATD_COMMON_INTEL_EPSS_FEED_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/intel/cve_id.h"
#include "common/intel/feed_id.h"
#include "common/intel/feed_issues.h"

namespace treatd::intel {

// One CVE's scores, both in [0, 1], exact to 9 decimal places (FIRST
// publishes 5).
struct EpssScore {
  // Probability of exploitation activity in the next 30 days.
  double score = 0;
  // Share of scored CVEs with a score at or below this one.
  double percentile = 0;
};

class EpssFeed {
 public:
  // Reads and parses the CSV at `path`. Returns the feed, with rows that
  // could not be used listed in malformed() by line number; returns an error
  // when the file cannot be read (NOT_FOUND, ...) or is not an EPSS file
  // (INVALID_ARGUMENT: no "#model_version:...,score_date:..." first line, no
  // header naming cve, epss and percentile, or no usable row among some).
  static absl::StatusOr<std::shared_ptr<const EpssFeed>> LoadFile(
      const std::string& path);

  // As LoadFile, from CSV text already in memory; `source` names it in
  // metadata and messages.
  static absl::StatusOr<std::shared_ptr<const EpssFeed>> Parse(
      absl::string_view csv, std::string source);

  EpssFeed(const EpssFeed&) = delete;
  EpssFeed& operator=(const EpssFeed&) = delete;

  // The scores for `cve`, or nullopt when the file does not score it.
  std::optional<EpssScore> Find(CveId cve) const;

  // Number of CVEs scored.
  size_t size() const { return keys_.size(); }

  // model_version from the first line, e.g. "v2023.03.01".
  const std::string& model_version() const { return model_version_; }
  // score_date from the first line: the day the scores were computed.
  // Staleness is measured from it.
  absl::Time score_date() const { return score_date_; }
  // "FIRST EPSS v2023.03.01 (2024-01-13)": how decisions name this feed.
  const std::string& description() const { return description_; }

  // The path (or `source` of Parse) the scores came from.
  const std::string& source() const { return source_; }
  // When this feed was built, and how long parsing and indexing took.
  absl::Time loaded_at() const { return loaded_at_; }
  absl::Duration load_duration() const { return load_duration_; }
  // Data rows skipped ("line N: ..."): wrong field count, a bad CVE id, a
  // score or percentile that is not a number in [0, 1], or a duplicate CVE
  // (the first row is kept). Blank lines are not counted.
  const FeedIssues& malformed() const { return malformed_; }
  // Unique to this feed object in the process (see feed_id.h): what
  // memos of texts derived from the feed key on.
  uint64_t id() const { return id_; }

  // Bytes this feed holds in memory (object, arrays and strings).
  size_t MemoryBytes() const;

 private:
  // Fixed point, 1e-9 units: 1.0 is 1'000'000'000, which fits in 32 bits.
  struct Fixed {
    uint32_t score;
    uint32_t percentile;
  };

  EpssFeed() = default;

  // Constant after construction.
  std::vector<uint64_t> keys_;  // Sorted CVE keys.
  std::vector<Fixed> values_;   // values_[i] scores keys_[i].
  std::string model_version_;
  absl::Time score_date_;
  std::string description_;
  std::string source_;
  absl::Time loaded_at_;
  absl::Duration load_duration_;
  FeedIssues malformed_;
  const uint64_t id_ = NewFeedId();
};

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_EPSS_FEED_H_
