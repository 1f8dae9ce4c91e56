// kiln fit | predict | checkpoint ls|verify
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/errors.h"
#include "core/files.h"
#include "data/dataset.h"
#include "data/shard.h"
#include "trainer/checkpoint.h"
#include "trainer/cli/commands.h"
#include "trainer/fit.h"
#include "trainer/model_io.h"
#include "trainer/scoring.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

void add_fit(CLI::App& app) {
  auto args = std::make_shared<ConfigArgs>();
  auto resume = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* fit = app.add_subcommand(
      "fit",
      "Train a model as the config says (sections data, transform, model, optim, train; "
      "docs/TRAINING.md) and write a run directory <run.dir>/<run.experiment>/<run_id> with "
      "checkpoints. SIGTERM or SIGUSR1: checkpoint at the next step, exit 75; resume with "
      "--resume auto (and the same run.name) or --resume PATH.");
  add_config_args(*fit, *args);
  fit->add_option("--resume", *resume,
                  "auto: continue run.name's run from its newest checkpoint that verifies (start "
                  "afresh when it has none); PATH: continue from that checkpoint or run directory");
  fit->add_flag("--json", *as_json, "print result.json on stdout");
  fit->callback([args, resume, as_json] {
    trainer::KilnConfig config = resolve(*args);
    KILN_CHECK(*resume != "auto" || !config.run.name.empty(), UsageError,
               "--resume auto needs run.name, to find the run to continue");
    trainer::FitArgs fit_args{core::schema::to_yaml_text(config), command_line(), *resume};
    trainer::FitResult result = trainer::fit(config, fit_args);
    if (*as_json) {
      std::cout << result.result.dump(2) << "\n";
      return;
    }
    std::printf("trained %lld steps; best val/%s %.6f at step %lld: %s\nrun: %s\n",
                static_cast<long long>(result.steps), config.train.metric.c_str(),
                result.best_value, static_cast<long long>(result.best_step),
                result.best_checkpoint.c_str(), result.run_dir.c_str());
  });
}

void add_predict(CLI::App& app) {
  auto model_path = std::make_shared<std::string>();
  auto data_path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto batch = std::make_shared<int64_t>(65536);
  auto threads = std::make_shared<int>(0);
  CLI::App* predict = app.add_subcommand(
      "predict",
      "Score a dataset with a checkpoint (its own transform plan applied) and write one row per "
      "input row, in order: id (when the data has one), label (when it has one) and score (the "
      "probability). FILE.csv writes CSV; anything else a Kiln shard file that `kiln eval "
      "--scores` and `kiln data inspect` read.");
  predict
      ->add_option("--model", *model_path, "checkpoint, or a run directory (its best checkpoint)")
      ->required();
  predict->add_option("--data", *data_path, "dataset to score")->required();
  predict->add_option("--out", *out, "scores file to write (atomically)")->required();
  predict->add_option("--batch-rows", *batch, "rows per batch")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->capture_default_str();
  predict->add_option("--threads", *threads, "threads; 0: one per core")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  predict->callback([model_path, data_path, out, batch, threads] {
    const torch::Device device = trainer::choose_device();
    trainer::CheckpointModel m = trainer::load_checkpoint_model(*model_path, device);
    auto dataset = data::Dataset::open(*data_path);
    const kernels::CompiledPlan compiled =
        kernels::compile(m.plan, dataset->schema(), dataset->path());
    const int id = dataset->schema().find_role(data::Role::kId);
    const int label = dataset->schema().find_role(data::Role::kLabel);
    trainer::ScoringOptions options{*batch, *threads, m.logit_shift};
    const bool csv = fs::path(*out).extension() == ".csv";
    std::string text = "";
    std::unique_ptr<data::ShardWriter> shard;
    if (csv) {
      text = std::string(id >= 0 ? "id," : "") + (label >= 0 ? "label," : "") + "score\n";
    } else {
      data::Schema schema;
      if (id >= 0) schema.columns.push_back({"id", data::Role::kId, 0});
      if (label >= 0) schema.columns.push_back({"label", data::Role::kLabel, 0});
      schema.columns.push_back({"score", data::Role::kNumeric, 0});
      shard = std::make_unique<data::ShardWriter>(*out, schema, data::ShardWriteOptions{});
    }
    int64_t rows = 0;
    std::vector<float> scores32;
    trainer::score_dataset(
        *m.model, compiled, dataset, device, options,
        [&](const data::Batch& b, const double* scores) {
          const int64_t* ids = id >= 0 ? b.column<int64_t>(static_cast<std::size_t>(id)) : nullptr;
          const float* labels =
              label >= 0 ? b.column<float>(static_cast<std::size_t>(label)) : nullptr;
          rows += b.rows;
          if (csv) {
            char line[96];
            for (int64_t r = 0; r < b.rows; ++r) {
              int n = 0;
              if (ids)
                n += std::snprintf(line + n, sizeof line - n, "%lld,",
                                   static_cast<long long>(ids[r]));
              if (labels) n += std::snprintf(line + n, sizeof line - n, "%.9g,", labels[r]);
              std::snprintf(line + n, sizeof line - n, "%.17g\n", scores[r]);
              text += line;
            }
            return;
          }
          scores32.assign(scores, scores + b.rows);
          std::vector<const void*> columns;
          if (ids) columns.push_back(ids);
          if (labels) columns.push_back(labels);
          columns.push_back(scores32.data());
          shard->append(b.rows, columns);
        });
    if (csv) {
      core::atomic_write(*out, text);
    } else {
      shard->finish();
    }
    std::printf("scored %lld rows with %s: %s\n", static_cast<long long>(rows),
                m.checkpoint.path.c_str(), out->c_str());
  });
}

