#include "trainer/models.h"

#include <ATen/autocast_mode.h>

#include <cmath>
#include <map>
#include <mutex>
#include <numbers>
#include <optional>
#include <tuple>

#include "core/errors.h"

namespace kiln::trainer {
namespace {

namespace nn = torch::nn;

// PBLD numeric embeddings (RealMLP-TD, Holzmüller et al., NeurIPS 2024): each float feature x
// becomes [x, W_j cos(2π f_j x + p_j) + c_j], its k periodic features (frequencies f_j ~
// N(0, 0.1²), phases p_j ~ U[-π, π]) mapped by a linear layer of its own to 3, beside the
// value itself. forward() gives [B, features · 4]. The parameters learn at a tenth of the
// optimizer's rate, as in RealMLP: each is stored divided by 0.1 and multiplied back here
// (Adam moves a parameter by about the learning rate whatever its gradient's scale, so
// through the factor it moves by a tenth), which keeps one parameter group and the fused
// CUDA step's single update.
class NumericEmbeddings : public nn::Module {
 public:
  static constexpr int64_t kLearned = 3;

  NumericEmbeddings(int64_t features, int64_t periodic) : features_(features) {
    const double bound = 1 / std::sqrt(static_cast<double>(periodic));
    frequency_ = register_parameter("frequency",
                                    torch::randn({features, periodic}) * (kSigma / kRateFactor));
    phase_ =
        register_parameter("phase", uniform({features, periodic}, std::numbers::pi / kRateFactor));
    weight_ =
        register_parameter("weight", uniform({features, periodic, kLearned}, bound / kRateFactor));
    bias_ = register_parameter("bias", uniform({features, kLearned}, bound / kRateFactor));
  }
  int64_t width() const { return features_ * (kLearned + 1); }
  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor periodic =
        torch::cos(x.unsqueeze(2) * (frequency_ * (2 * std::numbers::pi * kRateFactor)) +
                   phase_ * kRateFactor);  // [B, D, k]
    // Each feature's own layer as one batched product: [D, B, k] x [D, k, 3].
    const torch::Tensor learned =
        torch::matmul(periodic.transpose(0, 1), weight_ * kRateFactor).transpose(0, 1) +
        bias_ * kRateFactor;  // [B, D, 3]
    return torch::cat({x.unsqueeze(2).to(learned.scalar_type()), learned}, 2).flatten(1);
  }

 private:
  static constexpr double kSigma = 0.1;
  static constexpr double kRateFactor = 0.1;
  static torch::Tensor uniform(at::IntArrayRef shape, double bound) {
    return (torch::rand(shape) * 2 - 1) * bound;
  }
  int64_t features_;
  torch::Tensor frequency_, phase_, weight_, bias_;
};

// A model's input as one vector a row: the float features (or, with `periodic` > 0, their
// NumericEmbeddings), then per categorical column an embedding table of its width, or, for a
// width of 0, its one-hot vector (cardinality wide, no parameters). concat() gives [B, width()].
class Embeddings : public nn::Module {
 public:
  Embeddings(int64_t features, const std::vector<int64_t>& cardinality,
             const std::vector<int64_t>& widths, int64_t periodic)
      : features_(features), cardinality_(cardinality), tables_(cardinality.size(), nullptr) {
    if (periodic > 0 && features > 0)
      numeric_ =
          register_module("numeric", std::make_shared<NumericEmbeddings>(features, periodic));
    for (std::size_t c = 0; c < cardinality.size(); ++c) {
      if (widths[c] > 0)
        tables_[c] = register_module("embedding_" + std::to_string(c),
                                     nn::Embedding(cardinality[c], widths[c]));
      categorical_width_ += widths[c] > 0 ? widths[c] : cardinality[c];
    }
  }
  int64_t width() const { return (numeric_ ? numeric_->width() : features_) + categorical_width_; }
  // The width with the float features as they are (the linear term's input).
  int64_t plain_width() const { return features_ + categorical_width_; }
  // [B, width()]; with `plain`, also the row with the float features as they are, [B,
  // plain_width()].
  torch::Tensor concat(const torch::Tensor& features, const torch::Tensor& categorical,
                       torch::Tensor* plain = nullptr) {
    const torch::Tensor numeric = numeric_ ? numeric_->forward(features) : features;
    std::vector<torch::Tensor> parts = {numeric};
    for (std::size_t c = 0; c < tables_.size(); ++c) {
      const torch::Tensor index = categorical.select(1, static_cast<int64_t>(c));
      parts.push_back(tables_[c]
                          ? tables_[c]->forward(index)
                          : torch::one_hot(index, cardinality_[c]).to(numeric.scalar_type()));
    }
    // The float part `first` beside the categorical vectors.
    const auto join = [&parts](const torch::Tensor& first) {
      if (parts.size() == 1) return first;
      parts[0] = first;
      return torch::cat(parts, 1);
    };
    const torch::Tensor joined = join(numeric);
    if (plain) *plain = numeric_ ? join(features.to(numeric.scalar_type())) : joined;
    return joined;
  }

