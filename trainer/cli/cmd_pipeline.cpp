// kiln pipeline run (docs/PIPELINES.md)
#include <cstdio>
#include <iostream>
#include <memory>

#include "core/errors.h"
#include "pipeline/pipeline.h"
#include "trainer/cli/commands.h"

namespace kiln::cli {

void add_pipeline_command(CLI::App& app) {
  CLI::App* pipeline = app.add_subcommand(
      "pipeline",
      "Continuous training: run a pipeline file's steps (validate, fit, sweep, evaluate, "
      "register, promote, report), each a kiln child process, skipping every step whose key (its "
      "settings, "
      "data "
      "fingerprints, config bytes and the keys of the steps it reads) has a complete output");
  pipeline->require_subcommand(1);
  auto o = std::make_shared<pipeline::RunOptions>();
  CLI::App* run = pipeline->add_subcommand(
      "run",
      "Run a pipeline: cached steps are skipped, a killed run resumes with the same command. "
      "Exit 0: every step passed (or was cached); 3: a gate stopped it (the steps after it are "
      "skipped, the candidate stays registered); else the failing step's code. DIR/pipeline.json "
      "records every step's key, state, time, outputs and reason; DIR/report.html shows them.");
  run->add_option("file", o->file, "the pipeline file (YAML)")->required();
  run->add_option("--dir", o->dir, "where the steps' outputs go (default: pipelines/<file stem>)");
  run->add_option("--from", o->from, "run this step again, and every step that reads it");
  run->add_option("--force", o->force, "run this step again; repeatable");
  run->add_option("--registry", o->registry,
                  "the registry (default: the file's `registry`, else $KILN_REGISTRY, else "
                  "./registry)");
  run->add_option("--when-drift", o->when_drift,
                  "run only when this dataset (a name from the file's datasets, or a path) "
                  "drifts from the validate step's reference: its gates fail (default "
                  "'drift_share < 0.5'); else exit 0 saying nothing ran");
  run->add_option("--executor", o->executor,
                  "local (steps run here) or slurm (each step's commands as Slurm jobs: sbatch "
                  "--wait, output into the step's log)")
      ->check(CLI::IsMember({"local", "slurm"}))
      ->capture_default_str();
  run->add_option("--sbatch-arg", o->sbatch_args,
                  "an sbatch option for every step's job (e.g. --sbatch-arg=--partition=gpu); "
                  "repeatable")
      ->allow_extra_args(false);
  run->add_flag("--dry-run", o->dry_run, "print the plan (which steps are cached) and run nothing");
  run->add_option("--metrics-file", o->metrics_file,
                  "keep this node_exporter textfile (PATH.prom) up to date: the steps by state "
                  "(kiln_pipeline_steps), the pipeline's state and heartbeat (docs/PIPELINES.md)");
  run->add_flag("--json", o->json,
                "print pipeline.json on stdout at the end (the steps' lines go to stderr)");
  run->callback([o] {
    o->kiln = self_path();
    const pipeline::RunResult result = pipeline::run_pipeline(*o);
    if (o->json) std::cout << result.record.dump(1) << "\n";
    if (result.exit_code == 0) return;
    const int code = result.exit_code;
    const bool known = code == 3 || code == 4 || code == 5 || (code >= 64 && code <= 78);
    const auto& at = result.record[code == 3 ? "gated_by" : "stopped_at"];
    throw Error(static_cast<ExitCode>(known ? code : 1),
                "step '" + at.value("step", "") + "': " + at.value("reason", "") +
                    (code == 3 ? "" : " (exit " + std::to_string(code) + ")"));
  });
}

}  // namespace kiln::cli
