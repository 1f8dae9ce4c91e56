// The fit, transform.json (writing and the untrusted reader) and compiling a plan for a
// schema.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/build_info.h"
#include "core/errors.h"
#include "core/files.h"
#include "transform/plan.h"

namespace kiln::transform {

using kernels::CategoricalKind;
using kernels::CategoricalProgram;
using kernels::CompiledPlan;
using kernels::FeatureProgram;
using kernels::kClip;
using kernels::kImpute;
using kernels::kIndicator;
using kernels::kLog1p;
using kernels::kSmoothClip;
using kernels::kStandardize;

namespace {

using data::Role;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// ---- the fitted plan's JSON ----

[[noreturn]] void bad_plan(const std::string& where, const std::string& what) {
  throw DataError(detail::concat(where, ": ", what));
}

const json& member(const json& object, const char* key, const std::string& where) {
  if (!object.is_object() || !object.contains(key))
    bad_plan(where, detail::concat("missing '", key, "'"));
  return object.at(key);
}

std::string text_of(const json& object, const char* key, const std::string& where) {
  const json& value = member(object, key, where);
  if (!value.is_string()) bad_plan(where, detail::concat("'", key, "' must be a string"));
  return value.get<std::string>();
}

float float_of(const json& object, const char* key, const std::string& where) {
  const json& value = member(object, key, where);
  if (!value.is_number() || !std::isfinite(value.get<double>()) ||
      std::fabs(value.get<double>()) > std::numeric_limits<float>::max()) {
    bad_plan(where,
             detail::concat("'", key, "' must be a finite float32 number, got ", value.dump()));
  }
  return static_cast<float>(value.get<double>());
}

int64_t integer_of(const json& object, const char* key, int64_t min, int64_t max,
                   const std::string& where) {
  const json& value = member(object, key, where);
  if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
    bad_plan(where, detail::concat("'", key, "' must be an integer in [", min, ", ", max, "], got ",
                                   value.dump()));
  }
  return value.get<int64_t>();
}

// 1 / scale, rounded once to float32: the fit and the reader compute it the same way.
float inverse(float scale) {
  return static_cast<float>(1.0 / static_cast<double>(scale));
}

ordered_json op(const char* name) {
  return ordered_json{{"op", name}};
}

// The steps that a feature and a bucketized column share: log1p and impute.
void prefix_steps_to_json(uint32_t flags, float impute_value, ordered_json& steps) {
  if (flags & kLog1p) steps.push_back(op("log1p"));
  if (flags & kImpute) {
    ordered_json s = op("impute");
    s["value"] = impute_value;
    steps.push_back(s);
  }
}

ordered_json feature_to_json(const PlanFeature& f) {
  const FeatureProgram& p = f.program;
  ordered_json steps = ordered_json::array();
  if (p.flags & kIndicator) steps.push_back(op("indicator"));
  prefix_steps_to_json(p.flags, p.impute_value, steps);
  if (p.flags & kStandardize) {
    ordered_json s = op("standardize");
    s["center"] = p.center;
    s["scale"] = f.scale;
    steps.push_back(s);
  }
  if (p.flags & kClip) {
    ordered_json s = op("clip");
    s["low"] = p.clip_low;
    s["high"] = p.clip_high;
    steps.push_back(s);
  }
  if (p.flags & kSmoothClip) {
    ordered_json s = op("smooth_clip");
    s["bound"] = p.clip_high;
    steps.push_back(s);
  }
  return {{"name", f.name}, {"column", f.column}, {"steps", steps}};
}

ordered_json categorical_to_json(const PlanCategorical& c) {
  const CategoricalProgram& p = c.program;
  ordered_json steps = ordered_json::array();
  if (p.kind == CategoricalKind::kVocabulary) {
    ordered_json s = op("vocabulary");
    s["codes"] = c.codes;
    steps.push_back(s);
  } else if (p.kind == CategoricalKind::kHash) {
    ordered_json s = op("hash");
    s["seed"] = p.seed;
    s["buckets"] = p.buckets;
    steps.push_back(s);
  } else {
    prefix_steps_to_json(p.flags, p.impute_value, steps);
    ordered_json s = op("bucketize");
    s["edges"] = c.edges;
    steps.push_back(s);
  }
  return {
      {"name", c.name}, {"column", c.column}, {"cardinality", c.cardinality()}, {"steps", steps}};
}

// Reads a list of steps whose ops must come in the order `allowed` lists them, each at most
// once; calls read(op, step, where) for each.
template <class Read>
void read_steps(const json& steps, std::initializer_list<const char*> allowed,
                const std::string& where, Read read) {
  if (!steps.is_array() || steps.empty()) bad_plan(where, "'steps' must be a non-empty list");
  std::size_t next = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    std::string name = text_of(steps[i], "op", where);
    std::size_t rank = 0;
    while (rank < allowed.size() && name != allowed.begin()[rank])
      ++rank;
    if (rank == allowed.size() || rank < next) {
      bad_plan(where, detail::concat("step '", name, "' is unknown here or out of order"));
    }
    next = rank + 1;
    read(name, steps[i]);
  }
}

