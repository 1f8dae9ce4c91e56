// The arithmetic of one AdamW step on one element and of the clipping scale, written once
// for the GPU kernels (kernels/adamw_cuda.cu) and for the CPU test that checks it against
// LibTorch's AdamW. The update is ATen's fused AdamW's (ATen/native/cuda/fused_adam_utils.cuh,
// ADAMW mode: the same fused multiply-adds in the same order).
#pragma once

#include <cmath>

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

}  // namespace kiln::kernels
