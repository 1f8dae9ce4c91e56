// A model and its optimizer to and from a checkpoint's safetensors files, and a whole
// checkpoint's model rebuilt for scoring (`kiln predict`, `kiln eval --model`). Files are
// untrusted: every tensor's name, type and shape is checked against the model.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/checkpoint.h"
#include "trainer/config.h"
#include "trainer/models.h"
#include "transform/plan.h"

namespace kiln::trainer {

// model.safetensors: every parameter by its module path, float32.
std::string model_file(TabularModelImpl& model);
// optimizer.safetensors: AdamW's exp_avg/<name> and exp_avg_sq/<name>, or SGD's
// momentum_buffer/<name>; the per-parameter step counts go into `steps` (state.json).
std::string optimizer_file(TabularModelImpl& model, torch::optim::Optimizer& optimizer,
                           std::map<std::string, int64_t>& steps);

// DataError naming the file and tensor when the file does not fit the model (or, for AdamW,
// `steps` has no count for a parameter it has moments of).
void load_model(TabularModelImpl& model, const std::string& path);
void load_optimizer(TabularModelImpl& model, torch::optim::Optimizer& optimizer,
                    const std::string& path, const std::map<std::string, int64_t>& steps,
                    bool adamw);

// The model input a fitted plan produces: its float width and categorical cardinalities.
ModelInput model_input(const transform::FittedPlan& plan);

// A verified checkpoint's model, rebuilt from its own config.yaml, transform.json and
// state.json, on `device`, in eval mode. `path` is a checkpoint, or a run directory (or its
// checkpoints/): then its model (core::model_checkpoint: the refit's, else its best, else its
// latest).
struct CheckpointModel {
  core::VerifiedCheckpoint checkpoint;
  KilnConfig config;
  transform::FittedPlan plan;
  data::Dictionaries dictionaries;  // its dictionaries.json; empty in an older checkpoint's
  std::shared_ptr<TabularModelImpl> model;
  double logit_shift = 0;  // log(pos_weight): subtracted before the sigmoid
};
CheckpointModel load_checkpoint_model(const std::string& path, torch::Device device);
// The model's plan compiled for `dataset`, whose categorical codes must name the strings they
// named in the model's training data (transform::compile).
kernels::CompiledPlan compile_for(const CheckpointModel& m, const data::Dataset& dataset);

}  // namespace kiln::trainer