// An output's name and input column, and where it is for messages:
// "<file>: features[3] ('amount')".
struct OutputHeader {
  std::string name, column, where;
};

OutputHeader read_header(const json& list, const char* key, std::size_t i,
                         const std::string& where) {
  OutputHeader h;
  h.where = detail::concat(where, ": ", key, "[", i, "]");
  h.name = text_of(list[i], "name", h.where);
  h.column = text_of(list[i], "column", h.where);
  h.where += " ('" + h.name + "')";
  return h;
}

// ---- fitting ----

// A sketch quantile as float32, or 0 for a column with no finite values.
float quantile(const data::ColumnStats& s, double q) {
  return s.count > 0 ? static_cast<float>(s.sketch.quantile(q)) : 0.0f;
}

// Whether every finite value is the column's minimum or its maximum (a flag, such as a 0/1
// column): the variance then equals (max - mean)(mean - min), the bound any column's
// variance is under (Bhatia and Davis), and falls short of it otherwise. The tolerance
// covers the fp64 sums' rounding; a column within it has all but a negligible share of its
// values at the two ends.
bool is_flag(const data::ColumnStats& s) {
  if (s.count == 0 || !(s.max > s.min)) return false;
  const double bound = (s.max - s.mean) * (s.mean - s.min);
  return std::abs(s.m2 / static_cast<double>(s.count) - bound) <= 1e-6 * bound;
}

PlanFeature fit_feature(const ColumnSpec& spec, const data::Column& column,
                        const data::ColumnStats& s) {
  PlanFeature f;
  f.name = column.name;
  f.column = column.name;
  FeatureProgram& p = f.program;
  if (spec.log1p) p.flags |= kLog1p;
  if (spec.impute != ColumnSpec::Impute::kNone) {
    p.flags |= kImpute;
    p.impute_value = spec.impute == ColumnSpec::Impute::kMean ? static_cast<float>(s.mean)
                     : spec.impute == ColumnSpec::Impute::kMedian
                         ? quantile(s, 0.5)
                         : static_cast<float>(spec.impute_value);
  }
  if (spec.standardize != ColumnSpec::Standardize::kNone) {
    p.flags |= kStandardize;
    double scale = 0;
    if (spec.standardize == ColumnSpec::Standardize::kZ) {
      p.center = static_cast<float>(s.mean);
      scale = s.count > 0 ? std::sqrt(s.m2 / static_cast<double>(s.count)) : 0.0;
      // A flag's standard deviation would put a value of rate p at sqrt((1 - p) / p) from the
      // mean (18 at 0.3%), so the rarer the flag the larger its input; half the range puts
      // its two values 2 apart whatever their rates (the same as the standard deviation at
      // 50%, the most it can be).
      if (is_flag(s)) scale = 0.5 * (s.max - s.min);
    } else {
      // The IQR; where it is 0 (a column mostly of one value), half the range, as RealMLP
      // scales (a 0/1 column with few ones keeps them 2 apart from its zeros, not 1).
      p.center = quantile(s, 0.5);
      scale = static_cast<double>(quantile(s, 0.75)) - static_cast<double>(quantile(s, 0.25));
      if (scale == 0 && s.count > 0) scale = 0.5 * (s.max - s.min);
    }
    f.scale = static_cast<float>(scale);
    if (!(f.scale > 0) || !std::isfinite(f.scale)) f.scale = 1;  // a constant column
    p.inv_scale = inverse(f.scale);
  }
  if (spec.clip == ColumnSpec::Clip::kSmooth) {
    p.flags |= kSmoothClip;
    p.clip_high = static_cast<float>(spec.clip_bound);
  } else if (spec.clip != ColumnSpec::Clip::kNone) {
    p.flags |= kClip;
    if (spec.clip == ColumnSpec::Clip::kValue) {
      p.clip_low = static_cast<float>(spec.clip_low);
      p.clip_high = static_cast<float>(spec.clip_high);
    } else {
      // Quantiles of the observed values, carried through standardize (monotone) with the
      // same float32 arithmetic the apply uses.
      FeatureProgram through = p;
      through.flags &= kStandardize;
      p.clip_low = kernels::transform_feature(through, quantile(s, spec.clip_low));
      p.clip_high = kernels::transform_feature(through, quantile(s, spec.clip_high));
    }
  }
  return f;
}

