// The arithmetic of one AdamW step on one element, of the clipping scale and of the
// learning-rate schedule, written once for the GPU kernels (kernels/adamw_cuda.cu), for the
// trainer and for the CPU tests that check it against LibTorch's AdamW. The update is
// ATen's fused AdamW's (ATen/native/cuda/fused_adam_utils.cuh, ADAMW mode: the same fused
// multiply-adds in the same order).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define KILN_ADAMW_HD __host__ __device__
#else
#define KILN_ADAMW_HD
#endif

namespace kiln::kernels {

// What a tensor's elements share in one step: the learning rate, the hyperparameters, and
// the bias corrections of its step count (already counting this step).
struct AdamWStep {
  float lr, beta1, beta2, weight_decay, eps;
  float step_size;              // lr / (1 - beta1^step)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^step)
};

KILN_ADAMW_HD inline AdamWStep adamw_step(float lr, float beta1, float beta2, float weight_decay,
                                          float eps, float step) {
  const float bias_correction1 = 1 - powf(beta1, step);
  return {lr, beta1, beta2, weight_decay, eps, lr / bias_correction1, sqrtf(1 - powf(beta2, step))};
}

// One element: param, exp_avg and exp_avg_sq updated with the gradient `grad` (already
// scaled by the clipping).
KILN_ADAMW_HD inline void adamw_update(const AdamWStep& s, float grad, float& param, float& exp_avg,
                                       float& exp_avg_sq) {
  if (s.weight_decay != 0) param -= s.lr * s.weight_decay * param;
  exp_avg = fmaf(s.beta1, exp_avg, fmaf(-s.beta1, grad, grad));
  exp_avg_sq = fmaf(s.beta2, exp_avg_sq, fmaf(-s.beta2, grad * grad, grad * grad));
  const float denom = (sqrtf(exp_avg_sq) / s.bias_correction2_sqrt) + s.eps;
  param -= s.step_size * exp_avg / denom;
}

// The gradients' factor when clipping their global L2 norm to max_norm, from their sum of
// squares: min(1, max_norm / (norm + 1e-6)), as torch's clip_grad_norm_ computes it (a NaN
// norm gives NaN, which torch's clamp keeps).
KILN_ADAMW_HD inline float clip_scale(float sum_of_squares, float max_norm) {
  const float scale = max_norm / (sqrtf(sum_of_squares) + 1e-6f);
  return scale > 1.0f ? 1.0f : scale;
}

// The learning-rate schedule of optim (trainer/options.h): a linear warmup from 0 to lr over
// warmup_steps, then cosine to lr * min_lr_ratio at the last of `steps`, or lr times
// step_gamma every step_every steps, or constant lr.
enum class LrKind : int32_t { kCosine, kStep, kConstant };
struct LrSchedule {
  double lr = 1e-3;
  int64_t warmup_steps = 0;
  LrKind kind = LrKind::kConstant;
  double min_lr_ratio = 0;
  int64_t step_every = 1;
  double step_gamma = 1;
  int64_t steps = 1;
};

// The learning rate of step `step` (0-based), in double precision: the host's, and the
// fused GPU step's, which computes it on the device from its own step count.
KILN_ADAMW_HD inline double scheduled_lr(const LrSchedule& s, int64_t step) {
  if (step < s.warmup_steps)
    return s.lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (s.kind == LrKind::kConstant) return s.lr;
  if (s.kind == LrKind::kStep)
    return s.lr * pow(s.step_gamma, static_cast<double>((step - s.warmup_steps) / s.step_every));
  const int64_t span_steps = s.steps - s.warmup_steps - 1;
  const double span = static_cast<double>(span_steps > 1 ? span_steps : 1);
  const double progress = fmin(1.0, static_cast<double>(step - s.warmup_steps) / span);
  const double floor = s.lr * s.min_lr_ratio;
  return floor + (s.lr - floor) * 0.5 * (1.0 + cos(3.14159265358979323846 * progress));
}

}  // namespace kiln::kernels
