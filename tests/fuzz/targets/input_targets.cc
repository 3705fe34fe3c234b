// Fuzz bodies of the file and document readers: scanner importers and
// format detection, the KEV and EPSS feeds, the tokens file and the asset
// inventories (tests/fuzz/fuzz_targets.h).
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/assets/inventory.h"
#include "common/importers/importer.h"
#include "common/intel/cve_id.h"
#include "common/intel/epss_feed.h"
#include "common/intel/kev_feed.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/security/token_store.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::fuzz {
namespace {

absl::StatusOr<importers::ImportResult> Import(
    const uint8_t* data, size_t size, importers::ScannerFormat format) {
  importers::ImportOptions options;
  options.format = format;
  absl::StatusOr<importers::ImportResult> result =
      importers::ImportFindings(AsText(data, size), options);
  ExpectOkOr(absl::StatusCode::kInvalidArgument, result.status(),
             "ImportFindings");
  if (result.ok()) {
    if (format != importers::ScannerFormat::kAuto && result->format != format) {
      FuzzFail("ImportFindings read the document as another format");
    }
    for (const v1::Finding& finding : result->findings) {
      // Every finding the importer keeps is addressable and classified.
      if (finding.id().empty() ||
          finding.kind() == v1::FINDING_KIND_UNSPECIFIED) {
        FuzzFail(absl::StrCat("imported finding without id or kind: ",
                              finding.ShortDebugString()));
      }
    }
  }
  return result;
}

int ImportAs(const uint8_t* data, size_t size,
             importers::ScannerFormat format) {
  Import(data, size, format).IgnoreError();
  return 0;
}

}  // namespace

int ImportTrivy(const uint8_t* data, size_t size) {
  return ImportAs(data, size, importers::ScannerFormat::kTrivy);
}
int ImportGrype(const uint8_t* data, size_t size) {
  return ImportAs(data, size, importers::ScannerFormat::kGrype);
}
int ImportSarif(const uint8_t* data, size_t size) {
  return ImportAs(data, size, importers::ScannerFormat::kSarif);
}
int ImportCycloneDx(const uint8_t* data, size_t size) {
  return ImportAs(data, size, importers::ScannerFormat::kCycloneDx);
}
int ImportOpenVex(const uint8_t* data, size_t size) {
  return ImportAs(data, size, importers::ScannerFormat::kOpenVex);
}

int DetectFormat(const uint8_t* data, size_t size) {
  absl::StatusOr<importers::ScannerFormat> detected =
      importers::DetectFormat(AsText(data, size));
  ExpectOkOr(absl::StatusCode::kInvalidArgument, detected.status(),
             "DetectFormat");
  absl::StatusOr<importers::ImportResult> imported =
      Import(data, size, importers::ScannerFormat::kAuto);
  if (detected.ok() && imported.ok() && imported->format != *detected) {
    FuzzFail(absl::StrCat("DetectFormat says ",
                          importers::ScannerFormatName(*detected),
                          ", ImportFindings(kAuto) read ",
                          importers::ScannerFormatName(imported->format)));
  }
  if (!detected.ok() && imported.ok()) {
    FuzzFail("ImportFindings(kAuto) accepted a document DetectFormat rejects");
  }
  // Importing is a pure function of the bytes.
  if (imported.ok()) {
    absl::StatusOr<importers::ImportResult> again =
        Import(data, size, importers::ScannerFormat::kAuto);
    if (!again.ok() || again->findings.size() != imported->findings.size()) {
      FuzzFail("a second import of the same bytes differs");
    }
    for (size_t i = 0; i < imported->findings.size(); ++i) {
      // Not byte for byte: protobuf serializes maps in hash order.
      if (!google::protobuf::util::MessageDifferencer::Equals(
              again->findings[i], imported->findings[i])) {
        FuzzFail(absl::StrCat("a second import differs at finding ", i));
      }
    }
  }
  return 0;
}

