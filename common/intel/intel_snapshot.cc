#include "common/intel/intel_snapshot.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace treatd::intel {
namespace {

absl::Status Prefixed(absl::string_view feed, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(feed, ": ", status.message()));
}

std::string FeedLine(absl::string_view description, size_t entries,
                     const FeedIssues& malformed, absl::string_view source,
                     absl::Duration load_duration) {
  return absl::StrCat(description, ": ", entries, " entries, ",
                      malformed.count(), " malformed, from ", source, " in ",
                      absl::FormatDuration(load_duration));
}

}  // namespace

IntelSnapshot::IntelSnapshot(std::shared_ptr<const KevFeed> kev,
                             std::shared_ptr<const EpssFeed> epss)
    : kev_(std::move(kev)), epss_(std::move(epss)), created_at_(absl::Now()) {}

absl::StatusOr<std::shared_ptr<const IntelSnapshot>> IntelSnapshot::Load(
    const IntelSources& sources) {
  if (sources.kev_path.empty() && sources.epss_path.empty()) {
    return absl::InvalidArgumentError(
        "no threat-intel feed configured: give a KEV or EPSS path");
  }
  std::shared_ptr<const KevFeed> kev;
  if (!sources.kev_path.empty()) {
    absl::StatusOr<std::shared_ptr<const KevFeed>> loaded =
        KevFeed::LoadFile(sources.kev_path);
    if (!loaded.ok()) return Prefixed("KEV feed", loaded.status());
    kev = *std::move(loaded);
  }
  std::shared_ptr<const EpssFeed> epss;
  if (!sources.epss_path.empty()) {
    absl::StatusOr<std::shared_ptr<const EpssFeed>> loaded =
        EpssFeed::LoadFile(sources.epss_path);
    if (!loaded.ok()) return Prefixed("EPSS feed", loaded.status());
    epss = *std::move(loaded);
  }
  return Create(std::move(kev), std::move(epss));
}

absl::StatusOr<std::shared_ptr<const IntelSnapshot>> IntelSnapshot::Create(
    std::shared_ptr<const KevFeed> kev, std::shared_ptr<const EpssFeed> epss) {
  if (kev == nullptr && epss == nullptr) {
    return absl::InvalidArgumentError(
        "an intel snapshot needs a KEV or an EPSS feed");
  }
  return std::shared_ptr<const IntelSnapshot>(
      new IntelSnapshot(std::move(kev), std::move(epss)));
}

const KevEntry* IntelSnapshot::FindKev(CveId cve) const {
  return kev_ == nullptr ? nullptr : kev_->Find(cve);
}

std::optional<EpssScore> IntelSnapshot::FindEpss(CveId cve) const {
  return epss_ == nullptr ? std::nullopt : epss_->Find(cve);
}

const KevEntry* IntelSnapshot::FindKev(absl::string_view cve) const {
  std::optional<CveId> id = CveId::Parse(cve);
  return id.has_value() ? FindKev(*id) : nullptr;
}

std::optional<EpssScore> IntelSnapshot::FindEpss(absl::string_view cve) const {
  std::optional<CveId> id = CveId::Parse(cve);
  return id.has_value() ? FindEpss(*id) : std::nullopt;
}

std::vector<std::string> IntelSnapshot::FeedVersions() const {
  std::vector<std::string> versions;
  if (kev_ != nullptr) versions.push_back(kev_->description());
  if (epss_ != nullptr) versions.push_back(epss_->description());
  return versions;
}

std::string IntelSnapshot::Summary() const {
  std::string out;
  if (kev_ != nullptr) {
    absl::StrAppend(
        &out,
        FeedLine(kev_->description(), kev_->size(), kev_->malformed(),
                 kev_->source(), kev_->load_duration()),
        "\n");
  }
  if (epss_ != nullptr) {
    absl::StrAppend(
        &out,
        FeedLine(epss_->description(), epss_->size(), epss_->malformed(),
                 epss_->source(), epss_->load_duration()),
        "\n");
  }
  return out;
}

size_t IntelSnapshot::MemoryBytes() const {
  return sizeof(*this) + (kev_ == nullptr ? 0 : kev_->MemoryBytes()) +
         (epss_ == nullptr ? 0 : epss_->MemoryBytes());
}

}  // namespace treatd::intel
