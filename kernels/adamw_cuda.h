// AdamW with clipping by the global gradient norm, for float32 tensors on the GPU: the
// optimizer step of the training loop's fused path (trainer/train_step.cpp), capturable in a
// CUDA graph (no host synchronization; the learning rate and the step counts are read on the
// device).
//
// ATen's fused AdamW and its foreach norm and scale give each 512-thread block a chunk of up
// to 65,536 elements, so the few tensors of a tabular model make a handful of blocks that
// each walk their chunk at memory latency (30 µs for 197K parameters on an H200). Here a
// block takes kAdamWChunk elements:
//   1. each block's sum of squared gradients (when clipping), and every step count + 1;
//   2. when clipping, one block sums those in a fixed order (deterministic) into the scale
//      min(1, max_norm / (norm + 1e-6)), as the trainer's clipping computed it;
//   3. the update, the arithmetic of ATen's fused AdamW (ADAMW mode, no amsgrad, no
//      maximize) on the gradient times that scale (the gradients themselves are not
//      written).
// CUDA-free header: the stream is a void* (a cudaStream_t). Built only with CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/adamw_math.h"

namespace kiln::kernels {

constexpr int64_t kAdamWChunk = 2048;  // elements per block

// One parameter tensor and its state, all device memory, contiguous, float32.
struct AdamWTensor {
  float* param = nullptr;
  const float* grad = nullptr;
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
  float* step = nullptr;  // the tensor's step count, one float (as ATen keeps it)
  int64_t numel = 0;
};

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double weight_decay = 0.0;
  double eps = 1e-8;
  double max_norm = 0.0;  // clip the gradients' global L2 norm to this; <= 0: no clipping
};

class ClippedAdamW {
 public:
  // `numels`: the tensors' sizes, in the order step() gets them (scratch memory is sized
  // from them now, so that step() allocates nothing and can be captured). InternalError
  // naming the CUDA error when the allocation fails.
  ClippedAdamW(const AdamWOptions& options, const std::vector<int64_t>& numels);
  ~ClippedAdamW();
  ClippedAdamW(const ClippedAdamW&) = delete;
  ClippedAdamW& operator=(const ClippedAdamW&) = delete;

  // Enqueues one step on `stream`, at the learning rate `*lr` (device memory). The tensors'
  // sizes must be the constructor's; their addresses may change from call to call.
  // InternalError naming the CUDA error when a launch fails.
  void step(const std::vector<AdamWTensor>& tensors, const float* lr, void* stream) const;

 private:
  AdamWOptions options_;
  std::vector<int64_t> numels_;
  int64_t blocks_ = 0;        // over all tensors
  float* scratch_ = nullptr;  // each block's sum of squares, then the scale
};

// A training step's own bookkeeping on the device, one thread on `stream` (capturable, so
// that a graphed step needs nothing enqueued beside it): with s = *step, the 0-based step
// now running, *lr = scheduled_lr(schedule, s) (for ClippedAdamW), ring[s % ring_size] =
// *loss, and *step = s + 1. All pointers device memory. InternalError naming the CUDA error
// when the launch fails.
void record_step(const LrSchedule& schedule, int64_t* step, float* lr, const float* loss,
                 float* ring, int64_t ring_size, void* stream);

}  // namespace kiln::kernels
