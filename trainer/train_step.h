// One optimizer step of `kiln fit`: forward, loss, backward, gradient clipping, optimizer.
//
// On the CPU, and for SGD anywhere, the step is LibTorch's optimizer as it is. On a CUDA
// device with AdamW (in a CUDA build of Kiln) the step is written to be captured: clipping
// never synchronizes, the update is Kiln's clipped AdamW (kernels::ClippedAdamW) on the
// optimizer's own moment tensors (so checkpoints do not change), and the step's
// bookkeeping runs on the device too (kernels::record_step: the learning rate from the
// schedule and a step count kept there, the loss into loss_ring()), so that nothing is
// enqueued beside the step. train.precision bf16 runs the forward under bf16 autocast. With
// train.cuda_graph the whole step (forward, backward, bookkeeping, clipping, update) is
// captured once into a CUDA graph after a few eager warm-up steps and replayed for every
// full batch in either set of buffers(), a graph per set; the epoch's short last batch gets
// graphs of its own at its second occurrence in each set (other sizes run eagerly). Two
// sets, so that a data path can fill one while a step reads the other. See
// docs/TRAINING.md.
//
// Not thread-safe. On CUDA, from construction to destruction the thread's current stream is
// one of the step's own (capture needs a non-default stream): evaluation enqueues its work
// on it too, and it waits for the data path's transforms (which run on a stream of their
// own). The loss a step returns is overwritten by the next graphed step.
#pragma once

#include <torch/torch.h>

#include <array>
#include <memory>

#include "kernels/adamw_math.h"
#include "trainer/config.h"
#include "trainer/models.h"
#include "trainer/scoring.h"

namespace kiln::trainer {

// The learning-rate schedule `options` give for a run of `steps` steps.
kernels::LrSchedule lr_schedule(const OptimOptions& options, int64_t steps);

class TrainStep {
 public:
  // Where the fused step keeps the losses: step s's at s % kLossRing of loss_ring().
  static constexpr int64_t kLossRing = 64;

  // `model` and `optimizer` (AdamW or SGD over model's parameters, state already restored
  // on resume) outlive the step. `batch_size` and the widths size buffers(). The first
  // run() is step `first_step` (0-based; the resumed step on resume) of config.train.steps.
  TrainStep(TabularModelImpl& model, torch::optim::Optimizer& optimizer, const KilnConfig& config,
            torch::Device device, int64_t batch_size, int64_t width, int64_t categorical_width,
            bool weighted, double pos_weight, int64_t first_step);
  ~TrainStep();

  // Two sets of batch_size rows on the device for a data path to fill in place, in turns
  // (BatchTransformer's targets); a step over all the rows of a set replays that set's
  // captured graph. Empty on the CPU.
  const std::array<ModelBatch, 2>& buffers() const;

  // Step `step` (the one after the previous run's, or first_step) over `batch`, at the
  // schedule's learning rate; the mean loss, a scalar on the device, not synchronized.
  torch::Tensor run(const ModelBatch& batch, int64_t step);

  // The fused step's losses on the device, [kLossRing] float32 (see kLossRing), each written
  // when its step runs on the GPU; undefined where only run() returns the loss (the CPU,
  // SGD).
  const torch::Tensor& loss_ring() const;

  // Writes the step counts kept on the device back into the optimizer's state, so that it
  // can be saved. A no-op where LibTorch's optimizer steps itself.
  void sync_optimizer_state();

  // "eager", "fused" or "graph": how full batches are stepped now (for run.json and logs).
  std::string mode() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::trainer
