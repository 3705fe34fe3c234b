// The policy engine in process, one thread: compiling policies (the default
// one and a generated 1,000-rule one), deciding the findings of
// examples/findings.jsonl with policies/default.yaml with and without a
// trace, table lookups, and the cost of each class of expression. Items
// per second are decisions per second.
//
//   build/bench/engine_bench --benchmark_filter=BM_Decide
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bench/bench_data.h"
#include "benchmark/benchmark.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

// 2026-12-01T00:00:00Z, the as-of of the golden tests.
const absl::Time kAsOf = absl::FromUnixSeconds(1796083200);

using bench::Die;
using bench::ReadSource;

std::shared_ptr<const CompiledPolicy> MustCompile(const std::string& yaml,
                                                  const std::string& name) {
  auto policy = CompiledPolicy::Compile(yaml, name);
  if (!policy.ok()) {
    Die("cannot compile " + name + ": " +
        std::string(policy.status().message()));
  }
  return *policy;
}

const std::vector<v1::Finding>& Findings() { return bench::ExampleFindings(); }

const CompiledPolicy& DefaultPolicy() {
  static const auto* policy = new std::shared_ptr<const CompiledPolicy>(
      MustCompile(ReadSource("policies/default.yaml"), "default.yaml"));
  return **policy;
}

