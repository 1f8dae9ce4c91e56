// kiln eval --scores FILE | --model CKPT --data PATH [--baseline REF]... [--gate EXPR]... --out DIR
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/files.h"
#include "core/sha256.h"
#include "eval/report.h"
#include "eval/scores.h"
#include "trainer/cli/commands.h"
#include "trainer/model_io.h"
#include "trainer/scoring.h"

namespace kiln::cli {
namespace {

struct EvalArgs {
  std::string scores;
  std::string model;
  std::string data;
  std::vector<std::string> baselines;
  std::vector<std::string> gates;
  std::string out;
  eval::ScoreColumns columns;
  bool json = false;
};

eval::Scored load(const std::string& name, const std::string& path,
                  const eval::ScoreColumns& columns) {
  eval::Scores s = eval::read_scores(path, columns);
  eval::Scored out{name, path, {}};
  out.rows.add(s.scores.data(), s.labels.data(), s.weights.empty() ? nullptr : s.weights.data(),
               s.rows(), path);
  return out;
}

bool is_checkpoint(const std::string& path) {
  namespace fs = std::filesystem;
  return fs::exists(fs::path(path) / "MANIFEST.json") ||
         fs::exists(fs::path(path) / "checkpoints" / "latest");
}

// A checkpoint's scores on a dataset (its label and weight columns), and its lineage.
eval::Scored score_with(const std::string& name, const std::string& checkpoint,
                        const std::string& data, nlohmann::ordered_json* lineage) {
  const torch::Device device = trainer::choose_device();
  trainer::CheckpointModel m = trainer::load_checkpoint_model(checkpoint, device);
  auto dataset = data::Dataset::open(data);
  const kernels::CompiledPlan plan = kernels::compile(m.plan, dataset->schema(), dataset->path());
  eval::Scored out{
      name, m.checkpoint.path,
      trainer::score_labelled(*m.model, plan, dataset, device, {65536, 0, m.logit_shift})};
  if (lineage != nullptr) {
    const auto& manifest = m.checkpoint.manifest;
    *lineage = {{"checkpoint", m.checkpoint.path},
                {"step", m.checkpoint.step},
                {"model", m.config.model.type},
                {"kiln_version", manifest.value("kiln_version", "")},
                {"git_revision", manifest.value("git_revision", "")},
                {"created", manifest.value("created", "")},
                {"trained_on", manifest.value("data_fingerprint", "")},
                {"parent", manifest.value("parent", nlohmann::json(nullptr))},
                {"data", data},
                {"data_fingerprint", dataset->fingerprint()}};
  }
  return out;
}

// A baseline reference: `prior`, a scores file or a checkpoint `PATH` (named by its file
// stem), or `NAME=PATH`. A checkpoint scores `data`.
eval::Scored baseline(const std::string& ref, const eval::Scored& model,
                      const eval::ScoreColumns& columns, const std::string& data) {
  if (ref == "prior") return eval::prior_baseline(model.rows);
  std::size_t eq = ref.find('=');
  std::string name =
      eq == std::string::npos ? std::filesystem::path(ref).stem().string() : ref.substr(0, eq);
  std::string path = eq == std::string::npos ? ref : ref.substr(eq + 1);
  KILN_CHECK(!name.empty() && !path.empty(), UsageError, "--baseline '", ref,
             "': expected prior, PATH or NAME=PATH");
  if (is_checkpoint(path))
    KILN_CHECK(!data.empty(), UsageError, "--baseline '", ref,
               "' is a checkpoint: give the rows to score with --data");
  eval::Scored b =
      is_checkpoint(path) ? score_with(name, path, data, nullptr) : load(name, path, columns);
  KILN_CHECK(b.rows.rows() == model.rows.rows() && b.rows.labels() == model.rows.labels(),
             DataError, "baseline '", path,
             "' does not score the same rows with the same labels as '", model.source, "' (",
             b.rows.rows(), " vs ", model.rows.rows(), " rows)");
  return b;
}

nlohmann::ordered_json provenance(const std::string& path) {
  nlohmann::ordered_json p{{"scores", path}};
  if (std::filesystem::is_regular_file(path)) p["scores_sha256"] = core::sha256_file(path);
  return p;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto config = std::make_shared<ConfigArgs>();
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Evaluate scores against labels: exact metrics with bootstrap confidence intervals, "
      "comparisons with baselines (DeLong for AUROC, paired bootstrap for the rest), gates. "
      "Writes report.json, report.md and report.html (self-contained) to --out; exits 3 when "
      "a gate fails, listing every failing gate. See docs/EVAL.md.");
  auto* scores = cmd->add_option("--scores", a->scores,
                                 "scores file: CSV with a header (label and score columns), or a "
                                 "Kiln dataset / shard with a label column and a numeric score "
                                 "column");
  auto* model =
      cmd->add_option("--model", a->model,
                      "a checkpoint (or run directory: its best checkpoint) to score --data with; "
                      "instead of --scores");
  scores->excludes(model);
  cmd->add_option("--data", a->data,
                  "the dataset --model (and checkpoint baselines) score; its label column is the "
                  "truth");
  cmd->add_option("--baseline", a->baselines,
                  "a baseline on the same rows: prior (predicts the prevalence), PATH or NAME=PATH "
                  "(a scores file, or a checkpoint that scores --data); repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--gate", a->gates,
                  "a gate such as 'auroc >= 0.80' or 'auroc >= baseline.auroc - 0.002' (added to "
                  "eval.gates); repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--out", a->out, "directory for report.json, report.md and report.html")
      ->required();
  cmd->add_option("--label-column", a->columns.label, "CSV: the label column")
      ->capture_default_str();
  cmd->add_option("--score-column", a->columns.score, "the score column")->capture_default_str();
  cmd->add_option("--weight-column", a->columns.weight, "CSV: a sample-weight column");
  cmd->add_flag("--json", a->json, "print report.json on stdout");
  add_config_args(*cmd, *config);
  cmd->callback([a, config] {
    trainer::KilnConfig resolved = resolve(*config);
    eval::EvalOptions options = resolved.eval;
    options.gates.insert(options.gates.end(), a->gates.begin(), a->gates.end());
    eval::ReportOptions report_options =
        eval::report_options(options, static_cast<uint64_t>(resolved.run.seed));
    KILN_CHECK(!a->scores.empty() || !a->model.empty(), UsageError,
               "give the scores to evaluate: --scores FILE, or --model CKPT --data PATH");
    KILN_CHECK(a->model.empty() || !a->data.empty(), UsageError,
               "--model needs --data: the dataset to score");
    nlohmann::ordered_json lineage;
    eval::Scored model = a->model.empty() ? load("model", a->scores, a->columns)
                                          : score_with("model", a->model, a->data, &lineage);
    std::vector<eval::Scored> baselines;
    for (const auto& ref : a->baselines)
      baselines.push_back(baseline(ref, model, a->columns, a->data));
    nlohmann::ordered_json report = eval::evaluate(
        model, baselines, report_options,
        a->model.empty() ? provenance(a->scores) : nlohmann::ordered_json{{"model", lineage}});

    std::error_code ec;
    std::filesystem::create_directories(a->out, ec);
    KILN_CHECK(!ec, OutputError, "cannot create '", a->out, "': ", ec.message());
    const std::string dir = a->out + "/";
    core::atomic_write(dir + "report.json", report.dump(1) + "\n");
    core::atomic_write(dir + "report.md", eval::render_markdown(report));
    core::atomic_write(dir + "report.html", eval::render_html(report));
    if (a->json) {
      std::cout << report.dump(1) << "\n";
    } else {
      const auto& m = report["metrics"];
      auto show = [&](const char* name) {
        const auto& v = m[name];
        std::printf(
            "  %-9s %s", name,
            v["value"].is_null() ? "n/a" : std::to_string(v["value"].get<double>()).c_str());
        if (v.contains("ci_low"))
          std::printf("  [%.4f, %.4f]", v["ci_low"].get<double>(), v["ci_high"].get<double>());
        std::printf("\n");
      };
      std::printf("%lld rows, prevalence %.4f\n",
                  static_cast<long long>(report["data"]["rows"].get<int64_t>()),
                  report["data"]["prevalence"].get<double>());
      for (const char* name : {"auroc", "ap", "log_loss", "brier", "ece"})
        show(name);
      for (const auto& b : report["baselines"]) {
        const auto& c = b["comparison"]["auroc"];
        std::printf("  vs %s: auroc delta %+.4f (p %.3g, %s)\n",
                    b["name"].get<std::string>().c_str(), c["delta"].get<double>(),
                    c["p_value"].is_null() ? NAN : c["p_value"].get<double>(),
                    c["test"].get<std::string>().c_str());
      }
      for (const auto& g : report["gates"])
        std::printf("  gate %-40s %s\n", g["gate"].get<std::string>().c_str(),
                    g["passed"].get<bool>() ? "pass" : "FAIL");
      std::printf("report: %sreport.html\n", dir.c_str());
    }
    std::string failed;
    int failures = 0;
    for (const auto& g : report["gates"]) {
      if (g["passed"].get<bool>()) continue;
      ++failures;
      failed += detail::concat(
          failures > 1 ? "; " : "", "'", g["gate"].get<std::string>(), "' (",
          g["left"].is_null() ? std::string("n/a") : std::to_string(g["left"].get<double>()),
          " vs ",
          g["right"].is_null() ? std::string("n/a") : std::to_string(g["right"].get<double>()),
          ")");
    }
    KILN_CHECK(failures == 0, GateFailedError, failures, " gate(s) failed: ", failed);
  });
}

}  // namespace kiln::cli
