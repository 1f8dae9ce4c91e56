// Feature transforms: what the config asks for (TransformOptions, parsed into one
// ColumnSpec per column), the fit (one streaming pass of data/'s statistics), the fitted
// plan that is saved as transform.json, and the compiled plan that the CPU reference
// (here) and the fused CUDA kernel (transform_cuda.h) apply to a batch's columns.
// The semantics are in docs/TRANSFORMS.md.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/stats.h"
#include "kernels/transform_math.h"

namespace kiln::kernels {

// The config section `transform`: a list of steps per role, and per column name or glob
// pattern. A step is `name` or `name(arg, key=value, ...)`; see docs/TRANSFORMS.md.
struct TransformOptions {
  std::vector<std::string> numeric = {"impute(median)", "standardize(z)",
                                      "clip(quantile, low=0.001, high=0.999)"};
  std::vector<std::string> categorical = {"vocabulary(top_k=100000, min_count=2)"};
  std::map<std::string, std::vector<std::string>> columns;

  template <class V>
  void visit(V& v) {
    v("numeric", numeric,
      "steps for numeric columns, in the order log1p, impute, standardize, clip (or bucketize)");
    v("categorical", categorical, "steps for categorical columns: vocabulary(...) or hash(...)");
    v("columns", columns,
      "steps for the columns a name or glob pattern matches (exact name first, then the longest "
      "pattern); [drop] leaves a column out");
  }
};

// The steps of one column, parsed and checked. Fitted values are not here: see FittedPlan.
struct ColumnSpec {
  enum class Impute { kNone, kMean, kMedian, kConstant };
  enum class Indicator { kAuto, kOn, kOff };
  enum class Standardize { kNone, kZ, kRobust };
  enum class Clip { kNone, kQuantile, kValue };
  enum class Encode { kNone, kVocabulary, kHash };

  bool drop = false;
  bool log1p = false;
  Impute impute = Impute::kNone;
  double impute_value = 0;
  Indicator indicator = Indicator::kAuto;
  Standardize standardize = Standardize::kNone;
  Clip clip = Clip::kNone;
  double clip_low = 0, clip_high = 0;
  int64_t bucketize = 0;  // buckets; 0: none
  Encode encode = Encode::kNone;
  int64_t top_k = 0, min_count = 1;
  int64_t hash_buckets = 0, hash_seed = 0;
};

// Every step name, for --help, docs and the test that covers each one.
const std::vector<std::string>& registered_steps();

// Parses one column's steps. `where` names the config key in messages (ConfigError, 78).
ColumnSpec parse_steps(const std::vector<std::string>& steps, data::Role role,
                       const std::string& where);

// One spec per schema column; columns that are not features (label, weight, id, time) and
// dropped ones come back with drop = true. ConfigError for a bad step or a `columns` entry
// that matches no column.
std::vector<ColumnSpec> resolve_specs(const TransformOptions& options, const data::Schema& schema);

// A fitted output column: its steps with their fitted values, as in transform.json.
struct PlanFeature {
  std::string name;        // the column's name, or "<column>.missing" for an indicator
  std::string column;      // the input column
  FeatureProgram program;  // input unbound; inv_scale = 1 / scale
  float scale = 1;         // standardize: what transform.json records
};

struct PlanCategorical {
  std::string name;
  std::string column;
  CategoricalProgram program;   // input, offset unbound
  std::vector<int32_t> codes;   // vocabulary: code of index 2 + i
  std::vector<float> edges;     // bucketize
  int64_t cardinality() const;  // number of distinct output indices, 0 included
};

struct FittedPlan {
  static constexpr int kVersion = 1;
  std::vector<PlanFeature> features;          // the float matrix's columns, in order
  std::vector<PlanCategorical> categoricals;  // the index matrix's columns, in order
  nlohmann::ordered_json fitted_on;           // rows, dataset fingerprint, Kiln version

  nlohmann::ordered_json to_json() const;
  // Checks everything (format, version, step order, finite values, ascending edges, unique
  // codes): the file is untrusted. DataError (65) naming `where` and the output column.
  static FittedPlan from_json(const nlohmann::json& json, const std::string& where);
  void write(const std::string& path) const;  // atomically
  static FittedPlan read(const std::string& path);
};

// Fits from per-column statistics (stats.columns in schema order, each gathered after the
// column's log1p when its spec has one).
FittedPlan fit_plan(const std::vector<ColumnSpec>& specs, const data::Schema& schema,
                    const data::DatasetStats& stats);

// One streaming pass over the dataset, then fit_plan.
FittedPlan fit_transform(const data::Dataset& dataset, const TransformOptions& options,
                         int sketch_k = 4096);

// DataError when a column is missing from the schema or has the wrong role, or a
// vocabulary code is outside the column's cardinality; messages name `dataset` (the
// schema's dataset path) where given.
CompiledPlan compile(const FittedPlan& plan, const data::Schema& schema,
                     const std::string& dataset = "");

// The CPU reference: columns[c] is the batch's column c (data/loader.h's Batch layout);
// writes features[rows * width] and categorical[rows * categorical_width], row-major.
// Runs on `pool` when given.
void apply_cpu(const CompiledPlan& plan, const void* const* columns, int64_t rows, float* features,
               int64_t* categorical, core::ThreadPool* pool = nullptr);

}  // namespace kiln::kernels
