// What `kiln fit` measures of its steps without slowing them: the losses read back in
// windows (LossWindow), the GPU's own time per step from timing events (StepTimes), and a
// profiler trace of a span of steps (StepTrace). On a GPU they use LibTorch's
// device-generic events and streams (c10::Event), so no trainer file needs CUDA's headers
// for them; on the CPU the GPU parts are no-ops.
#pragma once

#include <torch/torch.h>

#include <c10/core/Event.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "trainer/train_step.h"

namespace kiln::trainer {

// Seconds since `start`.
double seconds_since(std::chrono::steady_clock::time_point start);

// The losses of steps not read back yet. Reading a loss from a GPU waits for its step, so on
// CUDA they stay on the device: the fused step keeps them in its loss ring itself
// (TrainStep::loss_ring), other steps' losses (SGD) are copied into a window here. When a
// window of kCudaWindow steps is full, its losses are copied to the host asynchronously, on
// the step's stream, and read at the next full window, which leaves the GPU's queue as it is;
// before every evaluation, checkpoint and stop every loss is read, waiting for the GPU. On
// the CPU each is read after its step.
class LossWindow {
 public:
  static constexpr int64_t kCudaWindow = TrainStep::kLossRing;
  struct Sum {
    double sum = 0;
    int64_t count = 0;
    double last = NAN;
  };

  // `ring`: the stepper's loss ring, or undefined.
  LossWindow(torch::Device device, const torch::Tensor& ring);

  // The loss of step `step` (1-based); true when the window is full: call read(false).
  bool add(const torch::Tensor& loss, int64_t step);

  // The losses read back, emptied: with `all`, every step's so far; else, on a GPU, those
  // of the window before the full one, whose copy is started. DivergedError naming the
  // first step whose loss is not finite.
  Sum read(bool all);

  // Seconds read() waited for the device to finish the steps it read: on a GPU, how far
  // the loop ran ahead of it (none: the GPU waited for the loop).
  double wait_seconds() const { return wait_seconds_; }

 private:
  const torch::Tensor& source() const { return ring_.defined() ? ring_ : losses_; }
  // Adds the losses of steps [first, first + count) in `values` (a copy of source()) to `out`.
  void add_up(const float* values, int64_t first, int64_t count, Sum& out) const;

  torch::Device device_;
  torch::Tensor ring_, losses_;
  int64_t count_ = 0;
  int64_t first_step_ = 0;
  double wait_seconds_ = 0;
  // On a GPU, a full window's losses on their way to the host (pinned): copying_ steps from
  // copy_first_, there once copy_done_ has completed.
  torch::Tensor copied_;
  int64_t copying_ = 0;
  int64_t copy_first_ = 0;
  std::optional<c10::Event> copy_done_;
};

// GPU milliseconds of every kEvery-th step, from timing events on the step's stream: its
// wait for the batch's transform (with the transform's waits for window copies; the
// transform runs on a stream of its own beside the step before, so 0 when that hides it)
// and the step itself (with the loss kept on the device). Beside the wall time per step
// they say whether the GPU is busy or waits for the host. The sampled steps are the middle
// ones of kEvery, away from the first step after an evaluation (usually at a multiple of
// kEvery steps): an evaluation empties the GPU's queue, so the next step's events would
// time the host's launches too. A sample is added up once its events have completed, at
// the next sample or report, so few are pending (the batch copies' waits keep the host a
// few batches or loader windows ahead of the GPU at most). No-ops off the GPU.
class StepTimes {
 public:
  static constexpr int64_t kEvery = 16;

  explicit StepTimes(torch::Device device) : device_(device) {}

  // Around each step: before its batch is asked of the feed (again, when the feed ends an
  // epoch instead), before the step, after it.
  void before_transform(int64_t step);
  void before_step();
  void after_step();

  // gpu_transform_ms and gpu_step_ms into `line`: the means over the samples completed since
  // the last call.
  void report(nlohmann::ordered_json& line);

 private:
  struct Sample {
    c10::Event start{c10::DeviceType::CUDA, c10::EventFlag::BACKEND_DEFAULT};
    c10::Event transformed{c10::DeviceType::CUDA, c10::EventFlag::BACKEND_DEFAULT};
    c10::Event stepped{c10::DeviceType::CUDA, c10::EventFlag::BACKEND_DEFAULT};
  };
  void add_completed();
  void record(c10::Event& event) const;

  torch::Device device_;
  bool sampling_ = false;
  bool open_ = false;  // pending_.back() waits for its step
  double transform_ms_ = 0, step_ms_ = 0;
  int64_t count_ = 0;
  std::deque<Sample> pending_;
};
static_assert(LossWindow::kCudaWindow % StepTimes::kEvery == 0, "StepTimes samples between reads");

// train.profile_steps: PyTorch's profiler (Kineto) over that many steps after the first
// evaluation, so past the warm-up and the graph capture: the host's operators and, on a GPU,
// every kernel, copy and memset with its stream and GPU timestamps (graph replays included,
// kernel by kernel), written to `path` (Chrome trace format). A profiler that cannot start
// or save is a warning, not a failed run. Each call returns the seconds it spent starting or
// saving the profiler, which are not training time.
class StepTrace {
 public:
  StepTrace(int64_t steps, bool cuda, std::string path)
      : left_(steps), cuda_(cuda), path_(std::move(path)) {}

  double after_evaluation(int64_t step);
  // After each step; writes the trace after the last.
  double after_step() { return on_ && --left_ == 0 ? finish() : 0; }
  // Writes a trace still running (a run that ends before its last traced step).
  double finish();

 private:
  int64_t left_;
  bool cuda_, on_ = false;
  std::string path_;
};

}  // namespace kiln::trainer
