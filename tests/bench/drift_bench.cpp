// Data for the drift benchmark (a plain harness, not a test): scripts/bench drift times
// `kiln drift` on it beside Evidently's DataDriftPreset (tests/bench/drift_peer.py).
//
//   drift_bench make DIR --rows N --numeric C [--categorical K] [--seed S] [--shift X]
//     [--shards P]
// Numeric column j is normal with mean j % 7 and a standard deviation of 1 + j % 3, a tenth
// of them (j % 10 == 0) shifted by X standard deviations; categorical columns have 50 codes,
// Zipf-like, the codes of a shifted one (k % 5 == 0) rotated by one when X > 0; a label of
// 5% positives. Rows come from a counter-based stream of (seed, row, column): any row count
// fits in memory.
//
//   drift_bench pass PROFILE DATA [--reps R]
// The CPU's pass alone (data::profile_against: the cells, bins, moments and tails of every
// column; no process start, no opening, no report), best of R over DATA against PROFILE.
// One JSON object: its seconds and nanoseconds a value.
//
//   drift_bench open DATA [--reps R]
// Opening DATA alone (Dataset::open: the shards proven in child processes, then opened here
// by their proofs), best of R: one JSON object with the wall seconds and the children's CPU
// seconds (user + system) of that run.
//
//   drift_bench read PROFILE [--reps R]
// Reading PROFILE alone (Profile::read: the file, its JSON, the checks), best of R: one JSON
// object with the seconds.
//
//   drift_bench count [--reps R]
// The CPU's count alone (kernels::CellCounter, one thread) of 12,500 normal values in the
// cells of the 1,001-point quantile grid of their column's reference (the same distribution
// half a standard deviation lower), for columns far from zero as well as near it (a year, a
// latitude): best of R. One JSON object a column: its mean and standard deviation, the most
// distinct points a bucket of the grid's index spans (of its float-key table, and of its
// equal-width table: 4294967295 where it has none), and nanoseconds a value.
//
//   drift_bench gpu [--rows N] [--columns C] [--reps R]     (CUDA builds)
// The drift pass's GPU kernel (kernels/grid_count.h) beside the device's own copy: C numeric
// columns of N rows (as above, unshifted) already in GPU memory, each counted in the cells of
// its 1,001-point quantile grid, against cudaMemcpy of the same bytes within the GPU; median
// of R. One JSON object: the kernel's read bandwidth, the copy's (bytes read and written), and
// their ratio (the target: at least 0.7).
#include <sys/resource.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/bench/bench_util.h"

#include "core/errors.h"
#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/profile.h"
#include "data/random.h"
#include "kernels/grid_count.h"
#if KILN_WITH_CUDA
#include <cuda_runtime.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#endif

namespace {

using kiln::bench::arg;
using namespace kiln::data;

// Column j's values: normal, mean j % 7, standard deviation 1 + j % 3, shifted by `shift`
// standard deviations when j % 10 == 0.
void fill_numeric(float* out, int64_t start, int64_t n, int j, uint64_t seed, double shift) {
  CounterRng rng(mix_keys(seed, mix_keys(static_cast<uint64_t>(start), static_cast<uint64_t>(j))));
  const double sd = 1 + j % 3, mean = j % 7 + (j % 10 == 0 ? shift * sd : 0);
  for (int64_t i = 0; i < n; ++i) {
    const double u = rng.uniform(), v = rng.uniform();  // Box-Muller
    out[i] = static_cast<float>(mean +
                                sd * std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * v));
  }
}

int pass(const std::string& profile, const std::string& data, int reps) {
  const Profile reference = Profile::read(profile);
  const auto current = Dataset::open(data);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double start = kiln::bench::now();
    const Profile counted = profile_against(reference, *current);
    best = std::min(best, kiln::bench::now() - start);
  }
  const double values =
      static_cast<double>(current->rows()) * static_cast<double>(reference.columns.size());
  std::printf("{\"seconds\": %.4f, \"ns_per_value\": %.2f, \"threads\": %d}\n", best,
              best / values * 1e9, kiln::core::ThreadPool(0).size());
  return 0;
}

int open(const std::string& data, int reps) {
  const auto children_cpu = [] {
    rusage usage{};
    getrusage(RUSAGE_CHILDREN, &usage);
    const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec * 1e-6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
  };
  double best = 1e30, best_children = 0;
  for (int r = 0; r < reps; ++r) {
    const double cpu = children_cpu(), start = kiln::bench::now();
    const auto dataset = Dataset::open(data);
    const double seconds = kiln::bench::now() - start;
    if (seconds < best) {
      best = seconds;
      best_children = children_cpu() - cpu;
    }
  }
  std::printf("{\"seconds\": %.4f, \"children_cpu_seconds\": %.4f}\n", best, best_children);
  return 0;
}

int read(const std::string& profile, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double start = kiln::bench::now();
    const Profile p = Profile::read(profile);
    best = std::min(best, kiln::bench::now() - start);
  }
  std::printf("{\"seconds\": %.4f}\n", best);
  return 0;
}

