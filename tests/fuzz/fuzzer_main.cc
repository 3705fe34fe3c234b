// The libFuzzer entry point of every fuzz target: one binary, treatd_fuzz,
// linked once, and a fuzz_<target> link to it per target; the name it is
// started under picks the body (fuzz_targets.h). One link instead of one
// per target keeps the fuzzing build short.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "tests/fuzz/fuzz_targets.h"

namespace {

treatd::fuzz::FuzzBody body = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  absl::string_view name = (*argc > 0) ? (*argv)[0] : "";
  name = name.substr(name.rfind('/') + 1);
  absl::ConsumePrefix(&name, "fuzz_");
  for (const treatd::fuzz::FuzzTarget& target : treatd::fuzz::AllTargets()) {
    if (name == target.name) body = target.body;
  }
  if (body == nullptr) {
    std::fprintf(stderr, "start me as fuzz_<target>; targets:");
    for (const treatd::fuzz::FuzzTarget& target : treatd::fuzz::AllTargets()) {
      std::fprintf(stderr, " %s", target.name);
    }
    std::fprintf(stderr, "\n");
    std::exit(2);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return body(data, size);
}
