// Kiln's whole configuration: one struct per section, resolved once at the edge
// (core/config.h: defaults < --config files < overrides) and passed inward typed.
// Later modules add their sections here; `kiln config keys` and docs/CONFIG.md list them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/log.h"
#include "eval/data_drift.h"
#include "eval/report.h"
#include "trainer/options.h"
#include "transform/spec.h"

namespace kiln::trainer {

struct RunOptions {
  std::string experiment = "default";       // runs go to <dir>/<experiment>/<run_id>
  std::string dir = "runs";                 // root of run directories
  std::string name;                         // run id; empty: a timestamp and a random suffix
  int64_t seed = 0;                         // seeds every random stream of a run
  bool deterministic = false;               // bitwise-reproducible runs, at some speed cost
  std::map<std::string, std::string> tags;  // free-form labels recorded in run.json

  template <class V>
  void visit(V& v) {
    v("experiment", experiment, "experiment name: runs go to <run.dir>/<experiment>/<run_id>");
    v("dir", dir, "root directory of run directories");
    v("name", name, "run id; empty means a timestamp plus a random suffix");
    v("seed", seed, "seed of every random stream of a run");
    v("deterministic", deterministic,
      "bitwise-reproducible runs, at a cost in speed: one intra-op thread on the CPU; "
      "deterministic algorithms and a fixed cuBLAS workspace on CUDA");
    v("tags", tags, "free-form string labels recorded in run.json (add with +run.tags.NAME=VALUE)");
  }
};

struct KilnConfig {
  RunOptions run;
  core::LogOptions log;
  DataOptions data;
  transform::TransformOptions transform;
  ModelOptions model;
  OptimOptions optim;
  TrainOptions train;
  eval::EvalOptions eval;
  eval::DataDriftOptions drift;

  template <class V>
  void visit(V& v) {
    v("run", run, "where a run is written and how it is seeded");
    v("log", log, "logging on stderr");
    v("data", data, "the datasets a run trains and evaluates on, and batching");
    v("transform", transform, "feature transforms (docs/TRANSFORMS.md)");
    v("model", model, "the model (docs/TRAINING.md)");
    v("optim", optim, "optimizer, gradient clipping and learning-rate schedule");
    v("train", train, "steps, evaluation, early stopping, checkpoints, device");
    v("eval", eval, "evaluation: confidence intervals, threshold, gates (docs/EVAL.md)");
    v("drift", drift, "kiln drift: rules, thresholds and gates (docs/MONITORING.md)");
  }
};

// Resolves built-in defaults < each file in order < overrides, and checks the result
// (unknown keys, types, allowed values). Throws ConfigError (78), UsageError (64) for a
// malformed override, InputError (66) for a missing file.
KilnConfig resolve_kiln_config(const std::vector<std::string>& files,
                               const std::vector<std::string>& overrides);

}  // namespace kiln::trainer