PlanCategorical fit_categorical(const ColumnSpec& spec, const data::Column& column,
                                const data::ColumnStats& s) {
  PlanCategorical c;
  c.name = column.name;
  c.column = column.name;
  CategoricalProgram& p = c.program;
  if (spec.bucketize > 0) {
    p.kind = CategoricalKind::kBucketize;
    FeatureProgram prefix = fit_feature(spec, column, s).program;
    p.flags = prefix.flags & (kLog1p | kImpute);
    p.impute_value = prefix.impute_value;
    for (int64_t i = 1; i < spec.bucketize; ++i) {
      float edge = quantile(s, static_cast<double>(i) / static_cast<double>(spec.bucketize));
      if (c.edges.empty() || edge > c.edges.back()) c.edges.push_back(edge);
    }
  } else if (spec.encode == ColumnSpec::Encode::kHash) {
    p.kind = CategoricalKind::kHash;
    p.seed = static_cast<uint32_t>(spec.hash_seed);
    p.buckets = static_cast<uint32_t>(spec.hash_buckets);
  } else {
    p.kind = CategoricalKind::kVocabulary;
    for (const auto& [code, count] : s.top_categories(static_cast<std::size_t>(spec.top_k))) {
      if (count >= spec.min_count) c.codes.push_back(static_cast<int32_t>(code));
    }
  }
  return c;
}

}  // namespace

int64_t PlanCategorical::cardinality() const {
  switch (program.kind) {
    case CategoricalKind::kVocabulary:
      return 2 + static_cast<int64_t>(codes.size());
    case CategoricalKind::kHash:
      return 1 + static_cast<int64_t>(program.buckets);
    case CategoricalKind::kBucketize:
      return 2 + static_cast<int64_t>(edges.size());
  }
  return 0;
}

ordered_json FittedPlan::to_json() const {
  ordered_json out{{"format", "kiln.transform"}, {"version", kVersion}, {"fitted_on", fitted_on}};
  for (const auto& [column, dictionary] : dictionaries)
    out["fitted_on"]["dictionaries"][column] = dictionary.to_json();
  out["features"] = ordered_json::array();
  for (const auto& f : features)
    out["features"].push_back(feature_to_json(f));
  out["categorical"] = ordered_json::array();
  for (const auto& c : categoricals)
    out["categorical"].push_back(categorical_to_json(c));
  return out;
}

