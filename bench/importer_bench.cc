// Scanner importers on a large report (issue 15): a 100,000-entry Grype and
// Trivy document, built from the real reports vendored in
// tests/testdata/scanners (their entries repeated, each copy with its own
// vulnerability id so no two findings merge), imported with
// common/importers beside the plain parse of the same bytes:
//   - BM_PlainParseNlohmann: nlohmann::json::parse, the DOM the importers
//     walk, so import / plain parse is what mapping entries to findings
//     costs on top of reading the document;
//   - BM_PlainParseSimdjson: simdjson's DOM parse with one parser reused
//     across iterations (its buffers allocated and touched once), the
//     fastest plain parse available here, the floor for any importer;
//   - BM_PlainParseSimdjsonFresh: the same parse as a one-shot reader does
//     it, as ImportFindings does since issue 15 (common/importers reads
//     through simdjson): a new parser per document and the input copied to
//     a padded buffer, so the difference to the row above is allocating and
//     first touching the parser's memory.
//   - BM_FindingsCopyHeap / BM_FindingsCopyArena: the findings of one
//     import copied into heap messages (as ImportResult holds them) or onto
//     one google::protobuf::Arena, then freed: the same messages built and
//     freed both ways, so the difference bounds what an arena-owned import
//     result would save (docs/performance.md, importer3).
// items/s counts entries (findings), bytes/s the document's bytes.
// Import / plain parse is the ratio of the CPU times of BM_Import and a
// plain-parse row of the same document (argument 0 Grype, 1 Trivy).
//
//   build/bench/importer_bench --benchmark_min_time=1
//   IMPORTER_BENCH_ENTRIES=2000 valgrind --tool=callgrind
//     --toggle-collect='treatd::(anonymous namespace)::ImportOnce(*'
//     build/bench/importer_bench --benchmark_filter=BM_Import/1
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_data.h"
#include "benchmark/benchmark.h"
#include "common/importers/importer.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "nlohmann/json.hpp"
#include "simdjson.h"

namespace treatd {
namespace {

// IMPORTER_BENCH_ENTRIES overrides the size, e.g. for a callgrind run.
const int kEntries = [] {
  const char* given = std::getenv("IMPORTER_BENCH_ENTRIES");
  return given != nullptr && std::atoi(given) > 0 ? std::atoi(given) : 100000;
}();

// The entries of `entries` (an array of the real report) repeated to
// kEntries, the i-th copy's vulnerability id made unique with `set_id`.
template <typename SetId>
nlohmann::json Repeat(const nlohmann::json& entries, SetId set_id) {
  nlohmann::json out = nlohmann::json::array();
  for (int i = 0; i < kEntries; ++i) {
    nlohmann::json entry = entries[static_cast<size_t>(i) % entries.size()];
    set_id(&entry, absl::StrCat("CVE-2099-", 100000 + i));
    out.push_back(std::move(entry));
  }
  return out;
}

// grype -o json: matches[] of check_all_fields.json and
// many_vulns_with_epss_values.json, source/distro/descriptor of the latter.
const std::string& GrypeDocument() {
  static const auto* text = [] {
    nlohmann::json all = nlohmann::json::parse(bench::ReadSource(
        "tests/testdata/scanners/grype/many_vulns_with_epss_values.json"));
    const nlohmann::json other = nlohmann::json::parse(bench::ReadSource(
        "tests/testdata/scanners/grype/check_all_fields.json"));
    nlohmann::json matches = all["matches"];
    for (const nlohmann::json& m : other["matches"]) matches.push_back(m);
    all["matches"] = Repeat(matches, [](nlohmann::json* m, std::string id) {
      (*m)["vulnerability"]["id"] = std::move(id);
    });
    return new std::string(all.dump());
  }();
  return *text;
}

// Trivy SchemaVersion 2: Results[0].Vulnerabilities[] of alpine-39.json and
// scheme_2_many_vulns.json in one result of the former's report.
const std::string& TrivyDocument() {
  static const auto* text = [] {
    nlohmann::json all = nlohmann::json::parse(
        bench::ReadSource("tests/testdata/scanners/trivy/alpine-39.json"));
    const nlohmann::json other = nlohmann::json::parse(bench::ReadSource(
        "tests/testdata/scanners/trivy/scheme_2_many_vulns.json"));
    nlohmann::json vulns = all["Results"][0]["Vulnerabilities"];
    for (const nlohmann::json& result : other["Results"]) {
      if (!result.contains("Vulnerabilities")) continue;
      for (const nlohmann::json& v : result["Vulnerabilities"]) {
        vulns.push_back(v);
      }
    }
    all["Results"] = nlohmann::json::array({all["Results"][0]});
    all["Results"][0]["Vulnerabilities"] =
        Repeat(vulns, [](nlohmann::json* v, std::string id) {
          (*v)["VulnerabilityID"] = std::move(id);
        });
    return new std::string(all.dump());
  }();
  return *text;
}

const std::string& Document(int format) {
  return format == 0 ? GrypeDocument() : TrivyDocument();
}

void Count(benchmark::State& state, const std::string& text) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kEntries);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.SetLabel(absl::StrCat(state.range(0) == 0 ? "grype " : "trivy ",
                              kEntries, " entries, ", text.size() / 1000,
                              " kB"));
}

