// DeviceGridCounter (kernels/grid_count.h) against count_cells, the CPU reference: the same
// counts bit for bit, and moments equal within rounding. Runs where a GPU is
// (scripts/gpu-check); skips cleanly elsewhere.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/device.h"
#include "kernels/grid_count.h"
#include "tests/gpu.h"
#include "tests/kernels/grid_cases.h"

namespace kiln::kernels {
namespace {

// Every case's column counted on the GPU in launches of uneven sizes (several chunks of rows
// each, a last partial chunk), twice over (take() starts again from zero), against the CPU.
TEST(GridCountGpu, CountsEqualTheCpuReferenceBitForBit) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), "DeviceGridCounter");
  const int rows = 300007;
  std::vector<testing::GridCase> cases = testing::other_cases(rows);
  cases.push_back(testing::awkward_case(rows));
  std::vector<std::unique_ptr<GridIndex>> indexes;
  std::vector<const GridIndex*> grids;
  std::vector<float> host;  // column-major: case c's values at c * rows
  for (const testing::GridCase& c : cases) {
    indexes.push_back(std::make_unique<GridIndex>(c.points));
    grids.push_back(indexes.back().get());
    host.insert(host.end(), c.values.begin(), c.values.end());
  }
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, host.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  const int64_t parts[] = {1, 70000, 140000, rows - 210001};  // launches of these many rows
  DeviceGridCounter counter(grids, 140000);
  for (int round = 0; round < 2; ++round) {
    int64_t start = 0;
    for (int64_t n : parts) {
      // Column c's rows [start, start + n): at device + c * rows + start.
      counter.add(device + start, n, rows);
      start += n;
    }
    std::vector<CellCounts> counts;
    counter.take(counts);
    ASSERT_EQ(counts.size(), cases.size());
    for (std::size_t c = 0; c < cases.size(); ++c) {
      CellCounts expected(cases[c].points.size());
      count_cells(*grids[c], cases[c].values.data(), rows, expected);
      ASSERT_EQ(counts[c].cells, expected.cells) << "case " << c;
      ASSERT_EQ(counts[c].atoms, expected.atoms) << "case " << c;
      ASSERT_EQ(counts[c].low, expected.low) << "case " << c;
      ASSERT_EQ(counts[c].high, expected.high) << "case " << c;
      ASSERT_EQ(counts[c], expected) << "case " << c;
    }
  }
  cudaFree(device);
}

// A grid too large for a block's shared memory does not fit, and is refused naming its size.
TEST(GridCountGpu, AGridTooLargeForSharedMemoryIsRefused) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), "DeviceGridCounter");
  std::vector<double> points(200000);
  for (std::size_t i = 0; i < points.size(); ++i)
    points[i] = static_cast<double>(i);
  const GridIndex big(points);
  EXPECT_FALSE(DeviceGridCounter::fits(big));
  EXPECT_TRUE(DeviceGridCounter::fits(GridIndex(testing::awkward_case(10).points)));
  try {
    DeviceGridCounter counter({&big}, 1000);
    FAIL() << "a grid of 200000 points was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("200000 points"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::kernels