 private:
  int64_t features_;
  int64_t categorical_width_ = 0;
  std::vector<int64_t> cardinality_;
  std::shared_ptr<NumericEmbeddings> numeric_;
  std::vector<nn::Embedding> tables_;  // nullptr: one-hot
};

// Dropout with its mask from uniform draws of the default generator. torch's CPU dropout
// draws its Bernoulli mask on several threads and is not reproducible from run to run (2
// runs in 16 of the same config differed), which would break bitwise-identical resume.
class ReproducibleDropoutImpl : public nn::Module {
 public:
  explicit ReproducibleDropoutImpl(double p) : p_(p) {}
  torch::Tensor forward(const torch::Tensor& x) {
    if (!is_training() || p_ == 0) return x;
    return x * (torch::rand_like(x) >= p_).to(x.scalar_type()) / (1 - p_);
  }

 private:
  double p_;
};
TORCH_MODULE(ReproducibleDropout);

// A row of `n` ones of `options`' dtype and device, [1, n]: made once per kind and kept for
// the life of the process (never freed: a captured CUDA graph reads it at every replay, and
// a batch of another size must not free the one of the full batch). A batch has one or two
// sizes (the full one and an epoch's last), so there are few. Thread-safe: backward runs on
// autograd's device threads.
const torch::Tensor& ones_row(int64_t n, const torch::TensorOptions& options) {
  static std::mutex mutex;
  static auto* rows = new std::map<std::tuple<int, int, int, int64_t>, torch::Tensor>();
  const std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_tuple(static_cast<int>(options.device().type()),
                                   static_cast<int>(options.device().index()),
                                   static_cast<int>(options.dtype().toScalarType()), n);
  torch::Tensor& row = (*rows)[key];
  if (!row.defined()) row = torch::ones({1, n}, options);
  return row;
}

class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x,
                               torch::Tensor w, torch::Tensor b) {
    const at::DeviceType device = x.device().type();
    const at::ScalarType dtype = at::autocast::is_autocast_enabled(device)
                                     ? at::autocast::get_autocast_dtype(device)
                                     : x.scalar_type();
    x = x.to(dtype);
    w = w.to(dtype);
    ctx->save_for_backward({x, w});
    return at::linear(x, w, b.to(dtype));
  }

  // The gradients in the forward's dtype; autograd casts each to its input's dtype.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& w = saved[1];
    const torch::Tensor& grad = grads[0];  // [B, out]
    torch::Tensor x_grad, w_grad, b_grad;
    if (ctx->needs_input_grad(0)) x_grad = grad.mm(w);
    if (ctx->needs_input_grad(1)) w_grad = grad.t().mm(x);
    if (ctx->needs_input_grad(2))
      b_grad = ones_row(grad.size(0), grad.options()).mm(grad).squeeze(0);
    return {x_grad, w_grad, b_grad};
  }
};

// torch's Linear (the same parameters, names and initialization) whose forward on CUDA is
// linear_bias_by_matmul().
class LinearImpl : public nn::LinearImpl {
 public:
  using nn::LinearImpl::LinearImpl;
  torch::Tensor forward(const torch::Tensor& x) {
    return x.is_cuda() ? linear_bias_by_matmul(x, weight, bias) : nn::LinearImpl::forward(x);
  }
};
TORCH_MODULE(Linear);

