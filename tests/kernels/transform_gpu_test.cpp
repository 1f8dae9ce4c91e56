// The fused CUDA kernel against the same cases as the CPU reference, and bit for bit
// against the CPU. Runs where a GPU is (scripts/gpu-check); skips cleanly elsewhere.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <string>

#include "kernels/device.h"
#include "kernels/transform.h"
#include "kernels/transpose.h"
#include "tests/gpu.h"
#include "tests/transform/transform_cases.h"
#include "transform/plan.h"

namespace kiln::kernels {
namespace {

namespace cases = transform::testing;
using transform::compile;
using transform::FittedPlan;
using transform::PlanCategorical;
using transform::PlanFeature;

template <class T>
T* to_device(const void* host, std::size_t bytes) {
  void* device = nullptr;
  EXPECT_EQ(cudaMalloc(&device, std::max<std::size_t>(bytes, 1)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(device, host, bytes, cudaMemcpyHostToDevice), cudaSuccess);
  return static_cast<T*>(device);
}

using Tiling = DevicePlan::Tiling;

// The GPU path with the test's host columns (4-byte cells: float32 x, int32 c, float32 y),
// asking for `tiling`. With `misaligned`, the columns start 4 bytes into their allocations, so
// kRowTiles must give way to kColumnTiles. With `gathered`, the rows take the path of a
// gather-mode batch (kernels/device_batches.h): host row r is stored at a shuffled row, the
// columns are turned into a row-major matrix by columns_to_rows (in two parts), and the
// kernel reads them back through a RowMap that starts part-way round its ring; that too
// must run kColumnTiles. Checks which tiling ran.
void apply_on_gpu(Tiling tiling, bool misaligned, bool gathered, const CompiledPlan& plan,
                  const std::vector<const void*>& columns, int64_t rows,
                  std::vector<float>& features, std::vector<int64_t>& categorical) {
  const std::size_t n = static_cast<std::size_t>(rows), width = columns.size();
  const std::size_t skip = misaligned ? 1 : 0;
  std::vector<void*> allocations;
  std::vector<const void*> device;
  RowMap map;
  int64_t row_stride = 1;
  if (gathered) {
    std::vector<int32_t> place(n);  // of host row r
    std::iota(place.begin(), place.end(), 0);
    std::shuffle(place.begin(), place.end(), std::mt19937_64(5));
    std::vector<uint32_t> by_columns(n * width);
    for (std::size_t c = 0; c < width; ++c)
      for (std::size_t r = 0; r < n; ++r)
        std::memcpy(&by_columns[c * n + static_cast<std::size_t>(place[r])],
                    static_cast<const uint32_t*>(columns[c]) + r, 4);
    auto* source = to_device<uint32_t>(by_columns.data(), by_columns.size() * 4);
    auto* by_rows = to_device<uint32_t>(by_columns.data(), by_columns.size() * 4);
    const auto w = static_cast<int32_t>(width);
    columns_to_rows(source, rows, w, 0, rows / 3, by_rows, nullptr);
    columns_to_rows(source, rows, w, rows / 3, rows - rows / 3, by_rows, nullptr);
    const int64_t start = rows / 2;  // order[(start + r) % rows] = place[r]
    std::vector<int32_t> order(n);
    for (std::size_t r = 0; r < n; ++r)
      order[(static_cast<std::size_t>(start) + r) % n] = place[r];
    auto* device_order = to_device<int32_t>(order.data(), n * 4);
    allocations = {source, by_rows, device_order};
    for (std::size_t c = 0; c < width; ++c)
      device.push_back(by_rows + c);
    map = RowMap{device_order, start, rows};
    row_stride = w;
  } else {
    for (const void* column : columns) {
      std::vector<uint32_t> host(n + skip, 0);
      std::memcpy(host.data() + skip, column, n * 4);
      allocations.push_back(to_device<uint32_t>(host.data(), host.size() * 4));
      device.push_back(static_cast<const uint32_t*>(allocations.back()) + skip);
    }
  }
  features.assign(n * static_cast<std::size_t>(plan.width()), -1.0f);
  categorical.assign(n * static_cast<std::size_t>(plan.categorical_width()), -1);
  float* out = to_device<float>(features.data(), features.size() * 4);
  int64_t* out_c = to_device<int64_t>(categorical.data(), categorical.size() * 8);
  DevicePlan device_plan(plan, tiling);
  device_plan.set_columns(device, row_stride);
  EXPECT_EQ(device_plan.tiling(map), misaligned || gathered ? Tiling::kColumnTiles : tiling);
  device_plan.apply(rows, out, out_c, nullptr, map);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(features.data(), out, features.size() * 4, cudaMemcpyDeviceToHost),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(categorical.data(), out_c, categorical.size() * 8, cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (void* p : allocations)
    cudaFree(p);
  cudaFree(out);
  cudaFree(out_c);
}

// Every test runs with each tiling, with the row tiling on misaligned columns (its
// fallback), and gathered from a row-major matrix. The cases' 70001 and 100003 rows give
// each row-tiling block several tiles and a partial last one, so the tiles in flight turn.
struct Variant {
  Tiling tiling;
  bool misaligned = false;
  bool gathered = false;
};

class TransformGpu : public ::testing::TestWithParam<Variant> {
 public:
  void apply(const CompiledPlan& plan, const std::vector<const void*>& columns, int64_t rows,
             std::vector<float>& features, std::vector<int64_t>& categorical) {
    apply_on_gpu(GetParam().tiling, GetParam().misaligned, GetParam().gathered, plan, columns, rows,
                 features, categorical);
  }
};

INSTANTIATE_TEST_SUITE_P(
    Tilings, TransformGpu,
    ::testing::Values(Variant{Tiling::kColumnTiles}, Variant{Tiling::kRowTiles},
                      Variant{Tiling::kRowTiles, true}, Variant{Tiling::kRowTiles, false, true}),
    [](const ::testing::TestParamInfo<Variant>& info) {
      const Tiling t = info.param.tiling;
      return std::string(t == Tiling::kColumnTiles ? "ColumnTiles" : "RowTiles") +
             (info.param.misaligned ? "Misaligned" : "") + (info.param.gathered ? "Gathered" : "");
    });

TEST_P(TransformGpu, EveryRegisteredStepMatchesTheNaiveReference) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), cuda_info().note);
  cases::check_every_step([&](const CompiledPlan& plan, const std::vector<const void*>& columns,
                              int64_t rows, std::vector<float>& features,
                              std::vector<int64_t>& categorical) {
    apply(plan, columns, rows, features, categorical);
  });
}

// The GPU's outputs equal the CPU reference's bit for bit.
void expect_gpu_equals_cpu(TransformGpu& test, const CompiledPlan& compiled,
                           const std::vector<const void*>& columns, int64_t rows) {
  std::vector<float> gpu_f, cpu_f(static_cast<std::size_t>(rows * compiled.width()));
  std::vector<int64_t> gpu_c, cpu_c(static_cast<std::size_t>(rows * compiled.categorical_width()));
  test.apply(compiled, columns, rows, gpu_f, gpu_c);
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

TEST_P(TransformGpu, AgreesWithTheCpuBitForBit) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), cuda_info().note);
  std::mt19937_64 rng(9);
  FittedPlan plan;
  for (auto& [name, s] : cases::step_cases(rng)) {
    for (auto f : s.plan.features)
      plan.features.push_back(f);
    for (auto c : s.plan.categoricals)
      plan.categoricals.push_back(c);
  }
  for (int i = 0; i < 40; ++i)  // wider than one tile
    plan.features.push_back(plan.features[static_cast<std::size_t>(i) % plan.features.size()]);
  CompiledPlan compiled = compile(plan, cases::case_schema());
  const int64_t rows = 100003;
  std::vector<float> x, y(static_cast<std::size_t>(rows), 0.0f);
  std::vector<int32_t> c;
  cases::case_inputs(rng, rows, x, c);
  expect_gpu_equals_cpu(*this, compiled, {x.data(), c.data(), y.data()}, rows);
}

