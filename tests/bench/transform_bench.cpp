// Feature-transform benchmark (a plain harness, not a test). scripts/bench runs `run`
// beside the numpy peer and scripts/gpu-check runs `gpu` beside the PyTorch eager and
// torch.compile peers (tests/bench/transform_peer.py), on the same dataset and plan.
//
//   transform_bench make DIR --rows N [--numeric 64] [--categorical 8] [--missing 0.05]
//       a dataset (half the numeric columns with this fraction of NaN, Zipf codes) and
//       DIR/transform.json fitted with the default transform config
//   transform_bench run DIR [--threads T] [--reps R]     CPU reference, columns in memory
//   transform_bench gpu DIR [--reps R]                   fused kernel vs a D2D copy (CUDA)
// Each prints one JSON object. Bytes: every input column read once, both outputs written.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/bench/bench_util.h"

#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/random.h"
#include "kernels/transform.h"
#include "transform/plan.h"
#if KILN_WITH_CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <memory>

#endif

namespace {

using kiln::bench::arg;
using kiln::bench::now;

using namespace kiln;

// The whole dataset's columns in memory, in schema order.
struct Columns {
  std::vector<std::vector<char>> storage;
  std::vector<const void*> pointers;
  int64_t rows = 0;
  int64_t bytes_read = 0;  // the columns the plan reads, once each
};

Columns load(const data::Dataset& dataset, const kernels::CompiledPlan& plan) {
  Columns c;
  c.rows = dataset.rows();
  const auto& schema = dataset.schema();
  for (const auto& column : schema.columns)
    c.storage.emplace_back(static_cast<std::size_t>(c.rows) * data::mem_size(column.role));
  int64_t at = 0;
  for (const auto& shard : dataset.shards()) {
    std::vector<void*> out;
    for (std::size_t i = 0; i < schema.columns.size(); ++i)
      out.push_back(c.storage[i].data() +
                    at * static_cast<int64_t>(data::mem_size(schema.columns[i].role)));
    shard->read(0, shard->rows(), out);
    at += shard->rows();
  }
  std::vector<bool> used(schema.columns.size(), false);
  for (const auto& p : plan.features)
    used[static_cast<std::size_t>(p.input)] = true;
  for (const auto& p : plan.categoricals)
    used[static_cast<std::size_t>(p.input)] = true;
  for (std::size_t i = 0; i < used.size(); ++i) {
    c.pointers.push_back(c.storage[i].data());
    if (used[i]) c.bytes_read += c.rows * 4;
  }
  return c;
}

void make(const std::string& dir, int64_t rows, int numeric, int categorical, double missing) {
  data::Schema schema;
  for (int c = 0; c < numeric; ++c)
    schema.columns.push_back({std::string("x").append(std::to_string(c)), data::Role::kNumeric, 0});
  for (int c = 0; c < categorical; ++c)
    schema.columns.push_back(
        {std::string("c").append(std::to_string(c)), data::Role::kCategorical, 10000});
  schema.columns.push_back({"label", data::Role::kLabel, 0});
  data::DatasetWriter writer(dir, schema, {}, (rows + 3) / 4);
  const int64_t block = 65536;
  std::vector<std::vector<float>> floats(static_cast<std::size_t>(numeric + 1),
                                         std::vector<float>(block));
  std::vector<std::vector<int32_t>> codes(static_cast<std::size_t>(categorical),
                                          std::vector<int32_t>(block));
  std::vector<const void*> pointers;
  for (int c = 0; c < numeric; ++c)
    pointers.push_back(floats[static_cast<std::size_t>(c)].data());
  for (auto& v : codes)
    pointers.push_back(v.data());
  pointers.push_back(floats.back().data());
  for (int64_t start = 0; start < rows; start += block) {
    int64_t n = std::min(block, rows - start);
    for (int c = 0; c <= numeric; ++c) {
      data::CounterRng rng(data::mix_keys(static_cast<uint64_t>(start), static_cast<uint64_t>(c)));
      for (int64_t i = 0; i < n; ++i) {
        double u = rng.uniform();
        float v = c == numeric
                      ? static_cast<float>(u < 0.02)
                      : static_cast<float>(std::exp(4.0 * u - 2.0) * (c % 3 == 0 ? 100 : 1));
        if (c < numeric && c % 2 == 0 && rng.uniform() < missing) v = NAN;
        floats[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)] = v;
      }
    }
    for (int c = 0; c < categorical; ++c) {
      data::CounterRng rng(
          data::mix_keys(static_cast<uint64_t>(start), 1000u + static_cast<uint64_t>(c)));
      for (int64_t i = 0; i < n; ++i) {
        double u = rng.uniform();
        codes[static_cast<std::size_t>(c)][static_cast<std::size_t>(i)] =
            u < 0.01 ? -1 : static_cast<int32_t>(std::pow(10000.0, rng.uniform())) - 1;
      }
    }
    writer.append(n, pointers);
  }
  writer.finish();
  auto dataset = data::Dataset::open(dir);
  transform::fit_transform(*dataset, transform::TransformOptions{}).write(dir + "/transform.json");
  // A raw copy of the columns for the Python peers (columns.bin, laid out by columns.json),
  // so they need neither h5py nor HDF5.
  Columns raw = load(*dataset, kernels::CompiledPlan{});
  std::ofstream bin(dir + "/columns.bin", std::ios::binary);
  nlohmann::ordered_json layout{{"rows", raw.rows}, {"columns", nlohmann::ordered_json::array()}};
  for (std::size_t c = 0; c < raw.storage.size(); ++c) {
    const auto& column = dataset->schema().columns[c];
    bin.write(raw.storage[c].data(), static_cast<std::streamsize>(raw.storage[c].size()));
    layout["columns"].push_back(
        {{"name", column.name},
         {"dtype", data::mem_type(column.role) == data::MemType::kInt32 ? "<i4" : "<f4"}});
  }
  std::ofstream(dir + "/columns.json") << layout.dump() << "\n";
}