// Linear layers with ReLU (and dropout) between: in -> hidden... ; output width = last.
nn::Sequential mlp(int64_t in, const std::vector<int64_t>& hidden, double dropout) {
  nn::Sequential layers;
  for (int64_t width : hidden) {
    layers->push_back(Linear(in, width));
    layers->push_back(nn::ReLU());
    if (dropout > 0) layers->push_back(ReproducibleDropout(dropout));
    in = width;
  }
  return layers;
}

// The MLP's and DCN's input: the float features, embedded when model.numeric_embedding says
// so, and the categorical columns at `widths`.
std::shared_ptr<Embeddings> embeddings(const ModelOptions& options, const ModelInput& input,
                                       const std::vector<int64_t>& widths) {
  return std::make_shared<Embeddings>(input.width, input.cardinality, widths,
                                      options.numeric_embedding.value.value_or(0));
}

// Logistic regression: w·x + b, categorical columns one-hot (a 1-wide embedding per column
// is the one-hot's weight vector).
class Logistic : public TabularModelImpl {
 public:
  explicit Logistic(const ModelInput& input)
      : embeddings_(register_module(
            "embeddings",
            std::make_shared<Embeddings>(0, input.cardinality,
                                         std::vector<int64_t>(input.cardinality.size(), 1), 0))),
        linear_(register_module("linear", Linear(input.width, 1))) {
    // The categories' weights start at 0, as the features' weights start near it: the
    // embeddings' N(0, 1) would start each row's logit at a sum of one N(0, 1) per column,
    // which Adam's small steps take thousands of steps to undo.
    const torch::NoGradGuard no_grad;
    for (torch::Tensor& weight : embeddings_->parameters())
      weight.zero_();
  }
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& categorical) override {
    torch::Tensor logit = linear_->forward(features).squeeze(1);
    if (embeddings_->width() == 0) return logit;
    torch::Tensor onehot = embeddings_->concat(features.narrow(1, 0, 0), categorical);
    return logit + onehot.sum(1);
  }

 private:
  std::shared_ptr<Embeddings> embeddings_;
  Linear linear_;
};

// An MLP, or with model.ensemble k > 1 an ensemble of k MLPs that share their weights (TabM-mini,
// Gorishniy et al., ICLR 2025): member m scales the input by its own random-sign vector
// (`ensemble_scale`, [k, in]) and has its own head (row m of `head`), so that one batched
// pass of k * B rows through the shared layers runs all the members.
class Mlp : public TabularModelImpl {
 public:
  Mlp(const ModelOptions& options, const ModelInput& input, const std::vector<int64_t>& widths)
      : members_(options.ensemble.get()),
        embeddings_(register_module("embeddings", embeddings(options, input, widths))),
        body_(register_module("body",
                              mlp(embeddings_->width(), options.hidden, options.dropout.get()))),
        head_(register_module(
            "head", Linear(options.hidden.empty() ? embeddings_->width() : options.hidden.back(),
                           members_))) {
    const int64_t in = embeddings_->width();
    if (members_ > 1)
      scale_ = register_parameter("ensemble_scale",
                                  torch::randint(0, 2, {members_, in}, torch::kFloat32) * 2 - 1);
    if (options.linear_term.get())
      linear_ = register_module("linear_term", Linear(embeddings_->plain_width(), 1));
  }
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& categorical) override {
    if (members_ > 1) return forward_members(features, categorical).mean(1);
    torch::Tensor plain;
    const torch::Tensor x = embeddings_->concat(features, categorical, linear_ ? &plain : nullptr);
    const torch::Tensor h = body_->is_empty() ? x : body_->forward(x);
    torch::Tensor logit = head_->forward(h);
    if (linear_) logit = logit + linear_->forward(plain);
    return logit.squeeze(1);
  }
  torch::Tensor forward_members(const torch::Tensor& features,
                                const torch::Tensor& categorical) override {
    if (members_ == 1) return forward(features, categorical).unsqueeze(1);
    torch::Tensor plain;
    const torch::Tensor x = embeddings_->concat(features, categorical, linear_ ? &plain : nullptr);
    const int64_t rows = x.size(0);
    torch::Tensor h = (x.unsqueeze(1) * scale_).reshape({rows * members_, x.size(1)});
    if (!body_->is_empty()) h = body_->forward(h);
    h = h.view({rows, members_, h.size(1)});
    torch::Tensor logits =
        (h * head_->weight.to(h.scalar_type())).sum(2) + head_->bias.to(h.scalar_type());
    if (linear_) logits = logits + linear_->forward(plain).to(logits.scalar_type());
    return logits;
  }
  int64_t members() const override { return members_; }

 private:
  int64_t members_;
  std::shared_ptr<Embeddings> embeddings_;
  nn::Sequential body_;
  Linear head_;
  torch::Tensor scale_;
  Linear linear_{nullptr};
};

