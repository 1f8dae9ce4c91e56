// The GPU ranking metrics against the CPU oracle (within 1e-12) and scikit-learn's golden
// values. Runs where a GPU is (scripts/gpu-check); skips cleanly elsewhere.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/errors.h"
#include "eval/binary_metrics.h"
#include "eval/bootstrap.h"
#include "eval/metrics_cuda.h"
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
  KILN_SKIP_WITHOUT_GPU(!kernels::cuda_info().devices.empty(), kernels::cuda_info().note);
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
  KILN_SKIP_WITHOUT_GPU(!kernels::cuda_info().devices.empty(), kernels::cuda_info().note);
  std::mt19937_64 rng(8);
  std::vector<double> scores;
  std::vector<float> labels;
  for (int i = 0; i < 100000; ++i) {
    float y = rng() % 10 == 0 ? 1.0f : 0.0f;
    scores.push_back(
        std::floor((std::uniform_real_distribution<double>(0, 1)(rng) + 0.4 * y) * 300) / 300);
    labels.push_back(y);
  }
  BinaryAccumulator cpu;
  cpu.add(scores.data(), labels.data(), nullptr, static_cast<int64_t>(scores.size()));
  BootstrapOptions options;
  options.replicates = 50;
  options.seed = 3;
  Replicates want = bootstrap(cpu, options);
  std::vector<uint8_t> y(labels.begin(), labels.end());
  double* d_scores = nullptr;
  uint8_t* d_labels = nullptr;
  cudaMalloc(&d_scores, scores.size() * 8);
  cudaMalloc(&d_labels, y.size());
  cudaMemcpy(d_scores, scores.data(), scores.size() * 8, cudaMemcpyHostToDevice);
  cudaMemcpy(d_labels, y.data(), y.size(), cudaMemcpyHostToDevice);
  GpuReplicates got =
      bootstrap_cuda(d_scores, d_labels, static_cast<int64_t>(scores.size()), 50, 3);
  cudaFree(d_scores);
  cudaFree(d_labels);
  ASSERT_EQ(got.auroc.size(), want.at("auroc").size());
  for (std::size_t i = 0; i < got.auroc.size(); ++i) {
    EXPECT_NEAR(got.auroc[i], want.at("auroc")[i], 1e-12);
    EXPECT_NEAR(got.ap[i], want.at("ap")[i], 1e-12);
  }
}

TEST(MetricsGpu, RefusesOneClass) {
  KILN_SKIP_WITHOUT_GPU(!kernels::cuda_info().devices.empty(), kernels::cuda_info().note);
  EXPECT_THROW(on_gpu({0.1, 0.2, 0.3}, {0, 0, 0}), DataError);
}

}  // namespace
}  // namespace kiln::eval