void BM_PlainParseNlohmann(benchmark::State& state) {
  const std::string& text = Document(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    nlohmann::json document = nlohmann::json::parse(text, nullptr, false);
    if (document.is_discarded()) state.SkipWithError("not JSON");
    benchmark::DoNotOptimize(document);
  }
  Count(state, text);
}
BENCHMARK(BM_PlainParseNlohmann)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_PlainParseSimdjson(benchmark::State& state) {
  const std::string& text = Document(static_cast<int>(state.range(0)));
  simdjson::dom::parser parser;
  // One untimed parse allocates and touches the parser's buffers: a run
  // that takes one iteration (Grype, over a second) must not time the
  // first, cold parse, which BM_PlainParseSimdjsonFresh measures.
  if (parser.parse(text).error() != simdjson::SUCCESS) {
    state.SkipWithError("not JSON");
  }
  for (auto _ : state) {
    simdjson::dom::element root;
    if (parser.parse(text).get(root) != simdjson::SUCCESS) {
      state.SkipWithError("not JSON");
    }
    benchmark::DoNotOptimize(root);
  }
  Count(state, text);
}
BENCHMARK(BM_PlainParseSimdjson)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_PlainParseSimdjsonFresh(benchmark::State& state) {
  const std::string& text = Document(static_cast<int>(state.range(0)));
  // One untimed parse first, as BM_Import imports once first: a row's
  // first run in the process also times the process taking its memory
  // from the system (page faults), up to 6 x the runs after it for Grype
  // here. Each row now pays that untimed, whatever its iteration count
  // and its place in the run (docs/performance.md, importer3).
  {
    simdjson::dom::parser parser;
    if (parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true)
            .error() != simdjson::SUCCESS) {
      state.SkipWithError("not JSON");
    }
  }
  for (auto _ : state) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(text.data(), text.size(), /*realloc_if_needed=*/true)
            .get(root) != simdjson::SUCCESS) {
      state.SkipWithError("not JSON");
    }
    benchmark::DoNotOptimize(root);
  }
  Count(state, text);
}
BENCHMARK(BM_PlainParseSimdjsonFresh)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);

// One import of `text` and the freeing of its result (which a caller pays
// too), in a function of its own so callgrind can count just that:
// --toggle-collect='treatd::(anonymous namespace)::ImportOnce(*'.
ABSL_ATTRIBUTE_NOINLINE void ImportOnce(const std::string& text,
                                        importers::ScannerFormat format) {
  absl::StatusOr<importers::ImportResult> result =
      importers::ImportFindings(text, format);
  if (!result.ok()) bench::Die(result.status().ToString());
  if (result->findings.size() != static_cast<size_t>(kEntries)) {
    bench::Die(absl::StrCat("imported ", result->findings.size(),
                            " findings, expected ", kEntries));
  }
  benchmark::DoNotOptimize(result);
}

void BM_Import(benchmark::State& state) {
  const std::string& text = Document(static_cast<int>(state.range(0)));
  const importers::ScannerFormat format =
      state.range(0) == 0 ? importers::ScannerFormat::kGrype
                          : importers::ScannerFormat::kTrivy;
  // Untimed, as the one-shot parse rows parse once first (see there);
  // not through ImportOnce, so callgrind still counts the timed imports
  // only.
  if (!importers::ImportFindings(text, format).ok()) {
    state.SkipWithError("not imported");
  }
  for (auto _ : state) ImportOnce(text, format);
  Count(state, text);
}
BENCHMARK(BM_Import)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// The findings of one import of document `format`, kept for the copy rows.
const std::vector<v1::Finding>& ImportedFindings(int format) {
  static std::vector<v1::Finding> imported[2];
  if (imported[format].empty()) {
    absl::StatusOr<importers::ImportResult> result = importers::ImportFindings(
        Document(format), format == 0 ? importers::ScannerFormat::kGrype
                                      : importers::ScannerFormat::kTrivy);
    if (!result.ok()) bench::Die(result.status().ToString());
    imported[format] = std::move(result->findings);
  }
  return imported[format];
}

// One copy of `findings` into heap messages and its freeing, on its own
// for callgrind (--toggle-collect='treatd::(anonymous
// namespace)::CopyToHeapOnce(*'), as ImportOnce.
ABSL_ATTRIBUTE_NOINLINE void CopyToHeapOnce(
    const std::vector<v1::Finding>& findings) {
  std::vector<v1::Finding> copies;
  copies.reserve(findings.size());
  for (const v1::Finding& finding : findings) copies.push_back(finding);
  benchmark::DoNotOptimize(copies);
}

// The same onto one arena (CopyToArenaOnce for callgrind).
ABSL_ATTRIBUTE_NOINLINE void CopyToArenaOnce(
    const std::vector<v1::Finding>& findings) {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 1 << 20;
  options.max_block_size = 8 << 20;
  google::protobuf::Arena arena(options);
  auto* copies = google::protobuf::Arena::CreateMessage<
      google::protobuf::RepeatedPtrField<v1::Finding>>(&arena);
  copies->Reserve(static_cast<int>(findings.size()));
  for (const v1::Finding& finding : findings) copies->Add()->CopyFrom(finding);
  benchmark::DoNotOptimize(copies);
}

void BM_FindingsCopyHeap(benchmark::State& state) {
  const std::vector<v1::Finding>& findings =
      ImportedFindings(static_cast<int>(state.range(0)));
  for (auto _ : state) CopyToHeapOnce(findings);
  Count(state, Document(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_FindingsCopyHeap)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_FindingsCopyArena(benchmark::State& state) {
  const std::vector<v1::Finding>& findings =
      ImportedFindings(static_cast<int>(state.range(0)));
  for (auto _ : state) CopyToArenaOnce(findings);
  Count(state, Document(static_cast<int>(state.range(0))));
}
BENCHMARK(BM_FindingsCopyArena)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace treatd

BENCHMARK_MAIN();
