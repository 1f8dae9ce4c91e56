#include "transform/export.h"

#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "data/h5.h"
#include "data/loader.h"
#include "data/matrix_writer.h"
#include "kernels/transform.h"

namespace kiln::transform {

ExportResult export_transformed(const FittedPlan& plan,
                                const std::shared_ptr<const data::Dataset>& dataset,
                                const std::string& out, const ExportOptions& options) {
  const data::Schema& schema = dataset->schema();
  const kernels::CompiledPlan compiled = compile(plan, *dataset);

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
  for (auto [role, name] : {std::pair{data::Role::kLabel, "y"}, std::pair{data::Role::kId, "id"}}) {
    const int column = schema.find_role(role);
    if (column < 0) continue;
    passed.push_back(column);
    arrays.push_back({name, data::mem_type(role), 0});
  }
  data::ShardWriteOptions storage;
  storage.chunk_rows = 16384;
  data::MatrixWriter writer(out, arrays, storage);
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
    data::h5::write_string_attribute(writer.file(), "kiln_source", dataset->path(), writer.root());
  }

  data::LoaderOptions lo;
  lo.batch_size = options.batch_rows;
  lo.shuffle = false;
  lo.threads = options.threads;
  data::Loader loader({dataset}, lo);
  core::ThreadPool pool(options.threads);
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
  return {writer.rows(), compiled.width(), compiled.categorical_width()};
}

}  // namespace kiln::transform
