// The fused training step (train_step.h), private to the trainer: defined in
// train_step_cuda.cpp, which only a CUDA build of Kiln compiles.
#pragma once

#include <memory>

#include "trainer/train_step.h"

namespace kiln::trainer {

std::unique_ptr<TrainStep> make_fused_step(TabularModelImpl& model,
                                           torch::optim::Optimizer& optimizer,
                                           const KilnConfig& config, torch::Device device,
                                           double pos_weight, int64_t first_step,
                                           const std::array<ModelBatch, 2>& graph_inputs);

}  // namespace kiln::trainer
