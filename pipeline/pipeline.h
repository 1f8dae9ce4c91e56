// Pipelines (docs/PIPELINES.md): named steps from a data check to a promotion, each a child
// `kiln` process, cached by a key of everything it reads. No LibTorch: steps run in their own
// processes, so a crashing step cannot take the pipeline down.
//
// A pipeline file (YAML, checked like configs: unknown keys exit 78 naming file:line; relative
// paths are relative to the file):
//   registry: registry            # optional; else $KILN_REGISTRY, else ./registry
//   datasets: {train: data/fraud/train, valid: data/fraud/valid, test: data/fraud/oot}
//   steps:
//     check:    {kind: validate, datasets: [train, valid, test]}
//     train:    {kind: fit, config: configs/fraud_mlp.yaml, train: train, valid: valid,
//                after: [check]}
//     test:     {kind: evaluate, model: train, data: test,
//                baselines: ["registry:fraud@champion"], gates: ["auroc >= baseline.auroc"]}
//     register: {kind: register, model: train, name: fraud, alias: candidate, reports: [test]}
//     promote:  {kind: promote, version: register, to: champion, data: test, after: [test]}
// A step reads datasets by name and earlier steps' outputs by step name (`model`, `reports`,
// `version`); `after` lists steps that must have passed (an evaluate step whose gates failed
// has not: the steps after it are skipped, the ones that read its report still run).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/config_types.h"

namespace kiln::pipeline {

enum class StepKind { kValidate, kFit, kSweep, kEvaluate, kRegister, kPromote, kReport };
core::EnumNames<StepKind> enum_names(StepKind);

struct StepSpec {
  StepKind kind = StepKind::kFit;
  std::vector<std::string> after{};
  std::vector<std::string> datasets{};        // validate: the datasets checked
  std::string reference{};                    // validate: drift of its datasets against this
  std::string config{};                       // fit, sweep: a config file
  std::vector<std::string> overrides{};       // fit, sweep: key=value
  std::string init{};                         // fit: a model to fine-tune (kiln fit --init)
  std::string train{}, valid{};               // fit, sweep: datasets
  std::string space{};                        // sweep: a search space file
  int64_t trials = 8;                         // sweep
  int64_t workers = 1;                        // sweep: local worker processes
  std::string model{};                        // evaluate, register: a fit or sweep step
  std::string data{};                         // evaluate, promote: a dataset
  std::vector<std::string> baselines{};       // evaluate: as kiln eval --baseline
  std::vector<std::string> gates{};           // validate (drift), evaluate, promote
  std::string name{};                         // register: the registry's model name
  std::string alias{};                        // register: set to the new version
  std::vector<std::string> reports{};         // register: evaluate steps whose reports it attaches
  std::map<std::string, std::string> tags{};  // register
  std::string version{};                      // promote: a register step
  std::string to = "champion";                // promote: the alias to move
  std::vector<std::string> steps{};           // report: the steps it shows (default: all before)

  template <class V>
  void visit(V& v) {
    v("kind", kind, "validate, fit, sweep, evaluate, register, promote or report");
    v("after", after, "steps that must have passed before this one runs");
    v("datasets", datasets, "validate: the datasets to check (names from `datasets`)");
    v("reference", reference,
      "validate: a drift reference (checkpoint, registry:REF, profile or dataset)");
    v("config", config, "fit, sweep: a config file (sweep: the base config)");
    v("overrides", overrides, "fit, sweep: key=value overrides");
    v("init", init,
      "fit: a model to fine-tune, as kiln fit --init (registry:REF, a checkpoint or a run); "
      "an alias this pipeline sets that is not there yet: trained from scratch");
    v("train", train, "fit, sweep: the train dataset");
    v("valid", valid, "fit, sweep: the validation dataset");
    v("space", space, "sweep: the search space file (docs/SWEEPS.md)");
    v("trials", trials, "sweep: trials drawn (random sampler, ASHA)");
    v("workers", workers, "sweep: local worker processes");
    v("model", model, "evaluate, register: the fit or sweep step whose model it takes");
    v("data", data, "evaluate, promote: the labelled dataset scored");
    v("baselines", baselines, "evaluate: baselines as kiln eval --baseline");
    v("gates", gates, "validate: drift gates; evaluate, promote: eval gates");
    v("name", name, "register: the model's name in the registry");
    v("alias", alias, "register: the alias set to the new version");
    v("reports", reports, "register: evaluate steps whose reports are attached");
    v("tags", tags, "register: KEY: VALUE tags of the version");
    v("version", version, "promote: the register step whose version is promoted");
    v("to", to, "promote: the alias moved");
    v("steps", steps, "report: the steps it shows (default: every step before it)");
  }
};

struct PipelineFile {
  std::string registry{};
  std::map<std::string, std::string> datasets{};  // name -> dataset path
  std::map<std::string, StepSpec> steps{};

  template <class V>
  void visit(V& v) {
    v("registry", registry, "the registry directory (default: $KILN_REGISTRY, else ./registry)");
    v("datasets", datasets, "dataset names and their paths");
    v("steps", steps, "the steps by name");
  }
};

// A pipeline file read and checked: every step's fields for its kind, every dataset and
// step it names, and the graph. `order` is the steps in an order that runs each after what it
// reads (ties in the file's order).
struct Pipeline {
  std::string path;
  PipelineFile file;
  std::vector<std::string> order;
  std::map<std::string, std::vector<std::string>> inputs;  // step -> the steps it reads
};

// ConfigError (78) naming file:line for a bad key or value, an unknown kind, a field the
// kind does not take or one it needs, a dataset or step that is not there, a step of the
// wrong kind, or a cycle (its steps named); InputError (66) when the file is missing.
Pipeline read_pipeline(const std::string& path);

struct RunOptions {
  std::string file;
  std::string dir;                 // default: pipelines/<file's stem>
  std::string from;                // run this step and everything after it again
  std::vector<std::string> force;  // run these steps again
  bool dry_run = false;
  // Run only when this dataset (a name from the file's datasets, or a path) drifts from the
  // reference of the file's validate step: its gates (default `drift_share < 0.5`) fail.
  std::string when_drift;
  // "local" (child processes here) or "slurm" (each command a job: sbatch --wait, with
  // sbatch_args added, e.g. --partition=gpu or --gres=gpu:1).
  std::string executor = "local";
  std::vector<std::string> sbatch_args;
  std::string kiln;      // the kiln binary the steps run
  std::string registry;  // --registry: over the file's
  bool json = false;     // the steps' progress lines go to stderr (stdout is pipeline.json)
  // A node_exporter textfile kept up to date: the steps by state, the pipeline's state and
  // heartbeat (docs/PIPELINES.md); "": none.
  std::string metrics_file;
};

// Runs the pipeline (or with dry_run prints its plan): returns the exit code (0 every step
// passed or was cached, or when_drift found no drift; 3 a gate stopped it, else the failing
// step's code) and DIR/pipeline.json's contents. Steps print one line each as they start and
// end.
struct RunResult {
  int exit_code = 0;
  nlohmann::ordered_json record;
};
RunResult run_pipeline(const RunOptions& options);

}  // namespace kiln::pipeline
