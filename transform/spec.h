// What the config asks of the feature transforms: the `transform` section (TransformOptions),
// parsed into one ColumnSpec per schema column. The step grammar and semantics are in
// docs/TRANSFORMS.md; fitting the specs gives a plan (transform/plan.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/schema.h"

namespace kiln::transform {

// The config section `transform`: a list of steps per role, and per column name or glob
// pattern. A step is `name` or `name(arg, key=value, ...)`; see docs/TRANSFORMS.md.
struct TransformOptions {
  std::vector<std::string> numeric = {"impute(median)", "standardize(z)", "clip(smooth, bound=3)"};
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
  enum class Clip { kNone, kQuantile, kValue, kSmooth };
  enum class Encode { kNone, kVocabulary, kHash };

  bool drop = false;
  bool log1p = false;
  Impute impute = Impute::kNone;
  double impute_value = 0;
  Indicator indicator = Indicator::kAuto;
  Standardize standardize = Standardize::kNone;
  Clip clip = Clip::kNone;
  double clip_low = 0, clip_high = 0;  // kQuantile, kValue
  double clip_bound = 0;               // kSmooth
  int64_t bucketize = 0;               // buckets; 0: none
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

}  // namespace kiln::transform
