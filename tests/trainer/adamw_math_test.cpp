// kernels/adamw_math.h, the arithmetic of the GPU's optimizer kernels, run on the CPU
// against LibTorch's AdamW and clip_grad_norm_ (within float rounding: LibTorch adds and
// multiplies where ATen's fused AdamW, which the kernels follow, uses fused multiply-adds).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "kernels/adamw_math.h"

namespace kiln::kernels {
namespace {

std::vector<float> values(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

void expect_close(const std::vector<float>& got, const torch::Tensor& want, const char* what) {
  const std::vector<float> w = values(want);
  ASSERT_EQ(got.size(), w.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], w[i], 1e-5 * std::abs(w[i]) + 1e-6) << what << " " << i;
}

TEST(AdamWMath, StepsAsLibTorchsAdamW) {
  torch::manual_seed(5);
  // A weight decay that moves each parameter by 0.1% a step: far above the tolerance.
  const float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.999f, weight_decay = 0.1f, eps = 1e-8f;
  torch::Tensor p = torch::randn({1000}).set_requires_grad(true);
  std::vector<float> param = values(p), exp_avg(param.size(), 0), exp_avg_sq(param.size(), 0);
  torch::optim::AdamW optimizer(
      {p},
      torch::optim::AdamWOptions(lr).betas({beta1, beta2}).eps(eps).weight_decay(weight_decay));
  for (int step = 1; step <= 3; ++step) {
    const torch::Tensor grad = 0.5 * torch::randn({1000});
    p.mutable_grad() = grad.clone();
    optimizer.step();
    const AdamWStep s = adamw_step(lr, beta1, beta2, weight_decay, eps, static_cast<float>(step));
    const std::vector<float> g = values(grad);
    for (std::size_t i = 0; i < param.size(); ++i)
      adamw_update(s, g[i], param[i], exp_avg[i], exp_avg_sq[i]);
  }
  auto& state =
      static_cast<torch::optim::AdamWParamState&>(*optimizer.state().at(p.unsafeGetTensorImpl()));
  expect_close(param, p, "param");
  expect_close(exp_avg, state.exp_avg(), "exp_avg");
  expect_close(exp_avg_sq, state.exp_avg_sq(), "exp_avg_sq");
}

TEST(AdamWMath, ClipScaleIsClipGradNorms) {
  for (double max_norm : {0.5, 1e6}) {  // clipped, and a norm under the limit
    torch::manual_seed(6);
    std::vector<torch::Tensor> params = {torch::randn({300}).set_requires_grad(true),
                                         torch::randn({7, 11}).set_requires_grad(true)};
    float sum_of_squares = 0;
    std::vector<std::vector<float>> grads;
    for (torch::Tensor& p : params) {
      p.mutable_grad() = torch::randn(p.sizes());
      grads.push_back(values(p.grad()));
      for (float g : grads.back())
        sum_of_squares += g * g;
    }
    torch::nn::utils::clip_grad_norm_(params, max_norm);
    const float scale = clip_scale(sum_of_squares, static_cast<float>(max_norm));
    EXPECT_EQ(scale == 1.0f, max_norm > 1.0);
    for (std::size_t t = 0; t < params.size(); ++t) {
      for (float& g : grads[t])
        g *= scale;
      expect_close(grads[t], params[t].grad(), "clipped gradient");
    }
  }
}

// The schedule's values, worked out by hand: lr 0.1, 10 warmup steps.
TEST(AdamWMath, LearningRateSchedules) {
  LrSchedule s;
  s.lr = 0.1;
  s.warmup_steps = 10;
  s.kind = LrKind::kConstant;
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 0), 0.01);  // (0 + 1) / 10 of lr
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 9), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 5000), 0.1);
  s.kind = LrKind::kStep;  // halved every 100 steps after the warmup
  s.step_gamma = 0.5;
  s.step_every = 100;
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 109), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 110), 0.05);
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 310), 0.0125);
  s.kind = LrKind::kCosine;  // from 0.1 down to 0.01 over steps 10..110 of 111
  s.min_lr_ratio = 0.1;
  s.steps = 111;
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 10), 0.1);
  EXPECT_NEAR(scheduled_lr(s, 60), 0.055, 1e-15);  // half way: the mean of the two
  EXPECT_NEAR(scheduled_lr(s, 35), 0.01 + 0.09 * (0.5 + 0.5 * std::sqrt(0.5)), 1e-15);
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 110), 0.01);
  EXPECT_DOUBLE_EQ(scheduled_lr(s, 500), 0.01);  // past the end: the floor
}

}  // namespace
}  // namespace kiln::kernels
