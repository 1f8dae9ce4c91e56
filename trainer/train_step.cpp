#include "trainer/train_step.h"

#include <ATen/autocast_mode.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include "core/errors.h"
#include "trainer/distributed.h"
#include "trainer/fused_step.h"

namespace kiln::trainer {
namespace {

// bf16 autocast on CUDA for the guard's lifetime (the forward pass).
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  bool on_;
};

// LibTorch's optimizer as it is: the CPU path (bitwise reproducible) and SGD.
class EagerStep final : public TrainStep {
 public:
  EagerStep(TabularModelImpl& model, torch::optim::Optimizer& optimizer, const KilnConfig& config,
            torch::Device device, double pos_weight, int64_t first_step)
      : TrainStep(model, config, device, pos_weight),
        optimizer_(optimizer),
        next_step_(first_step) {}

  torch::Tensor run(const ModelBatch& batch, int64_t step) override {
    KILN_ASSERT(step == next_step_, "TrainStep::run: step ", step, " after step ", next_step_ - 1);
    ++next_step_;
    for (auto& group : optimizer_.param_groups())
      group.options().set_lr(kernels::scheduled_lr(schedule_, step));
    torch::Tensor loss = forward_loss(batch);
    optimizer_.zero_grad();
    backward(loss);
    if (optim_.grad_clip > 0)
      torch::nn::utils::clip_grad_norm_(model_.parameters(), optim_.grad_clip);
    optimizer_.step();
    return loss;
  }

  std::string mode() const override { return "eager"; }

 private:
  torch::optim::Optimizer& optimizer_;
  int64_t next_step_;  // the step the next run() must be
};

}  // namespace

kernels::LrSchedule lr_schedule(const OptimOptions& o, int64_t steps) {
  kernels::LrSchedule s;
  s.lr = o.lr.get();
  s.warmup_steps = o.warmup_steps.get();
  switch (o.schedule) {
    case Schedule::kCosine:
      s.kind = kernels::LrKind::kCosine;
      break;
    case Schedule::kStep:
      s.kind = kernels::LrKind::kStep;
      break;
    case Schedule::kConstant:
      s.kind = kernels::LrKind::kConstant;
      break;
  }
  s.min_lr_ratio = o.min_lr_ratio;
  s.step_every = o.step_every;
  s.step_gamma = o.step_gamma;
  s.steps = steps;
  return s;
}

TrainStep::TrainStep(TabularModelImpl& model, const KilnConfig& config, torch::Device device,
                     double pos_weight)
    : model_(model),
      optim_(config.optim),
      schedule_(lr_schedule(config.optim, config.train.steps.get())) {
  if (device.is_cuda()) {
    torch::cuda::synchronize();  // the model's upload ran on the default stream
    // High priority: the block scheduler runs the step's kernels before the waiting blocks
    // of work on other streams (the window copies' transposes, the feed's transforms).
    const c10::impl::VirtualGuardImpl cuda(c10::DeviceType::CUDA);
    stream_.emplace(cuda.getStreamFromGlobalPool(device, /*isHighPriority=*/true));
  }
  pos_weight_ =
      torch::full({1}, pos_weight, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  const Precision precision = config.train.precision;
  KILN_CHECK(precision != Precision::kBf16 || device.is_cuda(), ConfigError,
             "train.precision: bf16 needs a CUDA device (train.device is ", device.str(), ")");
  bf16_ = device.is_cuda() && precision != Precision::kFp32;
}

TrainStep::~TrainStep() = default;

void TrainStep::backward(const torch::Tensor& loss) {
  if (sync_ == nullptr) {
    loss.backward();
    return;
  }
  sync_->begin();
  loss.backward();
  sync_->finish();
}

const torch::Tensor& TrainStep::loss_ring() const {
  static const torch::Tensor none;
  return none;
}

torch::Tensor TrainStep::forward_loss(const ModelBatch& batch) {
  const bool ensemble = model_.members() > 1;
  torch::Tensor logits;
  {
    Bf16Autocast autocast(bf16_);
    logits = ensemble ? model_.forward_members(batch.features, batch.categorical)
                      : model_.forward(batch.features, batch.categorical);
  }
  // An ensemble's loss is the mean of its members' losses, so that each member learns on its
  // own (the mean logit's loss would train them as one model).
  auto per_row = [&](const torch::Tensor& t) {
    return ensemble && t.defined() ? t.unsqueeze(1).expand_as(logits) : t;
  };
  torch::Tensor loss = torch::binary_cross_entropy_with_logits(
      logits.to(torch::kFloat32), per_row(batch.label),
      batch.weight.defined() ? std::optional<torch::Tensor>(per_row(batch.weight)) : std::nullopt,
      pos_weight_);
  // With several ranks, this rank's part of the global batch's mean loss, times the ranks.
  if (sync_ != nullptr) loss = loss * sync_->loss_scale(batch.share);
  return loss;
}

std::unique_ptr<TrainStep> TrainStep::make(TabularModelImpl& model,
                                           torch::optim::Optimizer& optimizer,
                                           const KilnConfig& config, torch::Device device,
                                           double pos_weight, int64_t first_step,
                                           const std::array<ModelBatch, 2>& graph_inputs,
                                           GradientSync* sync) {
  std::unique_ptr<TrainStep> step;
#if KILN_WITH_CUDA  // the fused AdamW kernel and CUDA graphs exist in CUDA builds only
  if (device.is_cuda() && config.optim.name == OptimizerName::kAdamW)
    step = make_fused_step(model, optimizer, config, device, pos_weight, first_step, graph_inputs);
#else
  (void)graph_inputs;
#endif
  if (!step)
    step = std::make_unique<EagerStep>(model, optimizer, config, device, pos_weight, first_step);
  step->sync_ = sync;
  return step;
}

}  // namespace kiln::trainer
