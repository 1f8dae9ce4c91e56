// feed::Feed (feed/feed.h) as LibTorch tensors on the training device: the model-ready
// batches of `kiln fit`, `kiln predict` and `kiln eval --model`.
#pragma once

#include <torch/torch.h>

#include <array>
#include <memory>
#include <vector>

#include "feed/feed.h"

namespace kiln::trainer {

// A transformed batch as a model takes it: features [B, width] float32, categorical
// [B, categorical_width] int64, and the label [B] and weight [B] float32 columns where the
// schema has them (else undefined).
struct ModelBatch {
  torch::Tensor features, categorical, label, weight;
  // Its rows' share of the global batch of all ranks (data-parallel training; 1 in one
  // process): the weight of its gradient in the sum over the ranks.
  double share = 1;
};

// The first `rows` rows of each of `batch`'s tensors (views; undefined ones stay undefined).
ModelBatch first_rows(const ModelBatch& batch, int64_t rows);

// On a CUDA device (in a CUDA build of Kiln) the feed's GPU path: batches are transformed on
// the GPU beside the thread's current stream, which waits for them, into two sets of buffers
// in turns (buffers()). Else the feed's host path, its matrices copied to the device (no
// copy on the CPU). A batch's tensors may be read by work enqueued on the current stream
// until the next call of next().
class TorchFeed {
 public:
  // `options.gpu` is set here, from the device.
  TorchFeed(std::vector<std::shared_ptr<const data::Dataset>> datasets,
            const kernels::CompiledPlan& plan, feed::FeedOptions options, torch::Device device);

  // The next batch, or nullptr at the end of an epoch (see feed::Feed::next).
  const ModelBatch* next();
  // The loader's batch behind the last next(): its host columns (id, label).
  const data::Batch& source() const { return *source_; }

  // The GPU path's two sets of buffers (batch_size rows each, fixed addresses: a CUDA graph
  // may read them; a batch is the first rows of one of them); empty otherwise.
  const std::array<ModelBatch, 2>& buffers() const { return buffers_; }

  feed::Feed& feed() { return feed_; }
  const feed::Feed& feed() const { return feed_; }

 private:
  torch::Device device_;
  feed::Feed feed_;
  std::array<ModelBatch, 2> buffers_;
  ModelBatch batch_;
  const data::Batch* source_ = nullptr;
};

}  // namespace kiln::trainer
