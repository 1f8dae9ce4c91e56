// kiln data fit-transform | transform
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/dataset.h"
#include "trainer/cli/commands.h"
#include "transform/export.h"
#include "transform/plan.h"

namespace kiln::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void add_fit_transform(CLI::App& data) {
  auto path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto args = std::make_shared<ConfigArgs>();
  CLI::App* fit = data.add_subcommand(
      "fit-transform",
      "Fit the config's feature transforms (section `transform`) to a dataset in one streaming "
      "pass and write the fitted plan, transform.json (docs/TRANSFORMS.md).");
  fit->add_option("--data", *path, "dataset to fit on (usually the train split)")->required();
  fit->add_option("--out", *out, "where to write the plan (transform.json)")->required();
  fit->add_flag("--json", *json, "print the plan's summary as JSON on stdout");
  add_config_args(*fit, *args);
  fit->callback([path, out, json, args] {
    trainer::KilnConfig config = resolve(*args);
    auto start = std::chrono::steady_clock::now();
    auto dataset = data::Dataset::open(*path);
    transform::FittedPlan plan = transform::fit_transform(*dataset, config.transform);
    plan.write(*out);
    double seconds = seconds_since(start);
    nlohmann::ordered_json summary = {{"plan", *out},
                                      {"rows", dataset->rows()},
                                      {"features", plan.features.size()},
                                      {"categorical", plan.categoricals.size()},
                                      {"seconds", seconds}};
    if (*json) {
      std::cout << summary.dump(2) << "\n";
      return;
    }
    std::printf("fitted %zu features and %zu categorical columns on %lld rows in %.2f s: %s\n",
                plan.features.size(), plan.categoricals.size(),
                static_cast<long long>(dataset->rows()), seconds, out->c_str());
  });
}

void add_transform(CLI::App& data) {
  auto path = std::make_shared<std::string>();
  auto plan_path = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto batch = std::make_shared<int64_t>(65536);
  auto threads = std::make_shared<int>(0);
  CLI::App* cmd = data.add_subcommand(
      "transform",
      "Apply a fitted plan to a dataset (CPU reference, multi-threaded) and write one HDF5 file: "
      "X (float32 rows x features, attribute feature_names), categorical (int64 rows x "
      "columns, attributes feature_names and cardinality), y (the label) and id when the "
      "dataset has them; the plan as the root attribute kiln_transform_plan. Rows stay in "
      "dataset order. h5py reads it, and so does `kiln data inspect`.");
  cmd->add_option("--data", *path, "dataset to transform")->required();
  cmd->add_option("--plan", *plan_path, "fitted plan (transform.json)")->required();
  cmd->add_option("--out", *out, "HDF5 file to write (atomically; not .csv)")->required();
  cmd->add_option("--batch-rows", *batch, "rows per batch")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->capture_default_str();
  cmd->add_option("--threads", *threads, "threads; 0: one per core")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->callback([path, plan_path, out, batch, threads] {
    KILN_CHECK(std::filesystem::path(*out).extension() != ".csv", UsageError, "--out '", *out,
               "': kiln data transform writes HDF5, not CSV; name the file .h5");
    auto start = std::chrono::steady_clock::now();
    const transform::FittedPlan plan = transform::FittedPlan::read(*plan_path);
    const transform::ExportResult written =
        transform::export_transformed(plan, data::Dataset::open(*path), *out, {*batch, *threads});
    std::printf("wrote %s: %lld rows x %lld features, %lld categorical columns in %.2f s\n",
                out->c_str(), static_cast<long long>(written.rows),
                static_cast<long long>(written.width),
                static_cast<long long>(written.categorical_width), seconds_since(start));
  });
}

}  // namespace

void add_transform_commands(CLI::App& data) {
  add_fit_transform(data);
  add_transform(data);
}

}  // namespace kiln::cli
