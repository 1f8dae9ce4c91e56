// AUROC and average precision on the GPU: one radix sort of the scores (Thrust, which
// uses CUB's), tie groups reduced by key, exact int64 counts; the same definitions as
// BinaryAccumulator (eval/binary_metrics.h), which is the test oracle. CUDA-free header;
// built only with CUDA (KILN_WITH_CUDA).
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::eval {

struct RankingSummary {
  double auroc = 0;
  double average_precision = 0;
  int64_t positives = 0, negatives = 0;
};

// Device pointers: n scores (finite) and n labels (0 or 1). Runs on `stream` (a
// cudaStream_t; nullptr: the default stream) and waits for the result. DataError when the
// labels have one class; InternalError naming a CUDA failure.
RankingSummary ranking_metrics_cuda(const double* scores, const uint8_t* labels, int64_t n,
                                    void* stream = nullptr);

// Bootstrap replicates of AUROC and AP on the GPU (unweighted rows), with the same Poisson
// draws as eval::bootstrap (eval/draws.h), so the two agree within rounding: per metric the
// replicates' values, sorted; replicates left with one class are skipped. Device pointers.
struct GpuReplicates {
  std::vector<double> auroc, ap;
};
GpuReplicates bootstrap_cuda(const double* scores, const uint8_t* labels, int64_t n, int replicates,
                             uint64_t seed, void* stream = nullptr);

}  // namespace kiln::eval
