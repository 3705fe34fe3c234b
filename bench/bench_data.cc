#include "bench/bench_data.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "google/protobuf/util/json_util.h"

namespace treatd::bench {

void Die(const std::string& what) {
  std::fprintf(stderr, "bench: %s\n", what.c_str());
  std::abort();
}

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(TREATD_SOURCE_DIR) + "/" + relative);
  if (!in) Die("cannot read " + relative);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

const std::vector<v1::Finding>& ExampleFindings() {
  static const auto* findings = [] {
    auto* out = new std::vector<v1::Finding>;
    std::ifstream in(std::string(TREATD_SOURCE_DIR) +
                     "/examples/findings.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      v1::Finding finding;
      auto status = google::protobuf::util::JsonStringToMessage(line, &finding);
      if (!status.ok()) Die("bad example finding: " + status.ToString());
      out->push_back(std::move(finding));
    }
    if (out->empty()) Die("examples/findings.jsonl has no findings");
    return out;
  }();
  return *findings;
}

}  // namespace treatd::bench
