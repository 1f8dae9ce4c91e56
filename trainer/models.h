// The models, and make_model(), the one place they are registered (docs/TRAINING.md).
// Each maps the transformed batch (features [B, D] float32, categorical [B, C] int64 indices,
// column c in [0, cardinality[c])) to one logit per row, [B]. An ensemble (model.ensemble
// members, the MLP only) is one model too: its members are trained together, each on its own
// loss (forward_members), and it predicts their mean logit (forward).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/options.h"

namespace kiln::trainer {

class TabularModelImpl : public torch::nn::Module {
 public:
  // The model's logit per row, [B] (an ensemble's: the mean of its members').
  virtual torch::Tensor forward(const torch::Tensor& features,
                                const torch::Tensor& categorical) = 0;
  // Each member's logit per row, [B, members()]; for a single model forward() as [B, 1].
  virtual torch::Tensor forward_members(const torch::Tensor& features,
                                        const torch::Tensor& categorical) {
    return forward(features, categorical).unsqueeze(1);
  }
  virtual int64_t members() const { return 1; }
};

// The shape of a model's input: the plan's output widths.
struct ModelInput {
  int64_t width = 0;                 // float features
  std::vector<int64_t> cardinality;  // per categorical column
  int64_t rows = 0;                  // the train rows the plan was fitted on; 0: unknown
};

// The model `options.type` names, sized from the options and the input. Parameters are
// initialized from LibTorch's current generator (seed it first). ConfigError for an unknown
// type (config.cpp checks this first).
std::shared_ptr<TabularModelImpl> make_model(const ModelOptions& options, const ModelInput& input);

// y = x wᵀ + b for x [B, in], w [out, in], b [out], as torch::linear computes it, but its
// backward computes the bias gradient as a matrix product (a row of ones times the output's
// gradient) instead of a sum over the batch: on an H200 that sum (a strided reduction) took
// 11 µs of a 213 µs bf16 training step at batch 4096 (docs/PERFORMANCE.md). The row of ones
// is made once per batch size, dtype and device and kept, so a step fills none. Under autocast
// the inputs are first cast to its dtype, as autocast casts linear's. The models use it on
// CUDA only, so CPU runs compute what they did before, bit for bit.
torch::Tensor linear_bias_by_matmul(const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor& b);

// The embedding width of a categorical column of `cardinality` indices fitted on `rows` train
// rows: 0 (one-hot) for a cardinality up to options.one_hot_max; else options.embedding_dim
// when it is a number above 0; else r = min(32, round(1.6 * cardinality^0.56)), at least 1,
// and for auto (with rows known) at most max(1, floor(log2(rows / cardinality))): a category
// seen in few rows gets few parameters, where a wider vector would memorize its rows.
int64_t embedding_width(const ModelOptions& options, int64_t cardinality, int64_t rows);

}  // namespace kiln::trainer
