// linear_bias_by_matmul (the models' linear layers on CUDA) against torch's linear, run on the
// CPU: the same output, the same gradients; and the models' parameter names, which
// checkpoints store.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>
#include <string>

#include "core/errors.h"
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
  options.dropout = 0.0;
  options.linear_term = false;
  options.ensemble = 1;
  options.embedding_dim = 0;
  std::set<std::string> names;
  for (const auto& p : make_model(options, {6, {5}})->named_parameters())
    names.insert(p.key());
  EXPECT_EQ(names,
            (std::set<std::string>{"embeddings.embedding_0.weight", "body.0.weight", "body.0.bias",
                                   "body.2.weight", "body.2.bias", "head.weight", "head.bias"}));
}

// Logistic regression starts where its categories say nothing: every category's weight is 0,
// so rows that differ only in their categories start with the same logit (with torch's
// N(0, 1) embeddings, 14 columns started each row at a random logit of deviation 3.7, and
// Adam's steps of 1e-3 took the whole budget to undo it: test AUROC 0.56 on attrition).
TEST(Models, LogisticRegressionStartsWithCategoriesAtZero) {
  torch::manual_seed(3);
  ModelOptions options;
  options.type = ModelType::kLogistic;
  auto model = make_model(options, {3, {50, 7, 2}});
  const torch::Tensor features = torch::randn({16, 3});
  const torch::Tensor a = torch::randint(0, 2, {16, 3}, torch::kInt64);
  const torch::Tensor b = torch::randint(0, 2, {16, 3}, torch::kInt64) + torch::tensor({40, 5, 0});
  EXPECT_TRUE(torch::equal(model->forward(features, a), model->forward(features, b)));
  for (const auto& p : model->named_parameters()) {
    if (p.key().rfind("embeddings.", 0) == 0) {
      EXPECT_EQ(p.value().abs().max().item<float>(), 0) << p.key();
    }
  }
}

// An ensemble is one model: its members share the MLP's layers, each scales the input by its
// own random signs and has its own head; it predicts the members' mean logit.
TEST(Models, AnEnsembleIsItsMembersSharingOneMlp) {
  torch::manual_seed(3);
  ModelOptions options;
  options.hidden = {8, 4};
  options.dropout = 0.0;
  options.ensemble = 5;
  options.linear_term = false;
  options.embedding_dim = 0;
  auto model = make_model(options, {6, {5}});
  EXPECT_EQ(model->members(), 5);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : model->named_parameters())
    shapes[p.key()] = p.value().sizes().vec();
  EXPECT_EQ(shapes.at("ensemble_scale"), (std::vector<int64_t>{5, 6 + 4}));  // 4: the embedding
  EXPECT_EQ(shapes.at("head.weight"), (std::vector<int64_t>{5, 4}));
  EXPECT_EQ(shapes.at("body.0.weight"), (std::vector<int64_t>{8, 10}));  // shared
  const torch::Tensor scale = model->named_parameters()["ensemble_scale"];
  EXPECT_TRUE(((scale == 1) | (scale == -1)).all().item<bool>());
  const torch::Tensor x = torch::randn({7, 6});
  const torch::Tensor c = torch::randint(0, 5, {7, 1}, torch::kInt64);
  const torch::Tensor members = model->forward_members(x, c);
  ASSERT_EQ(members.sizes().vec(), (std::vector<int64_t>{7, 5}));
  EXPECT_TRUE(torch::allclose(model->forward(x, c), members.mean(1)));
  EXPECT_FALSE(torch::allclose(members.select(1, 0), members.select(1, 1)));  // not one model
  options.ensemble = 2;
  options.type = ModelType::kDcn;
  EXPECT_THROW(make_model(options, {6, {5}}), ConfigError);
}

// An embedding's width: from the cardinality (fastai's rule, at most 32), and under auto at most
// log2 of the rows per category, so that a category seen in few rows cannot memorize them.
TEST(Models, EmbeddingsAreNarrowWhereCategoriesHaveFewRows) {
  ModelOptions options;                                   // embedding_dim auto
  EXPECT_EQ(embedding_width(options, 10, 1000000), 6);    // 1.6 * 10^0.56 = 5.8
  EXPECT_EQ(embedding_width(options, 402, 314991), 9);    // 783 rows a category: 2^9
  EXPECT_EQ(embedding_width(options, 13776, 314991), 4);  // 22.9 rows a category
  EXPECT_EQ(embedding_width(options, 50000, 1000), 1);    // fewer rows than categories
  EXPECT_EQ(embedding_width(options, 402, 0), 32);        // rows unknown: the rule alone
  options.embedding_dim = 0;
  EXPECT_EQ(embedding_width(options, 13776, 314991), 32);
  options.embedding_dim = 3;
  EXPECT_EQ(embedding_width(options, 13776, 314991), 3);
  options.one_hot_max = 8;
  EXPECT_EQ(embedding_width(options, 8, 314991), 0);
}

