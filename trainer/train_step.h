// One optimizer step of `kiln fit`: forward, loss, backward, gradient clipping, optimizer.
//
// TrainStep::make picks one of two steps. The eager step (train_step.cpp) is LibTorch's
// optimizer as it is: the CPU path (bitwise reproducible) and SGD anywhere. The fused step
// (train_step_cuda.cpp, CUDA builds, on a CUDA device with AdamW) is written to be
// captured: clipping never synchronizes, the update is Kiln's clipped AdamW
// (kernels::ClippedAdamW) on the optimizer's own moment tensors (so checkpoints do not
// change), and the step's bookkeeping runs on the device too (kernels::record_step: the
// learning rate from the schedule and a step count kept there, the loss into loss_ring()),
// so that nothing is enqueued beside the step. With train.cuda_graph the whole step
// (forward, backward, bookkeeping, clipping, update) is captured once into a CUDA graph
// after a few eager warm-up steps and replayed for every full batch in either set of the
// data path's buffers, a graph per set; the epoch's short last batch gets graphs of its
// own at its second occurrence in each set (other sizes run eagerly). train.precision bf16
// runs the forward under bf16 autocast. With several processes, a GradientSync sums the
// ranks' gradients between backward and clipping (so clipping sees the global norm); the
// fused step is then not captured (docs/DISTRIBUTED.md). See docs/TRAINING.md.
//
// Not thread-safe. On CUDA, from construction to destruction the thread's current stream is
// one of the step's own, at high priority (capture needs a non-default stream): evaluation
// enqueues its work on it too, and it waits for the data path's transforms (which run on a
// stream of their own). The loss a step returns is overwritten by the next graphed step.
#pragma once

#include <torch/torch.h>

#include <array>
#include <memory>
#include <optional>
#include <string>

#include <c10/core/StreamGuard.h>

#include "kernels/adamw_math.h"
#include "trainer/config.h"
#include "trainer/models.h"
#include "trainer/torch_feed.h"

namespace kiln::trainer {

class GradientSync;  // trainer/distributed.h

// The learning-rate schedule `options` give for a run of `steps` steps.
kernels::LrSchedule lr_schedule(const OptimOptions& options, int64_t steps);

class TrainStep {
 public:
  // Where the fused step keeps the losses: step s's at s % kLossRing of loss_ring().
  static constexpr int64_t kLossRing = 64;

  // `model` and `optimizer` (AdamW or SGD over model's parameters, state already restored
  // on resume) outlive the step. The first run() is step `first_step` (0-based; the resumed
  // step on resume) of config.train.steps. `graph_inputs`: the two sets of buffers the data
  // path fills in turns (TorchFeed::buffers()); a step over all the rows of one set replays
  // that set's captured graph. `sync` (several processes; it outlives the step) all-reduces
  // the gradients after backward. ConfigError for bf16 off CUDA.
  static std::unique_ptr<TrainStep> make(TabularModelImpl& model,
                                         torch::optim::Optimizer& optimizer,
                                         const KilnConfig& config, torch::Device device,
                                         double pos_weight, int64_t first_step,
                                         const std::array<ModelBatch, 2>& graph_inputs,
                                         GradientSync* sync = nullptr);
  virtual ~TrainStep();
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  // Step `step` (the one after the previous run's, or first_step) over `batch`, at the
  // schedule's learning rate; the mean loss, a scalar on the device, not synchronized.
  virtual torch::Tensor run(const ModelBatch& batch, int64_t step) = 0;

  // The fused step's losses on the device, [kLossRing] float32 (see kLossRing), each written
  // when its step runs on the GPU; undefined where only run() returns the loss.
  virtual const torch::Tensor& loss_ring() const;

  // Writes the step counts kept on the device back into the optimizer's state, so that it
  // can be saved. A no-op where LibTorch's optimizer steps itself.
  virtual void sync_optimizer_state() {}

  // "eager", "fused" or "graph": how full batches are stepped now (for logs).
  virtual std::string mode() const = 0;

 protected:
  TrainStep(TabularModelImpl& model, const KilnConfig& config, torch::Device device,
            double pos_weight);
  // The forward pass (under autocast where bf16 is on) and the loss, in float32; with
  // several ranks scaled by GradientSync::loss_scale (so the ranks' mean is the global
  // batch's mean loss).
  torch::Tensor forward_loss(const ModelBatch& batch);
  // loss.backward(); with several ranks, the gradients then averaged over them, the sums
  // overlapping the backward pass.
  void backward(const torch::Tensor& loss);

  TabularModelImpl& model_;
  OptimOptions optim_;
  kernels::LrSchedule schedule_;
  torch::Tensor pos_weight_;
  GradientSync* sync_ = nullptr;

 private:
  std::optional<c10::StreamGuard> stream_;  // in the base: the last member to go
  bool bf16_ = false;
};

}  // namespace kiln::trainer