nlohmann::ordered_json report(const Columns& c, const kernels::CompiledPlan& plan, double seconds) {
  int64_t written = c.rows * (plan.width() * 4 + plan.categorical_width() * 8);
  return {{"rows", c.rows},
          {"features", plan.width()},
          {"categorical", plan.categorical_width()},
          {"seconds", seconds},
          {"rows_per_s", static_cast<double>(c.rows) / seconds},
          {"bytes", c.bytes_read + written},
          {"gb_per_s", static_cast<double>(c.bytes_read + written) / seconds / 1e9}};
}

void run_cpu(const std::string& dir, int threads, int reps) {
  auto dataset = data::Dataset::open(dir);
  auto plan =
      transform::compile(transform::FittedPlan::read(dir + "/transform.json"), dataset->schema());
  Columns c = load(*dataset, plan);
  std::vector<float> features(static_cast<std::size_t>(c.rows * plan.width()));
  std::vector<int64_t> categorical(static_cast<std::size_t>(c.rows * plan.categorical_width()));
  core::ThreadPool pool(threads);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double start = now();
    kernels::apply_cpu(plan, c.pointers.data(), c.rows, features.data(), categorical.data(), &pool);
    best = std::min(best, now() - start);
  }
  auto out = report(c, plan, best);
  out["threads"] = pool.size();
  std::cout << out.dump() << "\n";
}

#if KILN_WITH_CUDA
void check(cudaError_t status) {
  if (status != cudaSuccess) throw std::runtime_error(cudaGetErrorString(status));
}

// The median time of each of `works` on the default stream, timed in turns (work 0, 1, ...,
// then again) so that a drift of the card's clocks touches all alike, after half a second
// of warm-up that brings the clocks up.
std::vector<double> median_seconds(int reps, const std::vector<std::function<void()>>& works) {
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start));
  check(cudaEventCreate(&stop));
  for (double t0 = now(); now() - t0 < 0.5;) {
    for (const auto& work : works)
      work();
    check(cudaDeviceSynchronize());
  }
  std::vector<std::vector<double>> times(works.size());
  for (int r = 0; r < reps; ++r) {
    for (std::size_t w = 0; w < works.size(); ++w) {
      check(cudaEventRecord(start));
      works[w]();
      check(cudaEventRecord(stop));
      check(cudaEventSynchronize(stop));
      float ms = 0;
      check(cudaEventElapsedTime(&ms, start, stop));
      times[w].push_back(ms / 1e3);
    }
  }
  std::vector<double> medians;
  for (auto& t : times) {
    std::sort(t.begin(), t.end());
    medians.push_back(t[t.size() / 2]);
  }
  return medians;
}