// Many input columns, each read by one to three outputs, in an order that is not the
// schema's: what the kernels stage and look up per column.
TEST_P(TransformGpu, ManyColumnsAgreeWithTheCpuBitForBit) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), cuda_info().note);
  std::mt19937_64 rng(11);
  const int numeric = 45, codes = 6;
  const int64_t rows = 70001;
  data::Schema schema;
  std::vector<std::vector<float>> x(numeric);
  std::vector<std::vector<int32_t>> c(codes);
  std::vector<const void*> columns;
  for (int i = 0; i < numeric + codes; ++i) {
    const bool is_code = i >= numeric;
    const std::string name = (is_code ? "c" : "x") + std::to_string(is_code ? i - numeric : i);
    schema.columns.push_back(
        {name, is_code ? data::Role::kCategorical : data::Role::kNumeric, is_code ? 1000 : 0});
    std::vector<float> xs;
    std::vector<int32_t> cs;
    cases::case_inputs(rng, rows, xs, cs);
    if (is_code) {
      c[static_cast<std::size_t>(i - numeric)] = std::move(cs);
      columns.push_back(c[static_cast<std::size_t>(i - numeric)].data());
    } else {
      x[static_cast<std::size_t>(i)] = std::move(xs);
      columns.push_back(x[static_cast<std::size_t>(i)].data());
    }
  }
  FittedPlan plan;
  for (int i = numeric - 1; i >= 0; --i) {  // backwards
    PlanFeature f = cases::feature(kImpute | kStandardize | (i % 3 == 0 ? kLog1p : 0u));
    f.name = f.column = "x" + std::to_string(i);
    f.program.impute_value = static_cast<float>(i);
    f.program.center = 0.5f * static_cast<float>(i);
    f.scale = 1.0f + static_cast<float>(i);
    f.program.inv_scale = 1.0f / f.scale;
    plan.features.push_back(f);
    if (i % 2 == 0) {
      PlanFeature indicator = cases::feature(kIndicator);
      indicator.column = f.column;
      indicator.name = f.column + ".missing";
      plan.features.push_back(indicator);
    }
  }
  for (int i = 0; i < codes; ++i) {
    const std::string column = "c" + std::to_string(i);
    PlanCategorical h = cases::categorical(column.c_str(), CategoricalKind::kHash);
    h.program.seed = static_cast<uint32_t>(rng());
    h.program.buckets = 100 + static_cast<uint32_t>(i);
    plan.categoricals.push_back(h);
  }
  PlanCategorical bucket = cases::categorical("x7", CategoricalKind::kBucketize);
  bucket.edges = {-10.0f, 0.0f, 2.5f, 1e10f};
  plan.categoricals.push_back(bucket);
  expect_gpu_equals_cpu(*this, compile(plan, schema), columns, rows);
}

}  // namespace
}  // namespace kiln::kernels