FittedPlan FittedPlan::from_json(const ordered_json& file, const std::string& where) {
  const json in(file);  // read by key; fitted_on is kept as the file orders it
  if (text_of(in, "format", where) != "kiln.transform")
    bad_plan(where, "not a Kiln transform plan");
  const json& version = member(in, "version", where);
  if (!version.is_number_integer() || version.get<int64_t>() < 1 ||
      version.get<int64_t>() > kVersion) {
    bad_plan(where, detail::concat("transform plan version ", version.dump(),
                                   " is not supported (this Kiln reads version ", kVersion, ")"));
  }
  FittedPlan plan;
  if (file.contains("fitted_on")) plan.fitted_on = file.at("fitted_on");
  if (plan.fitted_on.is_object() && plan.fitted_on.contains("dictionaries")) {
    const json dictionaries(plan.fitted_on["dictionaries"]);
    const std::string w = where + ": fitted_on.dictionaries";
    if (!dictionaries.is_object()) bad_plan(w, "must be an object");
    for (const auto& [column, dictionary] : dictionaries.items())
      plan.dictionaries[column] = data::CodeDictionary::from_json(dictionary, w + "." + column);
    plan.fitted_on.erase("dictionaries");
  }
  const json& features = member(in, "features", where);
  const json& categorical = member(in, "categorical", where);
  if (!features.is_array() || !categorical.is_array())
    bad_plan(where, "'features' and 'categorical' must be lists");
  auto read_prefix = [](const std::string& op, const json& step, uint32_t& flags,
                        float& impute_value, const std::string& w) {
    if (op == "log1p") flags |= kLog1p;
    if (op == "impute") {
      flags |= kImpute;
      impute_value = float_of(step, "value", w);
    }
  };
  for (std::size_t i = 0; i < features.size(); ++i) {
    OutputHeader header = read_header(features, "features", i, where);
    const std::string& w = header.where;
    PlanFeature f;
    f.name = header.name;
    f.column = header.column;
    FeatureProgram& p = f.program;
    read_steps(member(features[i], "steps", w),
               {"indicator", "log1p", "impute", "standardize", "clip", "smooth_clip"}, w,
               [&](const std::string& op, const json& step) {
                 read_prefix(op, step, p.flags, p.impute_value, w);
                 if (op == "indicator") p.flags |= kIndicator;
                 if (op == "standardize") {
                   p.flags |= kStandardize;
                   p.center = float_of(step, "center", w);
                   f.scale = float_of(step, "scale", w);
                   if (!(f.scale > 0)) bad_plan(w, "standardize needs scale > 0");
                   p.inv_scale = inverse(f.scale);
                   if (!std::isfinite(p.inv_scale)) bad_plan(w, "standardize scale is too small");
                 }
                 if (op == "clip") {
                   p.flags |= kClip;
                   p.clip_low = float_of(step, "low", w);
                   p.clip_high = float_of(step, "high", w);
                   if (!(p.clip_low <= p.clip_high)) bad_plan(w, "clip needs low <= high");
                 }
                 if (op == "smooth_clip") {
                   if (p.flags & kClip) bad_plan(w, "clip and smooth_clip exclude each other");
                   p.flags |= kSmoothClip;
                   p.clip_high = float_of(step, "bound", w);
                   if (!(p.clip_high > 0)) bad_plan(w, "smooth_clip needs bound > 0");
                 }
               });
    if ((p.flags & kIndicator) && p.flags != kIndicator)
      bad_plan(w, "'indicator' must be the only step");
    plan.features.push_back(std::move(f));
  }
  for (std::size_t i = 0; i < categorical.size(); ++i) {
    OutputHeader header = read_header(categorical, "categorical", i, where);
    const std::string& w = header.where;
    PlanCategorical c;
    c.name = header.name;
    c.column = header.column;
    CategoricalProgram& p = c.program;
    bool encoded = false;
    read_steps(member(categorical[i], "steps", w),
               {"vocabulary", "hash", "log1p", "impute", "bucketize"}, w,
               [&](const std::string& op, const json& step) {
                 if (encoded)
                   bad_plan(w, detail::concat("nothing may follow the encoding, got '", op, "'"));
                 read_prefix(op, step, p.flags, p.impute_value, w);
                 if (op == "vocabulary") {
                   p.kind = CategoricalKind::kVocabulary;
                   const json& codes = member(step, "codes", w);
                   if (!codes.is_array()) bad_plan(w, "'codes' must be a list");
                   std::vector<int32_t> sorted;
                   for (const json& code : codes) {
                     if (!code.is_number_integer() || code.get<int64_t>() < 0 ||
                         code.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
                       bad_plan(w, detail::concat("vocabulary code ", code.dump(),
                                                  " is not a non-negative int32"));
                     }
                     c.codes.push_back(code.get<int32_t>());
                   }
                   sorted = c.codes;
                   std::sort(sorted.begin(), sorted.end());
                   if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
                     bad_plan(w, "vocabulary codes repeat");
                   }
                   encoded = true;
                 }
                 if (op == "hash") {
                   p.kind = CategoricalKind::kHash;
                   p.seed = static_cast<uint32_t>(
                       integer_of(step, "seed", 0, std::numeric_limits<uint32_t>::max(), w));
                   p.buckets = static_cast<uint32_t>(
                       integer_of(step, "buckets", 1, std::numeric_limits<int32_t>::max() - 1, w));
                   encoded = true;
                 }
                 if (op == "bucketize") {
                   p.kind = CategoricalKind::kBucketize;
                   const json& edges = member(step, "edges", w);
                   if (!edges.is_array() || edges.size() > 65535)
                     bad_plan(w, "'edges' must be a list of at most 65535 numbers");
                   for (std::size_t e = 0; e < edges.size(); ++e) {
                     json holder{{"edge", edges[e]}};
                     c.edges.push_back(float_of(holder, "edge", w));
                     if (e > 0 && !(c.edges[e] > c.edges[e - 1]))
                       bad_plan(w, "bucket edges must be strictly ascending");
                   }
                   encoded = true;
                 }
               });
    if (!encoded) bad_plan(w, "needs a vocabulary, hash or bucketize step");
    if ((p.kind != CategoricalKind::kBucketize) && p.flags != 0)
      bad_plan(w, "log1p and impute apply to bucketize only");
    if (categorical[i].contains("cardinality") &&
        integer_of(categorical[i], "cardinality", 0, std::numeric_limits<int64_t>::max(), w) !=
            c.cardinality()) {
      bad_plan(w, detail::concat("cardinality ", categorical[i].at("cardinality").dump(),
                                 " does not match its steps (", c.cardinality(), ")"));
    }
    plan.categoricals.push_back(std::move(c));
  }
  return plan;
}