int count(int reps) {
  struct Column {
    double mean, sd;
  };
  for (const Column c : {Column{0, 1}, Column{5, 1}, Column{37.5, 0.3}, Column{2000, 10}}) {
    std::vector<float> reference(100000), values(12500);
    const auto fill = [&](std::vector<float>& out, uint64_t seed, double mean) {
      fill_numeric(out.data(), 0, static_cast<int64_t>(out.size()), 1, seed, 0);  // mean 1, sd 2
      for (float& v : out)
        v = static_cast<float>(mean + (v - 1) / 2 * c.sd);
    };
    fill(reference, 1, c.mean);
    fill(values, 2, c.mean + c.sd / 2);
    std::sort(reference.begin(), reference.end());
    std::vector<double> grid;
    for (std::size_t i = 0; i <= 1000; ++i)
      grid.push_back(reference[i * (reference.size() - 1) / 1000]);
    const kiln::kernels::GridIndex index(grid);
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      kiln::kernels::CellCounts counts(grid.size());
      kiln::kernels::CellCounter counter(index);
      const double start = kiln::bench::now();
      for (int k = 0; k < 100; ++k)
        counter.add(values.data(), static_cast<int64_t>(values.size()), counts);
      counter.take(counts);
      best = std::min(best, (kiln::bench::now() - start) / 100);
    }
    std::printf(
        "{\"mean\": %g, \"sd\": %g, \"widest_bucket\": %u, \"widest_linear_bucket\": %u, "
        "\"ns_per_value\": %.2f}\n",
        c.mean, c.sd, index.widest(), index.linear_widest(),
        best / static_cast<double>(values.size()) * 1e9);
  }
  return 0;
}

#if KILN_WITH_CUDA
void check(cudaError_t status, const char* what) {
  KILN_CHECK(status == cudaSuccess, kiln::InternalError, what, ": ", cudaGetErrorString(status));
}

int gpu(int64_t rows, int columns, int reps) {
  // 21 distinct columns (j % 21 gives every mean and deviation), copied to the others.
  const int distinct = std::min(columns, 21);
  std::vector<float> host(static_cast<std::size_t>(rows));
  std::vector<std::unique_ptr<kiln::kernels::GridIndex>> indexes;
  float* values = nullptr;
  const std::size_t bytes = static_cast<std::size_t>(rows) * columns * sizeof(float);
  check(cudaMalloc(&values, bytes), "allocating the columns");
  for (int j = 0; j < distinct; ++j) {
    fill_numeric(host.data(), 0, rows, j, 1, 0);
    check(cudaMemcpy(values + j * rows, host.data(), host.size() * sizeof(float),
                     cudaMemcpyHostToDevice),
          "uploading a column");
    std::sort(host.begin(), host.end());
    std::vector<double> grid;  // its quantiles at i / 1000
    for (int i = 0; i <= 1000; ++i)
      grid.push_back(host[static_cast<std::size_t>(i * (rows - 1) / 1000)]);
    indexes.push_back(std::make_unique<kiln::kernels::GridIndex>(grid));
  }
  for (int j = distinct; j < columns; ++j)
    check(cudaMemcpy(values + j * rows, values + (j % 21) * rows, rows * sizeof(float),
                     cudaMemcpyDeviceToDevice),
          "copying a column");
  std::vector<const kiln::kernels::GridIndex*> grids;
  for (int j = 0; j < columns; ++j)
    grids.push_back(indexes[static_cast<std::size_t>(j % 21)].get());
  kiln::kernels::DeviceGridCounter counter(grids, rows);
  std::vector<kiln::kernels::CellCounts> counts;
  float* copy = nullptr;
  check(cudaMalloc(&copy, bytes), "allocating the copy");
  auto median = [&](auto run) {
    run();  // warm-up
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
      check(cudaDeviceSynchronize(), "waiting for the GPU");
      const double start = kiln::bench::now();
      run();
      check(cudaDeviceSynchronize(), "waiting for the GPU");
      times.push_back(kiln::bench::now() - start);
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  };
  // The kernel alone: the counts (a few MB) are read back once, after every run.
  const double count_s = median([&] { counter.add(values, rows, rows); });
  counter.take(counts);
  const double copy_s =
      median([&] { check(cudaMemcpy(copy, values, bytes, cudaMemcpyDeviceToDevice), "copying"); });
  int64_t counted = 0;
  for (const auto& c : counts)
    for (int64_t n : c.cells)
      counted += n;
  const int64_t expected = rows * columns * (reps + 1);  // every run and the warm-up
  KILN_CHECK(counted == expected, kiln::InternalError, "counted ", counted, " of ", expected,
             " values");
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0), "asking the GPU's name");
  const double kernel_gbs = static_cast<double>(bytes) / count_s / 1e9;
  const double copy_gbs = 2.0 * static_cast<double>(bytes) / copy_s / 1e9;
  std::cout << nlohmann::ordered_json{{"rows", rows},
                                      {"columns", columns},
                                      {"count_seconds", count_s},
                                      {"count_read_gb_per_s", kernel_gbs},
                                      {"copy_seconds", copy_s},
                                      {"copy_read_write_gb_per_s", copy_gbs},
                                      {"ratio", kernel_gbs / copy_gbs},
                                      {"device", prop.name}}
                   .dump()
            << "\n";
  std::printf(
      "table: drift grid count %lld x %d on the GPU: %.1f GB/s read, copy %.1f GB/s: "
      "%.2f of the copy's bandwidth (target >= 0.7)\n",
      static_cast<long long>(rows), columns, kernel_gbs, copy_gbs, kernel_gbs / copy_gbs);
  cudaFree(copy);
  cudaFree(values);
  return 0;
}
#endif