// Decides `findings` (by default the examples) round robin into one
// reused Decision, the way a server thread does; `cache` false runs the
// plain interpreter (EvalOptions::use_core_cache).
void RunDecisions(benchmark::State& state, const CompiledPolicy& policy,
                  bool trace, v1::DecisionView view = v1::DECISION_VIEW_FULL,
                  bool cache = true,
                  const std::vector<v1::Finding>& findings = Findings()) {
  EvalOptions options;
  options.as_of = kAsOf;
  options.trace = trace;
  options.view = view;
  options.use_core_cache = cache;
  v1::Decision decision;
  size_t i = 0;
  for (auto _ : state) {
    auto status = policy.Evaluate(findings[i], options, &decision);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(decision);
    if (++i == findings.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_Decide(benchmark::State& state) {
  RunDecisions(state, DefaultPolicy(), state.range(0) != 0);
}
BENCHMARK(BM_Decide)->Arg(0)->ArgName("trace");
BENCHMARK(BM_Decide)->Arg(1)->ArgName("trace");

// The BASIC view (DecisionView): the decision without actions,
// reasons, deadline sources and table inputs.
void BM_DecideBasic(benchmark::State& state) {
  RunDecisions(state, DefaultPolicy(), /*trace=*/false,
               v1::DECISION_VIEW_BASIC);
}
BENCHMARK(BM_DecideBasic);

// The same decisions by the plain interpreter, every expression run: the
// engine before decision cores were reused.
void BM_DecidePlain(benchmark::State& state) {
  RunDecisions(
      state, DefaultPolicy(), /*trace=*/false,
      state.range(0) != 0 ? v1::DECISION_VIEW_BASIC : v1::DECISION_VIEW_FULL,
      /*cache=*/false);
}
BENCHMARK(BM_DecidePlain)->Arg(0)->Arg(1)->ArgName("basic");

// The worst case for the core cache: 4,096 variants of the examples whose
// EPSS scores all differ, so that no two share a core and every decision
// misses (the key is built and the core stored for nothing).
const std::vector<v1::Finding>& DistinctFindings() {
  static const auto* findings = [] {
    auto* out = new std::vector<v1::Finding>;
    for (int i = 0; i < 4096; ++i) {
      v1::Finding f = Findings()[i % Findings().size()];
      f.mutable_vulnerability()->mutable_epss()->set_score(i / 4096.0);
      out->push_back(std::move(f));
    }
    return out;
  }();
  return *findings;
}

void BM_DecideBasicDistinct(benchmark::State& state) {
  RunDecisions(state, DefaultPolicy(), /*trace=*/false, v1::DECISION_VIEW_BASIC,
               /*cache=*/state.range(0) != 0, DistinctFindings());
}
BENCHMARK(BM_DecideBasicDistinct)->Arg(1)->Arg(0)->ArgName("cache");

// What a server does per finding after validation: the decision pipeline
// with revisit conditions, and (arg intel=1) enrichment from the shipped
// KEV catalog and EPSS sample first; basic=1 asks for the BASIC view.
void BM_Pipeline(benchmark::State& state) {
  std::shared_ptr<const intel::IntelSnapshot> snapshot;
  if (state.range(0) != 0) {
    intel::IntelSources sources;
    sources.kev_path = std::string(TREATD_SOURCE_DIR) +
                       "/intel/known_exploited_vulnerabilities.json";
    sources.epss_path =
        std::string(TREATD_SOURCE_DIR) + "/intel/epss_scores_sample.csv";
    auto loaded = intel::IntelSnapshot::Load(sources);
    if (!loaded.ok()) Die("cannot load intel/: " + loaded.status().ToString());
    snapshot = *std::move(loaded);
  }
  auto policy = MustCompile(ReadSource("policies/default.yaml"), "default");
  auto pipeline = DecisionPipeline::Create(policy, snapshot, IntelSettings{});
  if (!pipeline.ok()) Die(pipeline.status().ToString());
  const auto& findings = Findings();
  EvalOptions options;
  options.as_of = kAsOf;
  if (state.range(1) != 0) options.view = v1::DECISION_VIEW_BASIC;
  v1::Decision decision;
  size_t i = 0;
  for (auto _ : state) {
    auto status = (*pipeline)->Decide(findings[i], options, &decision);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(decision);
    if (++i == findings.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Pipeline)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"intel", "basic"});

void BM_CompileDefault(benchmark::State& state) {
  const std::string yaml = ReadSource("policies/default.yaml");
  for (auto _ : state) {
    auto policy = CompiledPolicy::Compile(yaml, "default.yaml");
    benchmark::DoNotOptimize(policy);
  }
  state.SetLabel(absl::StrCat(yaml.size(), " bytes"));
}
BENCHMARK(BM_CompileDefault)->Unit(benchmark::kMillisecond);

// A policy of `rules` distinct rules in the shape of the default one: lets,
// comparisons on several fields, string functions, exists() and time
// arithmetic, one action and a templated reason each.
std::string GeneratedPolicy(int rules) {
  std::string yaml = R"(name: generated
version: "1"
priorities:
  - {name: P1, mitigate_within: 24h, remediate_within: 3d, review_within: 7d}
  - {name: P2, mitigate_within: 72h, remediate_within: 14d, review_within: 14d}
  - {name: P3, mitigate_within: 7d, remediate_within: 60d, review_within: 30d}
let:
  exploited: 'vulnerability.kev.listed || vulnerability.exploit_maturity == "ACTIVE"'
  exposed: 'asset.exposure == "INTERNET"'
  full_control: 'compensating_controls.exists(c, c.effectiveness == "FULL")'
actions:
  - id: patch
    category: REMEDIATION
    text: "Upgrade {{package.name}} on {{asset.id}}"
rules:
)";
  const char* kPriorities[] = {"P1", "P2", "P3"};
  for (int i = 0; i < rules; ++i) {
    absl::StrAppend(
        &yaml, "  - id: rule-", i, "\n", "    when: >-\n",
        "      kind == \"VULNERABILITY\" && vulnerability.cvss.score >= ",
        (i % 90) / 10.0, " && (exploited || exposed) && !full_control &&\n",
        "      asset.id.startsWith(\"asset-", i, "\") && ",
        "first_seen + duration(\"", 1 + i % 30, "d\") < now\n",
        "    treatment: REMEDIATE\n", "    priority: ", kPriorities[i % 3],
        "\n", "    actions: [patch]\n", "    reason: \"Rule ", i,
        " matched {{title}} on {{asset.id}}\"\n");
  }
  absl::StrAppend(&yaml, R"(default:
  treatment: REMEDIATE
  priority: P3
  actions: [patch]
  reason: "Remediate {{title}}"
)");
  return yaml;
}

void BM_CompileGenerated(benchmark::State& state) {
  const std::string yaml = GeneratedPolicy(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto policy = CompiledPolicy::Compile(yaml, "generated.yaml");
    if (!policy.ok()) {
      state.SkipWithError(std::string(policy.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(policy);
  }
  state.SetLabel(absl::StrCat(yaml.size(), " bytes"));
}
BENCHMARK(BM_CompileGenerated)
    ->Arg(1000)
    ->ArgName("rules")
    ->Unit(benchmark::kMillisecond);

// Deciding with the generated policy: most findings try every rule.
void BM_DecideGenerated(benchmark::State& state) {
  static const auto* policy = new std::shared_ptr<const CompiledPolicy>(
      MustCompile(GeneratedPolicy(1000), "generated.yaml"));
  RunDecisions(state, **policy, false);
}
BENCHMARK(BM_DecideGenerated);

// One rule whose condition is the expression under test, the default
// taking the rest: the decision's fixed cost is what BM_Expression/baseline
// measures, the difference is the expression's.
struct ExpressionCase {
  const char* name;
  const char* when;
};
constexpr ExpressionCase kExpressionCases[] = {
    {"baseline", "false"},
    {"field_compare",
     R"(severity == "CRITICAL" && asset.exposure == "INTERNET" && )"
     R"(vulnerability.cvss.score >= 9.0 && !fix.change_freeze)"},
    {"string_ops",
     R"(vulnerability.cvss.vector.contains("/AV:N") && )"
     R"(asset.id.startsWith("zz-") && package.name.endsWith("-core"))"},
    {"regex", R"(title.matches("(?i)remote code|injection|overflow$"))"},
    {"exists_over_lists",
     R"(compensating_controls.exists(c, c.type == "WAF" && )"
     R"(c.effectiveness == "FULL") || "zz" in package.fixed_versions)"},
    {"time_arithmetic",
     R"(has(vulnerability.kev.due_date) && vulnerability.kev.due_date - )"
     R"(duration("3d") < now || first_seen + duration("400d") < now)"},
};

std::string ExpressionPolicy(const char* when) {
  return absl::StrCat(R"(name: expression
version: "1"
priorities:
  - {name: P1, remediate_within: 3d, review_within: 7d}
rules:
  - id: under-test
    when: ')",
                      when, R"('
    treatment: REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P1
)");
}

void BM_Expression(benchmark::State& state) {
  const ExpressionCase& c = kExpressionCases[state.range(0)];
  static std::shared_ptr<const CompiledPolicy>
      policies[std::size(kExpressionCases)];
  auto& policy = policies[state.range(0)];
  if (policy == nullptr) policy = MustCompile(ExpressionPolicy(c.when), c.name);
  state.SetLabel(c.name);
  RunDecisions(state, *policy, false);
}
BENCHMARK(BM_Expression)->DenseRange(0, std::size(kExpressionCases) - 1);

// A table in the shape of the CISA SSVC coordinator table (four inputs
// computed by lets, 36 rows) behind one rule, against the same rule
// without the table.
std::string TablePolicy(bool with_table) {
  std::string out = R"(name: table
version: "1"
priorities:
  - {name: P1, remediate_within: 3d, review_within: 7d}
let:
  exploitation: >-
    vulnerability.kev.listed ? "active" :
    (vulnerability.exploit_maturity == "POC" ? "public poc" : "none")
  automatable: 'vulnerability.automatable == "YES"'
  impact: 'vulnerability.technical_impact == "TOTAL" ? "total" : "partial"'
  mission: >-
    asset.criticality >= "HIGH" ? "high" :
    (asset.criticality == "MEDIUM" ? "medium" : "low")
tables:
  - name: ssvc
    inputs:
      - {name: exploitation, expr: exploitation}
      - {name: automatable, expr: automatable}
      - {name: technical_impact, expr: impact}
      - {name: mission, expr: mission}
    rows:
)";
  const char* kOutcomes[] = {"track", "track*", "attend", "act"};
  int row = 0;
  for (const char* e : {"none", "public poc", "active"}) {
    for (const char* a : {"no", "yes"}) {
      for (const char* t : {"partial", "total"}) {
        for (const char* m : {"low", "medium", "high"}) {
          absl::StrAppend(&out, "      - {when: [", e, ", ", a, ", ", t, ", ",
                          m, "], then: \"", kOutcomes[row++ % 4], "\"}\n");
        }
      }
    }
  }
  absl::StrAppend(&out, "rules:\n  - id: under-test\n    when: '",
                  with_table ? R"(tables.ssvc == "zz")" : "false", R"('
    treatment: REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P1
)");
  return out;
}

void BM_TableLookup(benchmark::State& state) {
  static std::shared_ptr<const CompiledPolicy> policies[2];
  auto& policy = policies[state.range(0)];
  if (policy == nullptr) {
    policy = MustCompile(TablePolicy(state.range(0) != 0), "table.yaml");
  }
  state.SetLabel(state.range(0) != 0 ? "36-row table and its lets"
                                     : "same rule, no table");
  RunDecisions(state, *policy, false);
}
BENCHMARK(BM_TableLookup)->Arg(0)->Arg(1)->ArgName("table");

}  // namespace
}  // namespace treatd

BENCHMARK_MAIN();