void FittedPlan::write(const std::string& path) const {
  core::atomic_write(path, to_json().dump(1) + "\n");
}

FittedPlan FittedPlan::read(const std::string& path) {
  ordered_json parsed =
      ordered_json::parse(core::read_file(path, "transform plan"), nullptr, false);
  KILN_CHECK(!parsed.is_discarded(), DataError, path, ": not valid JSON");
  return from_json(parsed, path);
}

FittedPlan fit_plan(const std::vector<ColumnSpec>& specs, const data::Schema& schema,
                    const data::DatasetStats& stats) {
  KILN_ASSERT(specs.size() == schema.columns.size() && stats.columns.size() == specs.size(),
              "fit_plan: specs, schema and stats disagree");
  FittedPlan plan;
  for (std::size_t c = 0; c < specs.size(); ++c) {
    const ColumnSpec& spec = specs[c];
    const data::Column& column = schema.columns[c];
    const data::ColumnStats& s = stats.columns[c];
    if (spec.drop) continue;
    if (column.role == Role::kCategorical || spec.bucketize > 0) {
      plan.categoricals.push_back(fit_categorical(spec, column, s));
    } else {
      plan.features.push_back(fit_feature(spec, column, s));
    }
    bool indicator = spec.indicator == ColumnSpec::Indicator::kOn ||
                     (spec.indicator == ColumnSpec::Indicator::kAuto && s.missing > 0);
    if (column.role == Role::kNumeric && spec.impute != ColumnSpec::Impute::kNone && indicator) {
      PlanFeature f;
      f.name = column.name + ".missing";
      f.column = column.name;
      f.program.flags = kIndicator;
      plan.features.push_back(f);
    }
  }
  plan.fitted_on = {{"rows", stats.rows}};
  return plan;
}

FittedPlan fit_transform(const data::Dataset& dataset, const TransformOptions& options,
                         int sketch_k) {
  std::vector<ColumnSpec> specs = resolve_specs(options, dataset.schema());
  // Statistics of each column as its fitted steps see it: after log1p when it has one.
  auto prepare = [&specs](std::size_t column, void* values, int64_t n) {
    if (!specs[column].log1p) return;
    float* v = static_cast<float*>(values);
    for (int64_t i = 0; i < n; ++i)
      v[i] = kernels::signed_log1p(v[i]);
  };
  data::DatasetStats stats = data::compute_stats(dataset, 65536, sketch_k, prepare);
  FittedPlan plan = fit_plan(specs, dataset.schema(), stats);
  plan.fitted_on = {{"rows", stats.rows},
                    {"dataset", dataset.path()},
                    {"fingerprint", dataset.fingerprint()},
                    {"kiln_version", core::build_info().version}};
  for (const PlanCategorical& c : plan.categoricals) {
    if (c.program.kind == CategoricalKind::kBucketize) continue;
    if (auto dictionary = data::code_dictionary(dataset, c.column))
      plan.dictionaries[c.column] = *dictionary;
  }
  return plan;
}

