// From loader batches to model inputs, and from a model to scores: the transform of a batch
// onto the training device, scoring a whole dataset in order, and its validation metrics.
// Shared by `kiln fit` (evaluation), `kiln predict` and `kiln eval --model`.
#pragma once

#include <torch/torch.h>

#include <array>
#include <functional>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "eval/binary_metrics.h"
#include "kernels/transform.h"
#include "trainer/models.h"

namespace kiln::trainer {

// The device train.device (or any command) asks for: "cpu", "cuda" (ConfigError when
// LibTorch sees no CUDA device) or "auto" (cuda when present).
torch::Device choose_device(const std::string& wanted = "auto");

// A transformed batch as a model takes it: features [B, width] float32, categorical
// [B, categorical_width] int64, and the label [B] and weight [B] float32 columns where the
// schema has them (else undefined).
struct ModelBatch {
  torch::Tensor features, categorical, label, weight;
};

// The first `rows` rows of each of `batch`'s tensors (views; undefined ones stay undefined).
ModelBatch first_rows(const ModelBatch& batch, int64_t rows);

// Applies a compiled plan to loader batches and hands the result to LibTorch on `device`.
// On a CUDA device (in a CUDA build of Kiln) the batch is copied to the GPU and transformed
// there by the fused kernel (kernels/device_batches.h), beside the current CUDA stream,
// which waits for it, into two sets of buffers of batch_size rows in turns, which keep their
// addresses (a CUDA graph reads them): a batch's transform waits only for the work the
// current stream was given between the two apply() calls before it, so it runs while the
// step on the batch before runs. Else the CPU reference runs on `pool` and the result is
// copied to the device. The tensors may be read by work enqueued on the current stream
// until the next apply().
class BatchTransformer {
 public:
  // `targets`: the two sets of buffers to transform into on the GPU path (batch_size rows
  // each, e.g. TrainStep::buffers()); nullptr: the transformer allocates its own.
  BatchTransformer(const kernels::CompiledPlan& plan, const data::Schema& schema,
                   torch::Device device, core::ThreadPool* pool, int64_t batch_size,
                   const std::array<ModelBatch, 2>* targets = nullptr);
  ~BatchTransformer();
  BatchTransformer(const BatchTransformer&) = delete;
  BatchTransformer& operator=(const BatchTransformer&) = delete;

  ModelBatch apply(const data::Batch& batch);

  // What the loader of a long run should do for this transformer: on the GPU path, pinned
  // batch memory (so copies are asynchronous) held for two batches (DeviceBatches::push),
  // and with `gather` the loader's gather mode (rows put in order on the GPU). A loader left
  // as it is works too (pageable memory: each copy is staged at once).
  void prepare(data::LoaderOptions& options, bool gather = false);
  // Seconds apply() waited for batch copies to the GPU to finish.
  double copy_wait_seconds() const;

 private:
  class Gpu;
  const kernels::CompiledPlan& plan_;
  torch::Device device_;
  core::ThreadPool* pool_;
  int label_, weight_;
  std::vector<float> features_;
  std::vector<int64_t> categorical_;
  std::unique_ptr<Gpu> gpu_;
};

struct ScoringOptions {
  int64_t batch_size = 65536;
  int threads = 0;
  double logit_shift = 0;  // subtracted before the sigmoid: log(pos_weight) undoes class weighting
};

// Scores every row of `dataset` in dataset order: probabilities sigmoid(logit - shift), in
// eval mode without gradients; consume(batch, scores) is called once per batch.
void score_dataset(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                   const std::shared_ptr<const data::Dataset>& dataset, torch::Device device,
                   const ScoringOptions& options,
                   const std::function<void(const data::Batch&, const double*)>& consume);

// score_dataset into eval/'s accumulator with the dataset's label (and weight column).
// DataError when the dataset has no label.
eval::BinaryAccumulator score_labelled(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                                       const std::shared_ptr<const data::Dataset>& dataset,
                                       torch::Device device, const ScoringOptions& options);

// The metrics of score_labelled. DataError when the dataset has no label or one class only.
eval::BinaryMetrics score_and_measure(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                                      const std::shared_ptr<const data::Dataset>& dataset,
                                      torch::Device device, const ScoringOptions& options);

}  // namespace kiln::trainer
