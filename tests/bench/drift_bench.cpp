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
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/bench/bench_util.h"

#include "core/errors.h"
#include "data/dataset.h"
#include "data/random.h"

namespace {

using kiln::bench::arg;
using namespace kiln::data;

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
  for (int64_t start = 0; start < rows; start += block) {
    const int64_t n = std::min(block, rows - start);
    for (int j = 0; j < numeric; ++j) {
      CounterRng rng(mix_keys(seed, mix_keys(static_cast<uint64_t>(start), static_cast<uint64_t>(j))));
      const double sd = 1 + j % 3, mean = j % 7 + (j % 10 == 0 ? shift * sd : 0);
      for (int64_t i = 0; i < n; ++i) {
        const double u = rng.uniform(), v = rng.uniform();  // Box-Muller
        x[static_cast<std::size_t>(j)][static_cast<std::size_t>(i)] = static_cast<float>(
            mean + sd * std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * v));
      }
    }
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
    std::fprintf(stderr,
                 "usage: drift_bench make DIR --rows N --numeric C [--categorical K] [--seed S] "
                 "[--shift X] [--shards P]\n");
    return 64;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drift_bench: %s\n", e.what());
    return 1;
  }
}
