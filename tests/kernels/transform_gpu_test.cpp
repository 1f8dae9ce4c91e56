// The fused CUDA kernel against the same cases as the CPU reference, and bit for bit
// against the CPU. Runs where a GPU is (scripts/gpu-check); skips cleanly elsewhere.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <random>

#include "kernels/device.h"
#include "kernels/transform.h"
#include "kernels/transform_cuda.h"
#include "tests/gpu.h"
#include "tests/kernels/transform_cases.h"

namespace kiln::kernels {
namespace {

bool has_gpu() {
  return !cuda_info().devices.empty();
}

template <class T>
T* to_device(const void* host, std::size_t bytes) {
  void* device = nullptr;
  EXPECT_EQ(cudaMalloc(&device, std::max<std::size_t>(bytes, 1)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
  return static_cast<T*>(device);
}

// The GPU path with the test's host columns: float32 x, int32 c, float32 y.
void apply_on_gpu(const CompiledPlan& plan, const std::vector<const void*>& columns, int64_t rows,
                  std::vector<float>& features, std::vector<int64_t>& categorical) {
  const std::size_t n = static_cast<std::size_t>(rows);
  std::vector<const void*> device = {to_device<float>(columns[0], n * 4),
                                     to_device<int32_t>(columns[1], n * 4),
                                     to_device<float>(columns[2], n * 4)};
  features.assign(n * static_cast<std::size_t>(plan.width()), -1.0f);
  categorical.assign(n * static_cast<std::size_t>(plan.categorical_width()), -1);
  float* out = to_device<float>(features.data(), features.size() * 4);
  int64_t* out_c = to_device<int64_t>(categorical.data(), categorical.size() * 8);
  DevicePlan device_plan(plan);
  device_plan.set_columns(device);
  device_plan.apply(rows, out, out_c);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(features.data(), out, features.size() * 4, cudaMemcpyDeviceToHost),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(categorical.data(), out_c, categorical.size() * 8, cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (const void* p : device)
    cudaFree(const_cast<void*>(p));
  cudaFree(out);
  cudaFree(out_c);
}

TEST(TransformGpu, EveryRegisteredStepMatchesTheNaiveReference) {
  KILN_SKIP_WITHOUT_GPU(has_gpu(), cuda_info().note);
  testing::check_every_step(apply_on_gpu);
}

TEST(TransformGpu, AgreesWithTheCpuBitForBit) {
  KILN_SKIP_WITHOUT_GPU(has_gpu(), cuda_info().note);
  std::mt19937_64 rng(9);
  FittedPlan plan;
  for (auto& [name, s] : testing::step_cases(rng)) {
    for (auto f : s.plan.features)
      plan.features.push_back(f);
    for (auto c : s.plan.categoricals)
      plan.categoricals.push_back(c);
  }
  for (int i = 0; i < 40; ++i)  // wider than one tile
    plan.features.push_back(plan.features[static_cast<std::size_t>(i) % plan.features.size()]);
  CompiledPlan compiled = compile(plan, testing::case_schema());
  const int64_t rows = 100003;
  std::vector<float> x, y(static_cast<std::size_t>(rows), 0.0f);
  std::vector<int32_t> c;
  testing::case_inputs(rng, rows, x, c);
  std::vector<const void*> columns = {x.data(), c.data(), y.data()};
  std::vector<float> gpu_f, cpu_f(static_cast<std::size_t>(rows * compiled.width()));
  std::vector<int64_t> gpu_c, cpu_c(static_cast<std::size_t>(rows * compiled.categorical_width()));
  apply_on_gpu(compiled, columns, rows, gpu_f, gpu_c);
  apply_cpu(compiled, columns.data(), rows, cpu_f.data(), cpu_c.data());
  ASSERT_EQ(gpu_f.size(), cpu_f.size());
  std::size_t differing = 0;
  for (std::size_t i = 0; i < cpu_f.size(); ++i) {
    uint32_t g, c;
    std::memcpy(&g, &gpu_f[i], 4);
    std::memcpy(&c, &cpu_f[i], 4);
    if (g != c && differing++ < 5)
      ADD_FAILURE() << "row " << i / compiled.width() << " feature " << i % compiled.width()
                    << ": GPU " << gpu_f[i] << std::hex << " (0x" << g << "), CPU " << cpu_f[i]
                    << " (0x" << c << ")" << std::dec;
  }
  EXPECT_EQ(differing, 0u) << "of " << cpu_f.size() << " floats";
  EXPECT_EQ(gpu_c, cpu_c);
}

}  // namespace
}  // namespace kiln::kernels
