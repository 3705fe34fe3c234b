#include "common/intel/enrich.h"

#include <charconv>
#include <tuple>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/time/proto_time.h"

namespace treatd::intel {
namespace {

void SetDay(absl::CivilDay day, google::protobuf::Timestamp* out) {
  ToProtoTime(absl::FromCivil(day, absl::UTCTimeZone()), out);
}

// `feed` is copied only when `name` is set (see EnrichOptions::texts).
FeedFreshness Freshness(const std::string& feed, bool name,
                        absl::Time published, absl::Duration max_age,
                        absl::Time as_of) {
  FeedFreshness f;
  f.present = true;
  if (name) f.feed = feed;
  f.published = published;
  f.age = as_of - published;
  if (max_age > absl::ZeroDuration() && f.age > max_age) {
    f.stale = true;
    f.stale_by = f.age - max_age;
  }
  return f;
}

using CveList = absl::InlinedVector<CveId, 4>;

CveList CollectCves(const v1::Vulnerability& vulnerability) {
  CveList cves;
  auto add = [&cves](absl::string_view text) {
    std::optional<CveId> id = CveId::Parse(text);
    if (!id.has_value()) return;
    for (CveId seen : cves) {
      if (seen == *id) return;
    }
    cves.push_back(*id);
  };
  add(vulnerability.cve_id());
  for (const std::string& alias : vulnerability.aliases()) add(alias);
  return cves;
}

// Where facts are written: the vulnerability of the finding being read,
// or of a copy made on the first write.
class VulnerabilityWriter {
 public:
  // In place: writes go to `finding` itself.
  explicit VulnerabilityWriter(v1::Finding* finding)
      : source_(*finding), target_(finding), copied_(true) {}
  // Copy on write: `source` is copied into `scratch` on the first write.
  VulnerabilityWriter(const v1::Finding& source, v1::Finding* scratch)
      : source_(source), target_(scratch) {}

  // The vulnerability as it stands (the copy's once written).
  const v1::Vulnerability& Read() const {
    return copied_ ? target_->vulnerability() : source_.vulnerability();
  }
  v1::Vulnerability* Write() {
    if (!copied_) {
      target_->CopyFrom(source_);
      copied_ = true;
    }
    written_ = true;
    return target_->mutable_vulnerability();
  }
  bool written() const { return written_; }

