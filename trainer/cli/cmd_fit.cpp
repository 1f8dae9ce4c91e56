// kiln fit | predict | checkpoint ls|verify | report
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/config.h"
#include "core/errors.h"
#include "eval/run_report.h"
#include "trainer/cli/commands.h"
#include "trainer/fit.h"
#include "trainer/predict.h"

namespace kiln::cli {
namespace {

void add_fit(CLI::App& app) {
  auto args = std::make_shared<ConfigArgs>();
  auto resume = std::make_shared<std::string>();
  auto init = std::make_shared<std::string>();
  auto registry = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto metrics_file = std::make_shared<std::string>();
  CLI::App* fit = app.add_subcommand(
      "fit",
      "Train a model as the config says (sections data, transform, model, optim, train; "
      "docs/TRAINING.md) and write a run directory <run.dir>/<run.experiment>/<run_id> with "
      "checkpoints, a TensorBoard event file (log.tensorboard) and, at the end, reports/run.html. "
      "SIGTERM or SIGUSR1: checkpoint at the next step, exit 75; resume with "
      "--resume auto (and the same run.name) or --resume PATH. Started several times by "
      "torchrun, srun or with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, the processes train "
      "one model data-parallel (train.backend, data.batch_size per rank; docs/DISTRIBUTED.md).");
  add_config_args(*fit, *args);
  fit->add_option("--resume", *resume,
                  "auto: continue run.name's run from its newest checkpoint that verifies (start "
                  "afresh when it has none); PATH: continue from that checkpoint or run directory; "
                  "registry:NAME@ALIAS or registry:NAME/vN: continue that registered version in "
                  "a new run (run.json records it; registering the new run's model records it "
                  "as the parent)");
  fit->add_option("--init", *init,
                  "fine-tune: start a new run from this model's weights (a checkpoint, a run "
                  "directory's model, registry:NAME@ALIAS or registry:NAME/vN) on this config's "
                  "data, with its transform plan and model.* keys and a new optimizer and "
                  "schedule (run.json records it; registering the new run's model records a "
                  "registry version as the parent). With --resume auto, a stopped fine-tuning "
                  "run continues");
  fit->add_option("--registry", *registry,
                  "the registry of a registry: --resume or --init (default: $KILN_REGISTRY, "
                  "else ./registry)");
  fit->add_option("--metrics-file", *metrics_file,
                  "keep this node_exporter textfile (PATH.prom) up to date with the run's "
                  "kiln_fit_* metrics; ranks after 0 write PATH.rank<r>.prom (the same as "
                  "log.prometheus_textfile; docs/TRAINING.md, Watching a run)");
  fit->add_flag("--json", *as_json, "print result.json on stdout");
  fit->callback([args, resume, init, registry, as_json, metrics_file] {
    trainer::KilnConfig config = resolve(*args);
    if (!metrics_file->empty()) config.log.prometheus_textfile = *metrics_file;
    KILN_CHECK(*resume != "auto" || !config.run.name.empty(), UsageError,
               "--resume auto needs run.name, to find the run to continue");
    trainer::FitArgs fit_args{command_line(), *resume, *registry, *init};
    trainer::FitResult result = trainer::fit(config, fit_args);
    if (*as_json) {
      std::cout << result.result.dump(2) << "\n";
      return;
    }
    const bool refitted = result.result.contains("selected_checkpoint");
    std::printf("trained %lld steps; best val/%s %.6f at step %lld%s: %s\nrun: %s\n",
                static_cast<long long>(result.steps),
                trainer::metric_name(config.train.metric).c_str(), result.best_value,
                static_cast<long long>(result.best_step),
                refitted ? ", refitted on train and valid" : "", result.best_checkpoint.c_str(),
                result.run_dir.c_str());
  });
}

void add_predict(CLI::App& app) {
  auto o = std::make_shared<trainer::PredictOptions>();
  CLI::App* predict = app.add_subcommand(
      "predict",
      "Score a dataset with a checkpoint (its own transform plan applied) and write one row per "
      "input row, in order: id (when the data has one), label (when it has one) and score (the "
      "probability). FILE.csv writes CSV; anything else a Kiln shard file that `kiln eval "
      "--scores` and `kiln data inspect` read.");
  predict
      ->add_option("--model", o->model,
                   "checkpoint, a run directory (its model: the refit or best checkpoint), or "
                   "registry:NAME@ALIAS "
                   "or registry:NAME/vN")
      ->required();
  predict->add_option("--registry", o->registry,
                      "the registry of a registry: model (default: $KILN_REGISTRY, else "
                      "./registry)");
  predict->add_option("--data", o->data, "dataset to score")->required();
  predict->add_option("--out", o->out, "scores file to write (atomically)")->required();
  predict->add_option("--batch-rows", o->batch_rows, "rows per batch")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->capture_default_str();
  predict->add_option("--threads", o->threads, "threads; 0: one per core")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  predict->callback([o] {
    const trainer::PredictResult result = trainer::predict(*o);
    std::printf("scored %lld rows with %s: %s\n", static_cast<long long>(result.rows),
                result.model.c_str(), o->out.c_str());
  });
}

void add_checkpoint(CLI::App& app) {
  CLI::App* checkpoint = app.add_subcommand("checkpoint", "List and verify checkpoints");
  checkpoint->require_subcommand(1);
  auto ls_path = std::make_shared<std::string>();
  auto ls_json = std::make_shared<bool>(false);
  CLI::App* ls = checkpoint->add_subcommand(
      "ls",
      "List a run's checkpoints (step, size, metrics; which are latest and best, and which is "
      "the run's model: best, or the refit's after train.refit)");
  ls->add_option("PATH", *ls_path, "run directory or its checkpoints/ directory")->required();
  ls->add_flag("--json", *ls_json, "print the list as JSON");
  ls->callback([ls_path, ls_json] {
    const std::vector<core::CheckpointInfo> list = core::checkpoint_infos(*ls_path);
    if (*ls_json) {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& c : list)
        out.push_back(c.to_json());
      std::cout << out.dump(2) << "\n";
      return;
    }
    if (list.empty()) std::printf("no checkpoints in %s\n", core::checkpoints_of(*ls_path).c_str());
    for (const auto& c : list) {
      char auroc[48] = "";
      if (c.metrics.contains("val/auroc") && c.metrics["val/auroc"].is_number())
        std::snprintf(auroc, sizeof auroc, " val/auroc %.4f", c.metrics["val/auroc"].get<double>());
      std::printf("%s  %9.1f KB%s%s%s%s\n", c.path.c_str(), static_cast<double>(c.bytes) / 1024.0,
                  auroc, c.latest ? " latest" : "", c.best ? " best" : "",
                  !c.model ? ""
                  : c.best ? " model"
                           : " model (refitted on train and valid)");
    }
  });
  auto verify_path = std::make_shared<std::string>();
  CLI::App* verify = checkpoint->add_subcommand(
      "verify",
      "Check a checkpoint against its MANIFEST.json (every file's size and SHA-256, the "
      "safetensors files' structure); for a run, each checkpoint that a reader loads: latest "
      "(resume), best and the run's model. Exit 65 naming the first problem");
  verify->add_option("PATH", *verify_path, "checkpoint, run directory or checkpoints/ directory")
      ->required();
  verify->callback([verify_path] {
    for (const auto& [roles, c] : core::verify_run_checkpoints(*verify_path))
      std::printf("ok: %s (step %lld, %zu files%s%s)\n", c.path.c_str(),
                  static_cast<long long>(c.step), c.manifest["files"].size(),
                  roles.empty() ? "" : "; ", roles.c_str());
  });
}

void add_report(CLI::App& app) {
  auto runs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  CLI::App* report = app.add_subcommand(
      "report",
      "Write a run's report: one self-contained HTML page with its training and validation "
      "curves (loss, each metric, learning rate, rows/s, waits), state, data fingerprints, "
      "checkpoints (the best marked), final evaluation and config. Several runs are overlaid "
      "for comparison. kiln fit writes it for every run as reports/run.html.");
  report->add_option("RUN", *runs, "run directories (a sweep's trials: SWEEP/trials/*)")
      ->required();
  report->add_option("--out", *out,
                     "the HTML file to write (default with one run: RUN/reports/run.html; "
                     "needed with several)");
  report->callback([runs, out] {
    KILN_CHECK(!out->empty() || runs->size() == 1, UsageError,
               "--out FILE is needed when comparing several runs");
    const std::string path =
        out->empty() ? (std::filesystem::path((*runs)[0]) / "reports" / "run.html").string() : *out;
    eval::write_run_report(*runs, path);
    std::printf("report of %zu run%s: %s\n", runs->size(), runs->size() == 1 ? "" : "s",
                path.c_str());
  });
}

}  // namespace

void add_fit_commands(CLI::App& app) {
  add_fit(app);
  add_report(app);
  add_predict(app);
  add_checkpoint(app);
}

}  // namespace kiln::cli
