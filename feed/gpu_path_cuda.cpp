// The GPU feed: pinned loader memory, DeviceBatches, and two sets of outputs it writes in
// turns, so that one batch is transformed while the caller's work on the one before runs.
#include <cuda_runtime.h>

#include <array>

#include "feed/device_batches.h"
#include "feed/gpu_path.h"
#include "kernels/cuda_check.h"

namespace kiln::feed {
namespace {

struct DeviceFree {
  void operator()(void* memory) const { cudaFree(memory); }
};
using DeviceMemory = std::unique_ptr<void, DeviceFree>;

// `bytes` of zeroed device memory; at least 256, so that every buffer has an address of its
// own even for an empty plan (the trainer tells the two sets apart by their addresses).
DeviceMemory zeroed(std::size_t bytes) {
  bytes = std::max<std::size_t>(bytes, 256);
  void* memory = nullptr;
  kernels::cuda_check(cudaMalloc(&memory, bytes), "allocating device memory for batches");
  DeviceMemory owned(memory);
  kernels::cuda_check(cudaMemset(memory, 0, bytes), "clearing device memory for batches");
  return owned;
}

class CudaPath final : public GpuPath {
 public:
  CudaPath(const kernels::CompiledPlan& plan, const data::Schema& schema, const FeedOptions& o)
      : gather_(o.device_shuffle && o.shuffle), batches_(plan, schema, o.batch_size) {
    const auto rows = static_cast<std::size_t>(o.batch_size);
    const int label = schema.find_role(data::Role::kLabel);
    const int weight = schema.find_role(data::Role::kWeight);
    for (std::size_t k = 0; k < sets_.size(); ++k) {
      Set& s = sets_[k];
      auto buffer = [&](std::size_t bytes) { return s.memory.emplace_back(zeroed(bytes)).get(); };
      s.batch.set = static_cast<int>(k);
      s.batch.features =
          static_cast<float*>(buffer(rows * static_cast<std::size_t>(plan.width()) * 4));
      s.batch.categorical = static_cast<int64_t*>(
          buffer(rows * static_cast<std::size_t>(plan.categorical_width()) * 8));
      s.outputs.features = s.batch.features;
      s.outputs.categorical = s.batch.categorical;
      if (label >= 0) {
        s.batch.label = static_cast<float*>(buffer(rows * 4));
        s.outputs.columns.push_back({label, s.batch.label});
      }
      if (weight >= 0) {
        s.batch.weight = static_cast<float*>(buffer(rows * 4));
        s.outputs.columns.push_back({weight, s.batch.weight});
      }
      outputs_.push_back(s.batch);
    }
  }

  void configure(data::LoaderOptions& options) override {
    options.allocator = &pinned_;
    options.hold = 2;  // DeviceBatches::push
    options.gather = gather_;
  }

  FeedBatch push(const data::Batch& batch, void* stream) override {
    const Set& s = sets_[next_];
    next_ ^= 1;
    batches_.push(batch, s.outputs, stream);
    FeedBatch out = s.batch;
    out.rows = batch.rows;
    out.source = &batch;
    return out;
  }

  const std::vector<FeedBatch>& outputs() const override { return outputs_; }
  double copy_wait_seconds() const override { return batches_.copy_wait_seconds(); }
  void finish() override { batches_.synchronize(); }

 private:
  struct Set {
    std::vector<DeviceMemory> memory;
    DeviceBatchOutputs outputs;
    FeedBatch batch;
  };
  bool gather_;
  // Declared before `batches_`: freed after it has synchronized its streams.
  std::array<Set, 2> sets_;
  std::vector<FeedBatch> outputs_;
  PinnedAllocator pinned_;
  DeviceBatches batches_;
  std::size_t next_ = 0;  // the set the next batch goes into
};

}  // namespace

std::unique_ptr<GpuPath> make_gpu_path(const kernels::CompiledPlan& plan,
                                       const data::Schema& schema, const FeedOptions& options) {
  return std::make_unique<CudaPath>(plan, schema, options);
}

}  // namespace kiln::feed
