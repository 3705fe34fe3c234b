#include "common/intel/enrich.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <iterator>
#include <tuple>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/time/proto_time.h"
#include "common/time/time_text.h"

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
      : source_(*finding), in_place_(finding), copied_(true) {}
  // Copy on write: `source` is assigned to `scratch` on the first write.
  VulnerabilityWriter(const v1::Finding& source, FindingOverlay* scratch)
      : source_(source), scratch_(scratch) {}

  // The vulnerability as it stands (the copy's once written).
  const v1::Vulnerability& Read() const {
    if (!copied_) return source_.vulnerability();
    return in_place_ != nullptr ? in_place_->vulnerability()
                                : scratch_->finding().vulnerability();
  }
  v1::Vulnerability* Write() {
    if (!copied_) {
      scratch_->Assign(source_);
      copied_ = true;
    }
    written_ = true;
    return in_place_ != nullptr ? in_place_->mutable_vulnerability()
                                : scratch_->mutable_vulnerability();
  }
  bool written() const { return written_; }

 private:
  const v1::Finding& source_;
  v1::Finding* const in_place_ = nullptr;
  FindingOverlay* const scratch_ = nullptr;
  bool copied_ = false;
  bool written_ = false;
};

// Lends `source`'s submessage `field` to `target` (cleared when `source`
// has none). The const_cast is what lending takes: the overlay only reads
// lent submessages (FindingOverlay::mutable_vulnerability is the one
// mutable part) and releases them in Return() without deleting them.
template <typename M>
void Lend(bool has, const M& from, void (v1::Finding::*set)(M*),
          v1::Finding* target) {
  (target->*set)(has ? const_cast<M*>(&from) : nullptr);
}

// absl::FormatCivilTime(day), "2021-12-24": through
// FormatProtoTimestampText for the years both write alike (1000..9999),
// since cctz's formatter costs ~2,500 instructions a call, once per FULL
// decision whose caller's KEV listing is kept (the server profile).
std::string DayText(absl::CivilDay day) {
  if (day.year() < 1000 || day.year() > 9999) {
    return absl::FormatCivilTime(day);
  }
  char text[kMaxProtoTimestampTextSize];
  const int64_t seconds = (day - absl::CivilDay(1970, 1, 1)) * 86400;
  const size_t n = FormatProtoTimestampText(seconds, 0, text);
  if (n < 10) return absl::FormatCivilTime(day);
  return std::string(text, 10);  // "YYYY-MM-DD" of "YYYY-MM-DDThh:mm:ssZ".
}

// The report's texts repeat: the same CVE id, and the same fact about it
// from the same feed, for every finding naming it. Formatting one (CVE id,
// StrCat, the EPSS score's to_chars, the due date) cost ~2,700 of the
// ~5,300 instructions a FULL decision's enrichment took (callgrind, unary
// Decide FULL); a repeat now costs a lookup and a string copy. Per thread,
// direct-mapped and bounded (kSlots texts); keyed on what determines the
// text: its kind, the feed's id() (unique per loaded feed object, so a
// reload never finds its predecessor's texts, even at the same address or
// with the same description) and the CVE id. Nothing in it depends on
// as_of or max_age (freshness is computed per call).
enum class TextKind : uint8_t {
  kCveId,         // CveId::ToString(); feed id 0.
  kKevNotListed,  // CVE key 0.
  kKevFromFeed,
  kKevKept,
  kEpssFromFeed,
  kEpssKept,
};

class TextMemo {
 public:
  // The text of (kind, feed_id, cve_key); `make()` writes it on a miss.
  // The reference lives until the next Get().
  template <typename Make>
  const std::string& Get(TextKind kind, uint64_t feed_id, uint64_t cve_key,
                         Make make) {
    Slot& slot = slots_[Index(kind, feed_id, cve_key)];
    if (!slot.used || slot.kind != kind || slot.feed_id != feed_id ||
        slot.cve_key != cve_key) {
      slot.text = make();
      slot.used = true;
      slot.kind = kind;
      slot.feed_id = feed_id;
      slot.cve_key = cve_key;
    }
    return slot.text;
  }

