// From loader batches to model inputs, and from a model to scores: the transform of a batch
// onto the training device, scoring a whole dataset in order, and its validation metrics.
// Shared by `kiln fit` (evaluation), `kiln predict` and `kiln eval --model`.
#pragma once

#include <torch/torch.h>

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

// Applies a compiled plan to loader batches (the CPU reference, on `pool`) and hands the
// result to LibTorch on `device`. The tensors stay valid until the next apply().
class BatchTransformer {
 public:
  BatchTransformer(const kernels::CompiledPlan& plan, torch::Device device, core::ThreadPool* pool);
  // (features [B, width] float32, categorical [B, categorical_width] int64)
  std::pair<torch::Tensor, torch::Tensor> apply(const data::Batch& batch);
  // A float32 column of the batch (label, weight) as [B] on the device.
  torch::Tensor column(const data::Batch& batch, int column) const;

 private:
  const kernels::CompiledPlan& plan_;
  torch::Device device_;
  core::ThreadPool* pool_;
  std::vector<float> features_;
  std::vector<int64_t> categorical_;
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
