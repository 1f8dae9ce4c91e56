// The GPU half of feed::Feed (private to feed/): gpu_path_cuda.cpp in a build with CUDA;
// gpu_path_cpu.cpp refuses it in a build without.
#pragma once

#include <memory>
#include <vector>

#include "data/loader.h"
#include "feed/feed.h"
#include "kernels/transform_math.h"

namespace kiln::feed {

class GpuPath {
 public:
  virtual ~GpuPath() = default;
  // What this path needs of the loader that feeds it: pinned memory, batches held for two
  // calls, and with device_shuffle the gather mode.
  virtual void configure(data::LoaderOptions& options) = 0;
  // Enqueues `batch`'s copy and transform into the next set of outputs; `stream` waits for
  // it (Feed::next).
  virtual FeedBatch push(const data::Batch& batch, void* stream) = 0;
  virtual const std::vector<FeedBatch>& outputs() const = 0;
  virtual double copy_wait_seconds() const = 0;
  // Waits until the copies and transforms enqueued so far have finished.
  virtual void finish() = 0;
};

// `plan` outlives the path. ConfigError in a build without CUDA.
std::unique_ptr<GpuPath> make_gpu_path(const kernels::CompiledPlan& plan,
                                       const data::Schema& schema, const FeedOptions& options);

}  // namespace kiln::feed
