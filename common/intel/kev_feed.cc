#include "common/intel/kev_feed.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/io/read_file.h"
#include "common/status/status_macros.h"
#include "nlohmann/json.hpp"

namespace treatd::intel {
namespace {

using Json = nlohmann::json;

// Shortens a bad value for a message so one huge field cannot flood a log.
std::string Quote(absl::string_view text) {
  constexpr size_t kMax = 60;
  if (text.size() > kMax)
    return absl::StrCat("\"", text.substr(0, kMax), "...\"");
  return absl::StrCat("\"", text, "\"");
}

std::string Describe(const Json& value) {
  if (value.is_string()) return Quote(value.get_ref<const std::string&>());
  return absl::StrCat("a JSON ", value.type_name());
}

// Reads one catalog entry; on the first unusable field records it in
// `issues` and returns false.
class EntryReader {
 public:
  EntryReader(const Json& entry, size_t index, FeedIssues* issues)
      : entry_(entry), index_(index), issues_(issues) {}

  bool Read(KevEntry* out) {
    if (!entry_.is_object()) {
      issues_->Add(Path(""),
                   absl::StrCat("expected an object, got ", Describe(entry_)));
      return false;
    }
    const std::string* cve_text = RequiredString("cveID");
    if (cve_text == nullptr) return false;
    std::optional<CveId> cve =
        CveId::Parse(absl::StripAsciiWhitespace(*cve_text));
    if (!cve.has_value()) {
      issues_->Add(Path("cveID"),
                   absl::StrCat(Quote(*cve_text), " is not a CVE id"));
      return false;
    }
    out->cve = *cve;
    cve_label_ = cve->ToString();
    if (!Day("dateAdded", &out->date_added)) return false;
    if (!Day("dueDate", &out->due_date)) return false;
    if (!Ransomware(&out->known_ransomware_use)) return false;
    return OptionalString("requiredAction", &out->required_action) &&
           OptionalString("vendorProject", &out->vendor_project) &&
           OptionalString("product", &out->product) &&
           OptionalString("vulnerabilityName", &out->vulnerability_name);
  }

 private:
  std::string Path(absl::string_view field) const {
    std::string path = absl::StrCat("vulnerabilities[", index_, "]");
    if (!field.empty()) absl::StrAppend(&path, ".", field);
    return path;
  }

  void Fail(absl::string_view field, absl::string_view message) {
    std::string text(message);
    if (!cve_label_.empty()) absl::StrAppend(&text, " (", cve_label_, ")");
    issues_->Add(Path(field), std::move(text));
  }

  const std::string* RequiredString(const char* field) {
    auto it = entry_.find(field);
    if (it == entry_.end()) {
      Fail(field, "missing");
      return nullptr;
    }
    if (!it->is_string()) {
      Fail(field, absl::StrCat("expected a string, got ", Describe(*it)));
      return nullptr;
    }
    return &it->get_ref<const std::string&>();
  }

  bool OptionalString(const char* field, std::string* out) {
    auto it = entry_.find(field);
    if (it == entry_.end() || it->is_null()) return true;
    if (!it->is_string()) {
      Fail(field, absl::StrCat("expected a string, got ", Describe(*it)));
      return false;
    }
    *out = it->get_ref<const std::string&>();
    return true;
  }

  bool Day(const char* field, absl::CivilDay* out) {
    const std::string* text = RequiredString(field);
    if (text == nullptr) return false;
    const absl::string_view day = absl::StripAsciiWhitespace(*text);
    // ParseCivilTime would also accept "2025-8-5"; the catalog always writes
    // zero-padded dates, so insist on them and round-trip to reject 02-30.
    if (day.size() != 10 || !absl::ParseCivilTime(day, out) ||
        absl::FormatCivilTime(*out) != day) {
      Fail(field, absl::StrCat(Quote(*text), " is not a YYYY-MM-DD date"));
      return false;
    }
    return true;
  }

  bool Ransomware(bool* out) {
    const std::string* text = RequiredString("knownRansomwareCampaignUse");
    if (text == nullptr) return false;
    const absl::string_view value = absl::StripAsciiWhitespace(*text);
    if (absl::EqualsIgnoreCase(value, "Known")) {
      *out = true;
    } else if (absl::EqualsIgnoreCase(value, "Unknown")) {
      *out = false;
    } else {
      Fail("knownRansomwareCampaignUse",
           absl::StrCat(Quote(*text), " is neither \"Known\" nor \"Unknown\""));
      return false;
    }
    return true;
  }

