// kiln fit's evaluation on the GPU (scores and labels kept on the device, ranked by eval's GPU
// path) against the accumulator on the same scores. Needs a GPU; skips cleanly without one.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/device.h"
#include "tests/gpu.h"
#include "tests/temp_dir.h"
#include "trainer/models.h"
#include "trainer/scoring.h"
#include "transform/plan.h"

namespace kiln::trainer {
namespace {

TEST(ScoringGpu, ValidationMetricsOnTheGpuEqualTheAccumulatorsWithin1e12) {
  KILN_SKIP_WITHOUT_GPU(kernels::gpu_available() && torch::cuda::is_available(),
                        kernels::cuda_info().note);
  kiln::testing::TempDir dir;
  using data::Role;
  data::Schema schema{
      {{"x", Role::kNumeric, 0}, {"c", Role::kCategorical, 30}, {"label", Role::kLabel, 0}}};
  const int64_t rows = 70001;
  std::mt19937_64 rng(2);
  std::normal_distribution<float> normal;
  std::vector<float> x(rows), label(rows);
  std::vector<int32_t> c(rows);
  for (int64_t i = 0; i < rows; ++i) {
    label[i] = static_cast<float>(rng() % 5 == 0);
    x[i] = normal(rng) + label[i];
    c[i] = static_cast<int32_t>(rng() % 30);
  }
  data::DatasetWriter writer(dir / "ds", schema, {}, 20000);
  writer.append(rows, {x.data(), c.data(), label.data()});
  writer.finish();
  const auto ds = data::Dataset::open(dir / "ds");
  const transform::FittedPlan fitted = transform::fit_transform(*ds, {});
  const kernels::CompiledPlan plan = transform::compile(fitted, ds->schema());
  torch::manual_seed(0);
  ModelOptions mo;
  mo.dropout = 0.0;
  mo.linear_term = false;
  mo.ensemble = 1;
  auto model = make_model(mo, {static_cast<int64_t>(fitted.features.size()), {30}});
  const torch::Device cuda(torch::kCUDA);
  model->to(cuda);
  const ScoringOptions options{8192, 0, std::log(4.0)};
  const ValidationMetrics got = validation_metrics(*model, plan, ds, cuda, options);
  const eval::BinaryMetrics want = score_labelled(*model, plan, ds, cuda, options).value();
  EXPECT_EQ(got.rows, rows);
  EXPECT_EQ(got.auroc, want.auroc) << "the doubled area is an exact integer on both";
  EXPECT_NEAR(got.average_precision, want.average_precision, 1e-12);
  EXPECT_NEAR(got.log_loss, want.log_loss, 1e-12);
}

}  // namespace
}  // namespace kiln::trainer
