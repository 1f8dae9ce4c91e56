// The GPU ranking metrics against the CPU oracle (within 1e-12) and scikit-learn's golden
// values. Runs where a GPU is (scripts/gpu-check); skips cleanly elsewhere.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "eval/binary_metrics.h"
#include "eval/bootstrap.h"
#include "eval/metrics_cuda.h"
#include "eval/report.h"
#include "kernels/device.h"
#include "tests/gpu.h"

namespace kiln::eval {
namespace {

RankingSummary on_gpu(const std::vector<double>& scores, const std::vector<float>& labels) {
  std::vector<uint8_t> y(labels.begin(), labels.end());
  double* d_scores = nullptr;
  uint8_t* d_labels = nullptr;
  EXPECT_EQ(cudaMalloc(&d_scores, scores.size() * 8), cudaSuccess);
  EXPECT_EQ(cudaMalloc(&d_labels, y.size()), cudaSuccess);
  cudaMemcpy(d_scores, scores.data(), scores.size() * 8, cudaMemcpyHostToDevice);
  cudaMemcpy(d_labels, y.data(), y.size(), cudaMemcpyHostToDevice);
  RankingSummary s = ranking_metrics_cuda(d_scores, d_labels, static_cast<int64_t>(scores.size()));
  cudaFree(d_scores);
  cudaFree(d_labels);
  return s;
}

TEST(MetricsGpu, AurocAndApMatchTheCpuWithin1e12) {
  KILN_SKIP_WITHOUT_GPU(kernels::gpu_available(), kernels::cuda_info().note);
  std::mt19937_64 rng(5);
  for (int levels : {0, 10, 1000}) {  // continuous scores, heavy ties, some ties
    std::vector<double> scores;
    std::vector<float> labels;
    for (int i = 0; i < 2000003; ++i) {
      float y = rng() % 20 == 0 ? 1.0f : 0.0f;
      double s = std::uniform_real_distribution<double>(0, 1)(rng) + 0.3 * y;
      if (levels > 0) s = std::floor(s * levels) / levels;
      if (i == 7) s = -0.0;  // equal to +0
      scores.push_back(s);
      labels.push_back(y);
    }
    BinaryAccumulator cpu;
    cpu.add(scores.data(), labels.data(), nullptr, static_cast<int64_t>(scores.size()));
    BinaryMetrics want = cpu.value();
    RankingSummary got = on_gpu(scores, labels);
    EXPECT_NEAR(got.auroc, want.auroc, 1e-12) << levels;
    EXPECT_NEAR(got.average_precision, want.average_precision, 1e-12) << levels;
    EXPECT_EQ(got.auroc, want.auroc) << "the doubled area is an exact integer on both";
    EXPECT_EQ(static_cast<double>(got.positives), want.positives);
  }
}

TEST(MetricsGpu, BootstrapReplicatesMatchTheCpuWithin1e12) {
  KILN_SKIP_WITHOUT_GPU(kernels::gpu_available(), kernels::cuda_info().note);
  std::mt19937_64 rng(8);
  std::vector<double> scores;
  std::vector<float> labels;
  for (int i = 0; i < 100000; ++i) {
    float y = rng() % 10 == 0 ? 1.0f : 0.0f;
    scores.push_back(
        std::floor((std::uniform_real_distribution<double>(0, 1)(rng) + 0.4 * y) * 300) / 300);
    labels.push_back(y);
  }
  BinaryAccumulator rows;
  rows.add(scores.data(), labels.data(), nullptr, static_cast<int64_t>(scores.size()));
  BootstrapOptions options;
  options.replicates = 50;
  options.seed = 3;
  options.device = ComputeDevice::kCpu;
  const BootstrapSample want = bootstrap_sample(rows, options);
  options.device = ComputeDevice::kCuda;
  const BootstrapSample got = bootstrap_sample(rows, options);
  ASSERT_EQ(got.replicates.size(), want.replicates.size());
  EXPECT_EQ(got.probabilities, want.probabilities);
  ASSERT_TRUE(want.probabilities);
  for (std::size_t i = 0; i < got.replicates.size(); ++i) {
    EXPECT_NEAR(got.replicates[i].auroc, want.replicates[i].auroc, 1e-12) << i;
    EXPECT_NEAR(got.replicates[i].ap, want.replicates[i].ap, 1e-12) << i;
    EXPECT_NEAR(got.replicates[i].log_loss, want.replicates[i].log_loss, 1e-12) << i;
    EXPECT_NEAR(got.replicates[i].brier, want.replicates[i].brier, 1e-12) << i;
  }
}

// kiln eval's report with its bootstrap on the GPU (a model and a baseline: intervals and
// paired comparisons) says what the CPU's says, every number within 1e-12.
TEST(MetricsGpu, TheReportIsTheSameWithTheBootstrapOnTheGpu) {
  KILN_SKIP_WITHOUT_GPU(kernels::gpu_available(), kernels::cuda_info().note);
  std::mt19937_64 rng(12);
  std::vector<double> model, other;
  std::vector<float> labels;
  for (int i = 0; i < 300000; ++i) {
    const float y = rng() % 8 == 0 ? 1.0f : 0.0f;
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    model.push_back(std::min(1.0, u * 0.8 + 0.2 * y));
    other.push_back(std::min(1.0, u * 0.9 + 0.1 * y));
    labels.push_back(y);
  }
  Scored m{"model", "m", {}}, b{"other", "o", {}};
  m.rows.add(model.data(), labels.data(), nullptr, static_cast<int64_t>(labels.size()));
  b.rows.add(other.data(), labels.data(), nullptr, static_cast<int64_t>(labels.size()));
  EvalOptions eval_options;
  eval_options.bootstrap = 200;
  eval_options.gates = {"auroc >= baseline.auroc"};
  eval_options.device = ComputeDevice::kCpu;
  const auto cpu = evaluate(m, {b}, report_options(eval_options, 5), {});
  eval_options.device = ComputeDevice::kCuda;
  const auto gpu = evaluate(m, {b}, report_options(eval_options, 5), {});
  // Walks both reports together: the same keys and strings, numbers within 1e-12.
  std::function<void(const nlohmann::ordered_json&, const nlohmann::ordered_json&,
                     const std::string&)>
      same = [&](const auto& a, const auto& c, const std::string& where) {
        if (a.is_number() && c.is_number()) {
          EXPECT_NEAR(a.template get<double>(), c.template get<double>(), 1e-12) << where;
        } else if (a.is_structured() && c.is_structured()) {
          ASSERT_EQ(a.size(), c.size()) << where;
          if (a.is_array()) {
            for (std::size_t i = 0; i < a.size(); ++i)
              same(a[i], c[i], where + "[" + std::to_string(i) + "]");
          } else {
            for (const auto& [key, value] : a.items())
              same(value, c.at(key), where + "." + key);
          }
        } else if (where != ".kiln.created" && where.find("seconds") == std::string::npos) {
          EXPECT_EQ(a, c) << where;
        }
      };
  same(cpu, gpu, "");
  EXPECT_EQ(cpu["baselines"][0]["comparison"]["auroc"]["test"], "DeLong");
  EXPECT_TRUE(gpu["metrics"]["log_loss"].contains("ci_low"));
}

TEST(MetricsGpu, RefusesOneClass) {
  KILN_SKIP_WITHOUT_GPU(kernels::gpu_available(), kernels::cuda_info().note);
  EXPECT_THROW(on_gpu({0.1, 0.2, 0.3}, {0, 0, 0}), DataError);
}

}  // namespace
}  // namespace kiln::eval