 private:
  static constexpr int kSlotBits = 8;
  static constexpr size_t kSlots = size_t{1} << kSlotBits;

  struct Slot {
    bool used = false;
    TextKind kind = TextKind::kCveId;
    uint64_t feed_id = 0;
    uint64_t cve_key = 0;
    std::string text;
  };

  static size_t Index(TextKind kind, uint64_t feed_id, uint64_t cve_key) {
    // Fibonacci hashing of the mixed key; the top bits pick the slot.
    const uint64_t mixed =
        (cve_key ^ (feed_id << 8) ^ static_cast<uint64_t>(kind)) *
        0x9E3779B97F4A7C15ull;
    return static_cast<size_t>(mixed >> (64 - kSlotBits));
  }

  std::array<Slot, kSlots> slots_;
};

TextMemo& ThreadTextMemo() {
  thread_local TextMemo memo;
  return memo;
}

// Appends to one of the report's lists, which get at most one text per
// feed: room for both on the first, so the second does not reallocate.
void AddText(const std::string& text, std::vector<std::string>* list) {
  if (list->capacity() == 0) list->reserve(2);
  list->push_back(text);
}

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
      AddText(ThreadTextMemo().Get(TextKind::kKevNotListed, feed.id(), 0,
                                   [&feed] {
                                     return absl::StrCat(
                                         "vulnerability.kev from ",
                                         feed.description(), ": not listed");
                                   }),
              &report->facts);
    }
    return;
  }
  if (caller_has && !options.feed_wins) {
    if (!options.texts) return;
    AddText(ThreadTextMemo().Get(
                TextKind::kKevKept, feed.id(), best->cve.key(),
                [&feed, best] {
                  return absl::StrCat(
                      "vulnerability.kev kept from the caller; ",
                      feed.description(), " lists ", best->cve.ToString(),
                      " due ", DayText(best->due_date));
                }),
            &report->caller_facts_kept);
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
  AddText(
      ThreadTextMemo().Get(TextKind::kKevFromFeed, feed.id(), best->cve.key(),
                           [&feed, best] {
                             return absl::StrCat("vulnerability.kev from ",
                                                 feed.description(), " for ",
                                                 best->cve.ToString());
                           }),
      &report->facts);
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
    // The score is the feed's for best_cve: the key determines the text.
    const double best_score = best->score;
    AddText(ThreadTextMemo().Get(
                TextKind::kEpssKept, feed.id(), best_cve.key(),
                [&feed, best_cve, best_score] {
                  char score[32];
                  const std::to_chars_result printed =
                      std::to_chars(score, score + sizeof(score), best_score,
                                    std::chars_format::fixed, 5);
                  return absl::StrCat(
                      "vulnerability.epss kept from the caller; ",
                      feed.description(), " scores ", best_cve.ToString(), " ",
                      absl::string_view(score, printed.ptr - score));
                }),
            &report->caller_facts_kept);
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
  AddText(
      ThreadTextMemo().Get(TextKind::kEpssFromFeed, feed.id(), best_cve.key(),
                           [&feed, best_cve] {
                             return absl::StrCat("vulnerability.epss from ",
                                                 feed.description(), " for ",
                                                 best_cve.ToString());
                           }),
      &report->facts);
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
    TextMemo& memo = ThreadTextMemo();
    for (CveId cve : cves) {
      report.cve_ids.push_back(memo.Get(TextKind::kCveId, 0, cve.key(),
                                        [cve] { return cve.ToString(); }));
    }
    report.feed_versions.reserve((snapshot.kev() != nullptr ? 1 : 0) +
                                 (snapshot.epss() != nullptr ? 1 : 0));
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

bool FindingOverlay::LendsFields() {
  // The field numbers Assign() handles, in order.
  static const bool lends = [] {
    constexpr int kKnown[] = {1,  2,  3,  4,  5,  6,  10, 11, 12, 13,
                              14, 15, 16, 20, 21, 22, 23, 24, 25, 26};
    const google::protobuf::Descriptor* d = v1::Finding::descriptor();
    if (d->field_count() != static_cast<int>(std::size(kKnown))) return false;
    for (int i = 0; i < d->field_count(); ++i) {
      if (d->field(i)->number() != kKnown[i]) return false;
    }
    return true;
  }();
  return lends;
}

void FindingOverlay::Assign(const v1::Finding& source) {
  Return();
  if (!LendsFields()) {
    finding_.CopyFrom(source);
    return;
  }
  v1::Finding& f = finding_;
  f.set_id(source.id());
  f.set_kind(source.kind());
  f.set_source(source.source());
  f.set_title(source.title());
  f.set_description(source.description());
  f.set_severity(source.severity());
  if (source.has_vulnerability()) {
    *f.mutable_vulnerability() = source.vulnerability();
  } else {
    f.clear_vulnerability();
  }
  *f.mutable_compensating_controls() = source.compensating_controls();
  f.set_active_incident(source.active_incident());
  *f.mutable_attributes() = source.attributes();
  f.set_identity_key(source.identity_key());
  f.GetReflection()->MutableUnknownFields(&f)->Clear();
  if (const google::protobuf::UnknownFieldSet& unknown =
          source.GetReflection()->GetUnknownFields(source);
      !unknown.empty()) {
    f.GetReflection()->MutableUnknownFields(&f)->MergeFrom(unknown);
  }
  using F = v1::Finding;
  Lend(source.has_package(), source.package(),
       &F::unsafe_arena_set_allocated_package, &f);
  Lend(source.has_fix(), source.fix(), &F::unsafe_arena_set_allocated_fix, &f);
  Lend(source.has_asset(), source.asset(), &F::unsafe_arena_set_allocated_asset,
       &f);
  Lend(source.has_misconfiguration(), source.misconfiguration(),
       &F::unsafe_arena_set_allocated_misconfiguration, &f);
  Lend(source.has_secret(), source.secret(),
       &F::unsafe_arena_set_allocated_secret, &f);
  Lend(source.has_malware(), source.malware(),
       &F::unsafe_arena_set_allocated_malware, &f);
  Lend(source.has_first_seen(), source.first_seen(),
       &F::unsafe_arena_set_allocated_first_seen, &f);
  Lend(source.has_last_seen(), source.last_seen(),
       &F::unsafe_arena_set_allocated_last_seen, &f);
  Lend(source.has_vex(), source.vex(), &F::unsafe_arena_set_allocated_vex, &f);
  lent_ = true;
}

void FindingOverlay::Return() {
  if (!lent_) return;
  // Released, not deleted: they belong to the source.
  (void)finding_.unsafe_arena_release_package();
  (void)finding_.unsafe_arena_release_fix();
  (void)finding_.unsafe_arena_release_asset();
  (void)finding_.unsafe_arena_release_misconfiguration();
  (void)finding_.unsafe_arena_release_secret();
  (void)finding_.unsafe_arena_release_malware();
  (void)finding_.unsafe_arena_release_first_seen();
  (void)finding_.unsafe_arena_release_last_seen();
  (void)finding_.unsafe_arena_release_vex();
  lent_ = false;
}

EnrichmentReport EnrichFindingCopy(const IntelSnapshot& snapshot,
                                   const EnrichOptions& options,
                                   const v1::Finding& finding,
                                   FindingOverlay* scratch, bool* copied) {
  VulnerabilityWriter writer(finding, scratch);
  EnrichmentReport report = Enrich(snapshot, options, finding, &writer);
  *copied = writer.written();
  return report;
}

}  // namespace treatd::intel