// model.linear_term adds w.x + b over the MLP's input to every member's logit;
// model.one_hot_max makes a small categorical column a one-hot vector, with no parameters.
TEST(Models, TheLinearTermAndOneHotColumnsWidenTheMlpsInput) {
  torch::manual_seed(4);
  ModelOptions options;
  options.hidden = {8};
  options.dropout = 0.0;
  options.ensemble = 3;
  options.linear_term = true;
  options.one_hot_max = 5;
  options.embedding_dim = 0;
  auto model = make_model(options, {6, {5, 40}, 0});  // 5 indices: one-hot; 40: 13 wide
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& p : model->named_parameters())
    shapes[p.key()] = p.value().sizes().vec();
  EXPECT_EQ(shapes.count("embeddings.embedding_0.weight"), 0u);
  EXPECT_EQ(shapes.at("embeddings.embedding_1.weight"), (std::vector<int64_t>{40, 13}));
  const int64_t in = 6 + 5 + 13;
  EXPECT_EQ(shapes.at("body.0.weight"), (std::vector<int64_t>{8, in}));
  EXPECT_EQ(shapes.at("linear_term.weight"), (std::vector<int64_t>{1, in}));

  const torch::Tensor x = torch::randn({4, 6});
  const torch::Tensor c =
      torch::stack({torch::tensor({0, 1, 2, 4}), torch::tensor({3, 9, 0, 39})}, 1);
  auto params = model->named_parameters();
  const torch::Tensor input =
      torch::cat({x, torch::one_hot(c.select(1, 0), 5).to(torch::kFloat32),
                  params["embeddings.embedding_1.weight"].index_select(0, c.select(1, 1))},
                 1);
  const torch::Tensor linear =
      input.matmul(params["linear_term.weight"].t()) + params["linear_term.bias"];
  // Member m: its head over the shared body of its scaled input, plus the linear term.
  const torch::Tensor scale = params["ensemble_scale"];
  for (int64_t m = 0; m < 3; ++m) {
    const torch::Tensor h =
        torch::relu((input * scale[m]).matmul(params["body.0.weight"].t()) + params["body.0.bias"]);
    const torch::Tensor expected =
        h.matmul(params["head.weight"][m]) + params["head.bias"][m] + linear.squeeze(1);
    EXPECT_TRUE(torch::allclose(model->forward_members(x, c).select(1, m), expected, 1e-5, 1e-5))
        << m;
  }
}

// model.numeric_embedding k: each float feature x becomes [x, W cos(2π f x + p) + c] (PBLD),
// its k frequencies and phases and its 3-wide layer its own, before the categorical vectors;
// the parameters are stored at ten times their value, so that Adam's first step (the learning
// rate, whatever the gradient's scale) moves them by a tenth of the rate. The linear term
// reads the features as they are.
TEST(Models, NumericEmbeddingsArePeriodicFeaturesBesideEachValue) {
  torch::manual_seed(5);
  ModelOptions options;
  options.hidden = {};
  options.dropout = 0.0;
  options.ensemble = 1;
  options.linear_term = false;
  options.embedding_dim = 2;
  options.numeric_embedding = 16;
  auto model = make_model(options, {3, {7}, 0});
  auto params = model->named_parameters();
  EXPECT_EQ(params["embeddings.numeric.frequency"].sizes().vec(), (std::vector<int64_t>{3, 16}));
  EXPECT_EQ(params["embeddings.numeric.weight"].sizes().vec(), (std::vector<int64_t>{3, 16, 3}));
  EXPECT_EQ(params["head.weight"].sizes().vec(), (std::vector<int64_t>{1, 3 * 4 + 2}));
  const double spread = (params["embeddings.numeric.frequency"] * 0.1).std().item<double>();
  EXPECT_GT(spread, 0.06);  // N(0, 0.1²) over 48 draws
  EXPECT_LT(spread, 0.14);

  const torch::Tensor x = torch::randn({5, 3});
  const torch::Tensor c = torch::randint(0, 7, {5, 1}, torch::kInt64);
  const torch::Tensor f = params["embeddings.numeric.frequency"] * 0.1;
  const torch::Tensor phase = params["embeddings.numeric.phase"] * 0.1;
  const torch::Tensor w = params["embeddings.numeric.weight"] * 0.1;
  const torch::Tensor b = params["embeddings.numeric.bias"] * 0.1;
  const torch::Tensor head = params["head.weight"][0];
  for (int64_t row = 0; row < 5; ++row) {
    double logit = params["head.bias"].item<double>();
    for (int64_t j = 0; j < 3; ++j) {
      const double value = x[row][j].item<double>();
      logit += head[4 * j].item<double>() * value;
      for (int64_t o = 0; o < 3; ++o) {
        double learned = b[j][o].item<double>();
        for (int64_t k = 0; k < 16; ++k)
          learned +=
              w[j][k][o].item<double>() *
              std::cos(2 * M_PI * f[j][k].item<double>() * value + phase[j][k].item<double>());
        logit += head[4 * j + 1 + o].item<double>() * learned;
      }
    }
    const torch::Tensor category = params["embeddings.embedding_0.weight"][c[row][0]];
    logit += (head.narrow(0, 12, 2) * category).sum().item<double>();
    EXPECT_NEAR(model->forward(x, c)[row].item<double>(), logit, 1e-5) << row;
  }

  const torch::Tensor before = f.clone();
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-2));
  model->forward(x, c).sum().backward();
  adam.step();
  const torch::Tensor moved = (params["embeddings.numeric.frequency"] * 0.1 - before).abs();
  EXPECT_NEAR(moved.max().item<double>(), 1e-3, 1e-5);
  EXPECT_GT(moved.min().item<double>(), 0.9e-3);

  // The linear term reads the float features as they are: 3 of them and the 2-wide category.
  options.linear_term = true;
  auto wide_and_deep = make_model(options, {3, {7}, 0});
  EXPECT_EQ(wide_and_deep->named_parameters()["linear_term.weight"].sizes().vec(),
            (std::vector<int64_t>{1, 3 + 2}));
  EXPECT_EQ(wide_and_deep->forward(x, c).sizes().vec(), (std::vector<int64_t>{5}));
}

}  // namespace
}  // namespace kiln::trainer
