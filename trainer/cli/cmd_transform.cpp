// kiln data fit-transform | transform
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/matrix_writer.h"
#include "kernels/transform.h"
#include "trainer/cli/commands.h"

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
    kernels::FittedPlan plan = kernels::fit_transform(*dataset, config.transform);
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
  CLI::App* transform = data.add_subcommand(
      "transform",
      "Apply a fitted plan to a dataset (CPU reference, multi-threaded) and write one HDF5 file: "
      "X (float32 rows x features, attribute feature_names), categorical (int64 rows x "
      "columns, attributes feature_names and cardinality), y (the label) and id when the "
      "dataset has them; the plan as the root attribute kiln_transform_plan. Rows stay in "
      "dataset order. h5py reads it, and so does `kiln data inspect`.");
  transform->add_option("--data", *path, "dataset to transform")->required();
  transform->add_option("--plan", *plan_path, "fitted plan (transform.json)")->required();
  transform->add_option("--out", *out, "HDF5 file to write (atomically; not .csv)")->required();
  transform->add_option("--batch-rows", *batch, "rows per batch")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 24))
      ->capture_default_str();
  transform->add_option("--threads", *threads, "threads; 0: one per core")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  transform->callback([path, plan_path, out, batch, threads] {
    KILN_CHECK(std::filesystem::path(*out).extension() != ".csv", UsageError, "--out '", *out,
               "': kiln data transform writes HDF5, not CSV; name the file .h5");
    auto start = std::chrono::steady_clock::now();
    kernels::FittedPlan plan = kernels::FittedPlan::read(*plan_path);
    auto dataset = data::Dataset::open(*path);
    const data::Schema& schema = dataset->schema();
    kernels::CompiledPlan compiled = kernels::compile(plan, schema, dataset->path());

    // X, categorical, then pass-through columns: the label as y, the row id as id.
    std::vector<data::MatrixWriter::Array> arrays = {
        {"X", data::MemType::kFloat32, compiled.width()}};
    std::vector<std::string> feature_names, categorical_names;
    std::vector<int64_t> cardinality;
    for (const auto& f : plan.features)
      feature_names.push_back(f.name);
    for (const auto& k : plan.categoricals) {
      categorical_names.push_back(k.name);
      cardinality.push_back(k.cardinality());
    }
    if (compiled.categorical_width() > 0)
      arrays.push_back({"categorical", data::MemType::kInt64, compiled.categorical_width()});
    std::vector<int> passed;
    for (auto [role, name] :
         {std::pair{data::Role::kLabel, "y"}, std::pair{data::Role::kId, "id"}}) {
      int column = schema.find_role(role);
      if (column < 0) continue;
      passed.push_back(column);
      arrays.push_back({name, data::mem_type(role), 0});
    }
    data::ShardWriteOptions storage;
    storage.chunk_rows = 16384;
    data::MatrixWriter writer(*out, arrays, storage);
    {
      data::h5::H5Lock lock;
      data::h5::write_string_list_attribute(writer.array(0), "feature_names", feature_names,
                                            writer.where(0));
      if (compiled.categorical_width() > 0) {
        data::h5::write_string_list_attribute(writer.array(1), "feature_names", categorical_names,
                                              writer.where(1));
        data::h5::write_int_list_attribute(writer.array(1), "cardinality", cardinality,
                                           writer.where(1));
      }
      data::h5::write_string_attribute(writer.file(), "kiln_transform_plan", plan.to_json().dump(),
                                       writer.root());
      data::h5::write_string_attribute(writer.file(), "kiln_source", dataset->path(),
                                       writer.root());
    }

    data::LoaderOptions options;
    options.batch_size = *batch;
    options.shuffle = false;
    options.threads = *threads;
    data::Loader loader({dataset}, options);
    core::ThreadPool pool(*threads);
    std::vector<float> features;
    std::vector<int64_t> categorical;
    while (const data::Batch* b = loader.next()) {
      features.resize(static_cast<std::size_t>(b->rows * compiled.width()));
      categorical.resize(static_cast<std::size_t>(b->rows * compiled.categorical_width()));
      kernels::apply_cpu(compiled, b->columns.data(), b->rows, features.data(), categorical.data(),
                         &pool);
      std::vector<const void*> parts = {features.data()};
      if (compiled.categorical_width() > 0) parts.push_back(categorical.data());
      for (int column : passed)
        parts.push_back(b->columns[static_cast<std::size_t>(column)]);
      writer.append(b->rows, parts);
    }
    writer.finish();
    std::printf("wrote %s: %lld rows x %lld features, %lld categorical columns in %.2f s\n",
                out->c_str(), static_cast<long long>(writer.rows()),
                static_cast<long long>(compiled.width()),
                static_cast<long long>(compiled.categorical_width()), seconds_since(start));
  });
}

}  // namespace

void add_transform_commands(CLI::App& data) {
  add_fit_transform(data);
  add_transform(data);
}

}  // namespace kiln::cli
