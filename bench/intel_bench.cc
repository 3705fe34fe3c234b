// Threat-intel feed benchmark: how long loading the CISA KEV catalog and the
// FIRST EPSS scores takes, how much memory the loaded feeds hold, and how
// fast lookups and enrichment are.
//
// The shipped EPSS file is a 4,820-row subset, so at start-up this writes a
// synthetic full-size file (250,000 rows, the real format) to a temporary
// directory and measures loading that too. Memory is reported two ways: the
// bytes the snapshot accounts for (MemoryBytes) and the process RSS growth
// across one load in a fresh process, measured before any benchmark runs.
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "common/intel/enrich.h"
#include "common/intel/epss_feed.h"
#include "common/intel/intel_snapshot.h"
#include "common/intel/kev_feed.h"

namespace treatd::intel {
namespace {

constexpr int kFullEpssRows = 250'000;

const std::string& KevPath() {
  static const std::string* path = new std::string(absl::StrCat(
      TREATD_SOURCE_DIR, "/intel/known_exploited_vulnerabilities.json"));
  return *path;
}
const std::string& EpssSamplePath() {
  static const std::string* path = new std::string(
      absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv"));
  return *path;
}
// Set by main() once the synthetic file is written.
std::string* full_epss_path = nullptr;

// Figures from the one-off load in main(), before anything else allocated.
struct MemoryFigures {
  double rss_delta = 0;       // VmRSS after - before, bytes.
  double peak_rss_delta = 0;  // VmHWM during the load - VmRSS before, bytes.
  double snapshot_bytes = 0;  // IntelSnapshot::MemoryBytes().
  double load_seconds = 0;
};
MemoryFigures memory_figures;

// A line of /proc/self/status such as "VmRSS:    123456 kB", in bytes.
double ProcStatusBytes(absl::string_view field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, field) && line.size() > field.size() &&
        line[field.size()] == ':') {
      absl::string_view value(line);
      value.remove_prefix(field.size() + 1);
      value = absl::StripAsciiWhitespace(value);
      const size_t space = value.find(' ');
      int64_t kib = 0;
      if (absl::SimpleAtoi(value.substr(0, space), &kib)) return kib * 1024.0;
    }
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux >= 4.0); false when not allowed.
bool ResetPeakRss() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.close();
  return clear.good();
}

