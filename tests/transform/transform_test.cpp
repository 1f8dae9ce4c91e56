#include "transform/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include "core/errors.h"
#include "data/dataset.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"
#include "tests/transform/transform_cases.h"

namespace kiln::transform {
namespace {

using namespace kiln::kernels;  // the programs and flags a plan compiles to

using data::Role;
using kiln::testing::TempDir;

void apply_on_cpu(const CompiledPlan& plan, const std::vector<const void*>& columns, int64_t rows,
                  std::vector<float>& features, std::vector<int64_t>& categorical,
                  core::ThreadPool* pool) {
  features.assign(static_cast<std::size_t>(rows * plan.width()), -1.0f);
  categorical.assign(static_cast<std::size_t>(rows * plan.categorical_width()), -1);
  apply_cpu(plan, columns.data(), rows, features.data(), categorical.data(), pool);
}

TEST(Transform, EveryRegisteredStepMatchesTheNaiveReferenceOnCpu) {
  testing::check_every_step([](const CompiledPlan& plan, const std::vector<const void*>& columns,
                               int64_t rows, std::vector<float>& f, std::vector<int64_t>& c) {
    apply_on_cpu(plan, columns, rows, f, c, nullptr);
  });
  core::ThreadPool pool(3);
  testing::check_every_step(
      [&pool](const CompiledPlan& plan, const std::vector<const void*>& columns, int64_t rows,
              std::vector<float>& f,
              std::vector<int64_t>& c) { apply_on_cpu(plan, columns, rows, f, c, &pool); });
}

// ---- steps from the config ----

std::string config_error(const std::vector<std::string>& steps, Role role = Role::kNumeric) {
  return kiln::testing::error_of<ConfigError>(
      [&] { parse_steps(steps, role, "transform.numeric"); });
}

TEST(TransformSpec, ParsesStepsWithPositionalAndNamedArguments) {
  ColumnSpec s = parse_steps({"log1p", "impute(constant, value=-1, indicator=true)",
                              "standardize(robust)", "clip(value, low=-5, high=5)"},
                             Role::kNumeric, "t");
  EXPECT_TRUE(s.log1p);
  EXPECT_EQ(s.impute, ColumnSpec::Impute::kConstant);
  EXPECT_EQ(s.impute_value, -1);
  EXPECT_EQ(s.indicator, ColumnSpec::Indicator::kOn);
  EXPECT_EQ(s.standardize, ColumnSpec::Standardize::kRobust);
  EXPECT_EQ(s.clip, ColumnSpec::Clip::kValue);
  EXPECT_EQ(s.clip_low, -5);
  EXPECT_EQ(s.clip_high, 5);
  ColumnSpec h = parse_steps({"hash(4096, seed=7)"}, Role::kCategorical, "t");
  EXPECT_EQ(h.encode, ColumnSpec::Encode::kHash);
  EXPECT_EQ(h.hash_buckets, 4096);
  EXPECT_EQ(h.hash_seed, 7);
  ColumnSpec v = parse_steps({"vocabulary(top_k=10, min_count=3)"}, Role::kCategorical, "t");
  EXPECT_EQ(v.top_k, 10);
  EXPECT_EQ(v.min_count, 3);
  EXPECT_EQ(parse_steps({"bucketize(16)"}, Role::kNumeric, "t").bucketize, 16);
  ColumnSpec smooth = parse_steps({"standardize(robust)", "clip(smooth)"}, Role::kNumeric, "t");
  EXPECT_EQ(smooth.clip, ColumnSpec::Clip::kSmooth);
  EXPECT_EQ(smooth.clip_bound, 3);
  EXPECT_EQ(parse_steps({"clip(smooth, bound=2.5)"}, Role::kNumeric, "t").clip_bound, 2.5);
  EXPECT_TRUE(parse_steps({}, Role::kNumeric, "t").standardize == ColumnSpec::Standardize::kNone);
}

TEST(TransformSpec, BadStepsNameTheKeyAndTheProblem) {
  struct Case {
    std::vector<std::string> steps;
    Role role;
    const char* message;
  };
  const Case cases[] = {
      {{"standardise(z)"}, Role::kNumeric, "transform.numeric: unknown step 'standardise'"},
      {{"standardize", "impute"}, Role::kNumeric, "'impute' cannot follow 'standardize'"},
      {{"log1p", "log1p"}, Role::kNumeric, "cannot follow"},
      {{"clip(value, low=1)"}, Role::kNumeric, "needs low= and high="},
      {{"clip(quantile, low=0.9, high=0.1)"}, Role::kNumeric, "low <= high"},
      {{"clip(smooth, high=3)"}, Role::kNumeric, "clip(smooth) takes bound="},
      {{"clip(smooth, bound=0)"}, Role::kNumeric, "needs a bound > 0, got 0"},
      {{"clip(value, low=-1, high=1, bound=2)"}, Role::kNumeric, "bound= is clip(smooth)'s"},
      {{"clip(soft)"}, Role::kNumeric, "mode must be one of quantile, value, smooth"},
      {{"impute(median, value=3)"}, Role::kNumeric, "only with the constant"},
      {{"standardize(l2)"}, Role::kNumeric, "method must be one of z, robust, got 'l2'"},
      {{"bucketize(1)"}, Role::kNumeric, "buckets must be an integer in [2, 65536]"},
      {{"clip(mode=value, low=abc, high=1)"}, Role::kNumeric, "low must be a finite number"},
      {{"impute(median"}, Role::kNumeric, "must end with ')'"},
      {{"impute(median, colour=red)"}, Role::kNumeric, "has no argument 'colour'"},
      {{"standardize", "bucketize"}, Role::kNumeric, "bucketize takes log1p and impute"},
      {{"hash(8)"}, Role::kNumeric, "does not apply to numeric"},
      {{"log1p"}, Role::kCategorical, "does not apply to categorical"},
      {{"hash", "vocabulary"}, Role::kCategorical, "exactly one step"},
      {{}, Role::kCategorical, "exactly one step"},
  };
  for (const Case& c : cases)
    EXPECT_NE(config_error(c.steps, c.role).find(c.message), std::string::npos) << c.message;
}

TEST(TransformSpec, ColumnsMatchByExactNameThenLongestPattern) {
  data::Schema schema{{{"amount", Role::kNumeric, 0},
                       {"amount_ratio", Role::kNumeric, 0},
                       {"age", Role::kNumeric, 0},
                       {"merchant", Role::kCategorical, 10},
                       {"label", Role::kLabel, 0}}};
  TransformOptions options;
  options.columns["amount"] = {"log1p"};
  options.columns["a*"] = {"drop"};
  options.columns["amount_*"] = {"standardize(robust)"};
  options.columns["merchant"] = {"hash(64)"};
  auto specs = resolve_specs(options, schema);
  ASSERT_EQ(specs.size(), 5u);
  EXPECT_TRUE(specs[0].log1p);
  EXPECT_EQ(specs[1].standardize, ColumnSpec::Standardize::kRobust);
  EXPECT_TRUE(specs[2].drop);
  EXPECT_EQ(specs[3].encode, ColumnSpec::Encode::kHash);
  EXPECT_TRUE(specs[4].drop);  // the label is not a feature

  options.columns["amonut"] = {"log1p"};
  std::string e = kiln::testing::error_of<ConfigError>([&] { resolve_specs(options, schema); });
  EXPECT_NE(e.find("transform.columns.amonut: matches no column"), std::string::npos) << e;
  options.columns.erase("amonut");
  options.columns["label"] = {"log1p"};
  e = kiln::testing::error_of<ConfigError>([&] { resolve_specs(options, schema); });
  EXPECT_NE(e.find("column 'label' is the label column, not a feature"), std::string::npos) << e;
}

// ---- the fit, against exact statistics ----

struct FitData {
  std::vector<float> lognormal, poisson;
  std::vector<int32_t> zipf;
};

// Writes a dataset with a lognormal column (with NaN), a discrete Poisson column and a
// Zipf-distributed categorical column; returns the values written.
FitData write_fit_dataset(const std::string& dir, int64_t rows) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> lognormal(1.0, 1.5);
  std::poisson_distribution<int> poisson(3.0);
  FitData d;
  std::vector<float> label;
  for (int64_t i = 0; i < rows; ++i) {
    d.lognormal.push_back(rng() % 20 == 0 ? NAN : static_cast<float>(lognormal(rng)));
    d.poisson.push_back(static_cast<float>(poisson(rng)));
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    d.zipf.push_back(rng() % 50 == 0 ? -1 : static_cast<int32_t>(std::pow(400.0, u)) - 1);
    label.push_back(static_cast<float>(rng() % 2));
  }
  data::Schema schema{{{"amount", Role::kNumeric, 0},
                       {"count", Role::kNumeric, 0},
                       {"merchant", Role::kCategorical, 400},
                       {"label", Role::kLabel, 0}}};
  data::DatasetWriter writer(dir, schema, {}, rows / 3 + 1);
  writer.append(rows, {d.lognormal.data(), d.poisson.data(), d.zipf.data(), label.data()});
  writer.finish();
  return d;
}

std::vector<double> observed(const std::vector<float>& values, bool log1p) {
  std::vector<double> out;
  for (float v : values) {
    if (std::isnan(v)) continue;
    out.push_back(log1p ? signed_log1p(v) : v);
  }
  return out;
}

// Number of values <= v.
double rank_of(const std::vector<double>& sorted, double v) {
  return static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
}

TEST(TransformFit, MomentsAreExactAndQuantilesWithinTheSketchBound) {
  TempDir dir;
  const int64_t rows = 300000;
  FitData d = write_fit_dataset(dir / "ds", rows);
  auto dataset = data::Dataset::open(dir / "ds");
  TransformOptions options;
  options.columns["amount"] = {"log1p", "impute(mean)", "standardize(z)",
                               "clip(quantile, low=0.01, high=0.99)"};
  options.columns["count"] = {"impute(median)", "standardize(robust)"};
  options.columns["merchant"] = {"vocabulary(top_k=50, min_count=1000)"};
  const int k = 256;  // a small sketch, so its bound is not trivially met
  FittedPlan plan = fit_transform(*dataset, options, k);
  ASSERT_EQ(plan.features.size(), 3u);  // amount, amount.missing (auto: it has NaN), count
  EXPECT_EQ(plan.features[1].name, "amount.missing");

  // Mean and variance of log1p(amount): exact two-pass in long double, relative 1e-12.
  std::vector<double> amount = observed(d.lognormal, true);
  long double sum = 0, ss = 0;
  for (double v : amount)
    sum += v;
  long double mean = sum / amount.size();
  for (double v : amount)
    ss += (v - mean) * (v - mean);
  double stddev = std::sqrt(static_cast<double>(ss / amount.size()));
  // The plan holds float32; the statistics behind it are fp64 and exact to 1e-12.
  data::DatasetStats stats =
      data::compute_stats(*dataset, 65536, k, [](std::size_t column, void* values, int64_t n) {
        if (column != 0) return;
        for (int64_t i = 0; i < n; ++i)
          static_cast<float*>(values)[i] = signed_log1p(static_cast<float*>(values)[i]);
      });
  const data::ColumnStats& s = stats.columns[0];
  EXPECT_LT(std::abs(s.mean - static_cast<double>(mean)) / std::abs(static_cast<double>(mean)),
            1e-12);
  double fit_std = std::sqrt(s.m2 / static_cast<double>(s.count));
  EXPECT_LT(std::abs(fit_std - stddev) / stddev, 1e-12);
  const FeatureProgram& a = plan.features[0].program;
  EXPECT_EQ(a.center, static_cast<float>(s.mean));
  EXPECT_EQ(a.impute_value, static_cast<float>(s.mean));
  EXPECT_EQ(plan.features[0].scale, static_cast<float>(fit_std));

  // Quantiles: rank error within the sketch's tracked bound, and the stated worst case.
  auto check_quantile = [](const std::vector<double>& values, const data::ColumnStats& st, double q,
                           double got, const char* what) {
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    double n = static_cast<double>(sorted.size());
    double bound = st.sketch.rank_error_bound();
    double worst = n * std::ceil(std::log2(n / st.sketch.k())) / (2.0 * st.sketch.k());
    EXPECT_LE(bound, worst);
    // Ranks of the value: items < got .. items <= got must reach q*n within the bound.
    double below =
        static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), got) - sorted.begin());
    double at_or_below = rank_of(sorted, got);
    EXPECT_LE(below, q * n + bound + 1) << what;
    EXPECT_GE(at_or_below, q * n - bound - 1) << what;
  };
  // The clip bounds, carried back through standardize, are log1p(amount)'s quantiles.
  EXPECT_GT(s.sketch.rank_error_bound(), 0);
  check_quantile(amount, s, 0.01, s.sketch.quantile(0.01), "amount q0.01");
  check_quantile(amount, s, 0.99, s.sketch.quantile(0.99), "amount q0.99");
  FeatureProgram through;
  through.flags = kStandardize;
  through.center = a.center;
  through.inv_scale = a.inv_scale;
  EXPECT_EQ(a.clip_low, transform_feature(through, static_cast<float>(s.sketch.quantile(0.01))));
  EXPECT_EQ(a.clip_high, transform_feature(through, static_cast<float>(s.sketch.quantile(0.99))));

  // Discrete data: median and quartiles of the Poisson column.
  std::vector<double> count = observed(d.poisson, false);
  const data::ColumnStats& sc = stats.columns[1];
  const FeatureProgram& c = plan.features[2].program;
  check_quantile(count, sc, 0.5, c.impute_value, "count median");
  check_quantile(count, sc, 0.5, c.center, "count robust center");
  EXPECT_EQ(plan.features[2].scale,
            static_cast<float>(sc.sketch.quantile(0.75) - sc.sketch.quantile(0.25)));

  // Vocabulary: exact counts, most frequent first (ties: smaller code), min_count applied.
  std::map<int32_t, int64_t> counts;
  for (int32_t code : d.zipf)
    if (code >= 0) ++counts[code];
  std::vector<std::pair<int64_t, int32_t>> ranked;
  for (auto [code, n] : counts)
    if (n >= 1000) ranked.push_back({-n, code});
  std::sort(ranked.begin(), ranked.end());
  if (ranked.size() > 50) ranked.resize(50);
  ASSERT_EQ(plan.categoricals.size(), 1u);
  std::vector<int32_t> expected;
  for (auto [n, code] : ranked)
    expected.push_back(code);
  EXPECT_EQ(plan.categoricals[0].codes, expected);
  EXPECT_GT(expected.size(), 5u);
  EXPECT_EQ(plan.categoricals[0].cardinality(), static_cast<int64_t>(2 + expected.size()));
}

