// The start of a fine-tuning run (`kiln fit --init MODEL`, docs/TRAINING.md#fine-tuning):
// the model it starts from, the check that the config trains that model, and a resumed
// run's own start. LibTorch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "trainer/options.h"
#include "trainer/run_dir.h"
#include "transform/plan.h"

namespace kiln::trainer {

// The model a fine-tuning run starts from (--init): its checkpoint, transform plan and
// model.* keys, and what run.json records of it.
struct Init {
  std::string checkpoint;
  transform::FittedPlan plan;
  data::Dictionaries dictionaries;  // its dictionaries.json (empty in an older checkpoint)
  ModelOptions model;
  nlohmann::ordered_json record;  // {checkpoint, registry (a registry: reference's
                                  // resolution, or null)}
};

// --init's model: a checkpoint, a run's model or a registry version, verified.
Init read_init(const std::string& text, const std::string& registry_flag);

// A resumed fine-tuning run goes on from the model it started from (its run.json's
// initialized_from), wherever --init's reference points now (the alias may have moved).
void keep_started_init(const RunDirectory& run, Init& init);

// --init fine-tunes the checkpoint's model as it is: a model.* key this config sets to
// another value than the checkpoint's (and than its default) is a ConfigError naming both.
void check_init_model(const ModelOptions& given, const Init& init);

}  // namespace kiln::trainer