int KevJson(const uint8_t* data, size_t size) {
  absl::StatusOr<std::shared_ptr<const intel::KevFeed>> feed =
      intel::KevFeed::Parse(AsText(data, size), "fuzz.json");
  ExpectOkOr(absl::StatusCode::kInvalidArgument, feed.status(),
             "KevFeed::Parse");
  if (!feed.ok()) return 0;
  for (const intel::KevEntry& entry : (*feed)->entries()) {
    if ((*feed)->Find(entry.cve) != &entry) {
      FuzzFail(absl::StrCat("KEV entry ", entry.cve.ToString(),
                            " is not found by its own id"));
    }
  }
  (*feed)->MemoryBytes();
  return 0;
}

int EpssCsv(const uint8_t* data, size_t size) {
  absl::StatusOr<std::shared_ptr<const intel::EpssFeed>> feed =
      intel::EpssFeed::Parse(AsText(data, size), "fuzz.csv");
  ExpectOkOr(absl::StatusCode::kInvalidArgument, feed.status(),
             "EpssFeed::Parse");
  if (!feed.ok()) return 0;
  for (const char* cve : {"CVE-2021-44228", "CVE-2024-3094", "CVE-1999-0001"}) {
    const std::optional<intel::EpssScore> score =
        (*feed)->Find(*intel::CveId::Parse(cve));
    if (score.has_value() &&
        !(score->score >= 0 && score->score <= 1 && score->percentile >= 0 &&
          score->percentile <= 1)) {
      FuzzFail(absl::StrCat("EPSS score out of [0, 1] for ", cve));
    }
  }
  return 0;
}

int TokensFile(const uint8_t* data, size_t size) {
  const absl::string_view text = AsText(data, size);
  absl::StatusOr<TokenTable> table = ParseTokenTable(text, "fuzz.tokens");
  ExpectOkOr(absl::StatusCode::kInvalidArgument, table.status(),
             "ParseTokenTable");
  // No secret may leak into an error message: every error names the line,
  // never its content. A line's token is its fourth word.
  if (!table.ok() && text.find("sha256:") == absl::string_view::npos) {
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      std::vector<absl::string_view> words =
          absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (words.size() >= 4 && words[0] == "token" && words[3].size() >= 16 &&
          absl::StrContains(table.status().message(), words[3])) {
        FuzzFail("a token appears in the tokens file error message");
      }
    }
  }
  return 0;
}

namespace {

void MatchSamples(const assets::AssetInventory& inventory) {
  for (const v1::Finding& finding : SampleFindings()) {
    const assets::AssetMatch match = inventory.MatchFinding(finding);
    if (match.entry != nullptr && match.entry->patterns.empty()) {
      FuzzFail("an inventory entry without patterns matched");
    }
  }
  for (const char* name : {"web-1", "registry.example.com/shop/api:1.2",
                           "WEB-01.PROD.EXAMPLE.COM", ""}) {
    inventory.Match(name);
  }
}

}  // namespace

int InventoryYaml(const uint8_t* data, size_t size) {
  absl::StatusOr<assets::AssetInventory> inventory =
      assets::AssetInventory::FromYaml(AsText(data, size), "fuzz.yaml");
  ExpectOkOr(absl::StatusCode::kInvalidArgument, inventory.status(),
             "AssetInventory::FromYaml");
  if (inventory.ok()) MatchSamples(*inventory);
  return 0;
}

int InventoryCsv(const uint8_t* data, size_t size) {
  absl::StatusOr<assets::AssetInventory> inventory =
      assets::AssetInventory::FromCsv(AsText(data, size), "fuzz.csv");
  ExpectOkOr(absl::StatusCode::kInvalidArgument, inventory.status(),
             "AssetInventory::FromCsv");
  if (inventory.ok()) MatchSamples(*inventory);
  return 0;
}

}  // namespace treatd::fuzz