TEST(TransformFit, DefaultsGiveEveryFeatureAUsableScaleAndSkipNonFeatures) {
  TempDir dir;
  write_fit_dataset(dir / "ds", 5000);
  auto dataset = data::Dataset::open(dir / "ds");
  FittedPlan plan = fit_transform(*dataset, TransformOptions{});
  std::vector<std::string> names;
  for (const auto& f : plan.features)
    names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"amount", "amount.missing", "count"}));
  ASSERT_EQ(plan.categoricals.size(), 1u);
  EXPECT_EQ(plan.categoricals[0].name, "merchant");
  EXPECT_EQ(plan.fitted_on["rows"], 5000);
  EXPECT_EQ(plan.fitted_on["fingerprint"], dataset->fingerprint());
  for (const auto& f : plan.features) {
    if (f.program.flags & kIndicator) continue;
    EXPECT_EQ(f.program.flags, uint32_t{kImpute | kStandardize | kSmoothClip}) << f.name;
    EXPECT_GT(f.scale, 0) << f.name;
    EXPECT_EQ(f.program.clip_high, 3.0f) << f.name;  // the smooth clip's bound
  }
}

TEST(TransformFit, AColumnWithNoValuesFitsZerosAndScaleOne) {
  data::Schema schema{{{"empty", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  data::DatasetStats stats;
  stats.rows = 3;
  stats.columns.resize(2);
  stats.columns[0].role = Role::kNumeric;
  stats.columns[0].missing = 3;
  TransformOptions options;
  options.numeric = {
      "impute(median)",
      "standardize(robust)",
      "clip(quantile)",
  };
  FittedPlan plan = fit_plan(resolve_specs(options, schema), schema, stats);
  ASSERT_EQ(plan.features.size(), 2u);
  EXPECT_EQ(plan.features[0].program.impute_value, 0.0f);
  EXPECT_EQ(plan.features[0].scale, 1.0f);
  EXPECT_EQ(plan.features[0].program.clip_low, 0.0f);
}

TEST(TransformFit, RobustScaleIsTheIqrOrHalfTheRangeWhereTheIqrIsZero) {
  data::Schema schema{
      {{"spread", Role::kNumeric, 0}, {"rare", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  data::DatasetStats stats;
  stats.rows = 100;
  stats.columns.resize(3);
  std::vector<float> spread, rare;
  for (int i = 0; i < 100; ++i) {
    spread.push_back(static_cast<float>(i));    // quartiles 24 and 74 (the sketch is exact here)
    rare.push_back(i % 10 == 0 ? 1.0f : 0.0f);  // a 0/1 column with a tenth ones: IQR 0
  }
  for (int c = 0; c < 2; ++c) {
    stats.columns[static_cast<std::size_t>(c)].role = Role::kNumeric;
    stats.columns[static_cast<std::size_t>(c)].add_block((c == 0 ? spread : rare).data(), 100);
  }
  TransformOptions options;
  options.numeric = {"standardize(robust)", "clip(smooth, bound=3)"};
  FittedPlan plan = fit_plan(resolve_specs(options, schema), schema, stats);
  ASSERT_EQ(plan.features.size(), 2u);
  EXPECT_EQ(plan.features[0].scale, 50.0f);
  EXPECT_EQ(plan.features[1].program.center, 0.0f);
  EXPECT_EQ(plan.features[1].scale, 0.5f);  // half of max - min: the ones become 2
  EXPECT_EQ(plan.features[1].program.flags, uint32_t{kStandardize | kSmoothClip});
  EXPECT_EQ(plan.features[1].program.clip_high, 3.0f);
  EXPECT_FLOAT_EQ(transform_feature(plan.features[1].program, 1.0f),
                  2.0f / std::sqrt(1 + 4.0f / 9));
}

TEST(TransformFit, ZScoresScaleAFlagByHalfItsRangeAndEveryOtherColumnByItsDeviation) {
  data::Schema schema{{{"rare", Role::kNumeric, 0},
                       {"even", Role::kNumeric, 0},
                       {"three", Role::kNumeric, 0},
                       {"spread", Role::kNumeric, 0},
                       {"label", Role::kLabel, 0}}};
  data::DatasetStats stats;
  stats.columns.resize(5);
  // 4M rows in blocks merged as compute_stats merges them: the fp64 sums' rounding must not
  // hide a flag. rare: 0/1 with 0.3% ones; even: -1/+1 alternating; three: 0 and 2 with
  // 0.1% ones; spread: 0..999.
  const int64_t block = 65536, rows = 64 * block;
  for (int64_t begin = 0; begin < rows; begin += block) {
    std::vector<float> columns[4];
    for (int64_t i = begin; i < begin + block; ++i) {
      columns[0].push_back(i % 1000 < 3 ? 1.0f : 0.0f);
      columns[1].push_back(i % 2 == 0 ? -1.0f : 1.0f);
      columns[2].push_back(i % 1000 == 7 ? 1.0f : (i % 2 == 0 ? 0.0f : 2.0f));
      columns[3].push_back(static_cast<float>(i % 1000));
    }
    for (std::size_t c = 0; c < 4; ++c) {
      data::ColumnStats part;
      part.role = Role::kNumeric;
      part.add_block(columns[c].data(), block);
      stats.columns[c].role = Role::kNumeric;
      stats.columns[c].merge(part);
    }
  }
  stats.rows = rows;
  TransformOptions options;
  options.numeric = {"standardize(z)", "clip(smooth, bound=3)"};
  FittedPlan plan = fit_plan(resolve_specs(options, schema), schema, stats);
  ASSERT_EQ(plan.features.size(), 4u);
  const auto deviation = [&](std::size_t c) {
    return static_cast<float>(std::sqrt(stats.columns[c].m2 / static_cast<double>(rows)));
  };
  EXPECT_EQ(plan.features[0].scale, 0.5f);  // not its deviation, about 0.055
  EXPECT_EQ(plan.features[0].program.center, static_cast<float>(stats.columns[0].mean));
  EXPECT_NEAR(transform_feature(plan.features[0].program, 1.0f), 1.994f / std::sqrt(1 + 0.4418f),
              1e-3);                                // a one at 2 (less the rate) from its zeros
  EXPECT_EQ(plan.features[1].scale, 1.0f);          // half the range and the deviation alike
  EXPECT_EQ(plan.features[2].scale, deviation(2));  // a third value: not a flag
  EXPECT_LT(plan.features[2].scale, 1.0f);
  EXPECT_EQ(plan.features[3].scale, deviation(3));
}

// ---- transform.json ----

FittedPlan sample_plan() {
  std::mt19937_64 rng(3);
  FittedPlan plan;
  for (auto& [name, s] : testing::step_cases(rng)) {
    for (auto f : s.plan.features) {
      f.name = name + "." + f.name;
      plan.features.push_back(f);
    }
    for (auto c : s.plan.categoricals) {
      c.name = name + "." + c.name;
      plan.categoricals.push_back(c);
    }
  }
  plan.fitted_on = {{"rows", 7}};
  return plan;
}

TEST(TransformPlan, RoundTripsExactlyThroughTransformJson) {
  TempDir dir;
  FittedPlan plan = sample_plan();
  plan.write(dir / "transform.json");
  FittedPlan back = FittedPlan::read(dir / "transform.json");
  EXPECT_EQ(back.to_json().dump(), plan.to_json().dump());
  CompiledPlan a = compile(plan, testing::case_schema()), b = compile(back, testing::case_schema());
  ASSERT_EQ(a.features.size(), b.features.size());
  for (std::size_t i = 0; i < a.features.size(); ++i) {
    EXPECT_EQ(std::memcmp(&a.features[i], &b.features[i], sizeof(FeatureProgram)), 0) << i;
  }
  for (std::size_t i = 0; i < a.categoricals.size(); ++i) {
    EXPECT_EQ(std::memcmp(&a.categoricals[i], &b.categoricals[i], sizeof(CategoricalProgram)), 0);
  }
  EXPECT_EQ(a.tables, b.tables);
  EXPECT_EQ(a.edges, b.edges);
}

std::string plan_error(const std::function<void(nlohmann::json&)>& damage) {
  nlohmann::json j = nlohmann::json::parse(sample_plan().to_json().dump());
  damage(j);
  return kiln::testing::error_of<DataError>([&] { FittedPlan::from_json(j, "p.json"); });
}

TEST(TransformPlan, ReaderRefusesDamagedPlansNamingTheOutput) {
  EXPECT_NE(plan_error([](auto& j) {
              j["version"] = 2;
            }).find("p.json: transform plan version 2 is not supported"),
            std::string::npos);
  EXPECT_NE(plan_error([](auto& j) { j["format"] = "x"; }).find("not a Kiln transform plan"),
            std::string::npos);
  EXPECT_NE(plan_error([](auto& j) { j.erase("features"); }).find("missing 'features'"),
            std::string::npos);
  auto find_step = [](nlohmann::json& j, const char* list, const char* op) -> nlohmann::json& {
    for (auto& out : j[list])
      for (auto& step : out["steps"])
        if (step["op"] == op) return step;
    throw std::runtime_error("no such step");
  };
  std::string e =
      plan_error([&](auto& j) { find_step(j, "features", "standardize")["center"] = nullptr; });
  EXPECT_NE(e.find("features["), std::string::npos) << e;
  EXPECT_NE(e.find("'center' must be a finite float32 number"), std::string::npos) << e;
  EXPECT_NE(plan_error([&](auto& j) {
              find_step(j, "features", "standardize")["scale"] = 0;
            }).find("scale > 0"),
            std::string::npos);
  EXPECT_NE(plan_error([&](auto& j) {
              find_step(j, "features", "clip")["low"] = 1e39;
            }).find("finite float32"),
            std::string::npos);
  EXPECT_NE(plan_error([&](auto& j) {
              find_step(j, "features", "smooth_clip")["bound"] = -1;
            }).find("smooth_clip needs bound > 0"),
            std::string::npos);
  EXPECT_NE(plan_error([&](auto& j) {
              j["features"][0]["steps"] = {{{"op", "clip"}, {"low", 0}, {"high", 1}},
                                           {{"op", "smooth_clip"}, {"bound", 3}}};
            }).find("clip and smooth_clip exclude each other"),
            std::string::npos);
  EXPECT_NE(plan_error([&](auto& j) {
              auto& edges = find_step(j, "categorical", "bucketize")["edges"];
              std::swap(edges[0], edges[1]);
            }).find("strictly ascending"),
            std::string::npos);
  EXPECT_NE(plan_error([&](auto& j) {
              auto& codes = find_step(j, "categorical", "vocabulary")["codes"];
              codes.push_back(codes[0]);
            }).find("codes repeat"),
            std::string::npos);
  EXPECT_NE(plan_error([&](auto& j) {
              find_step(j, "categorical", "hash")["buckets"] = 0;
            }).find("'buckets' must be an integer"),
            std::string::npos);
  EXPECT_NE(
      plan_error([&](auto& j) {
        j["features"][0]["steps"] = {{{"op", "clip"}, {"low", 0}, {"high", 1}}, {{"op", "log1p"}}};
      }).find("out of order"),
      std::string::npos);
  EXPECT_NE(plan_error([&](auto& j) {
              j["categorical"][0]["cardinality"] = 3;
            }).find("does not match its steps"),
            std::string::npos);
  TempDir dir;
  std::ofstream(dir / "bad.json") << "{not json";
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              FittedPlan::read(dir / "bad.json");
            }).find("not valid JSON"),
            std::string::npos);
  EXPECT_NE(kiln::testing::error_of<InputError>([&] {
              FittedPlan::read(dir / "missing.json");
            }).find("missing.json"),
            std::string::npos);
}

TEST(TransformPlan, CompileChecksColumnsAgainstTheSchema) {
  FittedPlan plan = sample_plan();
  data::Schema renamed{
      {{"z", Role::kNumeric, 0}, {"c", Role::kCategorical, 1000}, {"y", Role::kLabel, 0}}};
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              compile(plan, renamed);
            }).find("reads column 'x', which the dataset does not have"),
            std::string::npos);
  data::Schema wrong_role{
      {{"x", Role::kNumeric, 0}, {"c", Role::kNumeric, 0}, {"y", Role::kLabel, 0}}};
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              compile(plan, wrong_role);
            }).find("needs column 'c' to be categorical"),
            std::string::npos);
  // A column of fewer categories than the plan's vocabulary knows: the codes it cannot hold
  // are left out of its table, the others map as before.
  data::Schema full{
      {{"x", Role::kNumeric, 0}, {"c", Role::kCategorical, 1000}, {"y", Role::kLabel, 0}}};
  data::Schema small{
      {{"x", Role::kNumeric, 0}, {"c", Role::kCategorical, 3}, {"y", Role::kLabel, 0}}};
  const CompiledPlan a = compile(plan, full), b = compile(plan, small, "data/valid");
  int vocabularies = 0, cut = 0;
  for (std::size_t i = 0; i < a.categoricals.size(); ++i) {
    if (a.categoricals[i].kind != CategoricalKind::kVocabulary) continue;
    ++vocabularies;
    const CategoricalProgram &big = a.categoricals[i], &few = b.categoricals[i];
    EXPECT_EQ(few.count, std::min(big.count, 3));
    cut += few.count < big.count;
    for (int32_t code = 0; code < few.count; ++code)
      EXPECT_EQ(b.tables[few.offset + code], a.tables[big.offset + code]) << i << " " << code;
  }
  EXPECT_GT(vocabularies, 0);
  EXPECT_GT(cut, 0);
}

