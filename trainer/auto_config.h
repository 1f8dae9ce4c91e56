// Training's `auto` values: chosen from the train split (its rows and columns) when a run
// starts, each with its reason, so that config.resolved.yaml, run.json and `kiln config show
// --data` say what `auto` became and why (docs/TRAINING.md, "Defaults"). A value the config
// gives is kept. No LibTorch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "trainer/config.h"

namespace kiln::trainer {

// What the choices depend on.
struct DataFacts {
  std::string path;     // for the reasons
  int64_t rows = 0;     // train rows
  int64_t numeric = 0;  // feature columns by role
  int64_t categorical = 0;
  int world_size = 1;        // processes of a data-parallel job, each with data.batch_size rows
  bool fine_tuning = false;  // the run starts from a model's weights (kiln fit --init)
};
DataFacts data_facts(const data::Dataset& train);

struct AutoChoice {
  std::string key;    // e.g. "data.batch_size"
  std::string value;  // as YAML would write it
  std::string why;
};

// Fills every `auto` of `config` for training on data with these facts and returns the
// choices, in key order. ConfigError when a given value does not fit the chosen ones
// (train.stop_at beyond the steps).
std::vector<AutoChoice> resolve_auto(KilnConfig& config, const DataFacts& train);

// A checkpoint's config.yaml (`dir`/config.yaml): its values, and for a key it leaves `auto`
// (a checkpoint written before that key existed) what the model was built with then.
KilnConfig checkpoint_config(const std::string& dir);

// On resume: each `auto` of `config` takes the value the run chose when it started (from
// `saved`, its checkpoint's config), so that a resumed run is the run it continues; returns
// those choices. resolve_auto then fills any that are left.
std::vector<AutoChoice> adopt_run_autos(KilnConfig& config, const KilnConfig& saved);

// The config as YAML, then a comment block with the choices and their reasons.
std::string resolved_yaml(const KilnConfig& config, const std::vector<AutoChoice>& choices,
                          const DataFacts& train);

}  // namespace kiln::trainer