CompiledPlan compile(const FittedPlan& plan, const data::Schema& schema,
                     const std::string& dataset) {
  CompiledPlan out;
  const std::string named = dataset.empty() ? "the dataset" : "dataset '" + dataset + "'";
  auto bind = [&](const std::string& name, const std::string& column, Role role) {
    int index = schema.find(column);
    KILN_CHECK(index >= 0, DataError, "transform plan output '", name, "' reads column '", column,
               "', which ", named, " does not have");
    KILN_CHECK(schema.columns[static_cast<std::size_t>(index)].role == role, DataError,
               "transform plan output '", name, "' needs column '", column, "' to be ",
               data::role_name(role), ", but ", named, " has it as ",
               data::role_name(schema.columns[static_cast<std::size_t>(index)].role));
    return index;
  };
  for (const PlanFeature& f : plan.features) {
    FeatureProgram p = f.program;
    p.input = bind(f.name, f.column, Role::kNumeric);
    out.features.push_back(p);
  }
  for (const PlanCategorical& c : plan.categoricals) {
    CategoricalProgram p = c.program;
    if (p.kind == CategoricalKind::kBucketize) {
      p.input = bind(c.name, c.column, Role::kNumeric);
      p.offset = static_cast<int32_t>(out.edges.size());
      p.count = static_cast<int32_t>(c.edges.size());
      out.edges.insert(out.edges.end(), c.edges.begin(), c.edges.end());
    } else {
      p.input = bind(c.name, c.column, Role::kCategorical);
    }
    if (p.kind == CategoricalKind::kVocabulary) {
      // Codes at or above the column's cardinality cannot occur in its data (a dataset with
      // fewer categories than the plan's: check_codes has compared their strings) and are left
      // out of its table; without a cardinality, codes from 2^26 up are refused.
      const int64_t cardinality = schema.columns[static_cast<std::size_t>(p.input)].cardinality;
      int64_t size = 0;
      for (int32_t code : c.codes)
        size = std::max<int64_t>(size, int64_t{code} + 1);
      KILN_CHECK(cardinality > 0 || size <= int64_t{1} << 26, DataError, "transform plan output '",
                 c.name, "': vocabulary code ", size - 1, " is outside column '", c.column, "' of ",
                 named, ", which has no cardinality");
      if (cardinality > 0) size = std::min(size, cardinality);
      KILN_CHECK(
          static_cast<int64_t>(out.tables.size()) + size <= std::numeric_limits<int32_t>::max(),
          DataError, "transform plan: vocabularies too large");
      p.offset = static_cast<int32_t>(out.tables.size());
      p.count = static_cast<int32_t>(size);
      out.tables.resize(out.tables.size() + static_cast<std::size_t>(size), 1);
      for (std::size_t i = 0; i < c.codes.size(); ++i)
        if (c.codes[i] < size)
          out.tables[static_cast<std::size_t>(p.offset + c.codes[i])] = static_cast<int32_t>(2 + i);
    }
    out.categoricals.push_back(p);
  }
  return out;
}

CompiledPlan compile(const FittedPlan& plan, const data::Dataset& dataset,
                     const data::Dictionaries& model, const std::string& model_dir) {
  const auto made_from = plan.fitted_on.find("dataset");
  const std::string source = made_from != plan.fitted_on.end() && made_from->is_string()
                                 ? made_from->get<std::string>()
                                 : "";
  for (const auto& [column, dictionary] : plan.dictionaries) {
    if (dataset.schema().find(column) < 0) continue;
    // The model's strings stand for the plan's record where they begin with its strings (a
    // checkpoint's dictionaries.json lists at least the strings its plan was fitted on).
    if (!data::check_codes_with_model(dataset, column, dictionary, model, model_dir))
      data::check_codes(dataset, column, dictionary, "the transform plan", source);
  }
  return compile(plan, dataset.schema(), dataset.path());
}

}  // namespace kiln::transform
