#include "tests/fuzz/fuzz_support.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/io/read_file.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/fuzz/fuzz_targets.h"

namespace treatd::fuzz {

void FuzzFail(absl::string_view what) {
  std::fprintf(stderr, "FUZZ INVARIANT BROKEN: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::abort();
}

void ExpectOkOr(absl::StatusCode allowed, const absl::Status& status,
                absl::string_view what) {
  if (!status.ok() && status.code() != allowed) {
    FuzzFail(absl::StrCat(what, ": ", status.ToString()));
  }
}

bool SameMessage(const google::protobuf::Message& a,
                 const google::protobuf::Message& b) {
  google::protobuf::util::DefaultFieldComparator comparator;
  comparator.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differencer;
  differencer.set_field_comparator(&comparator);
  return differencer.Compare(a, b);
}

std::string ReadSourceFile(absl::string_view relative_path) {
  const std::string path = absl::StrCat(TREATD_SOURCE_DIR, "/", relative_path);
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) FuzzFail(text.status().ToString());
  return *std::move(text);
}

const std::vector<v1::Finding>& SampleFindings() {
  static const std::vector<v1::Finding>* const findings = [] {
    auto* out = new std::vector<v1::Finding>();
    const std::string jsonl = ReadSourceFile("examples/findings.jsonl");
    for (absl::string_view line : absl::StrSplit(jsonl, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty()) continue;
      v1::Finding finding;
      const auto parsed = google::protobuf::util::JsonStringToMessage(
          std::string(line), &finding);
      if (!parsed.ok()) FuzzFail(parsed.ToString());
      out->push_back(std::move(finding));
    }
    v1::Finding bare;
    bare.set_id("bare");
    bare.set_kind(v1::FINDING_KIND_MISCONFIGURATION);
    out->push_back(std::move(bare));
    return out;
  }();
  return *findings;
}

absl::Time FuzzNow() { return absl::FromUnixSeconds(1796083200); }

const std::vector<FuzzTarget>& AllTargets() {
  static const std::vector<FuzzTarget> targets = {
      {"policy_yaml", PolicyYaml},
      {"policy_tests_yaml", PolicyTestsYaml},
      {"expression", Expression},
      {"finding_proto", FindingProto},
      {"import_trivy", ImportTrivy},
      {"import_grype", ImportGrype},
      {"import_sarif", ImportSarif},
      {"import_cyclonedx", ImportCycloneDx},
      {"import_openvex", ImportOpenVex},
      {"import_csaf", ImportCsaf},
      {"import_trivy_cluster", ImportTrivyCluster},
      {"detect_format", DetectFormat},
      {"vex_document", VexDocument},
      {"finding_json", FindingJson},
      {"proto_json_reader", ProtoJsonReader},
      {"decision_result_wire", DecisionResultWire},
      {"stream_answer", StreamAnswer},
      {"kev_json", KevJson},
      {"epss_csv", EpssCsv},
      {"tokens_file", TokensFile},
      {"inventory_yaml", InventoryYaml},
      {"inventory_csv", InventoryCsv},
  };
  return targets;
}

}  // namespace treatd::fuzz
