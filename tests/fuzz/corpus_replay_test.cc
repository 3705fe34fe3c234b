// Replays, in the ordinary test suite, the checked-in fuzz corpus
// (tests/fuzz/corpus/<target>/: every input a fuzzer once crashed on) and
// the seeds derived from the repository (fuzz_seeds.h) through the fuzz
// target bodies, under whatever build runs the suite: a regression comes
// back as a failing test, and a body whose invariant is wrong fails here on
// real inputs rather than in a fuzzing run.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_seeds.h"
#include "tests/fuzz/fuzz_targets.h"

namespace treatd::fuzz {
namespace {

namespace fs = std::filesystem;

void AddFiles(const fs::path& dir, std::vector<fs::path>* files) {
  if (!fs::exists(dir)) return;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files->push_back(entry.path());
  }
}

// The seeds, written once per test process into a folder of its own
// (ctest runs each target's test as a process of its own, in parallel) and
// removed when the process exits.
class SeedFolder {
 public:
  SeedFolder()
      : path_(fs::path(::testing::TempDir()) /
              absl::StrCat("treatd_fuzz_seeds_", getpid())) {
    fs::remove_all(path_);
    WriteSeeds(TREATD_SOURCE_DIR, path_.string());
  }
  ~SeedFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  const fs::path path_;
};

const fs::path& SeedDir() {
  static const SeedFolder folder;
  return folder.path();
}

std::vector<fs::path> ReplayFiles(absl::string_view target) {
  std::vector<fs::path> files;
  AddFiles(fs::path(TREATD_FUZZ_CORPUS_DIR) / std::string(target), &files);
  AddFiles(SeedDir() / "seeds" / std::string(target), &files);
  std::sort(files.begin(), files.end());
  return files;
}

class FuzzCorpusReplayTest : public ::testing::TestWithParam<FuzzTarget> {};

TEST_P(FuzzCorpusReplayTest, EveryCorpusInputAndSeedRunsCleanly) {
  const FuzzTarget& target = GetParam();
  const std::vector<fs::path> files = ReplayFiles(target.name);
  // Every target has seeds: the repository has inputs of every kind.
  EXPECT_GE(files.size(), 2u);
  for (const fs::path& path : files) {
    SCOPED_TRACE(path.string());
    std::ifstream file(path, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    const std::string input = bytes.str();
    // A broken invariant aborts the process (FuzzFail), which fails the
    // test with the input's path in the output above.
    EXPECT_EQ(target.body(reinterpret_cast<const uint8_t*>(input.data()),
                          input.size()),
              0);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTargets, FuzzCorpusReplayTest,
                         ::testing::ValuesIn(AllTargets()),
                         [](const ::testing::TestParamInfo<FuzzTarget>& info) {
                           return std::string(info.param.name);
                         });

TEST(FuzzCorpusTest, EveryCorpusFolderNamesATarget) {
  const fs::path root(TREATD_FUZZ_CORPUS_DIR);
  if (!fs::exists(root)) return;
  for (const auto& entry : fs::directory_iterator(root)) {
    bool known = false;
    for (const FuzzTarget& target : AllTargets()) {
      known = known || entry.path().filename() == target.name;
    }
    EXPECT_TRUE(known) << entry.path() << " is not a fuzz target's corpus";
  }
}

}  // namespace
}  // namespace treatd::fuzz
