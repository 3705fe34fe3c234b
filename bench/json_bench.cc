// protobuf's JSON mapping at the edge (common/json) against protobuf's own
// converter: Finding JSON in (the example findings round robin), a
// DecisionResult JSON out (their decisions under the default policy, FULL
// and BASIC), bytes/s and items/s on one core.
//
//   build-perf/bench/json_bench --benchmark_min_time=1
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "bench/bench_data.h"
#include "benchmark/benchmark.h"
#include "common/json/decision_json_writer.h"
#include "common/json/proto_json_reader.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decide_item.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "google/protobuf/util/json_util.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {
namespace {

const std::vector<std::string>& FindingTexts() {
  static const auto* texts = [] {
    auto* out = new std::vector<std::string>();
    for (const v1::Finding& f : bench::ExampleFindings()) {
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(f, &json);
      out->push_back(std::move(json));
    }
    return out;
  }();
  return *texts;
}

void BM_ReadFindingProtobuf(benchmark::State& state) {
  const auto& texts = FindingTexts();
  google::protobuf::util::JsonParseOptions options;
  v1::Finding finding;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    finding.Clear();
    auto status = google::protobuf::util::JsonStringToMessage(
        texts[i], &finding, options);
    if (!status.ok()) state.SkipWithError("parse failed");
    bytes += texts[i].size();
    if (++i == texts.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ReadFindingProtobuf);

void BM_ReadFindingSimdjson(benchmark::State& state) {
  const auto& texts = FindingTexts();
  json::ProtoJsonReader reader(v1::Finding::descriptor());
  v1::Finding finding;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    if (!reader.Read(texts[i], &finding).ok()) {
      state.SkipWithError("parse failed");
    }
    bytes += texts[i].size();
    if (++i == texts.size()) i = 0;
  }
  if (reader.fallbacks() != 0) state.SkipWithError("fell back to protobuf");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ReadFindingSimdjson);

std::vector<v1::DecisionResult> Results(bool basic) {
  auto policy = CompiledPolicy::Compile(
      bench::ReadSource("policies/default.yaml"), "default.yaml");
  if (!policy.ok()) bench::Die(policy.status().ToString());
  auto pipeline = DecisionPipeline::Create(*policy, nullptr, {});
  if (!pipeline.ok()) bench::Die(pipeline.status().ToString());
  EvalOptions options;
  options.as_of = absl::FromUnixSeconds(1796083200);
  if (basic) options.view = v1::DECISION_VIEW_BASIC;
  std::vector<v1::DecisionResult> results;
  for (const v1::Finding& f : bench::ExampleFindings()) {
    results.emplace_back();
    results.back().set_index(static_cast<int>(results.size()) - 1);
    DecideInto(**pipeline, f, options, FindingLimits(), "", &results.back());
  }
  return results;
}

// Writes the results round robin with `write`.
template <typename Write>
void RunWrites(benchmark::State& state, Write write) {
  const auto results = Results(state.range(0) != 0);
  std::string json;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    json.clear();
    write(results[i], &json);
    bytes += json.size();
    if (++i == results.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void BM_WriteDecisionProtobuf(benchmark::State& state) {
  RunWrites(state, [](const v1::DecisionResult& r, std::string* out) {
    (void)google::protobuf::util::MessageToJsonString(r, out);
  });
}
BENCHMARK(BM_WriteDecisionProtobuf)->Arg(0)->Arg(1)->ArgName("basic");

void BM_WriteDecisionDirect(benchmark::State& state) {
  RunWrites(state, [](const v1::DecisionResult& r, std::string* out) {
    (void)json::AppendDecisionResultJson(r, out);
  });
}
BENCHMARK(BM_WriteDecisionDirect)->Arg(0)->Arg(1)->ArgName("basic");

}  // namespace
}  // namespace treatd

BENCHMARK_MAIN();
