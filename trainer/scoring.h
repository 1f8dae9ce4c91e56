// From a model to scores: a whole dataset scored in order, and its validation metrics.
// Shared by `kiln fit` (evaluation), predict and evaluate (trainer/predict.h, evaluate.h).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>

#include "data/dataset.h"
#include "data/loader.h"
#include "eval/binary_metrics.h"
#include "kernels/transform_math.h"
#include "trainer/models.h"

namespace kiln::trainer {

struct ScoringOptions {
  int64_t batch_size = 65536;
  int threads = 0;
  double logit_shift = 0;  // subtracted before the sigmoid: log(pos_weight) undoes class weighting
};

// Scores every row of `dataset` in dataset order: probabilities sigmoid(logit - shift), in
// eval mode without gradients; consume(batch, scores) is called once per batch with the
// loader's batch (its host columns) and the batch's scores on the host.
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
