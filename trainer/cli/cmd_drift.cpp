// kiln drift --reference PROFILE|DATASET --data PATH --out DIR [--gate EXPR]... [--json]
// (docs/MONITORING.md)
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "core/errors.h"
#include "core/files.h"
#include "data/profile.h"
#include "eval/data_drift.h"
#include "eval/drift_report.h"
#include "eval/report.h"
#include "trainer/cli/commands.h"

namespace kiln::cli {

void add_drift_command(CLI::App& app) {
  struct Args {
    std::string reference, data, out;
    eval::DataDriftOptions options;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "drift",
      "Check a dataset for drift against a reference profile (kiln data profile) or dataset: "
      "one streaming pass over --data; per column PSI and Jensen-Shannon on the reference's "
      "bins, Kolmogorov-Smirnov and Wasserstein-1 from the quantile sketches, chi-square on "
      "categories, missing rates; a verdict per column by Evidently's default rules and the "
      "dataset's share of drifted columns. Writes report.json, report.md, report.html and the "
      "current data's profile.json to --out; exits 3 when a --gate fails. See "
      "docs/MONITORING.md.");
  cmd->add_option("--reference", a->reference, "a profile.json, or a dataset to profile")
      ->required();
  cmd->add_option("--data", a->data, "the dataset to check")->required();
  cmd->add_option("--out", a->out, "directory for report.json and profile.json")->required();
  cmd->add_option("--share-threshold", a->options.share_threshold,
                  "the dataset drifts when at least this share of its columns drifts")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--gate", a->options.gates,
                  "a gate, e.g. 'drift_share < 0.3' or 'psi.amount < 0.2' (repeatable; names in "
                  "docs/MONITORING.md); a failed gate exits 3");
  cmd->add_flag("--json", a->json, "print report.json on stdout");
  cmd->callback([a] {
    const data::Profile reference = std::filesystem::is_regular_file(a->reference)
                                        ? data::Profile::read(a->reference)
                                        : data::profile_dataset(*data::Dataset::open(a->reference));
    eval::drift_gates(a->options.gates, reference);  // a bad gate exits 78 before the pass
    const data::Profile current = data::profile_against(reference, *data::Dataset::open(a->data));
    const eval::DataDrift drift = eval::data_drift(reference, current, a->options);
    const nlohmann::ordered_json report = drift.to_json(reference, current, a->options);
    eval::write_report_files(a->out, report, eval::render_drift_markdown(report),
                             eval::render_drift_html(report));
    current.write((std::filesystem::path(a->out) / "profile.json").string());
    if (a->json) {
      std::cout << report.dump(1) << "\n";
      eval::check_gates(report);
      return;
    }
    std::printf("%lld of %lld columns drifted (share %.2f): dataset drift %s\n",
                static_cast<long long>(drift.drifted), static_cast<long long>(drift.features),
                drift.share, drift.dataset_drifted ? "YES" : "no");
    for (const auto& c : drift.columns)
      std::printf("  %-24s %-14s %-9.4g %s  psi %.4f\n", c.name.c_str(), c.method.c_str(), c.score,
                  c.drifted ? "DRIFT" : "ok   ", c.psi);
    for (const auto& g : drift.gates)
      std::printf("gate %-30s %s (%.4g vs %.4g)\n", g.gate.c_str(), g.passed ? "pass" : "FAIL",
                  g.left, g.right);
    std::printf("report: %s/report.html\n", a->out.c_str());
    eval::check_gates(report);
  });
}

}  // namespace kiln::cli
