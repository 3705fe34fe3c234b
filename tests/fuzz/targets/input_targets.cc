// Fuzz bodies of the file and document readers: scanner importers and
// format detection, VEX documents, treatctl's findings input, the KEV and
// EPSS feeds, the tokens file and the asset inventories
// (tests/fuzz/fuzz_targets.h).
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "client/stream_answer.h"
#include "client/treatctl/finding_reader.h"
#include "common/assets/inventory.h"
#include "common/importers/format_importers.h"
#include "common/importers/importer.h"
#include "common/importers/json_access.h"
#include "common/importers/vex_statements.h"
#include "common/intel/cve_id.h"
#include "common/intel/epss_feed.h"
#include "common/intel/kev_feed.h"
#include "common/json/decision_json_writer.h"
#include "common/json/proto_json_reader.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/security/token_store.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/fuzz/fuzz_targets.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

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

int ImportCsaf(const uint8_t* data, size_t size) {
  return ImportAs(data, size, importers::ScannerFormat::kCsaf);
}

int ImportTrivyCluster(const uint8_t* data, size_t size) {
  absl::StatusOr<importers::ImportResult> result =
      Import(data, size, importers::ScannerFormat::kTrivy);
  if (!result.ok()) return 0;
  absl::StatusOr<std::unique_ptr<importers::JsonDocument>> document =
      importers::ParseJsonDocument(AsText(data, size));
  if (!document.ok()) FuzzFail("imported a document that does not parse");
  if (!importers::IsTrivyClusterReport((*document)->Root())) return 0;
  // Every finding of a cluster report is on a Kubernetes resource: a
  // workload (container) or another cluster object (cloud resource).
  for (const v1::Finding& finding : result->findings) {
    const auto type = finding.asset().type();
    if ((type != v1::ASSET_TYPE_CONTAINER &&
         type != v1::ASSET_TYPE_CLOUD_RESOURCE) ||
        finding.attributes().count("trivy.artifact_type") == 0 ||
        finding.attributes().at("trivy.artifact_type") != "kubernetes") {
      FuzzFail(absl::StrCat("cluster finding not on a Kubernetes asset: ",
                            finding.ShortDebugString()));
    }
  }
  return 0;
}

int VexDocument(const uint8_t* data, size_t size) {
  importers::VexStatements vex;
  absl::StatusOr<importers::ImportResult> added =
      vex.AddDocument(AsText(data, size));
  ExpectOkOr(absl::StatusCode::kInvalidArgument, added.status(),
             "VexStatements::AddDocument");
  if (!added.ok()) return 0;
  if (vex.size() == 0) FuzzFail("AddDocument kept no statement but said OK");
  std::vector<v1::Finding> findings = SampleFindings();
  // The document's own findings, without their statements, as a scan that
  // the document speaks about.
  for (const v1::Finding& statement : added->findings) {
    v1::Finding finding = statement;
    finding.clear_vex();
    findings.push_back(std::move(finding));
  }
  for (v1::Finding& finding : findings) {
    finding.clear_vex();
    const bool matched = vex.Apply(&finding);
    if (matched != finding.has_vex()) {
      FuzzFail(absl::StrCat("Apply returned ", matched, " but the finding ",
                            finding.has_vex() ? "has" : "has no",
                            " VEX statement"));
    }
    if (matched && finding.vex().status() == v1::VEX_STATUS_UNSPECIFIED) {
      FuzzFail("Apply set a statement without a VEX status");
    }
  }
  return 0;
}

// Whether `thin` holds what a CSV row reads of `finding`.
bool SameRowLabels(const v1::Finding& thin, const v1::Finding& finding) {
  const v1::Vulnerability& a = thin.vulnerability();
  const v1::Vulnerability& b = finding.vulnerability();
  return thin.id() == finding.id() && thin.kind() == finding.kind() &&
         a.cve_id() == b.cve_id() &&
         std::equal(a.aliases().begin(), a.aliases().end(), b.aliases().begin(),
                    b.aliases().end()) &&
         thin.package().name() == finding.package().name() &&
         thin.package().installed_version() ==
             finding.package().installed_version() &&
         thin.asset().id() == finding.asset().id() &&
         thin.asset().name() == finding.asset().name();
}

