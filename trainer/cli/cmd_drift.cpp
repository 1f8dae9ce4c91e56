// kiln drift --reference CKPT|RUN|registry:REF|PROFILE|DATASET --data PATH --out DIR
// [--scores FILE] [--by COLUMN --window SIZE] [--gate EXPR]... [--json] (docs/MONITORING.md):
// parses and prints; trainer::check_drift does the work.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eval/data_drift.h"
#include "eval/report.h"
#include "trainer/cli/commands.h"
#include "trainer/monitor.h"

namespace kiln::cli {

void add_drift_command(CLI::App& app) {
  struct Args {
    trainer::DriftOptions o;
    std::optional<double> share_threshold;
    std::vector<std::string> gates;
    std::string device = "auto";
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "drift",
      "Check a dataset for drift against a model (a checkpoint, run or registry:NAME@ALIAS: "
      "the train split's profile and the validation scores it holds), a profile (kiln data "
      "profile) or a dataset: one streaming pass over --data; per column PSI and "
      "Jensen-Shannon on the reference's "
      "bins, Kolmogorov-Smirnov and Wasserstein-1 from the quantile sketches, chi-square on "
      "categories, missing rates; a verdict per column by Evidently's default rules and the "
      "dataset's share of drifted columns; with a model, the drift of its scores and its "
      "AUROC estimated without labels (CBPE). Writes report.json, report.md, report.html and the "
      "current data's profile.json to --out; exits 3 when a --gate fails. See "
      "docs/MONITORING.md.");
  cmd->add_option("--reference", a->o.reference,
                  "a checkpoint, run or registry:NAME@ALIAS|/vN; a profile.json; or a dataset to "
                  "profile")
      ->required();
  cmd->add_option("--data", a->o.data, "the dataset to check")->required();
  cmd->add_option("--out", a->o.out, "directory for report.json and profile.json")->required();
  cmd->add_option("--share-threshold", a->share_threshold,
                  "the dataset drifts when at least this share of its columns drifts (sets "
                  "drift.share_threshold, default 0.5)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--scores", a->o.scores,
                  "the model's scores of --data's rows, in order (CSV or dataset with a score "
                  "column, as kiln predict writes) instead of scoring them with the model");
  cmd->add_option("--registry", a->o.registry,
                  "registry of a registry: reference (default $KILN_REGISTRY, else registry/)");
  cmd->add_option("--gate", a->gates,
                  "a gate, e.g. 'drift_share < 0.3' or 'psi.amount < 0.2' (added to drift.gates; "
                  "repeatable; names in docs/MONITORING.md); a failed gate exits 3")
      ->allow_extra_args(false);
  cmd->add_flag("--json", a->json, "print report.json on stdout");
  cmd->add_option("--by", a->o.by,
                  "with --window: the time (or order) column whose windows to check one by one");
  cmd->add_option("--window", a->o.window,
                  "check every window as well: a duration of the --by time column (30m, 6h, 1d, "
                  "1w: UTC-aligned) or a row count (10000); gates apply to each window too");
  cmd->add_option("--device", a->device,
                  "where the pass counts the numeric columns and the model scores --data: auto "
                  "(the GPU when there is one; the pass with 10^8 numeric values or more, and "
                  "the CPU's when the GPU's fails), cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  auto config = std::make_shared<ConfigArgs>();
  add_config_args(*cmd, *config);
  cmd->callback([a, config] {
    a->o.drift = resolve(*config).drift;  // the config's drift section: rules, thresholds
    if (a->share_threshold) a->o.drift.share_threshold = *a->share_threshold;
    a->o.drift.gates.insert(a->o.drift.gates.end(), a->gates.begin(), a->gates.end());
    a->o.device = a->device == "cpu"    ? trainer::DeviceChoice::kCpu
                  : a->device == "cuda" ? trainer::DeviceChoice::kCuda
                                        : trainer::DeviceChoice::kAuto;
    const trainer::DriftResult result = trainer::check_drift(a->o);
    const eval::DataDrift& drift = result.drift;
    const nlohmann::ordered_json& report = result.report;
    if (a->json) {
      std::cout << result.report_text;
      eval::check_gates(report);
      return;
    }
    std::printf("%lld of %lld columns drifted (share %.2f): dataset drift %s\n",
                static_cast<long long>(drift.drifted), static_cast<long long>(drift.features),
                drift.share, drift.dataset_drifted ? "YES" : "no");
    for (const auto& c : drift.columns)
      std::printf("  %-24s %-14s %-9.4g %s  psi %.4f\n", c.name.c_str(), c.method.c_str(), c.score,
                  c.drifted ? "DRIFT" : "ok   ", c.psi);
    if (drift.model) {
      const auto& m = *drift.model;
      std::printf("  %-24s %-14s %-9.4g %s  psi %.4f\n", "prediction", m.prediction.method.c_str(),
                  m.prediction.score, m.prediction.drifted ? "DRIFT" : "ok   ", m.prediction.psi);
      std::printf("estimated AUROC %.4f without labels (validation %.4f", m.estimated_auroc,
                  m.reference_auroc);
      if (!std::isnan(m.realized_auroc)) std::printf(", realized %.4f", m.realized_auroc);
      std::printf(") by %s\n", m.source.c_str());
    }
    for (const auto& g : drift.gates)
      std::printf("gate %-30s %s (%.4g vs %.4g)\n", g.gate.c_str(), g.passed ? "pass" : "FAIL",
                  g.left, g.right);
    if (report.contains("windows"))
      for (const auto& w : report["windows"]["series"])
        std::printf(
            "window %-22s %8lld rows  drift share %.2f%s%s\n",
            w["start"].get<std::string>().c_str(), static_cast<long long>(w["rows"].get<int64_t>()),
            w["drift_share"].get<double>(), w["dataset_drifted"].get<bool>() ? " DRIFT" : "",
            w["passed"].get<bool>() ? "" : " (a gate failed)");
    std::printf("report: %s/report.html\n", a->o.out.c_str());
    eval::check_gates(report);
  });
}

}  // namespace kiln::cli
