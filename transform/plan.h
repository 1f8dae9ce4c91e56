// A fitted transform plan: the specs (transform/spec.h) with their fitted values, as saved
// in transform.json and in every checkpoint; the fit (one streaming pass of data/'s
// statistics over a dataset); and compile(), which binds a plan to a dataset's columns in the
// form kernels/transform.h applies (on the CPU or in the fused CUDA kernel).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/stats.h"
#include "kernels/transform_math.h"
#include "transform/spec.h"

namespace kiln::transform {

// A fitted output column: its steps with their fitted values, as in transform.json.
struct PlanFeature {
  std::string name;                 // the column's name, or "<column>.missing" for an indicator
  std::string column;               // the input column
  kernels::FeatureProgram program;  // input unbound; inv_scale = 1 / scale
  float scale = 1;                  // standardize: what transform.json records
};

struct PlanCategorical {
  std::string name;
  std::string column;
  kernels::CategoricalProgram program;  // input, offset unbound
  std::vector<int32_t> codes;           // vocabulary: code of index 2 + i
  std::vector<float> edges;             // bucketize
  int64_t cardinality() const;          // number of distinct output indices, 0 included
};

struct FittedPlan {
  static constexpr int kVersion = 1;
  std::vector<PlanFeature> features;          // the float matrix's columns, in order
  std::vector<PlanCategorical> categoricals;  // the index matrix's columns, in order
  nlohmann::ordered_json fitted_on;           // rows, dataset fingerprint, Kiln version
  // The fitted dataset's dictionaries of the categorical columns the plan reads (written
  // as fitted_on.dictionaries): compile() checks that a dataset's codes mean those strings.
  std::map<std::string, data::CodeDictionary> dictionaries;

  nlohmann::ordered_json to_json() const;
  // Checks everything (format, version, step order, finite values, ascending edges, unique
  // codes): the file is untrusted. DataError (65) naming `where` and the output column.
  static FittedPlan from_json(const nlohmann::ordered_json& json, const std::string& where);
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
kernels::CompiledPlan compile(const FittedPlan& plan, const data::Schema& schema,
                              const std::string& dataset = "");
// The same for a dataset, first checking that its categorical codes mean the strings they
// meant in the data the plan was fitted on (data::check_codes): DataError naming the column.
// Where `model` has a column's strings (a checkpoint's dictionaries.json, `model_dir`'s), they
// are compared string by string (data shorter than them passes); else the plan's record of
// them, a length and a digest (shorter data is refused).
kernels::CompiledPlan compile(const FittedPlan& plan, const data::Dataset& dataset,
                              const data::Dictionaries& model = {},
                              const std::string& model_dir = "");

}  // namespace kiln::transform
