// kernels::ClippedAdamW against what the training step ran before it, ATen's ops: the global
// norm from _foreach_norm, the clipped scale multiplied into the gradients, the step counts
// + 1 and at::_fused_adamw_. Runs where a GPU is (scripts/gpu-check); skips cleanly
// elsewhere.
#include <c10/cuda/CUDAStream.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "kernels/adamw_cuda.h"
#include "kernels/device.h"
#include "tests/gpu.h"

namespace kiln::kernels {
namespace {

struct State {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
};

// Tensors of many shapes (one element, odd sizes, several blocks, more tensors than one
// launch takes), the moments as after some steps, step counts at 4.
State make_state() {
  torch::manual_seed(7);
  const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA);
  State s;
  for (int64_t numel : {1, 3, 2048, 2049, 70001, 5, 131072, 1, 4099}) {
    for (int copy = 0; copy < 5; ++copy) {  // 45 tensors: two launches
      s.params.push_back(torch::randn({numel}, floats));
      s.grads.push_back(torch::randn({numel}, floats));
      s.exp_avgs.push_back(0.1 * torch::randn({numel}, floats));
      s.exp_avg_sqs.push_back(0.01 * torch::rand({numel}, floats));
      s.steps.push_back(torch::full({}, 4.0, floats));
    }
  }
  return s;
}

void expect_close(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& want,
                  const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(torch::allclose(got[i], want[i], 1e-5, 1e-7))
        << what << " " << i << ": " << (got[i] - want[i]).abs().max().item<float>();
}

void check(double max_norm) {
  const AdamWOptions options{0.9, 0.999, 0.01, 1e-8, max_norm};
  const torch::Tensor lr =
      torch::full({}, 1e-3, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA));
  State want = make_state();
  if (max_norm > 0) {
    const torch::Tensor total =
        torch::linalg_vector_norm(torch::stack(at::_foreach_norm(want.grads)));
    at::_foreach_mul_(want.grads, (max_norm / (total + 1e-6)).clamp_max(1.0));
  }
  at::_foreach_add_(want.steps, 1);
  at::_fused_adamw_(want.params, want.grads, want.exp_avgs, want.exp_avg_sqs, at::TensorList(),
                    want.steps, lr, options.beta1, options.beta2, options.weight_decay, options.eps,
                    false, false);

  State got = make_state();
  std::vector<AdamWTensor> tensors;
  std::vector<int64_t> numels;
  for (std::size_t i = 0; i < got.params.size(); ++i) {
    tensors.push_back({got.params[i].data_ptr<float>(), got.grads[i].data_ptr<float>(),
                       got.exp_avgs[i].data_ptr<float>(), got.exp_avg_sqs[i].data_ptr<float>(),
                       got.steps[i].data_ptr<float>(), got.params[i].numel()});
    numels.push_back(got.params[i].numel());
  }
  ClippedAdamW adamw(options, numels);
  adamw.step(tensors, lr.data_ptr<float>(), c10::cuda::getCurrentCUDAStream().stream());
  torch::cuda::synchronize();
  expect_close(got.params, want.params, "param");
  expect_close(got.exp_avgs, want.exp_avgs, "exp_avg");
  expect_close(got.exp_avg_sqs, want.exp_avg_sqs, "exp_avg_sq");
  for (const torch::Tensor& step : got.steps)
    EXPECT_EQ(step.item<float>(), 5.0f);
}

TEST(ClippedAdamW, StepsAsAtensFusedAdamWWithTheGradientsClipped) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), cuda_info().note);
  check(1.0);  // the norm is far above 1: clipped
}

TEST(ClippedAdamW, StepsAsAtensFusedAdamWUnclippedOrWithoutClipping) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), cuda_info().note);
  check(1e6);  // a norm under the limit: a scale of 1
  check(0.0);  // no clipping
}

// record_step, 150 steps from step 5 with a cosine schedule: each step's learning rate the
// host's, the step count advanced, and the last 64 losses in their ring slots.
TEST(RecordStep, KeepsTheLearningRateStepAndLossesOnTheDevice) {
  KILN_SKIP_WITHOUT_GPU(gpu_available(), cuda_info().note);
  const auto floats = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCUDA);
  LrSchedule schedule;
  schedule.lr = 0.1;
  schedule.warmup_steps = 10;
  schedule.kind = LrKind::kCosine;
  schedule.min_lr_ratio = 0.1;
  schedule.steps = 111;
  constexpr int64_t kFirst = 5, kSteps = 150, kRing = 64;
  torch::Tensor step = torch::full({}, kFirst, floats.dtype(torch::kInt64));
  torch::Tensor lr = torch::zeros({}, floats), loss = torch::zeros({}, floats);
  torch::Tensor ring = torch::full({kRing}, NAN, floats);
  void* stream = c10::cuda::getCurrentCUDAStream().stream();
  for (int64_t i = 0; i < kSteps; ++i) {
    loss.fill_(static_cast<double>(i) + 0.5);
    record_step(schedule, step.data_ptr<int64_t>(), lr.data_ptr<float>(), loss.data_ptr<float>(),
                ring.data_ptr<float>(), kRing, stream);
    const auto want = static_cast<float>(scheduled_lr(schedule, kFirst + i));
    ASSERT_NEAR(lr.item<float>(), want, 1e-7 * want) << "step " << kFirst + i;
  }
  EXPECT_EQ(step.item<int64_t>(), kFirst + kSteps);
  const torch::Tensor host = ring.cpu();
  for (int64_t i = kSteps - kRing; i < kSteps; ++i)
    EXPECT_EQ(host[(kFirst + i) % kRing].item<float>(), static_cast<float>(i) + 0.5f) << i;
}

}  // namespace
}  // namespace kiln::kernels
