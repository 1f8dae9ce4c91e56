#include "trainer/scoring.h"

#include <limits>
#include <optional>

#include "core/errors.h"
#include "eval/metrics_cuda.h"
#include "kernels/device.h"
#include "trainer/device.h"
#include "trainer/torch_feed.h"

namespace kiln::trainer {

namespace {

feed::FeedOptions in_order(const ScoringOptions& options) {
  feed::FeedOptions fo;
  fo.batch_size = options.batch_size;
  fo.shuffle = false;
  fo.threads = options.threads;
  fo.rank = options.rank;
  fo.world_size = options.world_size;
  return fo;
}

// The model's probabilities for a batch: sigmoid(logit - shift), float64, [rows].
torch::Tensor probabilities(TabularModelImpl& model, const ModelBatch& b, double shift) {
  return torch::sigmoid(model.forward(b.features, b.categorical).to(torch::kFloat64) - shift)
      .reshape({-1});
}

// validation_metrics on the GPU; nullopt where the rows need the accumulator.
std::optional<ValidationMetrics> on_gpu(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                                        const std::shared_ptr<const data::Dataset>& dataset,
                                        torch::Device device, const ScoringOptions& options) {
  const data::Schema& schema = dataset->schema();
  if (schema.find_role(data::Role::kLabel) < 0 || schema.find_role(data::Role::kWeight) >= 0)
    return std::nullopt;
  TorchFeed batches({dataset}, plan, in_order(options), device);
  std::vector<torch::Tensor> scores, labels;
  {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    while (const ModelBatch* b = batches.next()) {
      scores.push_back(probabilities(model, *b, options.logit_shift));
      labels.push_back(b->label.clone());  // the feed writes its buffers again
    }
    model.train(was_training);
  }
  const torch::Tensor s = torch::cat(scores).contiguous(), y = torch::cat(labels);
  if (!torch::isfinite(s).all().item<bool>() || !((y == 0) | (y == 1)).all().item<bool>())
    return std::nullopt;
  const torch::Tensor y8 = y.to(torch::kUInt8).contiguous();
  ValidationMetrics m;
  m.rows = s.size(0);
  const eval::RankingSummary r = eval::ranking_metrics_cuda(
      s.data_ptr<double>(), y8.data_ptr<uint8_t>(), m.rows, current_stream(device));
  m.auroc = r.auroc;
  m.average_precision = r.average_precision;
  // BinaryAccumulator's log loss: scores clipped to [eps, 1 - eps].
  const double eps = std::numeric_limits<double>::epsilon();
  const torch::Tensor c = s.clamp(eps, 1 - eps), y64 = y.to(torch::kFloat64);
  m.log_loss = -(y64 * torch::log(c) + (1 - y64) * torch::log(1 - c)).mean().item<double>();
  const torch::Tensor host_scores = s.cpu(), host_labels = y.to(torch::kFloat32).cpu().contiguous();
  m.scored.add(host_scores.data_ptr<double>(), host_labels.data_ptr<float>(), nullptr, m.rows,
               dataset->path());
  return m;
}

}  // namespace

void score_dataset(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                   const std::shared_ptr<const data::Dataset>& dataset, torch::Device device,
                   const ScoringOptions& options,
                   const std::function<void(const data::Batch&, const double*)>& consume) {
  TorchFeed batches({dataset}, plan, in_order(options), device);
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  while (const ModelBatch* b = batches.next()) {
    const torch::Tensor scores =
        probabilities(model, *b, options.logit_shift).to(torch::kCPU).contiguous();
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

ValidationMetrics validation_metrics(TabularModelImpl& model, const kernels::CompiledPlan& plan,
                                     const std::shared_ptr<const data::Dataset>& dataset,
                                     torch::Device device, const ScoringOptions& options) {
  if (device.is_cuda() && kernels::gpu_available())
    if (auto m = on_gpu(model, plan, dataset, device, options)) return *m;
  eval::BinaryOptions bo;
  bo.threads = options.threads;
  eval::BinaryAccumulator scored = score_labelled(model, plan, dataset, device, options);
  const eval::BinaryMetrics m = scored.value(bo);
  return {m.rows, m.auroc, m.average_precision, m.log_loss, std::move(scored)};
}

}  // namespace kiln::trainer
