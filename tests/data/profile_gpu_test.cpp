// The drift pass on the GPU (data::ProfileOptions::gpu: kernels::DeviceGridCounter) against
// the same pass on the CPU: the same profile, byte for byte (the counts are the kernel's, the
// moments the host's in both); whole and in windows that split blocks. Runs where a GPU is
// (scripts/gpu-check); skips cleanly elsewhere.
#include <gtest/gtest.h>

#include <vector>

#include "data/dataset.h"
#include "data/profile.h"
#include "kernels/device.h"
#include "kernels/grid_count.h"
#include "tests/data/profile_cases.h"
#include "tests/gpu.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::TempDir;

void expect_same(const Profile& cpu, const Profile& gpu) {
  EXPECT_EQ(cpu.to_json(), gpu.to_json());
}

TEST(ProfileGpu, ThePassOnTheGpuGivesTheCpusProfile) {
  KILN_SKIP_WITHOUT_GPU(kernels::gpu_available(), "the drift pass on the GPU");
  TempDir dir;
  const Profile reference =
      profile_dataset(*Dataset::open(testing::make_profile_dataset(dir / "ref", 50021, 20000, 1)));
  const auto current =
      Dataset::open(testing::make_profile_dataset(dir / "cur", 50021, 20000, 2, 0.3f));
  ProfileOptions cpu, gpu;
  cpu.block_rows = gpu.block_rows = 7000;  // blocks that end inside shards
  gpu.gpu = true;
  expect_same(profile_against(reference, *current, cpu), profile_against(reference, *current, gpu));
  // Windows of 3000 rows (several a block, some across blocks) and of a duration.
  for (const WindowOptions& w : {WindowOptions{"", 0, 3000}, WindowOptions{"ts", 10000, 0}}) {
    std::vector<Profile> on_cpu, on_gpu;
    const Profile whole_cpu = profile_windows(
        reference, *current, w, [&](Window&& x) { on_cpu.push_back(std::move(x.profile)); }, cpu);
    const Profile whole_gpu = profile_windows(
        reference, *current, w, [&](Window&& x) { on_gpu.push_back(std::move(x.profile)); }, gpu);
    expect_same(whole_cpu, whole_gpu);
    ASSERT_EQ(on_cpu.size(), on_gpu.size());
    ASSERT_GT(on_cpu.size(), 3u);
    for (std::size_t i = 0; i < on_cpu.size(); ++i)
      expect_same(on_cpu[i], on_gpu[i]);
  }
  // A reference of 20,001 quantiles: grids too fine for the GPU's shared memory (every
  // column's but the empty one's, whose grid has no points: the counters alone take 16 bytes
  // a point) are counted on the CPU, the rest on the GPU; the same profile.
  ProfileOptions fine;
  fine.quantiles = 20000;
  fine.bins = 40;
  const Profile finer = profile_dataset(*Dataset::open(dir / "ref"), fine);
  EXPECT_FALSE(kernels::DeviceGridCounter::fits(
      kernels::GridIndex(finer.find("amount")->numeric.quantiles)));
  expect_same(profile_against(finer, *current, cpu), profile_against(finer, *current, gpu));
}

}  // namespace
}  // namespace kiln::data