int FindingJson(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(AsText(data, size)));
  FindingReader reader(&in, "fuzz.jsonl");
  FindingReader::Record record;
  // The same input read for a CSV run (only what a row reads of each
  // finding, and its bytes): the same records, the same fields.
  std::istringstream thin_in(std::string(AsText(data, size)));
  FindingReader thin(&thin_in, "fuzz.jsonl");
  thin.set_identity_only(true, /*labels=*/true);
  FindingReader::Record thin_record;
  int records = 0;
  int failures = 0;
  while (reader.Next(&record)) {
    ++records;
    if (records > static_cast<int>(size)) {
      FuzzFail("FindingReader returned more records than input bytes");
    }
    if (!thin.Next(&thin_record) || thin_record.status != record.status) {
      FuzzFail("FindingReader with labels read another record");
    }
    if (record.status.ok() &&
        !SameRowLabels(thin_record.finding, record.finding)) {
      FuzzFail(absl::StrCat("FindingReader with labels read ",
                            thin_record.finding.ShortDebugString(), ", not ",
                            record.finding.ShortDebugString()));
    }
    if (!record.status.ok()) {
      ExpectOkOr(absl::StatusCode::kInvalidArgument, record.status,
                 "FindingReader::Next");
      // Only a framing error (which ends the input) leaves no text.
      if (reader.text().empty()) ++failures;
      continue;
    }
    if (reader.text().empty()) FuzzFail("an OK record without its text");
    // A few findings per input go on to validation and a decision.
    if (records <= 4) {
      const std::string bytes = record.finding.SerializeAsString();
      FindingProto(reinterpret_cast<const uint8_t*>(bytes.data()),
                   bytes.size());
    }
  }
  if (failures > 1) FuzzFail("FindingReader read on after a framing error");
  if (reader.offset() > static_cast<int64_t>(size)) {
    FuzzFail("FindingReader consumed more bytes than the input has");
  }
  return 0;
}

int ProtoJsonReader(const uint8_t* data, size_t size) {
  // One reader for the process, as treatctl keeps one per input: its
  // tables and parser buffers carry over from input to input.
  static json::ProtoJsonReader* const reader =
      new json::ProtoJsonReader(v1::Finding::descriptor());
  const absl::string_view text = AsText(data, size);
  v1::Finding ours;
  const absl::Status read = reader->Read(text, &ours);
  ExpectOkOr(absl::StatusCode::kInvalidArgument, read, "ProtoJsonReader");
  // Wire bytes only (treatctl decide's JSON Lines path): the same answer,
  // and (below) bytes that parse, as generated code parses them, to the
  // same finding.
  v1::Finding thin;
  std::string wire;
  const absl::Status wire_read = reader->ReadWireOnly(text, &thin, &wire);
  if (wire_read != read) {
    FuzzFail(absl::StrCat("ReadWireOnly says ", wire_read.ToString(),
                          ", Read says ", read.ToString()));
  }
  v1::Finding theirs;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const google::protobuf::util::Status expected =
      google::protobuf::util::JsonStringToMessage(
          google::protobuf::StringPiece(text.data(), text.size()), &theirs,
          options);
  if (read.ok() != expected.ok()) {
    FuzzFail(absl::StrCat("ProtoJsonReader says ", read.ToString(),
                          ", JsonStringToMessage says ", expected.ToString()));
  }
  if (!read.ok()) {
    if (static_cast<int>(read.code()) != static_cast<int>(expected.code()) ||
        read.message() != absl::string_view(expected.message().data(),
                                            expected.message().size())) {
      FuzzFail(absl::StrCat("ProtoJsonReader error ", read.ToString(),
                            " differs from JsonStringToMessage's ",
                            expected.ToString()));
    }
    return 0;
  }
  if (!SameMessage(ours, theirs)) {
    FuzzFail(absl::StrCat("ProtoJsonReader read ", ours.ShortDebugString(),
                          ", JsonStringToMessage ", theirs.ShortDebugString()));
  }
  if (!wire.empty()) {
    v1::Finding from_wire;
    if (!from_wire.ParseFromString(wire)) {
      FuzzFail("ReadWireOnly's bytes do not parse as a Finding");
    }
    thin = from_wire;
  }
  if (!SameMessage(thin, ours)) {
    FuzzFail(absl::StrCat("ReadWireOnly read ", thin.ShortDebugString(),
                          ", Read ", ours.ShortDebugString()));
  }
  return 0;
}

