// `kiln fit`: a config and HDF5 datasets in, a run directory with checkpoints out
// (docs/TRAINING.md). The loop: loader -> fused transform -> model -> loss -> optimizer, an
// evaluation on the validation split every train.eval_every steps (eval/'s AUROC, AP, log
// loss) with a checkpoint each time, early stopping, resume from a checkpoint, and
// preemption by SIGTERM / SIGUSR1 (checkpoint at the next step boundary, exit 75).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "trainer/config.h"

namespace kiln::trainer {

struct FitArgs {
  std::vector<std::string> argv;  // recorded in run.json
  std::string resume;    // "", "auto", a checkpoint / run directory, or registry:NAME@ALIAS|/vN
  std::string registry;  // of a registry: --resume or --init; "": $KILN_REGISTRY, else registry/
  // "", or a model to fine-tune: a checkpoint, a run directory (its model) or
  // registry:NAME@ALIAS|/vN. A new run starts from its weights, its transform plan and its
  // model.* keys, on this config's data, with a fresh optimizer and schedule.
  std::string init;
};

struct FitResult {
  std::string run_dir;
  int64_t steps = 0;  // steps done in all (resumed runs included)
  int64_t best_step = -1;
  double best_value = 0;        // of train.metric on data.valid
  std::string best_checkpoint;  // the run's model: the best checkpoint, or its refit's
  bool stopped_early = false;
  nlohmann::ordered_json result;  // result.json
};

// Trains as the config says (from `args.init`'s weights when given), its `auto` values chosen
// for the train split first, or on resume taken from the checkpoint resumed from
// (trainer/auto_config.h; config.resolved.yaml and run.json say what they became); with
// train.refit, then trains the model again on train and valid in RUN/refit (docs/TRAINING.md,
// Refit). Throws: ConfigError (78) for missing data paths or a bad combination, DataError (65)
// for bad data (a validation split of one class among them), DivergedError (4) for a NaN or Inf
// loss (naming the step), PreemptedError (75) after the checkpoint a signal asked for.
// status.json says the state ("running", "done", "preempted", "failed") and the reason in
// every case.
FitResult fit(const KilnConfig& config, const FitArgs& args);

// The learning rate at `step` (0-based) of `steps`: linear warmup to optim.lr over
// warmup_steps, then cosine to lr * min_lr_ratio, steps of step_gamma, or constant.
double learning_rate(const OptimOptions& options, int64_t step, int64_t steps);

}  // namespace kiln::trainer
