// kiln eval --scores FILE | --model CKPT --data PATH [--baseline REF]... [--gate EXPR]... --out DIR
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "eval/report.h"
#include "trainer/cli/commands.h"
#include "trainer/evaluate.h"

namespace kiln::cli {
namespace {

struct EvalArgs {
  trainer::EvaluateOptions options;
  std::vector<std::string> gates;
  std::string out;
  bool json = false;
};

// The report in a few lines: metrics with intervals, comparisons, gates.
void print_summary(const nlohmann::ordered_json& report, const std::string& out) {
  const auto& m = report["metrics"];
  auto show = [&](const char* name) {
    const auto& v = m[name];
    std::printf("  %-9s %s", name,
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
    std::printf("  vs %s: auroc delta %+.4f (p %.3g, %s)\n", b["name"].get<std::string>().c_str(),
                c["delta"].get<double>(), c["p_value"].is_null() ? NAN : c["p_value"].get<double>(),
                c["test"].get<std::string>().c_str());
  }
  for (const auto& g : report["gates"])
    std::printf("  gate %-40s %s\n", g["gate"].get<std::string>().c_str(),
                g["passed"].get<bool>() ? "pass" : "FAIL");
  std::printf("report: %s/report.html\n", out.c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto config = std::make_shared<ConfigArgs>();
  trainer::EvaluateOptions& o = a->options;
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "Evaluate scores against labels: exact metrics with bootstrap confidence intervals, "
      "comparisons with baselines (DeLong for AUROC, paired bootstrap for the rest), gates. "
      "Writes report.json, report.md and report.html (self-contained) to --out; exits 3 when "
      "a gate fails, listing every failing gate. See docs/EVAL.md.");
  auto* scores = cmd->add_option("--scores", o.scores,
                                 "scores file: CSV with a header (label and score columns), or a "
                                 "Kiln dataset / shard with a label column and a numeric score "
                                 "column");
  auto* model = cmd->add_option("--model", o.model,
                                "a checkpoint (or run directory: its model, the refit or best "
                                "checkpoint; or registry:NAME@ALIAS "
                                "or registry:NAME/vN) to score --data with; instead of --scores");
  cmd->add_option("--registry", o.registry,
                  "the registry of registry: models and baselines (default: $KILN_REGISTRY, "
                  "else ./registry)");
  scores->excludes(model);
  cmd->add_option("--data", o.data,
                  "the dataset --model (and checkpoint baselines) score; its label column is the "
                  "truth");
  cmd->add_option("--baseline", o.baselines,
                  "a baseline on the same rows: prior (predicts the prevalence), PATH or NAME=PATH "
                  "(a scores file, or a checkpoint or registry:REF that scores --data); "
                  "repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--gate", a->gates,
                  "a gate such as 'auroc >= 0.80' or 'auroc >= baseline.auroc - 0.002' (added to "
                  "eval.gates); repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--out", a->out, "directory for report.json, report.md and report.html")
      ->required();
  cmd->add_option("--label-column", o.columns.label, "CSV: the label column")
      ->capture_default_str();
  cmd->add_option("--score-column", o.columns.score, "the score column")->capture_default_str();
  cmd->add_option("--weight-column", o.columns.weight, "CSV: a sample-weight column");
  cmd->add_flag("--json", a->json, "print report.json on stdout");
  add_config_args(*cmd, *config);
  cmd->callback([a, config] {
    trainer::KilnConfig resolved = resolve(*config);
    eval::EvalOptions options = resolved.eval;
    options.gates.insert(options.gates.end(), a->gates.begin(), a->gates.end());
    a->options.report = eval::report_options(options, static_cast<uint64_t>(resolved.run.seed));
    const nlohmann::ordered_json report = trainer::evaluate(a->options);
    const std::string text = eval::write_report(a->out, report);
    if (a->json)
      std::cout << text;
    else
      print_summary(report, a->out);
    eval::check_gates(report);
  });
}

}  // namespace kiln::cli