// Whether `notes` holds every field a CSV row and a run summary read as
// `parsed` does (and its index, when `index`).
bool SameRowFields(const v1::DecisionResult& notes,
                   const v1::DecisionResult& parsed, bool index) {
  const v1::Decision& a = notes.decision();
  const v1::Decision& b = parsed.decision();
  auto same_time = [](bool has_a, const google::protobuf::Timestamp& ta,
                      bool has_b, const google::protobuf::Timestamp& tb) {
    return has_a == has_b && ta.seconds() == tb.seconds() &&
           ta.nanos() == tb.nanos();
  };
  double risk_a = a.residual_risk(), risk_b = b.residual_risk();
  return notes.finding_id() == parsed.finding_id() &&
         (!index || notes.index() == parsed.index()) &&
         notes.has_decision() == parsed.has_decision() &&
         notes.has_error() == parsed.has_error() &&
         notes.error().code() == parsed.error().code() &&
         notes.error().message() == parsed.error().message() &&
         a.treatment() == b.treatment() && a.priority() == b.priority() &&
         a.priority_rank() == b.priority_rank() &&
         a.matched_rule() == b.matched_rule() &&
         same_time(a.has_mitigate_by(), a.mitigate_by(), b.has_mitigate_by(),
                   b.mitigate_by()) &&
         same_time(a.has_remediate_by(), a.remediate_by(), b.has_remediate_by(),
                   b.remediate_by()) &&
         same_time(a.has_review_by(), a.review_by(), b.has_review_by(),
                   b.review_by()) &&
         a.exception().id() == b.exception().id() &&
         a.exception().applied() == b.exception().applied() &&
         std::memcmp(&risk_a, &risk_b, sizeof(risk_a)) == 0 &&
         std::equal(a.reasons().begin(), a.reasons().end(), b.reasons().begin(),
                    b.reasons().end());
}

