// The drift pass on the GPU (data::ProfileOptions::gpu: kernels::DeviceGridCounter) against
// the same pass on the CPU: the same profile, every count, quantile and bin equal, the mean and
// variance within rounding; whole and in windows that split blocks. Runs where a GPU is
// (scripts/gpu-check); skips cleanly elsewhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

// The two profiles equal but for the moments, which agree within rounding.
void expect_same(const Profile& cpu, const Profile& gpu) {
  ASSERT_EQ(cpu.columns.size(), gpu.columns.size());
  Profile a = cpu, b = gpu;
  for (std::size_t c = 0; c < a.columns.size(); ++c) {
    NumericProfile &x = a.columns[c].numeric, &y = b.columns[c].numeric;
    EXPECT_NEAR(x.mean, y.mean, 1e-9 * std::max(1.0, std::abs(x.mean))) << a.columns[c].name;
    EXPECT_NEAR(x.variance, y.variance, 1e-9 * std::max(1.0, x.variance)) << a.columns[c].name;
    x.mean = y.mean = x.variance = y.variance = 0;
  }
  EXPECT_EQ(a.to_json(), b.to_json());
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
