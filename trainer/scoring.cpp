#include "trainer/scoring.h"

#include "core/errors.h"

namespace kiln::trainer {

torch::Device choose_device(const std::string& wanted) {
  if (wanted == "cpu") return torch::kCPU;
  if (wanted == "cuda") {
    KILN_CHECK(torch::cuda::is_available(), ConfigError,
               "train.device: cuda, but LibTorch sees no CUDA device");
    return torch::kCUDA;
  }
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

BatchTransformer::BatchTransformer(const kernels::CompiledPlan& plan, torch::Device device,
                                   core::ThreadPool* pool)
    : plan_(plan), device_(device), pool_(pool) {}

std::pair<torch::Tensor, torch::Tensor> BatchTransformer::apply(const data::Batch& batch) {
  const int64_t rows = batch.rows;
  features_.resize(static_cast<std::size_t>(rows * plan_.width()));
  categorical_.resize(static_cast<std::size_t>(rows * plan_.categorical_width()));
  kernels::apply_cpu(plan_, const_cast<const void* const*>(batch.columns.data()), rows,
                     features_.data(), categorical_.data(), pool_);
  torch::Tensor x = torch::from_blob(features_.data(), {rows, plan_.width()}, torch::kFloat32);
  torch::Tensor c =
      torch::from_blob(categorical_.data(), {rows, plan_.categorical_width()}, torch::kInt64);
  return {x.to(device_), c.to(device_)};
}

torch::Tensor BatchTransformer::column(const data::Batch& batch, int column) const {
  return torch::from_blob(batch.columns[static_cast<std::size_t>(column)], {batch.rows},
                          torch::kFloat32)
      .to(device_);
}

void score_dataset(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                   const std::shared_ptr<const data::Dataset>& dataset, torch::Device device,
                   const ScoringOptions& options,
                   const std::function<void(const data::Batch&, const double*)>& consume) {
  data::LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.threads = options.threads;
  data::Loader loader({dataset}, lo);
  core::ThreadPool pool(options.threads);
  BatchTransformer transformer(plan, device, &pool);
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  while (const data::Batch* batch = loader.next()) {
    auto [features, categorical] = transformer.apply(*batch);
    torch::Tensor scores = torch::sigmoid(model.forward(features, categorical).to(torch::kFloat64) -
                                          options.logit_shift)
                               .to(torch::kCPU)
                               .contiguous();
    consume(*batch, scores.data_ptr<double>());
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
                                  batch.rows);
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
