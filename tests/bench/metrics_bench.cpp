// Metrics benchmark (a plain harness, not a test): AUROC and average precision together
// from one sort, on scores that scripts/bench also hands to scikit-learn
// (tests/bench/metrics_peer.py) in the same run.
//
//   metrics_bench make FILE --rows N    N float64 scores then N float32 labels (raw, little-endian)
//   metrics_bench run FILE [--reps R]   one JSON object: seconds (best of R), rows/s
//   metrics_bench gpu FILE [--reps R]   the GPU path (CUDA builds), scores already on the
//                                       GPU: median of R
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include <vector>
#include "tests/bench/bench_util.h"

#include "data/random.h"
#include "eval/binary_metrics.h"
#if KILN_WITH_CUDA
#include <cuda_runtime.h>

#include <algorithm>

#include "eval/metrics_cuda.h"
#endif

namespace {

using kiln::bench::arg;
using kiln::bench::now;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: metrics_bench make|run FILE [options]\n");
    return 1;
  }
  std::string mode = argv[1], path = argv[2];
  if (mode == "make") {
    const int64_t n = std::stoll(arg(argc, argv, "--rows", "10000000"));
    std::vector<double> scores(static_cast<std::size_t>(n));
    std::vector<float> labels(static_cast<std::size_t>(n));
    kiln::data::CounterRng rng(7);
    for (int64_t i = 0; i < n; ++i) {
      float label = rng.uniform() < 0.05 ? 1.0f : 0.0f;
      // A model's probability: 6 decimals, so ties occur as in real scores.
      double raw = 1.0 / (1.0 + std::exp(-(3.0 * (rng.uniform() - 0.5) * 4.0 + 1.5 * label - 2.0)));
      scores[static_cast<std::size_t>(i)] = std::round(raw * 1e6) / 1e6;
      labels[static_cast<std::size_t>(i)] = label;
    }
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(scores.data()), static_cast<std::streamsize>(n * 8));
    out.write(reinterpret_cast<const char*>(labels.data()), static_cast<std::streamsize>(n * 4));
    return out.good() ? 0 : 1;
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const int64_t n = static_cast<int64_t>(in.tellg()) / 12;
  in.seekg(0);
  std::vector<double> scores(static_cast<std::size_t>(n));
  std::vector<float> labels(static_cast<std::size_t>(n));
  in.read(reinterpret_cast<char*>(scores.data()), static_cast<std::streamsize>(n * 8));
  in.read(reinterpret_cast<char*>(labels.data()), static_cast<std::streamsize>(n * 4));
  const int reps = std::stoi(arg(argc, argv, "--reps", "3"));
#if KILN_WITH_CUDA
  if (mode == "gpu") {
    std::vector<uint8_t> y(labels.begin(), labels.end());
    double* d_scores = nullptr;
    uint8_t* d_labels = nullptr;
    cudaMalloc(&d_scores, static_cast<std::size_t>(n) * 8);
    cudaMalloc(&d_labels, static_cast<std::size_t>(n));
    cudaMemcpy(d_scores, scores.data(), static_cast<std::size_t>(n) * 8, cudaMemcpyHostToDevice);
    cudaMemcpy(d_labels, y.data(), static_cast<std::size_t>(n), cudaMemcpyHostToDevice);
    kiln::eval::RankingSummary s =
        kiln::eval::ranking_metrics_cuda(d_scores, d_labels, n);  // warm-up
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
      double start = now();
      s = kiln::eval::ranking_metrics_cuda(d_scores, d_labels, n);  // returns after the GPU is done
      times.push_back(now() - start);
    }
    std::sort(times.begin(), times.end());
    // 1000 bootstrap replicates of the first million rows.
    const int64_t million = std::min<int64_t>(n, 1000000);
    double start = now();
    kiln::eval::BootstrapOptions options;
    options.replicates = 1000;
    const kiln::eval::BootstrapSample b =
        kiln::eval::bootstrap_sample_cuda(d_scores, d_labels, million, options, false);
    const double bootstrap_seconds = now() - start;
    cudaDeviceProp prop;
    cudaGetDeviceProperties(&prop, 0);
    std::cout << nlohmann::ordered_json{{"rows", n},
                                        {"seconds", times[times.size() / 2]},
                                        {"auroc", s.auroc},
                                        {"average_precision", s.average_precision},
                                        {"bootstrap_1000x1M_seconds", bootstrap_seconds},
                                        {"bootstrap_replicates", b.replicates.size()},
                                        {"device", prop.name}}
                     .dump()
              << "\n";
    return 0;
  }
#endif
  double best = 1e30;
  kiln::eval::BinaryMetrics m;
  for (int r = 0; r < reps; ++r) {
    double start = now();
    kiln::eval::BinaryAccumulator acc;
    acc.add(scores.data(), labels.data(), nullptr, n);
    m = acc.value();
    best = std::min(best, now() - start);
  }
  std::cout << nlohmann::ordered_json{{"rows", n},
                                      {"seconds", best},
                                      {"rows_per_s", static_cast<double>(n) / best},
                                      {"auroc", m.auroc},
                                      {"average_precision", m.average_precision}}
                   .dump()
            << "\n";
  return 0;
}