int DecisionResultWire(const uint8_t* data, size_t size) {
  // The first byte picks whether an index replaces the bytes' own; the
  // rest are the answer's bytes, as a server (or anything on the wire)
  // sent them.
  if (size == 0) return 0;
  const std::optional<int32_t> index =
      data[0] % 2 == 0 ? std::nullopt
                       : std::optional<int32_t>(static_cast<int32_t>(data[0]));
  const absl::string_view wire = AsText(data + 1, size - 1);
  std::string ours = "x";
  v1::DecisionResult notes;
  const absl::Status written =
      json::AppendDecisionResultJsonFromWire(wire, index, &ours, &notes);
  ExpectOkOr(absl::StatusCode::kInvalidArgument, written,
             "AppendDecisionResultJsonFromWire");
  v1::DecisionResult parsed;
  const bool parses =
      parsed.ParseFromArray(wire.data(), static_cast<int>(wire.size()));
  if (index.has_value()) parsed.set_index(*index);
  // What a CSV row reads, from the bytes: OK exactly when protobuf parses
  // them, each field as parsed.
  v1::DecisionResult row;
  const absl::Status noted =
      json::ReadDecisionResultNotesFromWire(wire, index, &row);
  ExpectOkOr(absl::StatusCode::kInvalidArgument, noted,
             "ReadDecisionResultNotesFromWire");
  if (noted.ok() != parses) {
    FuzzFail(absl::StrCat("ReadDecisionResultNotesFromWire says ",
                          noted.ToString(), ", protobuf ",
                          parses ? "parses" : "does not parse"));
  }
  if (noted.ok() && !SameRowFields(row, parsed, index.has_value())) {
    FuzzFail(absl::StrCat("the row's notes ", row.ShortDebugString(),
                          " differ from the parsed result ",
                          parsed.ShortDebugString()));
  }
  std::string theirs;
  const bool printed =
      parses &&
      google::protobuf::util::MessageToJsonString(parsed, &theirs).ok();
  if (written.ok() != printed) {
    FuzzFail(absl::StrCat("AppendDecisionResultJsonFromWire says ",
                          written.ToString(), ", protobuf ",
                          parses ? "parses and prints: " : "does not parse",
                          printed ? "ok" : ""));
  }
  if (!written.ok()) {
    if (ours != "x") FuzzFail("a refused answer left output behind");
    return 0;
  }
  if (ours != "x" + theirs) {
    FuzzFail(absl::StrCat("from the wire: ", ours.substr(1),
                          "\nprotobuf:      ", theirs));
  }
  if (notes.finding_id() != parsed.finding_id() ||
      notes.has_decision() != parsed.has_decision() ||
      notes.has_error() != parsed.has_error() ||
      notes.decision().treatment() != parsed.decision().treatment() ||
      notes.decision().priority() != parsed.decision().priority() ||
      notes.decision().priority_rank() != parsed.decision().priority_rank() ||
      notes.decision().matched_rule() != parsed.decision().matched_rule() ||
      notes.decision().remediate_by().SerializeAsString() !=
          parsed.decision().remediate_by().SerializeAsString() ||
      notes.decision().mitigate_by().SerializeAsString() !=
          parsed.decision().mitigate_by().SerializeAsString() ||
      notes.error().code() != parsed.error().code()) {
    FuzzFail(absl::StrCat("notes ", notes.ShortDebugString(),
                          " differ from the parsed result ",
                          parsed.ShortDebugString()));
  }
  return 0;
}

int StreamAnswer(const uint8_t* data, size_t size) {
  const absl::string_view bytes = AsText(data, size);
  internal::StreamAnswer answer;
  const bool split = internal::SplitStreamAnswer(bytes, &answer);
  v1::StreamDecideResponse parsed;
  const bool parses =
      parsed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
  if (parses && !split) FuzzFail("SplitStreamAnswer refused what parses");
  if (!split) return 0;
  // Each view parses to protobuf's field; where one does not, protobuf
  // must have refused the whole answer.
  auto same = [&](absl::string_view view, const v1::DecisionResult& want,
                  const char* what) {
    v1::DecisionResult got;
    if (!got.ParseFromArray(view.data(), static_cast<int>(view.size()))) {
      if (parses) FuzzFail(absl::StrCat(what, " does not parse"));
      return false;
    }
    if (internal::HasItemError(view) != got.has_error()) {
      FuzzFail(absl::StrCat("HasItemError differs for ", what));
    }
    if (parses && !SameMessage(got, want)) {
      FuzzFail(absl::StrCat(what, " reads ", got.ShortDebugString(),
                            ", protobuf ", want.ShortDebugString()));
    }
    return true;
  };
  bool all_parse = same(answer.result, parsed.result(), "result");
  if (parses &&
      static_cast<int>(answer.results.size()) != parsed.results_size()) {
    FuzzFail("SplitStreamAnswer found another number of results");
  }
  for (size_t i = 0; i < answer.results.size(); ++i) {
    const v1::DecisionResult& want =
        parses ? parsed.results(static_cast<int>(i))
               : v1::DecisionResult::default_instance();
    all_parse = same(answer.results[i], want, "a result") && all_parse;
  }
  if (parses && answer.sequence != parsed.sequence()) {
    FuzzFail("SplitStreamAnswer read another sequence");
  }
  if (!parses && all_parse) {
    FuzzFail("SplitStreamAnswer accepted bytes protobuf refuses");
  }
  return 0;
}