// A plan records the dictionaries of the categorical columns it reads, and compile() refuses a
// dataset whose codes mean other strings: a split imported without --like.
TEST(TransformPlan, CompileRefusesADatasetThatNumbersTheStringsOtherwise) {
  TempDir dir;
  auto write = [&](const std::string& name, const std::vector<std::string>& dictionary) {
    const data::Schema schema{{{"x", Role::kNumeric, 0},
                               {"c", Role::kCategorical, static_cast<int64_t>(dictionary.size())},
                               {"y", Role::kLabel, 0}}};
    std::vector<float> x(60), y(60);
    std::vector<int32_t> c(60);
    for (int i = 0; i < 60; ++i) {
      x[i] = static_cast<float>(i);
      c[i] = i % static_cast<int32_t>(dictionary.size());
      y[i] = static_cast<float>(i % 2);
    }
    data::DatasetWriter writer(dir / name, schema, {}, 1000);
    writer.set_dictionary("c", dictionary);
    writer.append(60, {x.data(), c.data(), y.data()});
    writer.finish();
    return data::Dataset::open(dir / name);
  };
  const auto train = write("train", {"a", "b", "c"});
  const FittedPlan plan = fit_transform(*train, {});
  ASSERT_EQ(plan.dictionaries.count("c"), 1u);
  EXPECT_EQ(plan.dictionaries.at("c").strings, 3);
  EXPECT_NO_THROW(compile(plan, *train));
  EXPECT_NO_THROW(compile(plan, *write("more", {"a", "b", "c", "d"})));

  // Through transform.json and back.
  plan.write(dir / "plan.json");
  const FittedPlan read = FittedPlan::read(dir / "plan.json");
  EXPECT_EQ(read.dictionaries.at("c").sha256, plan.dictionaries.at("c").sha256);
  EXPECT_FALSE(read.fitted_on.contains("dictionaries"));
  EXPECT_EQ(read.to_json().dump(), plan.to_json().dump());

  const auto other = write("other", {"b", "a", "c"});
  const std::string error = kiln::testing::error_of<DataError>([&] { compile(read, *other); });
  EXPECT_NE(error.find(dir / "other" + ": column 'c': its codes may mean other strings than in '" +
                       dir / "train" + "', which the transform plan was made from"),
            std::string::npos)
      << error;

  // With the model's strings (a checkpoint's dictionaries.json) the codes are compared string
  // by string: a shorter dictionary in the same order passes, and the message names the code.
  const auto shorter = write("shorter", {"a", "b"});
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              compile(read, *shorter);
            }).find("its dictionary lists fewer strings, 2 against 3"),
            std::string::npos);
  const data::Dictionaries model = {{"c", {"a", "b", "c", "d"}}};
  EXPECT_NO_THROW(compile(read, *shorter, model, "ckpt"));
  const std::string named =
      kiln::testing::error_of<DataError>([&] { compile(read, *other, model, "ckpt"); });
  EXPECT_NE(named.find(dir / "other" +
                       ": column 'c': code 0 is 'b' here but 'a' in ckpt/dictionaries.json, so the "
                       "two disagree on what the codes mean; import the CSV with `kiln data "
                       "import --like ckpt`"),
            std::string::npos)
      << named;
  // Past the plan's strings the codes are not compared: the plan knows none of them (to it
  // each is the unknown category). Data imported --like the train split (its new string took
  // code 3) is scored by a model whose validation split gave code 3 to another string.
  EXPECT_NO_THROW(compile(read, *write("new", {"a", "b", "c", "e"}), model, "ckpt"));
  // Strings that do not begin with the plan's record stand for nothing: the record decides.
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              compile(read, *shorter, {{"c", {"b", "a", "c"}}}, "ckpt");
            }).find("fewer strings"),
            std::string::npos);

  nlohmann::json damaged = plan.to_json();
  damaged["fitted_on"]["dictionaries"]["c"]["strings"] = "three";
  EXPECT_NE(kiln::testing::error_of<DataError>([&] {
              FittedPlan::from_json(damaged, "plan.json");
            }).find("plan.json: fitted_on.dictionaries.c: expected {"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::transform
