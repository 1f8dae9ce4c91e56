// The feed's GPU path: DeviceBatches with batches of the loader's gather mode (whole windows
// copied once, rows gathered by the fused transform) against the same batches copied out by
// the CPU, bit for bit; and feed::Feed's GPU path against its host path. Runs where a GPU is
// (scripts/gpu-check); skips cleanly elsewhere.
#include "feed/device_batches.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "data/dataset.h"
#include "feed/feed.h"
#include "kernels/device.h"
#include "tests/gpu.h"
#include "tests/temp_dir.h"
#include "transform/plan.h"

namespace kiln::feed {
namespace {

using kernels::CompiledPlan;
using kernels::cuda_info;
using kernels::CudaInfo;

// id, two numeric columns with missing values, a categorical column, label and weight.
std::shared_ptr<const data::Dataset> make_dataset(const std::string& dir, int64_t rows) {
  using data::Role;
  data::Schema schema{{{"id", Role::kId, 0},
                       {"x", Role::kNumeric, 0},
                       {"c", Role::kCategorical, 50},
                       {"z", Role::kNumeric, 0},
                       {"label", Role::kLabel, 0},
                       {"weight", Role::kWeight, 0}}};
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  std::vector<int64_t> id(rows);
  std::vector<float> x(rows), z(rows), label(rows), weight(rows);
  std::vector<int32_t> c(rows);
  for (int64_t i = 0; i < rows; ++i) {
    id[i] = i;
    x[i] = i % 17 == 0 ? NAN : normal(rng);
    z[i] = i % 5 == 0 ? NAN : std::exp(normal(rng));
    c[i] = static_cast<int32_t>(rng() % 50);
    label[i] = static_cast<float>(rng() % 2);
    weight[i] = 0.5f + static_cast<float>(i % 3);
  }
  data::DatasetWriter writer(dir, schema, {1000, 0, false, false}, 7000);
  writer.append(rows, {id.data(), x.data(), c.data(), z.data(), label.data(), weight.data()});
  writer.finish();
  return data::Dataset::open(dir);
}

// The default transforms, fitted on `ds` and compiled against it.
CompiledPlan default_plan(const data::Dataset& ds) {
  return transform::compile(transform::fit_transform(ds, transform::TransformOptions{}),
                            ds.schema());
}

// Device memory for `count` values of T, freed at the end of the scope.
template <class T>
struct DeviceArray {
  explicit DeviceArray(std::size_t count) : size(count) {
    EXPECT_EQ(cudaMalloc(&data, std::max<std::size_t>(count, 1) * sizeof(T)), cudaSuccess);
  }
  ~DeviceArray() { cudaFree(data); }
  std::vector<T> host() const {
    std::vector<T> out(size);
    EXPECT_EQ(cudaMemcpy(out.data(), data, size * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return out;
  }
  T* data = nullptr;
  std::size_t size;
};

// What DeviceBatches wrote for three epochs of `options`' loader, batch after batch, with no
// synchronization between batches (as `kiln fit` runs): each batch's outputs are copied on
// the compute stream into one array per output. With two `sets`, the batches go into two
// sets of outputs in turns (as `kiln fit` does: a transform then overlaps the compute
// stream's work on the batch before).
struct Epochs {
  std::vector<float> features, label, weight;
  std::vector<int64_t> categorical;
};

Epochs run_epochs(const std::shared_ptr<const data::Dataset>& ds, const CompiledPlan& plan,
                  data::LoaderOptions options, int sets = 1) {
  PinnedAllocator pinned;
  options.allocator = &pinned;
  options.hold = 2;
  data::Loader loader({ds}, options);
  const int64_t batch = options.batch_size, width = plan.width(), cwidth = plan.categorical_width();
  // drop_last yields whole batches only.
  const auto rows = static_cast<std::size_t>(
      3 * (options.drop_last ? loader.batches_per_epoch() * batch : loader.rows_per_epoch()));
  // The sets of outputs, one after another in each array.
  const auto n_sets = static_cast<std::size_t>(sets), per_set = static_cast<std::size_t>(batch);
  const auto w = static_cast<std::size_t>(width), cw = static_cast<std::size_t>(cwidth);
  DeviceArray<float> features(n_sets * per_set * w), label(n_sets * per_set),
      weight(n_sets * per_set);
  DeviceArray<int64_t> categorical(n_sets * per_set * cw);
  std::vector<DeviceBatchOutputs> outs;
  for (std::size_t k = 0; k < n_sets; ++k)
    outs.push_back({features.data + k * per_set * w,
                    categorical.data + k * per_set * cw,
                    {{4, label.data + k * per_set}, {5, weight.data + k * per_set}}});
  DeviceArray<float> all_features(rows * static_cast<std::size_t>(width)), all_label(rows),
      all_weight(rows);
  DeviceArray<int64_t> all_categorical(rows * static_cast<std::size_t>(cwidth));
  DeviceBatches batches(plan, ds->schema(), batch);
  cudaStream_t stream = nullptr;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  std::size_t done = 0;
  for (int epoch = 0; epoch < 3; ++epoch) {
    for (std::size_t i = 0; const data::Batch* b = loader.next(); ++i) {
      const DeviceBatchOutputs& out = outs[i % outs.size()];
      batches.push(*b, out, stream);
      const auto n = static_cast<std::size_t>(b->rows);
      auto keep = [&](auto* to, const auto* from, std::size_t per_row) {
        EXPECT_EQ(cudaMemcpyAsync(to + done * per_row, from, n * per_row * sizeof(*from),
                                  cudaMemcpyDeviceToDevice, stream),
                  cudaSuccess);
      };
      keep(all_features.data, out.features, static_cast<std::size_t>(width));
      keep(all_categorical.data, out.categorical, static_cast<std::size_t>(cwidth));
      keep(all_label.data, out.columns[0].out, 1);
      keep(all_weight.data, out.columns[1].out, 1);
      done += n;
    }
  }
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  cudaStreamDestroy(stream);
  EXPECT_EQ(done, rows);
  return {all_features.host(), all_label.host(), all_weight.host(), all_categorical.host()};
}

// The same outputs, bit for bit.
void expect_same(const Epochs& got, const Epochs& want, const char* what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(got.features.size(), want.features.size());
  EXPECT_EQ(
      std::memcmp(got.features.data(), want.features.data(), want.features.size() * sizeof(float)),
      0);
  EXPECT_EQ(got.categorical, want.categorical);
  EXPECT_EQ(got.label, want.label);
  EXPECT_EQ(got.weight, want.weight);
}

TEST(DeviceBatchesGpu, GatheredOnTheGpuEqualsCopiedOnTheCpuBitForBit) {
  const CudaInfo info = cuda_info();
  KILN_SKIP_WITHOUT_GPU(info.compiled && !info.devices.empty(), info.note);
  kiln::testing::TempDir dir;
  auto ds = make_dataset(dir / "ds", 30011);
  const CompiledPlan plan = default_plan(*ds);
  ASSERT_GT(plan.categorical_width(), 0);
  struct Case {
    int64_t batch, window, block;
    bool drop_last;
  };
  // Windows of many batches; batches across windows and larger than windows (the ring wraps
  // in mid-batch); blocks only with drop_last.
  for (const Case& c :
       {Case{700, 5000, 2000, false}, Case{4096, 1000, 1000, false}, Case{512, 0, 3000, true}}) {
    SCOPED_TRACE(::testing::Message() << "batch " << c.batch << " window " << c.window);
    data::LoaderOptions o;
    o.batch_size = c.batch;
    o.shuffle_window = c.window;
    o.block_rows = c.block;
    o.drop_last = c.drop_last;
    o.seed = 8;
    const Epochs copied = run_epochs(ds, plan, o);
    expect_same(run_epochs(ds, plan, o, 2), copied, "copied, two sets of outputs");
    o.gather = true;
    expect_same(run_epochs(ds, plan, o), copied, "gathered");
    expect_same(run_epochs(ds, plan, o, 2), copied, "gathered, two sets of outputs");
  }
}

// Every batch of `epochs` epochs of a feed, copied to the host after its transform (on the
// stream it is read on), in one array per output.
Epochs feed_epochs(const std::shared_ptr<const data::Dataset>& ds, const CompiledPlan& plan,
                   const FeedOptions& options, int epochs) {
  Feed feed({ds}, plan, options);
  cudaStream_t stream = nullptr;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  Epochs out;
  auto keep = [&](auto& to, const auto* from, int64_t count) {
    if (count == 0) return;
    const std::size_t at = to.size();
    to.resize(at + static_cast<std::size_t>(count));
    if (!feed.gpu()) {
      std::copy(from, from + count, to.begin() + static_cast<std::ptrdiff_t>(at));
      return;
    }
    EXPECT_EQ(cudaMemcpyAsync(to.data() + at, from, static_cast<std::size_t>(count) * sizeof(*from),
                              cudaMemcpyDeviceToHost, stream),
              cudaSuccess);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  };
  for (int epoch = 0; epoch < epochs; ++epoch) {
    while (const FeedBatch* b = feed.next(stream)) {
      keep(out.features, b->features, b->rows * feed.width());
      keep(out.categorical, b->categorical, b->rows * feed.categorical_width());
      keep(out.label, b->label, b->rows);
      keep(out.weight, b->weight, b->rows);
    }
  }
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  cudaStreamDestroy(stream);
  return out;
}

TEST(FeedGpu, TheGpuPathGivesTheHostPathsBatchesBitForBit) {
  const CudaInfo info = cuda_info();
  KILN_SKIP_WITHOUT_GPU(info.compiled && !info.devices.empty(), info.note);
  kiln::testing::TempDir dir;
  auto ds = make_dataset(dir / "ds", 30011);
  const CompiledPlan plan = default_plan(*ds);
  for (const bool shuffle : {true, false}) {
    SCOPED_TRACE(shuffle ? "shuffled" : "in order");
    FeedOptions o;
    o.batch_size = 2048;
    o.shuffle = shuffle;
    o.shuffle_window = 5000;
    o.seed = 4;
    const Epochs host = feed_epochs(ds, plan, o, 2);
    ASSERT_EQ(host.label.size(), 2 * 30011u);
    o.gpu = true;
    for (const bool device_shuffle : {false, true}) {
      o.device_shuffle = device_shuffle;
      expect_same(feed_epochs(ds, plan, o, 2), host,
                  device_shuffle ? "device shuffle" : "batches copied");
    }
  }
}

}  // namespace
}  // namespace kiln::feed
