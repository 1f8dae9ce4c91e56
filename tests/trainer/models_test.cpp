// linear_bias_by_matmul (the models' linear layers on CUDA) against torch's linear, run on the
// CPU: the same output, the same gradients; and the models' parameter names, which
// checkpoints store.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>
#include <string>

#include "trainer/models.h"

namespace kiln::trainer {
namespace {

struct Grads {
  torch::Tensor y, x, w, b;
};

// y = f(x, w, b) and the gradients of sum(y * r) (r fixed) for a batch of `rows`, with x a
// leaf when `x_grad`.
template <class F>
Grads run(F f, bool x_grad, int64_t rows = 37) {
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({rows, 5}).set_requires_grad(x_grad);
  torch::Tensor w = torch::randn({3, 5}).set_requires_grad(true);
  torch::Tensor b = torch::randn({3}).set_requires_grad(true);
  torch::Tensor r = torch::randn({rows, 3});
  torch::Tensor y = f(x, w, b);
  (y.to(torch::kFloat32) * r).sum().backward();
  return {y.detach(), x.grad(), w.grad(), b.grad()};
}

torch::Tensor torch_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  return torch::nn::functional::linear(x, w, b);
}

void expect_close(const torch::Tensor& got, const torch::Tensor& want, double tolerance,
                  const char* what) {
  ASSERT_TRUE(got.defined()) << what;
  EXPECT_EQ(got.scalar_type(), want.scalar_type()) << what;
  EXPECT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(
      torch::allclose(got.to(torch::kFloat64), want.to(torch::kFloat64), tolerance, tolerance))
      << what << ": "
      << (got.to(torch::kFloat64) - want.to(torch::kFloat64)).abs().max().item<double>();
}

// Two batch sizes, each twice: the row of ones is kept per size.
TEST(LinearBiasByMatmul, GivesTorchLinearsOutputAndGradients) {
  for (int64_t rows : {37, 11, 37, 11})
    for (bool x_grad : {true, false}) {
      SCOPED_TRACE(rows);
      const Grads got = run(linear_bias_by_matmul, x_grad, rows);
      const Grads want = run(torch_linear, x_grad, rows);
      EXPECT_TRUE(torch::equal(got.y, want.y));  // the same op
      if (x_grad) {
        expect_close(got.x, want.x, 1e-6, "x");
      } else {
        EXPECT_FALSE(got.x.defined());
      }
      expect_close(got.w, want.w, 1e-6, "w");
      expect_close(got.b, want.b, 1e-6, "b");
    }
}

// Under autocast the layer computes in its dtype, as autocast's linear does, and each
// gradient comes back in its input's dtype (float32).
TEST(LinearBiasByMatmul, FollowsAutocast) {
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  at::autocast::set_autocast_enabled(at::kCPU, true);
  const Grads got = run(linear_bias_by_matmul, true);
  const Grads autocast = run(torch_linear, true);
  at::autocast::set_autocast_enabled(at::kCPU, false);
  at::autocast::clear_cache();
  const Grads exact = run(torch_linear, true);
  EXPECT_EQ(got.y.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(got.y, autocast.y));
  // bf16 products: within bf16's resolution of the float32 gradients.
  expect_close(got.x, exact.x, 0.1, "x");
  expect_close(got.w, exact.w, 0.1, "w");
  expect_close(got.b, exact.b, 0.1, "b");
  expect_close(got.w, autocast.w, 0.1, "w against autocast");
}

TEST(Models, KeepTheirParameterNames) {
  ModelOptions options;
  options.type = ModelType::kMlp;
  options.hidden = {8, 4};
  std::set<std::string> names;
  for (const auto& p : make_model(options, {6, {5}})->named_parameters())
    names.insert(p.key());
  EXPECT_EQ(names,
            (std::set<std::string>{"embeddings.embedding_0.weight", "body.0.weight", "body.0.bias",
                                   "body.2.weight", "body.2.bias", "head.weight", "head.bias"}));
}

}  // namespace
}  // namespace kiln::trainer
