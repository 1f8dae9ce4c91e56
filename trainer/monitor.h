// kiln drift's model side (docs/MONITORING.md): a checkpoint, a run or a registry version as
// the reference of a drift check. The checkpoint holds the train split's profile
// (profile.json) and its model's validation scores' reference (scores.json); the model scores
// the current data, or a scores file gives its scores. No LibTorch in this header.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "data/dataset.h"
#include "data/profile.h"
#include "eval/data_drift.h"
#include "trainer/options.h"

namespace kiln::trainer {

// Whether a --reference names a model (a registry reference, a checkpoint or a run
// directory) rather than a profile file or a dataset.
bool names_a_model(const std::string& reference);

struct ModelReference {
  std::string checkpoint;  // the verified checkpoint's path
  std::string source;      // "fraud/v2 (champion at ...)" for a registry model, else the checkpoint
  data::Profile profile;   // the train split's
  eval::ScoreReference scores;
  data::Dictionaries dictionaries;  // its dictionaries.json (empty in an older checkpoint)
};

// The checkpoint `model` names (registry: resolved in `registry`), verified, with its
// profile.json and scores.json. DataError naming the checkpoint when it has neither (written
// by a Kiln before they were kept, or at a preemption: no evaluation, no scores.json).
ModelReference read_model_reference(const std::string& model, const std::string& registry);

struct CurrentScores {
  std::string scores;  // a scores file (CSV or dataset, eval/scores.h) for `data`'s rows; "":
                       // the model scores `data`
  DeviceChoice device = DeviceChoice::kAuto;
  int threads = 0;
};

// The current rows' scores: the model's of `data` in order (with `data`'s labels when it has
// them), or the scores file's, which must hold `data`'s rows (DataError naming both and
// their row counts otherwise).
eval::ModelScores current_scores(const ModelReference& reference,
                                 const std::shared_ptr<const data::Dataset>& data,
                                 const CurrentScores& options);

// The model's scores of `data` (current_scores without a scores file). The one function here
// that needs LibTorch (monitor_scores.cpp): in the LibTorch-free `kiln` it continues the
// command in kiln-torch (docs/ARCHITECTURE.md, "Two binaries").
eval::ModelScores model_scores(const ModelReference& reference,
                               const std::shared_ptr<const data::Dataset>& data,
                               const CurrentScores& options);

struct DriftOptions {
  std::string reference;  // a model (names_a_model), a profile.json or a dataset
  std::string registry;   // of a registry: reference
  std::string data, out;
  std::string scores;      // CurrentScores::scores
  std::string by, window;  // windows over time or order (eval::parse_window); "": none
  eval::DataDriftOptions drift;
  // Where the pass counts the numeric columns (kernels/grid_count.h) and the model scores
  // --data: auto is the GPU when there is one (the pass: with 10^8 numeric values or more);
  // cuda without one is a UsageError.
  DeviceChoice device = DeviceChoice::kAuto;
};

struct DriftResult {
  nlohmann::ordered_json report;  // report.json
  std::string report_text;        // report.json's text, as written
  eval::DataDrift drift;          // of all of --data
};

// kiln drift as a library function: the reference read (a model verified, a dataset
// profiled), the gates checked against it (ConfigError before the data is read), --data
// profiled through it in one pass (per window too), the model's side when the reference is
// one; report.json, report.md, report.html and the current data's profile.json written to
// `out`. Failed gates are in the report (eval::check_gates throws for them).
DriftResult check_drift(const DriftOptions& options);

}  // namespace kiln::trainer