  const Json& entry_;
  const size_t index_;
  FeedIssues* const issues_;
  std::string cve_label_;
};

size_t StringHeap(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 : 0;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const KevFeed>> KevFeed::LoadFile(
    const std::string& path) {
  TREATD_ASSIGN_OR_RETURN(std::string text,
                          ReadFileToString(path, "KEV catalog"));
  return Parse(text, path);
}

absl::StatusOr<std::shared_ptr<const KevFeed>> KevFeed::Parse(
    absl::string_view json_text, std::string source) {
  const absl::Time start = absl::Now();
  Json doc;
  // nlohmann::json reports syntax errors by throwing; this is the one place
  // they can arise, so they become a Status here and go no further.
  try {
    doc = Json::parse(json_text.begin(), json_text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a KEV catalog: invalid JSON: ", e.what()));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a KEV catalog: top level is ", Describe(doc)));
  }

  std::shared_ptr<KevFeed> feed(new KevFeed());
  feed->source_ = std::move(source);
  const std::string& src = feed->source_;

  auto version = doc.find("catalogVersion");
  if (version == doc.end() || !version->is_string() ||
      version->get_ref<const std::string&>().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": catalogVersion: missing or not a string"));
  }
  feed->catalog_version_ = version->get_ref<const std::string&>();

  auto released = doc.find("dateReleased");
  std::string released_error;
  if (released == doc.end() || !released->is_string() ||
      !absl::ParseTime(absl::RFC3339_full,
                       released->get_ref<const std::string&>(),
                       &feed->date_released_, &released_error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": dateReleased: missing or not an RFC 3339 time",
                     released_error.empty() ? "" : ": ", released_error));
  }

  auto list = doc.find("vulnerabilities");
  if (list == doc.end() || !list->is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": not a KEV catalog: no \"vulnerabilities\" array"));
  }

  auto count = doc.find("count");
  if (count != doc.end() && count->is_number_integer()) {
    feed->declared_count_ = count->get<int64_t>();
    if (feed->declared_count_ != static_cast<int64_t>(list->size())) {
      feed->malformed_.Add(
          "count",
          absl::StrCat("declares ", feed->declared_count_,
                       " entries but vulnerabilities has ", list->size()));
    }
  }

  std::vector<KevEntry> entries;
  entries.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    KevEntry entry;
    EntryReader reader((*list)[i], i, &feed->malformed_);
    if (reader.Read(&entry)) entries.push_back(std::move(entry));
  }
  if (entries.empty() && !list->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(src, ": none of the ", list->size(),
                     " entries is usable; first problem: ",
                     feed->malformed_.detailed().empty()
                         ? std::string("unknown")
                         : feed->malformed_.detailed().front().ToString()));
  }
  doc = Json();  // Free the document before building the index.

  // Keep the first occurrence of a duplicated CVE: stable sort preserves
  // file order among equal keys.
  std::stable_sort(
      entries.begin(), entries.end(),
      [](const KevEntry& a, const KevEntry& b) { return a.cve < b.cve; });
  feed->entries_.reserve(entries.size());
  for (KevEntry& entry : entries) {
    if (!feed->entries_.empty() && feed->entries_.back().cve == entry.cve) {
      feed->malformed_.Add(
          absl::StrCat("vulnerabilities[cveID=", entry.cve.ToString(), "]"),
          "duplicate entry; the first one is kept");
      continue;
    }
    feed->entries_.push_back(std::move(entry));
  }
  feed->entries_.shrink_to_fit();
  feed->keys_.reserve(feed->entries_.size());
  for (const KevEntry& entry : feed->entries_) {
    feed->keys_.push_back(entry.cve.key());
  }

  feed->description_ = absl::StrCat("CISA KEV ", feed->catalog_version_);
  feed->loaded_at_ = absl::Now();
  feed->load_duration_ = feed->loaded_at_ - start;
  return std::shared_ptr<const KevFeed>(std::move(feed));
}

const KevEntry* KevFeed::Find(CveId cve) const {
  auto it = std::lower_bound(keys_.begin(), keys_.end(), cve.key());
  if (it == keys_.end() || *it != cve.key()) return nullptr;
  return &entries_[static_cast<size_t>(it - keys_.begin())];
}

size_t KevFeed::MemoryBytes() const {
  size_t bytes = sizeof(*this) + keys_.capacity() * sizeof(uint64_t) +
                 entries_.capacity() * sizeof(KevEntry);
  for (const KevEntry& entry : entries_) {
    bytes += StringHeap(entry.required_action) +
             StringHeap(entry.vendor_project) + StringHeap(entry.product) +
             StringHeap(entry.vulnerability_name);
  }
  bytes += StringHeap(catalog_version_) + StringHeap(description_) +
           StringHeap(source_) + malformed_.HeapBytes();
  return bytes;
}

}  // namespace treatd::intel
