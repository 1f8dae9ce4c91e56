#include "trainer/scoring.h"

#include "core/errors.h"
#include "trainer/torch_feed.h"

namespace kiln::trainer {

void score_dataset(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                   const std::shared_ptr<const data::Dataset>& dataset, torch::Device device,
                   const ScoringOptions& options,
                   const std::function<void(const data::Batch&, const double*)>& consume) {
  feed::FeedOptions fo;
  fo.batch_size = options.batch_size;
  fo.shuffle = false;
  fo.threads = options.threads;
  TorchFeed batches({dataset}, plan, fo, device);
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  while (const ModelBatch* b = batches.next()) {
    torch::Tensor scores =
        torch::sigmoid(model.forward(b->features, b->categorical).to(torch::kFloat64) -
                       options.logit_shift)
            .to(torch::kCPU)
            .contiguous();
    consume(batches.source(), scores.data_ptr<double>());
  }
  model.train(was_training);
}

eval::BinaryAccumulator score_labelled(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                                       const std::shared_ptr<const data::Dataset>& dataset,
                                       torch::Device device, const ScoringOptions& options) {
  const int label = dataset->schema().find_role(data::Role::kLabel);
  const int weight = dataset->schema().find_role(data::Role::kWeight);
  KILN_CHECK(label >= 0, DataError, dataset->path(), ": no label column to evaluate against");
  eval::BinaryAccumulator accumulator;
  std::vector<double> weights;
  score_dataset(model, plan, dataset, device, options,
                [&](const data::Batch& batch, const double* scores) {
                  const double* w = nullptr;
                  if (weight >= 0) {
                    const float* column = batch.column<float>(static_cast<std::size_t>(weight));
                    weights.assign(column, column + batch.rows);
                    w = weights.data();
                  }
                  accumulator.add(scores, batch.column<float>(static_cast<std::size_t>(label)), w,
                                  batch.rows, dataset->path());
                });
  return accumulator;
}

eval::BinaryMetrics score_and_measure(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                                      const std::shared_ptr<const data::Dataset>& dataset,
                                      torch::Device device, const ScoringOptions& options) {
  eval::BinaryOptions bo;
  bo.threads = options.threads;
  return score_labelled(model, plan, dataset, device, options).value(bo);
}

}  // namespace kiln::trainer
