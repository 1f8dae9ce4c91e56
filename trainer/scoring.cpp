#include "trainer/scoring.h"

#include "core/errors.h"

#if KILN_WITH_CUDA
#include <c10/cuda/CUDAStream.h>

#include "kernels/device_batches.h"
#endif

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

ModelBatch first_rows(const ModelBatch& batch, int64_t rows) {
  auto first = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, 0, rows) : t; };
  return {first(batch.features), first(batch.categorical), first(batch.label), first(batch.weight)};
}

#if KILN_WITH_CUDA
// The GPU path: pinned loader memory, DeviceBatches, and two sets of buffers it writes in
// turns, so that one batch is transformed while the step on the one before runs.
class BatchTransformer::Gpu {
 public:
  Gpu(const kernels::CompiledPlan& plan, const data::Schema& schema, torch::Device device,
      int64_t batch_size, const std::array<ModelBatch, 2>* targets, int label, int weight)
      : batches(plan, schema, batch_size) {
    const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(device);
    auto need = [&](torch::Tensor& t, std::vector<int64_t> shape, torch::ScalarType type) {
      if (!t.defined()) t = torch::empty(shape, floats.dtype(type));
      KILN_ASSERT(
          t.is_cuda() && t.is_contiguous() && t.size(0) == batch_size && t.scalar_type() == type,
          "GPU batch buffer of the wrong shape or type");
    };
    for (std::size_t k = 0; k < sets.size(); ++k) {
      Set& s = sets[k];
      if (targets != nullptr) s.buffers = (*targets)[k];
      need(s.buffers.features, {batch_size, plan.width()}, torch::kFloat32);
      need(s.buffers.categorical, {batch_size, plan.categorical_width()}, torch::kInt64);
      s.outputs.features = s.buffers.features.data_ptr<float>();
      s.outputs.categorical = s.buffers.categorical.data_ptr<int64_t>();
      if (label >= 0) {
        need(s.buffers.label, {batch_size}, torch::kFloat32);
        s.outputs.columns.push_back({label, s.buffers.label.data_ptr<float>()});
      }
      if (weight >= 0) {
        need(s.buffers.weight, {batch_size}, torch::kFloat32);
        s.outputs.columns.push_back({weight, s.buffers.weight.data_ptr<float>()});
      }
    }
  }

  struct Set {
    ModelBatch buffers;
    kernels::DeviceBatchOutputs outputs;
  };
  std::array<Set, 2> sets;  // declared first: freed after `batches` has synchronized its streams
  kernels::PinnedAllocator pinned;
  kernels::DeviceBatches batches;
  std::size_t next = 0;  // the set the next batch goes into
};
#else
class BatchTransformer::Gpu {};
#endif

BatchTransformer::BatchTransformer(const kernels::CompiledPlan& plan, const data::Schema& schema,
                                   torch::Device device, core::ThreadPool* pool, int64_t batch_size,
                                   const std::array<ModelBatch, 2>* targets)
    : plan_(plan),
      device_(device),
      pool_(pool),
      label_(schema.find_role(data::Role::kLabel)),
      weight_(schema.find_role(data::Role::kWeight)) {
#if KILN_WITH_CUDA
  if (device.is_cuda())
    gpu_ = std::make_unique<Gpu>(plan, schema, device, batch_size, targets, label_, weight_);
#else
  (void)batch_size;
  (void)targets;
#endif
}

BatchTransformer::~BatchTransformer() = default;

ModelBatch BatchTransformer::apply(const data::Batch& batch) {
  const int64_t rows = batch.rows;
#if KILN_WITH_CUDA
  if (gpu_) {
    const Gpu::Set& set = gpu_->sets[gpu_->next];
    gpu_->next ^= 1;
    gpu_->batches.push(batch, set.outputs, c10::cuda::getCurrentCUDAStream().stream());
    ModelBatch b = first_rows(set.buffers, rows);
    if (label_ < 0) b.label = torch::Tensor();
    if (weight_ < 0) b.weight = torch::Tensor();
    return b;
  }
#endif
  KILN_ASSERT(batch.ring == nullptr, "a gather-mode batch needs the GPU path");
  features_.resize(static_cast<std::size_t>(rows * plan_.width()));
  categorical_.resize(static_cast<std::size_t>(rows * plan_.categorical_width()));
  kernels::apply_cpu(plan_, const_cast<const void* const*>(batch.columns.data()), rows,
                     features_.data(), categorical_.data(), pool_);
  auto column = [&](int c) {
    if (c < 0) return torch::Tensor();
    return torch::from_blob(batch.columns[static_cast<std::size_t>(c)], {rows}, torch::kFloat32)
        .to(device_);
  };
  return {torch::from_blob(features_.data(), {rows, plan_.width()}, torch::kFloat32).to(device_),
          torch::from_blob(categorical_.data(), {rows, plan_.categorical_width()}, torch::kInt64)
              .to(device_),
          column(label_), column(weight_)};
}

void BatchTransformer::prepare(data::LoaderOptions& options, bool gather) {
#if KILN_WITH_CUDA
  if (!gpu_) return;
  options.allocator = &gpu_->pinned;
  options.hold = 2;
  options.gather = gather;
#else
  (void)options;
  (void)gather;
#endif
}

double BatchTransformer::copy_wait_seconds() const {
#if KILN_WITH_CUDA
  if (gpu_) return gpu_->batches.copy_wait_seconds();
#endif
  return 0;
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
  BatchTransformer transformer(plan, dataset->schema(), device, &pool, options.batch_size);
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  while (const data::Batch* batch = loader.next()) {
    const ModelBatch b = transformer.apply(*batch);
    torch::Tensor scores =
        torch::sigmoid(model.forward(b.features, b.categorical).to(torch::kFloat64) -
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
