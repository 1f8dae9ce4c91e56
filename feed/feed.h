// The data feed of training and scoring: a dataset's rows, batched by the streaming loader
// (data/loader.h), transformed by a compiled plan (kernels/transform.h) into model-ready
// matrices, on the CPU or on the GPU. The one place that configures a loader for its
// consumer: FeedOptions says what the consumer wants, and the feed chooses the loader's
// memory (pinned on the GPU path), how long it holds batches, and its gather mode.
//
// The host path: the CPU reference transform on `threads` threads, into host buffers.
// The GPU path (CUDA builds, the current device): each batch crosses to the GPU in one
// copy, or, with device_shuffle, whole windows of rows cross once and the fused transform
// puts the rows in batch order there (feed/device_batches.h); the transform runs on a
// stream of its own into two sets of output buffers in turns, which keep their addresses
// (a captured CUDA graph reads them), while the caller's work on the batch before runs.
//
// No LibTorch: trainer/ wraps a FeedBatch's pointers as tensors. Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "kernels/transform_math.h"

namespace kiln::feed {

struct FeedOptions {
  int64_t batch_size = 4096;        // rows per batch
  bool shuffle = true;              // a new order every epoch (seed, epoch); false: file order
  int64_t shuffle_window = 262144;  // rows permuted together (data/loader.h)
  bool drop_last = false;           // drop the last partial batch of an epoch
  uint64_t seed = 0;                // with the epoch, fixes the order
  int rank = 0;                     // this process's rank among world_size readers
  int world_size = 1;               // ranks reading disjoint shares of every epoch
  int threads = 0;                  // loader and CPU transform threads; 0: one per usable core
  bool gpu = false;                 // transform on the current CUDA device (CUDA builds only)
  bool device_shuffle = true;       // GPU path, shuffled: rows put in batch order on the GPU
};

// A transformed batch, row-major: features [rows, width] float32, categorical
// [rows, categorical_width] int64, label and weight [rows] float32 (nullptr where the schema
// has no such column). Device memory on the GPU path, host memory on the host path.
struct FeedBatch {
  int64_t rows = 0;
  float* features = nullptr;
  int64_t* categorical = nullptr;
  float* label = nullptr;
  float* weight = nullptr;
  int set = 0;                          // GPU path: which of the two output sets
  const data::Batch* source = nullptr;  // the loader's batch: its host columns (id, label)
};

class GpuPath;

class Feed {
 public:
  // Datasets share one schema (data::Loader); `plan` is compiled against it. ConfigError for
  // bad options, or the GPU path asked of a build without CUDA.
  Feed(std::vector<std::shared_ptr<const data::Dataset>> datasets,
       const kernels::CompiledPlan& plan, const FeedOptions& options);
  ~Feed();
  Feed(const Feed&) = delete;
  Feed& operator=(const Feed&) = delete;

  // The next batch, or nullptr at the end of an epoch (the call after that starts the next
  // epoch). It stays valid until the next call. On the GPU path, `stream` (a cudaStream_t;
  // nullptr: the default stream) is the only stream its outputs are read on: it waits for
  // the batch's transform, and the transform of the batch after next, into the same outputs,
  // waits for the work enqueued on it until then. Rethrows the loader's reading errors
  // (DataError naming file and row); InternalError naming a CUDA failure.
  const FeedBatch* next(void* stream = nullptr);

  // The GPU path's two sets of outputs, batch_size rows each, whose addresses never change
  // (FeedBatch::set says which one a batch is in); empty on the host path.
  const std::vector<FeedBatch>& device_outputs() const;

  bool gpu() const { return gpu_ != nullptr; }
  int64_t width() const { return plan_.width(); }
  int64_t categorical_width() const { return plan_.categorical_width(); }
  const data::Schema& schema() const { return loader_->schema(); }
  int64_t batches_per_epoch() const { return loader_->batches_per_epoch(); }
  data::LoaderCursor cursor() const { return loader_->cursor(); }
  // Continues from `cursor`, e.g. restored from a checkpoint (the GPU path synchronizes its
  // copies first).
  void seek(data::LoaderCursor cursor);

  // Seconds next() waited for the loader, and (GPU path) for batch copies to finish.
  double data_wait_seconds() const { return loader_->wait_seconds(); }
  double copy_wait_seconds() const;

 private:
  kernels::CompiledPlan plan_;
  int label_ = -1, weight_ = -1;
  std::unique_ptr<GpuPath> gpu_;  // before the loader: it owns the loader's pinned memory
  std::unique_ptr<data::Loader> loader_;
  std::unique_ptr<core::ThreadPool> pool_;  // the host path's transform
  std::vector<float> features_;
  std::vector<int64_t> categorical_;
  FeedBatch batch_;
};

}  // namespace kiln::feed
