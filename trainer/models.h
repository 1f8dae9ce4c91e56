// The models, and make_model(), the one place they are registered (docs/TRAINING.md).
// Each maps the transformed batch (features [B, D] float32, categorical [B, C] int64 indices,
// column c in [0, cardinality[c])) to one logit per row, [B].
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
  virtual torch::Tensor forward(const torch::Tensor& features,
                                const torch::Tensor& categorical) = 0;
};

// The shape of a model's input: the plan's output widths.
struct ModelInput {
  int64_t width = 0;                 // float features
  std::vector<int64_t> cardinality;  // per categorical column
};

// The model `options.type` names, sized from the options and the input. Parameters are
// initialized from LibTorch's current generator (seed it first). ConfigError for an unknown
// type (config.cpp checks this first).
std::shared_ptr<TabularModelImpl> make_model(const ModelOptions& options, const ModelInput& input);

// The embedding width of a categorical column: options.embedding_dim, or when 0
// min(32, round(1.6 * cardinality^0.56)), at least 1.
int64_t embedding_width(const ModelOptions& options, int64_t cardinality);

}  // namespace kiln::trainer