void add_checkpoint(CLI::App& app) {
  CLI::App* checkpoint = app.add_subcommand("checkpoint", "List and verify checkpoints");
  checkpoint->require_subcommand(1);
  auto ls_path = std::make_shared<std::string>();
  auto ls_json = std::make_shared<bool>(false);
  CLI::App* ls = checkpoint->add_subcommand(
      "ls", "List a run's checkpoints (step, size, metrics; which are latest and best)");
  ls->add_option("PATH", *ls_path, "run directory or its checkpoints/ directory")->required();
  ls->add_flag("--json", *ls_json, "print the list as JSON");
  ls->callback([ls_path, ls_json] {
    const fs::path dir = trainer::checkpoints_of(*ls_path);
    KILN_CHECK(fs::is_directory(dir), InputError, "no checkpoints directory at '", *ls_path, "'");
    auto latest = trainer::read_pointer(dir.string(), "latest").value_or("");
    auto best = trainer::read_pointer(dir.string(), "best").value_or("");
    json list = json::array();
    for (const auto& path : trainer::list_checkpoints(dir.string())) {
      json entry = {{"path", path}, {"latest", path == latest}, {"best", path == best}};
      uintmax_t bytes = 0;
      for (const auto& f : fs::directory_iterator(path))
        bytes += f.is_regular_file() ? f.file_size() : 0;
      entry["bytes"] = bytes;
      json manifest = json::parse(std::ifstream(fs::path(path) / "MANIFEST.json"), nullptr, false);
      entry["step"] = manifest.is_object() ? manifest.value("step", json(nullptr)) : json(nullptr);
      entry["metrics"] =
          manifest.is_object() ? manifest.value("metrics", json::object()) : json::object();
      list.push_back(entry);
    }
    if (*ls_json) {
      std::cout << list.dump(2) << "\n";
      return;
    }
    if (list.empty()) std::printf("no checkpoints in %s\n", dir.string().c_str());
    for (const auto& e : list) {
      std::string marks = std::string(e["latest"].get<bool>() ? " latest" : "") +
                          (e["best"].get<bool>() ? " best" : "");
      char auroc[48] = "";
      if (e["metrics"].contains("val/auroc"))
        std::snprintf(auroc, sizeof auroc, " val/auroc %.4f",
                      e["metrics"]["val/auroc"].get<double>());
      std::printf("%s  %9.1f KB%s%s\n", e["path"].get<std::string>().c_str(),
                  static_cast<double>(e["bytes"].get<uintmax_t>()) / 1024.0, auroc, marks.c_str());
    }
  });
  auto verify_path = std::make_shared<std::string>();
  CLI::App* verify = checkpoint->add_subcommand(
      "verify",
      "Check a checkpoint against its MANIFEST.json (every file's size and SHA-256, the "
      "safetensors files' structure); exit 65 naming the first problem");
  verify->add_option("PATH", *verify_path, "checkpoint, run directory or checkpoints/ directory")
      ->required();
  verify->callback([verify_path] {
    trainer::VerifiedCheckpoint c = trainer::verify_checkpoint(*verify_path);
    std::printf("ok: %s (step %lld, %zu files)\n", c.path.c_str(), static_cast<long long>(c.step),
                c.manifest["files"].size());
  });
}

}  // namespace

void add_fit_commands(CLI::App& app) {
  add_fit(app);
  add_predict(app);
  add_checkpoint(app);
}

}  // namespace kiln::cli