void run_gpu(const std::string& dir, int reps) {
  auto dataset = data::Dataset::open(dir);
  auto plan =
      transform::compile(transform::FittedPlan::read(dir + "/transform.json"), dataset->schema());
  Columns c = load(*dataset, plan);
  std::vector<const void*> device;
  for (const auto& s : c.storage) {
    void* p = nullptr;
    check(cudaMalloc(&p, s.size()));
    check(cudaMemcpy(p, s.data(), s.size(), cudaMemcpyHostToDevice));
    device.push_back(p);
  }
  float* features = nullptr;
  int64_t* categorical = nullptr;
  check(cudaMalloc(&features, static_cast<std::size_t>(c.rows * plan.width()) * 4));
  check(cudaMalloc(&categorical,
                   static_cast<std::size_t>(c.rows * plan.categorical_width()) * 8 + 8));
  kernels::DevicePlan device_plan(plan);
  device_plan.set_columns(device);
  // For orientation: the same kernel with every float output a plain copy of its input (no
  // arithmetic); and that with every categorical hashed instead (no table lookups): what the
  // layout alone costs.
  kernels::CompiledPlan identity = plan;
  for (auto& p : identity.features)
    p.flags = 0;
  kernels::DevicePlan identity_plan(identity);
  identity_plan.set_columns(device);
  kernels::CompiledPlan layout = identity;
  for (auto& p : layout.categoricals)
    if (p.kind == kernels::CategoricalKind::kVocabulary) {
      p.kind = kernels::CategoricalKind::kHash;
      p.buckets = static_cast<uint32_t>(std::max(p.count, 1));
    }
  kernels::DevicePlan layout_plan(layout);
  layout_plan.set_columns(device);
  // The ceiling: a device-to-device copy moving the same number of bytes (half read, half
  // written).
  const int64_t bytes = c.bytes_read + c.rows * (plan.width() * 4 + plan.categorical_width() * 8);
  const auto half = static_cast<std::size_t>(bytes / 2);
  void *from = nullptr, *to = nullptr;
  check(cudaMalloc(&from, half));
  check(cudaMalloc(&to, half));
  check(cudaMemset(from, 1, half));
  // The other tilings (DevicePlan::Tiling), timed in the same rounds: they must give the same
  // bits.
  using Tiling = kernels::DevicePlan::Tiling;
  auto name = [](Tiling tiling) { return tiling == Tiling::kRowTiles ? "row" : "column"; };
  std::vector<std::unique_ptr<kernels::DevicePlan>> others;
  for (Tiling tiling : {Tiling::kColumnTiles, Tiling::kRowTiles}) {
    if (tiling == kernels::DevicePlan::kDefaultTiling) continue;
    others.push_back(std::make_unique<kernels::DevicePlan>(plan, tiling));
    others.back()->set_columns(device);
  }
  auto outputs = [&](const kernels::DevicePlan& p) {
    const auto float_bytes = static_cast<std::size_t>(c.rows * plan.width()) * 4;
    const auto index_bytes = static_cast<std::size_t>(c.rows * plan.categorical_width()) * 8;
    check(cudaMemset(features, 0xff, float_bytes));
    check(cudaMemset(categorical, 0xff, index_bytes));
    p.apply(c.rows, features, categorical);
    std::vector<char> host(float_bytes + index_bytes);
    check(cudaMemcpy(host.data(), features, float_bytes, cudaMemcpyDeviceToHost));
    check(cudaMemcpy(host.data() + float_bytes, categorical, index_bytes, cudaMemcpyDeviceToHost));
    return host;
  };
  // Before any timing, so that the first launches are one of each tiling (scripts/gpu-check
  // profiles them).
  const std::vector<char> expected = outputs(device_plan);
  std::vector<bool> same;
  for (const auto& other : others)
    same.push_back(outputs(*other) == expected);
  std::vector<std::function<void()>> works = {
      [&] { device_plan.apply(c.rows, features, categorical); },
      [&] { identity_plan.apply(c.rows, features, categorical); },
      [&] { check(cudaMemcpyAsync(to, from, half, cudaMemcpyDeviceToDevice)); },
      [&] { layout_plan.apply(c.rows, features, categorical); }};
  for (const auto& other : others)
    works.push_back([&] { other->apply(c.rows, features, categorical); });
  auto t = median_seconds(reps, works);
  auto out = report(c, plan, t[0]);
  const double copy_bw = 2.0 * static_cast<double>(half) / t[2] / 1e12;
  out["tiling"] = name(device_plan.tiling());
  out["identity_tb_per_s"] = static_cast<double>(bytes) / t[1] / 1e12;
  out["layout_tb_per_s"] = static_cast<double>(bytes) / t[3] / 1e12;
  out["tb_per_s"] = out["gb_per_s"].get<double>() / 1e3;
  out["copy_tb_per_s"] = copy_bw;
  out["fraction_of_copy"] = out["tb_per_s"].get<double>() / copy_bw;
  out["other_tilings"] = nlohmann::ordered_json::array();
  for (std::size_t i = 0; i < others.size(); ++i) {
    const double tb_per_s = static_cast<double>(bytes) / t[4 + i] / 1e12;
    out["other_tilings"].push_back({{"tiling", name(others[i]->tiling())},
                                    {"tb_per_s", tb_per_s},
                                    {"fraction_of_copy", tb_per_s / copy_bw},
                                    {"same_bits", static_cast<bool>(same[i])}});
  }
  cudaDeviceProp prop;
  check(cudaGetDeviceProperties(&prop, 0));
  out["device"] = prop.name;
  std::cout << out.dump() << "\n";
  if (std::find(same.begin(), same.end(), false) != same.end())
    throw std::runtime_error("the tilings computed different bits");
}
#endif

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) throw std::runtime_error("usage: transform_bench make|run|gpu DIR [options]");
    std::string mode = argv[1], dir = argv[2];
    int reps = std::stoi(arg(argc, argv, "--reps", "5"));
    if (mode == "make") {
      make(dir, std::stoll(arg(argc, argv, "--rows", "1000000")),
           std::stoi(arg(argc, argv, "--numeric", "64")),
           std::stoi(arg(argc, argv, "--categorical", "8")),
           std::stod(arg(argc, argv, "--missing", "0.05")));
    } else if (mode == "run") {
      run_cpu(dir, std::stoi(arg(argc, argv, "--threads", "0")), reps);
#if KILN_WITH_CUDA
    } else if (mode == "gpu") {
      run_gpu(dir, reps);
#endif
    } else {
      throw std::runtime_error("unknown mode '" + mode + "'");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "transform_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
