// treatd_fuzz_seeds SOURCE_DIR OUT_DIR: writes the seed corpora and
// dictionaries of the fuzz targets (fuzz_seeds.h) for run_fuzzers.sh.
#include <iostream>

#include "tests/fuzz/fuzz_seeds.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " SOURCE_DIR OUT_DIR\n";
    return 2;
  }
  for (const auto& [target, count] :
       treatd::fuzz::WriteSeeds(argv[1], argv[2])) {
    std::cout << target << ": " << count << " seeds\n";
  }
  return 0;
}
