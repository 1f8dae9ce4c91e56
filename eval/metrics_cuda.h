// The GPU path of eval: AUROC and average precision from one radix sort of the scores
// (Thrust, which uses CUB's), tie groups reduced by key, exact int64 counts; and bootstrap
// replicates with the same Poisson draws as the CPU's (eval/draws.h). The same definitions
// as BinaryAccumulator and bootstrap_sample, which are the test oracles: the two agree
// within rounding (1e-12). CUDA-free header: streams are void* (cudaStream_t). Defined by
// metrics_cuda.cu in builds with CUDA; in builds without, metrics_cpu.cpp says there is no
// GPU (kernels::gpu_available() is false there) and these must not be called.
#pragma once

#include <cstdint>

#include "eval/binary_metrics.h"
#include "eval/bootstrap.h"

namespace kiln::eval {

struct RankingSummary {
  double auroc = 0;
  double average_precision = 0;
  int64_t positives = 0, negatives = 0;
};

// Device pointers: n scores (finite) and n labels (0 or 1), which it reads on `stream` only
// (a cudaStream_t; nullptr: the default stream), so work enqueued there before writes them
// first. Waits for the result. DataError when the
// labels have one class; InternalError naming a CUDA failure.
RankingSummary ranking_metrics_cuda(const double* scores, const uint8_t* labels, int64_t n,
                                    void* stream = nullptr);

// The bootstrap sample of n unweighted rows (device pointers, read on `stream` only, as
// above), replicates in order, as
// bootstrap_sample gives it: each replicate's AUROC and AP, and with `probabilities` (every
// score in [0, 1]) its log loss and Brier score; NaN for a replicate with one class.
BootstrapSample bootstrap_sample_cuda(const double* scores, const uint8_t* labels, int64_t n,
                                      const BootstrapOptions& options, bool probabilities,
                                      void* stream = nullptr);

// The same for unweighted rows in host memory, copied to the current device first.
BootstrapSample bootstrap_sample_cuda(const BinaryAccumulator& rows,
                                      const BootstrapOptions& options);

}  // namespace kiln::eval