// DCN-v2 (Wang et al. 2021), parallel form: cross layers x_{l+1} = x0 * (W_l x_l + b_l) + x_l
// (full-rank W) beside an MLP on x0; the head reads both.
class Dcn : public TabularModelImpl {
 public:
  Dcn(const ModelOptions& options, const ModelInput& input, const std::vector<int64_t>& widths)
      : embeddings_(register_module("embeddings", embeddings(options, input, widths))),
        deep_(register_module("deep",
                              mlp(embeddings_->width(), options.hidden, options.dropout.get()))) {
    const int64_t in = embeddings_->width();
    for (int64_t l = 0; l < options.cross_layers; ++l)
      cross_.push_back(register_module("cross_" + std::to_string(l), Linear(in, in)));
    const int64_t deep_out = options.hidden.empty() ? 0 : options.hidden.back();
    head_ = register_module("head", Linear(in + deep_out, 1));
  }
  torch::Tensor forward(const torch::Tensor& features, const torch::Tensor& categorical) override {
    const torch::Tensor x0 = embeddings_->concat(features, categorical);
    torch::Tensor x = x0;
    for (auto& layer : cross_)
      x = x0 * layer->forward(x) + x;
    if (!deep_->is_empty()) x = torch::cat({x, deep_->forward(x0)}, 1);
    return head_->forward(x).squeeze(1);
  }

 private:
  std::shared_ptr<Embeddings> embeddings_;
  nn::Sequential deep_;
  std::vector<Linear> cross_;
  Linear head_{nullptr};
};

}  // namespace

torch::Tensor linear_bias_by_matmul(const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor& b) {
  KILN_ASSERT(x.dim() == 2, "linear_bias_by_matmul: x of ", x.dim(), " dimensions");
  return LinearFunction::apply(x, w, b);
}

int64_t embedding_width(const ModelOptions& options, int64_t cardinality, int64_t rows) {
  if (cardinality <= options.one_hot_max) return 0;
  const std::optional<int64_t>& given = options.embedding_dim.value;
  if (given && *given > 0) return *given;
  const int64_t rule = std::clamp<int64_t>(
      std::llround(1.6 * std::pow(static_cast<double>(cardinality), 0.56)), 1, 32);
  if (given || rows <= 0) return rule;  // 0: the cardinality alone
  const double per_category = static_cast<double>(rows) / static_cast<double>(cardinality);
  const auto cap = static_cast<int64_t>(std::floor(std::log2(std::max(per_category, 2.0))));
  return std::min(rule, cap);
}

std::shared_ptr<TabularModelImpl> make_model(const ModelOptions& options, const ModelInput& input) {
  std::vector<int64_t> widths;
  for (int64_t cardinality : input.cardinality)
    widths.push_back(embedding_width(options, cardinality, input.rows));
  KILN_CHECK(options.type == ModelType::kMlp || options.ensemble.value.value_or(1) == 1,
             ConfigError, "model.ensemble: ", options.ensemble.value.value_or(1),
             " members, but only model.type mlp makes ensembles");
  switch (options.type) {
    case ModelType::kLogistic:
      return std::make_shared<Logistic>(input);
    case ModelType::kMlp:
      return std::make_shared<Mlp>(options, input, widths);
    case ModelType::kDcn:
      return std::make_shared<Dcn>(options, input, widths);
  }
  KILN_ASSERT(false, "model.type ", static_cast<int>(options.type));
  return nullptr;
}

}  // namespace kiln::trainer