void make(const std::string& dir, int64_t rows, int numeric, int categorical, uint64_t seed,
          double shift, int shards) {
  Schema schema;
  for (int j = 0; j < numeric; ++j)
    schema.columns.push_back({"x" + std::to_string(j), Role::kNumeric, 0});
  for (int k = 0; k < categorical; ++k)
    schema.columns.push_back({"c" + std::to_string(k), Role::kCategorical, 50});
  schema.columns.push_back({"label", Role::kLabel, 0});
  DatasetWriter writer(dir, schema, ShardWriteOptions{}, (rows + shards - 1) / shards);
  const int64_t block = 65536;
  std::vector<std::vector<float>> x(static_cast<std::size_t>(numeric), std::vector<float>(block));
  std::vector<std::vector<int32_t>> c(static_cast<std::size_t>(categorical),
                                      std::vector<int32_t>(block));
  std::vector<float> label(block);
  std::vector<const void*> pointers;
  for (auto& v : x)
    pointers.push_back(v.data());
  for (auto& v : c)
    pointers.push_back(v.data());
  pointers.push_back(label.data());
  kiln::core::ThreadPool pool(0);
  for (int64_t start = 0; start < rows; start += block) {
    const int64_t n = std::min(block, rows - start);
    pool.parallel_for(numeric, [&](int64_t j) {
      fill_numeric(x[static_cast<std::size_t>(j)].data(), start, n, static_cast<int>(j), seed,
                   shift);
    });
    for (int k = 0; k < categorical; ++k) {
      CounterRng rng(mix_keys(seed ^ 0x9e3779b97f4a7c15ull,
                              mix_keys(static_cast<uint64_t>(start), static_cast<uint64_t>(k))));
      const int rotate = shift > 0 && k % 5 == 0 ? 1 : 0;
      for (int64_t i = 0; i < n; ++i) {
        const double u = rng.uniform();
        const auto code = static_cast<int32_t>(50 * u * u);  // small codes are common
        c[static_cast<std::size_t>(k)][static_cast<std::size_t>(i)] = (code + rotate) % 50;
      }
    }
    CounterRng rng(mix_keys(seed + 1, static_cast<uint64_t>(start)));
    for (int64_t i = 0; i < n; ++i)
      label[static_cast<std::size_t>(i)] = rng.uniform() < 0.05 ? 1.0f : 0.0f;
    writer.append(n, pointers);
  }
  writer.finish();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc >= 3 && std::string(argv[1]) == "make") {
      make(argv[2], std::stoll(arg(argc, argv, "--rows", "100000")),
           std::stoi(arg(argc, argv, "--numeric", "100")),
           std::stoi(arg(argc, argv, "--categorical", "0")),
           std::stoull(arg(argc, argv, "--seed", "1")), std::stod(arg(argc, argv, "--shift", "0")),
           std::stoi(arg(argc, argv, "--shards", "8")));
      return 0;
    }
    if (argc >= 4 && std::string(argv[1]) == "pass")
      return pass(argv[2], argv[3], std::stoi(arg(argc, argv, "--reps", "5")));
    if (argc >= 3 && std::string(argv[1]) == "open")
      return open(argv[2], std::stoi(arg(argc, argv, "--reps", "5")));
    if (argc >= 3 && std::string(argv[1]) == "read")
      return read(argv[2], std::stoi(arg(argc, argv, "--reps", "5")));
    if (argc >= 2 && std::string(argv[1]) == "count")
      return count(std::stoi(arg(argc, argv, "--reps", "5")));
#if KILN_WITH_CUDA
    if (argc >= 2 && std::string(argv[1]) == "gpu")
      return gpu(std::stoll(arg(argc, argv, "--rows", "1000000")),
                 std::stoi(arg(argc, argv, "--columns", "1000")),
                 std::stoi(arg(argc, argv, "--reps", "10")));
#endif
    std::fprintf(stderr,
                 "usage: drift_bench make DIR --rows N --numeric C [--categorical K] [--seed S] "
                 "[--shift X] [--shards P]\n       drift_bench pass PROFILE DATA [--reps R]\n"
                 "       drift_bench open DATA [--reps R]\n"
                 "       drift_bench read PROFILE [--reps R]\n"
                 "       drift_bench count [--reps R]\n"
                 "       drift_bench gpu [--rows N] [--columns C] [--reps R]\n");
    return 64;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drift_bench: %s\n", e.what());
    return 1;
  }
}
