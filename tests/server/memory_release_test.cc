// FreeMemoryReleaser against the real tcmalloc this test links (as treatd
// does): memory freed after a burst goes back to the system.
#include "server/memory_release.h"

#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

// VmRSS of this process, in bytes.
size_t ResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoul(line.substr(6)) * 1024;
    }
  }
  return 0;
}

// Allocates and touches `mib` MiB in 1 MiB blocks (large objects, which
// tcmalloc takes from and returns to its page heap), then frees them.
void Burst(size_t mib) {
  std::vector<std::unique_ptr<char[]>> blocks;
  for (size_t i = 0; i < mib; ++i) {
    blocks.emplace_back(new char[kMiB]);
    std::memset(blocks.back().get(), static_cast<int>(i), kMiB);
  }
}

class MemoryReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!AllocatorFreeBytes().has_value()) {
      GTEST_SKIP() << "not running on tcmalloc (sanitizer build?)";
    }
    ReleaseFreeMemory();
  }
};

TEST_F(MemoryReleaseTest, ABurstsFreedMemoryReturnsToTheSystem) {
  const size_t before = ResidentBytes();
  Burst(96);
  const size_t after_burst = ResidentBytes();
  // tcmalloc keeps the freed pages: free in its page heap, still resident.
  ASSERT_GE(*AllocatorFreeBytes(), 64 * kMiB);
  ASSERT_GE(after_burst, before + 64 * kMiB);

  FreeMemoryReleaser releaser(absl::Milliseconds(20), 8 * kMiB);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (releaser.released_bytes() < static_cast<int64_t>(64 * kMiB) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(releaser.released_bytes(), static_cast<int64_t>(64 * kMiB));
  EXPECT_LE(*AllocatorFreeBytes(), 8 * kMiB);
  EXPECT_LE(ResidentBytes(), after_burst - 64 * kMiB)
      << "RSS " << before / kMiB << " MiB before the burst, "
      << after_burst / kMiB << " MiB after it";
}

TEST_F(MemoryReleaseTest, KeepsTheBoundAndAZeroIntervalReleasesNothing) {
  {
    FreeMemoryReleaser off(absl::ZeroDuration(), 0);
    Burst(48);
    absl::SleepFor(absl::Milliseconds(100));
    EXPECT_EQ(off.released_bytes(), 0);
    EXPECT_GE(*AllocatorFreeBytes(), 32 * kMiB);
  }
  // Below the bound nothing is released; above it at least the excess
  // (tcmalloc returns whole free spans, so possibly more).
  EXPECT_EQ(ReleaseFreeMemoryAbove(size_t{1} << 40), 0u);
  const size_t released = ReleaseFreeMemoryAbove(16 * kMiB);
  EXPECT_GE(released, 16 * kMiB);
  EXPECT_LE(*AllocatorFreeBytes(), 16 * kMiB);
}

}  // namespace
}  // namespace treatd
