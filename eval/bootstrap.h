// Uncertainty: bootstrap confidence intervals that sort once (each replicate reweights the
// rows with Poisson(1) counts keyed by (seed, replicate, row) and makes one pass over the
// sorted order), a paired bootstrap for the difference of two models on the same rows,
// and DeLong's test for the difference of their AUROCs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/config_types.h"
#include "eval/binary_metrics.h"

namespace kiln::eval {

// Where bootstrap replicates run. The GPU (eval/metrics_cuda.h) takes unweighted rows; the
// CPU is the reference, and the two agree within rounding (1e-12).
enum class ComputeDevice {
  kAuto,  // the GPU for kGpuRows rows or more, when Kiln has CUDA and a GPU is present
  kCpu,
  kCuda,  // the GPU for unweighted rows; ConfigError when there is none
};
inline core::EnumNames<ComputeDevice> enum_names(ComputeDevice) {
  static constexpr std::pair<ComputeDevice, std::string_view> names[] = {
      {ComputeDevice::kAuto, "auto"}, {ComputeDevice::kCpu, "cpu"}, {ComputeDevice::kCuda, "cuda"}};
  return names;
}
// Rows from which ComputeDevice::kAuto takes the GPU: where its fixed cost (the upload, a few
// launches per replicate) is small against the CPU's passes over the rows.
constexpr int64_t kGpuRows = 100000;

struct BootstrapOptions {
  int replicates = 1000;  // 0: no intervals
  double level = 0.95;    // central percentile interval
  uint64_t seed = 0;
  int threads = 0;  // 0: one per core; results do not depend on it
  ComputeDevice device = ComputeDevice::kAuto;
};

struct Interval {
  double low = 0, high = 0;
};

// Per metric ("auroc", "ap", and with probabilities "log_loss", "brier"): the replicates'
// values, sorted.
using Replicates = std::map<std::string, std::vector<double>>;

Replicates bootstrap(const BinaryAccumulator& rows, const BootstrapOptions& options);
Interval percentile_interval(const std::vector<double>& sorted, double level);

// The replicates of one scored input in replicate order. Inputs on the same rows pair up
// replicate by replicate (the draws depend on (seed, replicate, row) only), so one sample
// per input serves its intervals and every comparison it takes part in.
struct BootstrapSample {
  struct Values {
    double auroc, ap, log_loss, brier;  // NaN: a replicate with one class, or no probabilities
  };
  std::vector<Values> replicates;
  bool probabilities = false;
};
// On the device options.device picks (see ComputeDevice).
BootstrapSample bootstrap_sample(const BinaryAccumulator& rows, const BootstrapOptions& options);
// bootstrap() of a sample: per metric the finite values, sorted.
Replicates sorted_replicates(const BootstrapSample& sample);

// The paired comparison of a model with a baseline on the same rows and labels: for each
// metric, the model minus the baseline, its interval, and a two-sided p-value: (2k + 1) /
// (B + 1) with k the replicates on the smaller side of 0, so at least 1 / (B + 1).
struct Difference {
  double delta = 0;
  Interval interval;
  double p_value = 1;
  std::string test;  // "paired bootstrap" or "DeLong"
};
std::map<std::string, Difference> compare(const BinaryAccumulator& model,
                                          const BinaryAccumulator& baseline,
                                          const BootstrapOptions& options);
// The same from what the caller already has: each side's rows, point metrics and sample.
struct ScoredSample {
  const BinaryAccumulator& rows;
  const BinaryMetrics& point;
  const BootstrapSample& sample;
};
std::map<std::string, Difference> compare(const ScoredSample& model, const ScoredSample& baseline,
                                          const BootstrapOptions& options);

// DeLong, DeLong & Clarke-Pearson (1988): the AUROC difference of two scorings of the same
// rows, its standard error from the placement values, and the two-sided p-value. Unweighted
// rows only (DataError otherwise, or when the labels differ).
struct DeLong {
  double auroc_a = 0, auroc_b = 0, delta = 0, standard_error = 0, z = 0, p_value = 1;
};
DeLong delong(const BinaryAccumulator& a, const BinaryAccumulator& b);

}  // namespace kiln::eval