// Writes a full-size EPSS file to `path`: 250,000 distinct CVEs across
// 1999-2025 in FIRST's order (sorted as text), skewed low scores like the
// real distribution, and percentiles that match the scores' ranks.
void WriteFullEpssFile(const std::string& path) {
  std::mt19937_64 rng(20240113);
  std::vector<std::string> cves;
  cves.reserve(kFullEpssRows);
  const int years = 2025 - 1999 + 1;
  for (int y = 0; y < years; ++y) {
    const int rows = kFullEpssRows / years + (y < kFullEpssRows % years);
    uint32_t number = 0;
    std::uniform_int_distribution<uint32_t> step(1, 9);
    for (int i = 0; i < rows; ++i) {
      number += step(rng);
      cves.push_back(absl::StrFormat("CVE-%d-%04u", 1999 + y, number));
    }
  }
  std::sort(cves.begin(), cves.end());
  std::exponential_distribution<double> spread(40.0);
  std::vector<double> scores(cves.size());
  for (double& s : scores) s = std::min(1.0, 0.0004 + spread(rng));
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  std::vector<double> percentiles(scores.size());
  for (size_t rank = 0; rank < order.size(); ++rank) {
    percentiles[order[rank]] =
        static_cast<double>(rank + 1) / static_cast<double>(order.size());
  }
  std::string text =
      "#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\n"
      "cve,epss,percentile\n";
  text.reserve(cves.size() * 34);
  for (size_t i = 0; i < cves.size(); ++i) {
    absl::StrAppendFormat(&text, "%s,%.5f,%.5f\n", cves[i], scores[i],
                          percentiles[i]);
  }
  std::ofstream out(path, std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out.good()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

// Generates the file in a child process, so the ~30 MB the generator
// allocates never touches this process's heap and the RSS measured around
// the first load is the load's alone.
void GenerateInChild(const std::string& path) {
  const pid_t child = ::fork();
  if (child < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (child == 0) {
    WriteFullEpssFile(path);
    ::_exit(0);
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "generating %s failed\n", path.c_str());
    std::exit(1);
  }
}

void MeasureMemoryOnce() {
  const bool peak_reset = ResetPeakRss();
  const double before = ProcStatusBytes("VmRSS");
  const absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<const IntelSnapshot>> snapshot =
      IntelSnapshot::Load({KevPath(), *full_epss_path});
  memory_figures.load_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  if (!snapshot.ok()) {
    std::fprintf(stderr, "%s\n", snapshot.status().ToString().c_str());
    std::exit(1);
  }
  memory_figures.rss_delta = ProcStatusBytes("VmRSS") - before;
  memory_figures.peak_rss_delta =
      peak_reset ? ProcStatusBytes("VmHWM") - before : -1;
  memory_figures.snapshot_bytes =
      static_cast<double>((*snapshot)->MemoryBytes());
  std::fprintf(stderr,
               "first load of KEV + full EPSS (%zu + %zu entries): %.1f ms, "
               "snapshot %.2f MiB, RSS +%.2f MiB, peak RSS +%.2f MiB\n",
               (*snapshot)->kev()->size(), (*snapshot)->epss()->size(),
               memory_figures.load_seconds * 1e3,
               memory_figures.snapshot_bytes / (1 << 20),
               memory_figures.rss_delta / (1 << 20),
               memory_figures.peak_rss_delta / (1 << 20));
}

benchmark::Counter Bytes(double bytes) {
  return benchmark::Counter(bytes, benchmark::Counter::kDefaults,
                            benchmark::Counter::kIs1024);
}

void BM_LoadKevCatalog(benchmark::State& state) {
  std::shared_ptr<const KevFeed> feed;
  for (auto _ : state) {
    absl::StatusOr<std::shared_ptr<const KevFeed>> loaded =
        KevFeed::LoadFile(KevPath());
    if (!loaded.ok()) {
      state.SkipWithError(loaded.status().ToString().c_str());
      return;
    }
    feed = *std::move(loaded);
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(feed->size()));
  state.counters["entries"] = static_cast<double>(feed->size());
  state.counters["feed_bytes"] =
      Bytes(static_cast<double>(feed->MemoryBytes()));
}
BENCHMARK(BM_LoadKevCatalog)->Unit(benchmark::kMillisecond);

void LoadEpss(benchmark::State& state, const std::string& path) {
  std::shared_ptr<const EpssFeed> feed;
  for (auto _ : state) {
    absl::StatusOr<std::shared_ptr<const EpssFeed>> loaded =
        EpssFeed::LoadFile(path);
    if (!loaded.ok()) {
      state.SkipWithError(loaded.status().ToString().c_str());
      return;
    }
    feed = *std::move(loaded);
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(feed->size()));
  state.counters["rows"] = static_cast<double>(feed->size());
  state.counters["malformed"] = static_cast<double>(feed->malformed().count());
  state.counters["feed_bytes"] =
      Bytes(static_cast<double>(feed->MemoryBytes()));
}

void BM_LoadEpssSample(benchmark::State& state) {
  LoadEpss(state, EpssSamplePath());
}
BENCHMARK(BM_LoadEpssSample)->Unit(benchmark::kMillisecond);

void BM_LoadEpssFull(benchmark::State& state) {
  LoadEpss(state, *full_epss_path);
}
BENCHMARK(BM_LoadEpssFull)->Unit(benchmark::kMillisecond);

// Both feeds, full size: what a server start or reload costs.
void BM_LoadSnapshotFull(benchmark::State& state) {
  std::shared_ptr<const IntelSnapshot> snapshot;
  for (auto _ : state) {
    absl::StatusOr<std::shared_ptr<const IntelSnapshot>> loaded =
        IntelSnapshot::Load({KevPath(), *full_epss_path});
    if (!loaded.ok()) {
      state.SkipWithError(loaded.status().ToString().c_str());
      return;
    }
    snapshot = *std::move(loaded);
  }
  state.counters["snapshot_bytes"] =
      Bytes(static_cast<double>(snapshot->MemoryBytes()));
  state.counters["first_load_rss_delta"] = Bytes(memory_figures.rss_delta);
  state.counters["first_load_peak_rss_delta"] =
      Bytes(memory_figures.peak_rss_delta);
}
BENCHMARK(BM_LoadSnapshotFull)->Unit(benchmark::kMillisecond);

std::shared_ptr<const IntelSnapshot> FullSnapshot() {
  static const auto* snapshot = new std::shared_ptr<const IntelSnapshot>(
      *IntelSnapshot::Load({KevPath(), *full_epss_path}));
  return *snapshot;
}

// Lookups of CVEs the file scores, in random order (cache-unfriendly).
void BM_EpssLookup(benchmark::State& state) {
  std::shared_ptr<const IntelSnapshot> snapshot = FullSnapshot();
  std::vector<CveId> probes;
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> year(1999, 2025);
  std::uniform_int_distribution<uint32_t> number(1, 45000);
  while (probes.size() < 4096) {
    CveId id =
        *CveId::Parse(absl::StrFormat("CVE-%d-%04u", year(rng), number(rng)));
    if (snapshot->FindEpss(id).has_value()) probes.push_back(id);
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(snapshot->FindEpss(probes[i++ & 4095]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EpssLookup);

// Enriching one finding with a CVE id and two aliases, copying the finding
// each time as a server would per request.
void BM_EnrichFinding(benchmark::State& state) {
  std::shared_ptr<const IntelSnapshot> snapshot = FullSnapshot();
  v1::Finding finding;
  finding.set_id("f1");
  finding.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  finding.mutable_vulnerability()->add_aliases("GHSA-jfh8-c2jp-5v3q");
  finding.mutable_vulnerability()->add_aliases("CVE-2020-0601");
  EnrichOptions options;
  options.max_age = absl::Hours(24 * 30);
  options.as_of = absl::Now();
  for (auto _ : state) {
    v1::Finding copy = finding;
    EnrichmentReport report = EnrichFinding(*snapshot, options, &copy);
    benchmark::DoNotOptimize(report);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EnrichFinding);

}  // namespace
}  // namespace treatd::intel

int main(int argc, char** argv) {
  char dir_template[] = "/tmp/treatd-intel-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  treatd::intel::full_epss_path =
      new std::string(absl::StrCat(dir, "/epss_scores-2025-08-25.csv"));
  treatd::intel::GenerateInChild(*treatd::intel::full_epss_path);
  treatd::intel::MeasureMemoryOnce();

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  std::remove(treatd::intel::full_epss_path->c_str());
  ::rmdir(dir);
  return 0;
}
