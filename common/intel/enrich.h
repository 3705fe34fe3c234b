// Finding enrichment from an IntelSnapshot: a finding that names CVE ids but
// lacks KEV / EPSS facts gets them from the feeds, and the report says which
// facts came from which feed, which feed versions were consulted, and whether
// the feeds are older than the caller allows.
//
// Functions over an immutable snapshot: safe to call concurrently from any
// number of threads, each with its own finding. The report's texts are
// memoized per thread (a bounded memo keyed on each feed object's id(), so
// a reloaded feed is never answered with its predecessor's texts).
#ifndef TREATD_COMMON_INTEL_ENRICH_H_
#define TREATD_COMMON_INTEL_ENRICH_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::intel {

struct EnrichOptions {
  // When false (the default) facts the caller sent win: a finding that has
  // vulnerability.kev, or vulnerability.epss with a score, keeps it. When
  // true a feed entry replaces them. A feed that merely does not list a CVE
  // never overrides the caller.
  bool feed_wins = false;
  // Feeds older than this at `as_of` are reported stale; zero means no
  // limit. Age is measured from KEV dateReleased and EPSS score_date.
  absl::Duration max_age = absl::ZeroDuration();
  // The evaluation time (the request's as_of, or the server clock). The
  // default, InfiniteFuture, makes every feed stale when max_age is set, so
  // forgetting it errs on the conservative side.
  absl::Time as_of = absl::InfiniteFuture();
  // When false the report carries no texts: cve_ids, facts,
  // caller_facts_kept, feed_versions and the freshness' feed names stay
  // empty, while the finding's facts, kev_from_feed / epss_from_feed and
  // the freshness figures are the same. For a caller that drops the texts
  // (a BASIC decision has no intel part): formatting them is most of the
  // enrichment's cost.
  bool texts = true;
};

// How old one feed is.
struct FeedFreshness {
  // False when the snapshot has no such feed; the other fields are then
  // left at their defaults.
  bool present = false;
  // The feed's description, e.g. "CISA KEV 2025.08.25".
  std::string feed;
  // KEV dateReleased / EPSS score_date.
  absl::Time published = absl::InfinitePast();
  // as_of - published (negative when the feed is dated after as_of).
  absl::Duration age = absl::ZeroDuration();
  // age > max_age, with max_age set.
  bool stale = false;
  // age - max_age when stale, else zero.
  absl::Duration stale_by = absl::ZeroDuration();
};

struct IntelFreshness {
  FeedFreshness kev;
  FeedFreshness epss;
  // Either feed is stale.
  bool stale = false;
};

// What EnrichFinding did.
struct EnrichmentReport {
  // The distinct CVE ids the finding names (cve_id first, then aliases), in
  // canonical form.
  std::vector<std::string> cve_ids;
  // Facts set from a feed, e.g. "vulnerability.kev from CISA KEV 2025.08.25
  // for CVE-2025-48384", "vulnerability.kev from CISA KEV 2025.08.25: not
  // listed", "vulnerability.epss from FIRST EPSS v2023.03.01 (2024-01-13)
  // for CVE-2021-44228".
  std::vector<std::string> facts;
  // Facts the caller sent that were kept although the feed has an answer,
  // e.g. "vulnerability.epss kept from the caller; FIRST EPSS ... scores
  // CVE-2021-44228 0.97466".
  std::vector<std::string> caller_facts_kept;
  // Descriptions of the feeds consulted for this finding's CVE ids, whether
  // or not they supplied a fact; empty when the finding names no CVE id.
  std::vector<std::string> feed_versions;
  // Whether vulnerability.kev / vulnerability.epss were written.
  bool kev_from_feed = false;
  bool epss_from_feed = false;
  // The snapshot's freshness at options.as_of, reported for every finding
  // (a policy may want to be conservative even without a CVE id).
  IntelFreshness freshness;
};

// Fills in `finding`'s vulnerability.kev and vulnerability.epss from
// `snapshot` for the CVE ids it names (vulnerability.cve_id and any CVE ids
// among vulnerability.aliases; other ids are ignored). With several ids, KEV
// uses the listed entry with the earliest due date (ransomware use is true if
// any listed entry has it) and EPSS the highest score. A finding naming no
// CVE id is not modified. `finding` must not be null; it is only read and
// written during the call.
EnrichmentReport EnrichFinding(const IntelSnapshot& snapshot,
                               const EnrichOptions& options,
                               v1::Finding* finding);

// The copy EnrichFindingCopy writes to: a finding equal to a source
// finding, with its own vulnerability (where enrichment writes) but
// every other submessage lent by the source rather than copied. Copying a
// whole finding for each enriched one cost ~5,600 instructions; lending
// cuts it to ~2,600 (callgrind over the example findings).
//
// The source must outlive the lending and must not change meanwhile; the
// lent submessages are only read. A finding type whose fields this class
// does not know (a field added to treatd.v1.Finding) is copied whole
// instead, which is correct and slower; FindingOverlay::LendsFields()
// says which applies (a test requires lending).
//
// Not thread-safe; one per thread (it keeps its memory between findings).
class FindingOverlay {
 public:
  FindingOverlay() = default;
  FindingOverlay(const FindingOverlay&) = delete;
  FindingOverlay& operator=(const FindingOverlay&) = delete;
  ~FindingOverlay() { Return(); }

  // Becomes equal to `source` (lending its submessages, see above).
  void Assign(const v1::Finding& source);
  // Gives the lent submessages back (they are no longer part of finding());
  // call before the source goes away. Assign and the destructor do it too.
  void Return();

  const v1::Finding& finding() const { return finding_; }
  // Only the vulnerability may be changed (it is the overlay's own).
  v1::Vulnerability* mutable_vulnerability() {
    return finding_.mutable_vulnerability();
  }

  // Whether Assign lends (the compiled-in Finding has exactly the fields
  // this class knows) or copies.
  static bool LendsFields();

 private:
  v1::Finding finding_;  // On the heap: lent pointers are set and released.
  bool lent_ = false;
};

// EnrichFinding without touching `finding`: when a feed supplies a fact,
// `*scratch` is assigned `finding` and the facts are written there, and
// `*copied` is set; otherwise `*scratch` is left as it was and `*copied`
// is false. Most findings need no copy (no CVE id, or the caller sent the
// facts), which is what makes this cheaper than copying first. With
// `*copied` set, scratch->finding() borrows from `finding`: call
// scratch->Return() before `finding` goes away.
EnrichmentReport EnrichFindingCopy(const IntelSnapshot& snapshot,
                                   const EnrichOptions& options,
                                   const v1::Finding& finding,
                                   FindingOverlay* scratch, bool* copied);

// The staleness part of EnrichFinding on its own.
IntelFreshness CheckFreshness(const IntelSnapshot& snapshot,
                              absl::Duration max_age, absl::Time as_of);

}  // namespace treatd::intel

#endif  // TREATD_COMMON_INTEL_ENRICH_H_
