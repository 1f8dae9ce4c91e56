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
  // Score only this rank's part of every global batch of world_size x batch_size rows (the
  // loader's parts, data/loader.h): data-parallel evaluation.
  int rank = 0;
  int world_size = 1;
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

// What `kiln fit` evaluates on its validation split.
struct ValidationMetrics {
  int64_t rows = 0;
  double auroc = 0, average_precision = 0, log_loss = 0;
  eval::BinaryAccumulator scored;  // the rows' scores, labels and weights, on the host
};

// The model's AUROC, average precision and log loss on a labelled dataset. On a CUDA device
// (with eval's GPU path: kernels::gpu_available()) the scores and labels of unweighted rows stay
// on the GPU and eval::ranking_metrics_cuda ranks them there; elsewhere, and for weighted rows
// or any score or label the accumulator would refuse (so that its error names the row),
// score_labelled's accumulator, the reference. The two agree within 1e-12. DataError when the
// dataset has no label or one class only.
ValidationMetrics validation_metrics(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                                     const std::shared_ptr<const data::Dataset>& dataset,
                                     torch::Device device, const ScoringOptions& options);

}  // namespace kiln::trainer
