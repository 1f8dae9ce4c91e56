// Needs a GPU to mean anything (label "gpu"); skips cleanly without one.
#include "kernels/device.h"

#include <gtest/gtest.h>

#include "tests/gpu.h"
#include "trainer/torch_info.h"

namespace kiln::kernels {
namespace {

TEST(CudaVersion, FormatsMajorAndMinor) {
  EXPECT_EQ(cuda_version_text(13000), "13.0");
  EXPECT_EQ(cuda_version_text(12080), "12.8");
}

// Kiln's own CUDA runtime view and LibTorch's (an independent implementation) agree.
TEST(Device, KilnAndLibTorchSeeTheSameGpus) {
  CudaInfo info = cuda_info();
  KILN_SKIP_WITHOUT_GPU(info.compiled && !info.devices.empty(), info.note);
  EXPECT_EQ(static_cast<int>(info.devices.size()), trainer::torch_info().cuda_devices);
  EXPECT_GE(info.driver_version, info.runtime_version) << "driver older than the runtime";
  for (const auto& d : info.devices) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_GT(d.total_memory, std::size_t{1} << 30);
    EXPECT_GE(d.compute_major, 7);
    EXPECT_GT(d.multiprocessors, 0);
  }
}

}  // namespace
}  // namespace kiln::kernels
