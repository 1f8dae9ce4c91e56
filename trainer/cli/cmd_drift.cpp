// kiln drift --reference PROFILE|DATASET --data PATH --out DIR [--json] (docs/MONITORING.md)
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include "core/errors.h"
#include "core/files.h"
#include "data/profile.h"
#include "eval/data_drift.h"
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
      "dataset's share of drifted columns. Writes report.json and the current data's "
      "profile.json to --out. See docs/MONITORING.md.");
  cmd->add_option("--reference", a->reference, "a profile.json, or a dataset to profile")
      ->required();
  cmd->add_option("--data", a->data, "the dataset to check")->required();
  cmd->add_option("--out", a->out, "directory for report.json and profile.json")->required();
  cmd->add_option("--share-threshold", a->options.share_threshold,
                  "the dataset drifts when at least this share of its columns drifts")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "print report.json on stdout");
  cmd->callback([a] {
    const data::Profile reference = std::filesystem::is_regular_file(a->reference)
                                        ? data::Profile::read(a->reference)
                                        : data::profile_dataset(*data::Dataset::open(a->reference));
    const data::Profile current = data::profile_against(reference, *data::Dataset::open(a->data));
    const eval::DataDrift drift = eval::data_drift(reference, current, a->options);
    const nlohmann::ordered_json report = drift.to_json(reference, current, a->options);
    std::error_code error;
    std::filesystem::create_directories(a->out, error);
    KILN_CHECK(!error, OutputError, "cannot create '", a->out, "': ", error.message());
    core::atomic_write((std::filesystem::path(a->out) / "report.json").string(),
                       report.dump(1) + "\n");
    current.write((std::filesystem::path(a->out) / "profile.json").string());
    if (a->json) {
      std::cout << report.dump(1) << "\n";
      return;
    }
    std::printf("%lld of %lld columns drifted (share %.2f): dataset drift %s\n",
                static_cast<long long>(drift.drifted), static_cast<long long>(drift.features),
                drift.share, drift.dataset_drifted ? "YES" : "no");
    for (const auto& c : drift.columns)
      std::printf("  %-24s %-14s %-9.4g %s  psi %.4f\n", c.name.c_str(), c.method.c_str(), c.score,
                  c.drifted ? "DRIFT" : "ok   ", c.psi);
    std::printf("report: %s/report.json\n", a->out.c_str());
  });
}

}  // namespace kiln::cli