namespace {

// JsonNode (simdjson) must read outside bytes as nlohmann::json, which the
// importers used before, did (issue 15): the same documents accepted, with
// the same message when not, and the same values, member names (sorted,
// last duplicate wins) and numbers. The one allowed difference: nesting
// deeper than 1024 is rejected.
void CompareJsonNode(const nlohmann::json& expected,
                     const importers::JsonNode& node) {
  if (node.TypeName() != expected.type_name()) {
    FuzzFail(absl::StrCat("JsonNode at ", node.path(), " is ", node.TypeName(),
                          ", nlohmann says ", expected.type_name()));
  }
  if (expected.is_string()) {
    if (node.StringView() != expected.get_ref<const std::string&>()) {
      FuzzFail(absl::StrCat("JsonNode string differs at ", node.path()));
    }
  } else if (expected.is_number()) {
    absl::StatusOr<std::optional<double>> number = node.OptionalNumber();
    const double want = expected.get<double>();
    if (!number.ok() || !number->has_value() ||
        std::memcmp(&**number, &want, sizeof(want)) != 0) {
      FuzzFail(absl::StrCat("JsonNode number differs at ", node.path()));
    }
  } else if (expected.is_array()) {
    if (node.size() != expected.size()) {
      FuzzFail(absl::StrCat("JsonNode array size differs at ", node.path()));
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      CompareJsonNode(expected[i], node[i]);
    }
  } else if (expected.is_object()) {
    std::vector<absl::string_view> names = node.MemberNames();
    // The importers read members both ways: JsonMembers is walked (it
    // holds the last of repeated keys as nlohmann does), operator[] must
    // find a value of the same type and text.
    const importers::JsonMembers members(node);
    size_t i = 0;
    for (const auto& [key, value] : expected.items()) {
      if (i >= names.size() || names[i] != key) {
        FuzzFail(absl::StrCat("JsonNode member names differ at ", node.path()));
      }
      ++i;
      const importers::JsonNode member = members[key];
      const importers::JsonNode direct = node[key];
      if (member.TypeName() != direct.TypeName() ||
          member.path() != direct.path() ||
          (member.IsString() && member.StringView() != direct.StringView())) {
        FuzzFail(absl::StrCat("JsonMembers and operator[] differ at ",
                              member.path()));
      }
      CompareJsonNode(value, member);
    }
    if (i != names.size()) {
      FuzzFail(absl::StrCat("JsonNode has more members at ", node.path()));
    }
  }
}

void CompareWithNlohmann(absl::string_view text) {
  absl::StatusOr<std::unique_ptr<importers::JsonDocument>> ours =
      importers::ParseJsonDocument(text);
  nlohmann::json theirs;
  std::string their_error;
  try {
    theirs = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    their_error = absl::StrCat("$: not a JSON document: ", e.what());
  }
  if (!their_error.empty()) {
    if (ours.ok()) FuzzFail("ParseJsonDocument accepted what nlohmann rejects");
    if (ours.status().message() != their_error) {
      FuzzFail(absl::StrCat("ParseJsonDocument says ", ours.status().message(),
                            ", nlohmann ", their_error));
    }
    return;
  }
  if (!ours.ok()) {
    if (!absl::StrContains(ours.status().message(), "too deep")) {
      FuzzFail(absl::StrCat("ParseJsonDocument rejected what nlohmann reads: ",
                            ours.status().ToString()));
    }
    return;
  }
  CompareJsonNode(theirs, (*ours)->Root());
}

}  // namespace

int DetectFormat(const uint8_t* data, size_t size) {
  CompareWithNlohmann(AsText(data, size));
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
      if (!SameMessage(again->findings[i], imported->findings[i])) {
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
