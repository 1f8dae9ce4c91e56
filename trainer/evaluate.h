// `kiln eval` as a library function: scores (a file, or a checkpoint scoring a dataset)
// evaluated against baselines with gates, into report.json (eval/report.h). No LibTorch in
// this header; none in evaluate() but where a checkpoint scores (checkpoint_scores).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "eval/report.h"
#include "eval/scores.h"
#include "trainer/options.h"

namespace kiln::trainer {

struct EvaluateOptions {
  std::string scores;    // a scores file (eval/scores.h), or
  std::string model;     // a checkpoint (or run: its model; or registry:REF) scoring `data`
  std::string registry;  // the registry of registry: references; "": $KILN_REGISTRY or registry/
  std::string data;      // the dataset `model` and checkpoint baselines score; its label is truth
  // prior (predicts the prevalence), PATH or NAME=PATH: a scores file, or a checkpoint (or
  // registry:REF) that scores `data`, on the same rows with the same labels (named by its
  // file stem, or a registry reference by its alias or version).
  std::vector<std::string> baselines;
  eval::ScoreColumns columns;                 // of scores files
  eval::ReportOptions report;                 // metrics, intervals, gates
  DeviceChoice device = DeviceChoice::kAuto;  // where checkpoints score
};

// report.json. Its provenance is the scores file's path and SHA-256, or the model's lineage
// (checkpoint, step, model type, Kiln version and revision, creation time, the data it was
// trained on, its parent, the data scored with its fingerprint, and for a registry model
// the version resolved: "registry" {ref, name, version, alias, at, path}); a registry
// baseline's source says its version ("fraud/v6 (champion at ...)"). Gates are evaluated but
// not enforced: eval::check_gates does that. UsageError when neither scores nor a model are
// given, a model or a checkpoint baseline has no data to score, or a baseline reference is
// malformed; DataError when a baseline does not score the same rows; the readers' errors
// for bad scores, checkpoints and datasets.
nlohmann::ordered_json evaluate(const EvaluateOptions& options);

// A checkpoint's (or run's model's, or registry version's) scores of options.data (its label
// and weight columns), named `name`, and its lineage when `lineage` is given. The one function
// here that needs LibTorch (evaluate_scores.cpp): in the LibTorch-free `kiln` it continues
// the command in kiln-torch (docs/ARCHITECTURE.md, "Two binaries").
eval::Scored checkpoint_scores(const std::string& name, const std::string& checkpoint,
                               const EvaluateOptions& options, nlohmann::ordered_json* lineage);

}  // namespace kiln::trainer