 private:
  const v1::Finding& source_;
  v1::Finding* const target_;
  bool copied_ = false;
  bool written_ = false;
};

void EnrichKev(const KevFeed& feed, const CveList& cves,
               const EnrichOptions& options, VulnerabilityWriter* writer,
               EnrichmentReport* report) {
  const KevEntry* best = nullptr;
  bool any_ransomware = false;
  for (CveId cve : cves) {
    const KevEntry* entry = feed.Find(cve);
    if (entry == nullptr) continue;
    any_ransomware = any_ransomware || entry->known_ransomware_use;
    if (best == nullptr ||
        std::tie(entry->due_date, entry->date_added, entry->cve) <
            std::tie(best->due_date, best->date_added, best->cve)) {
      best = entry;
    }
  }
  const bool caller_has = writer->Read().has_kev();
  if (best == nullptr) {
    // "Not in the catalog" is a fact too, but only where the caller said
    // nothing: absence from a feed never overrides a caller's listing.
    if (!caller_has) {
      writer->Write()->mutable_kev()->set_listed(false);
      report->kev_from_feed = true;
      if (!options.texts) return;
      report->facts.push_back(absl::StrCat("vulnerability.kev from ",
                                           feed.description(), ": not listed"));
    }
    return;
  }
  if (caller_has && !options.feed_wins) {
    if (!options.texts) return;
    report->caller_facts_kept.push_back(
        absl::StrCat("vulnerability.kev kept from the caller; ",
                     feed.description(), " lists ", best->cve.ToString(),
                     " due ", absl::FormatCivilTime(best->due_date)));
    return;
  }
  v1::Kev* kev = writer->Write()->mutable_kev();
  kev->Clear();
  kev->set_listed(true);
  SetDay(best->date_added, kev->mutable_date_added());
  SetDay(best->due_date, kev->mutable_due_date());
  kev->set_known_ransomware_use(any_ransomware);
  kev->set_required_action(best->required_action);
  report->kev_from_feed = true;
  if (!options.texts) return;
  report->facts.push_back(absl::StrCat("vulnerability.kev from ",
                                       feed.description(), " for ",
                                       best->cve.ToString()));
}

void EnrichEpss(const EpssFeed& feed, const CveList& cves,
                const EnrichOptions& options, VulnerabilityWriter* writer,
                EnrichmentReport* report) {
  std::optional<EpssScore> best;
  CveId best_cve = CveId::FromKey(0);
  for (CveId cve : cves) {
    std::optional<EpssScore> score = feed.Find(cve);
    if (score.has_value() &&
        (!best.has_value() || score->score > best->score)) {
      best = score;
      best_cve = cve;
    }
  }
  if (!best.has_value()) return;
  const v1::Vulnerability& vulnerability = writer->Read();
  const bool caller_has =
      vulnerability.has_epss() && vulnerability.epss().has_score();
  if (caller_has && !options.feed_wins) {
    if (!options.texts) return;
    char score[32];
    const std::to_chars_result printed = std::to_chars(
        score, score + sizeof(score), best->score, std::chars_format::fixed, 5);
    report->caller_facts_kept.push_back(
        absl::StrCat("vulnerability.epss kept from the caller; ",
                     feed.description(), " scores ", best_cve.ToString(), " ",
                     absl::string_view(score, printed.ptr - score)));
    return;
  }
  v1::Epss* epss = writer->Write()->mutable_epss();
  epss->Clear();
  epss->set_score(best->score);
  epss->set_percentile(best->percentile);
  epss->set_model_version(feed.model_version());
  ToProtoTime(feed.score_date(), epss->mutable_score_date());
  report->epss_from_feed = true;
  if (!options.texts) return;
  report->facts.push_back(absl::StrCat("vulnerability.epss from ",
                                       feed.description(), " for ",
                                       best_cve.ToString()));
}

}  // namespace

namespace {

// CheckFreshness, with the feeds' names only when `names` is set.
IntelFreshness FreshnessOf(const IntelSnapshot& snapshot, bool names,
                           absl::Duration max_age, absl::Time as_of) {
  IntelFreshness freshness;
  if (const KevFeed* kev = snapshot.kev(); kev != nullptr) {
    freshness.kev = Freshness(kev->description(), names, kev->date_released(),
                              max_age, as_of);
  }
  if (const EpssFeed* epss = snapshot.epss(); epss != nullptr) {
    freshness.epss = Freshness(epss->description(), names, epss->score_date(),
                               max_age, as_of);
  }
  freshness.stale = freshness.kev.stale || freshness.epss.stale;
  return freshness;
}

}  // namespace

IntelFreshness CheckFreshness(const IntelSnapshot& snapshot,
                              absl::Duration max_age, absl::Time as_of) {
  return FreshnessOf(snapshot, /*names=*/true, max_age, as_of);
}

namespace {

EnrichmentReport Enrich(const IntelSnapshot& snapshot,
                        const EnrichOptions& options,
                        const v1::Finding& finding,
                        VulnerabilityWriter* writer) {
  EnrichmentReport report;
  report.freshness =
      FreshnessOf(snapshot, options.texts, options.max_age, options.as_of);
  if (!finding.has_vulnerability()) return report;
  const CveList cves = CollectCves(finding.vulnerability());
  if (cves.empty()) return report;
  if (options.texts) {
    report.cve_ids.reserve(cves.size());
    for (CveId cve : cves) report.cve_ids.push_back(cve.ToString());
  }

  if (const KevFeed* kev = snapshot.kev(); kev != nullptr) {
    if (options.texts) report.feed_versions.push_back(kev->description());
    EnrichKev(*kev, cves, options, writer, &report);
  }
  if (const EpssFeed* epss = snapshot.epss(); epss != nullptr) {
    if (options.texts) report.feed_versions.push_back(epss->description());
    EnrichEpss(*epss, cves, options, writer, &report);
  }
  return report;
}

}  // namespace

EnrichmentReport EnrichFinding(const IntelSnapshot& snapshot,
                               const EnrichOptions& options,
                               v1::Finding* finding) {
  VulnerabilityWriter writer(finding);
  return Enrich(snapshot, options, *finding, &writer);
}

EnrichmentReport EnrichFindingCopy(const IntelSnapshot& snapshot,
                                   const EnrichOptions& options,
                                   const v1::Finding& finding,
                                   v1::Finding* scratch, bool* copied) {
  VulnerabilityWriter writer(finding, scratch);
  EnrichmentReport report = Enrich(snapshot, options, finding, &writer);
  *copied = writer.written();
  return report;
}

}  // namespace treatd::intel
