// The test body shared by the CPU and GPU paths of the feature transforms: for every
// registered step, a plan that uses it, random inputs with NaN, +-Inf, huge, tiny and
// subnormal values, and a naive per-element reference written from docs/TRANSFORMS.md
// (not from transform_math.h). `apply` is the path under test.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/transform.h"
#include "transform/plan.h"

namespace kiln::transform::testing {

using kernels::CategoricalKind;
using kernels::CompiledPlan;
using kernels::kClip;
using kernels::kImpute;
using kernels::kIndicator;
using kernels::kLog1p;
using kernels::kSmoothClip;
using kernels::kStandardize;
using kernels::signed_log1p;

using ApplyFn = std::function<void(
    const CompiledPlan& plan, const std::vector<const void*>& columns, int64_t rows,
    std::vector<float>& features, std::vector<int64_t>& categorical)>;

struct StepCase {
  FittedPlan plan;
  // Expected outputs of one row from its raw value x and code c.
  std::function<std::vector<float>(float x)> features;
  std::function<std::vector<int64_t>(float x, int32_t c)> categorical;
  int ulps = 0;  // allowed float difference (log1p: 1, as glibc and CUDA may round apart)
};

inline data::Schema case_schema() {
  return data::Schema{{{"x", data::Role::kNumeric, 0},
                       {"c", data::Role::kCategorical, 1000},
                       {"y", data::Role::kLabel, 0}}};
}

inline float naive_log1p(float x) {  // correctly rounded via double, sign restored
  if (std::isnan(x) || x == 0) return x;
  double m = std::log1p(std::fabs(static_cast<double>(x)));
  return static_cast<float>(x < 0 ? -m : m);
}

inline PlanFeature feature(uint32_t flags) {
  PlanFeature f;
  f.name = "x";
  f.column = "x";
  f.program.flags = flags;
  return f;
}

inline PlanCategorical categorical(const char* column, CategoricalKind kind) {
  PlanCategorical c;
  c.name = column;
  c.column = column;
  c.program.kind = kind;
  return c;
}

// One case per registered step (drop: an empty plan), plus a full chain.
inline std::map<std::string, StepCase> step_cases(std::mt19937_64& rng) {
  std::uniform_real_distribution<float> u(-50, 50);
  std::map<std::string, StepCase> cases;
  {
    StepCase s;
    s.plan.features = {feature(kLog1p)};
    s.features = [](float x) { return std::vector<float>{naive_log1p(x)}; };
    s.ulps = 1;
    cases["log1p"] = s;
  }
  {
    StepCase s;
    float value = u(rng);
    PlanFeature f = feature(kImpute);
    f.program.impute_value = value;
    s.plan.features = {f, feature(kIndicator)};
    s.features = [value](float x) {
      return std::vector<float>{std::isnan(x) ? value : x, std::isnan(x) ? 1.0f : 0.0f};
    };
    cases["impute"] = s;
  }
  {
    StepCase s;
    PlanFeature f = feature(kStandardize);
    f.program.center = u(rng);
    f.scale = std::fabs(u(rng)) + 0.01f;
    f.program.inv_scale = static_cast<float>(1.0 / f.scale);
    s.plan.features = {f};
    float center = f.program.center, inv = f.program.inv_scale;
    s.features = [center, inv](float x) {
      volatile float d = x - center;  // two roundings, as documented
      return std::vector<float>{d * inv};
    };
    cases["standardize"] = s;
  }
  {
    StepCase s;
    PlanFeature f = feature(kClip);
    f.program.clip_low = -std::fabs(u(rng));
    f.program.clip_high = std::fabs(u(rng));
    s.plan.features = {f};
    float lo = f.program.clip_low, hi = f.program.clip_high;
    s.features = [lo, hi](float x) {
      return std::vector<float>{std::isnan(x) ? x : (x < lo ? lo : (x > hi ? hi : x))};
    };
    cases["clip"] = s;
  }
  {
    StepCase s;
    PlanFeature f = feature(kSmoothClip);
    f.program.clip_high = std::fabs(u(rng)) / 8 + 0.5f;
    s.plan.features = {f};
    float bound = f.program.clip_high;
    s.features = [bound](float x) {
      volatile float t = x / bound, square = t * t, below = 1.0f + square;
      float v = std::fabs(t) > 1e18f ? std::copysign(bound, x) : x / std::sqrt(below);
      return std::vector<float>{v};
    };
    cases["clip(smooth)"] = s;
  }
  {
    StepCase s;
    PlanCategorical c = categorical("x", CategoricalKind::kBucketize);
    c.edges = {-1e30f, -3.0f, -0.0f, 1e-40f, 2.5f, 7.0f, 1e20f};
    s.plan.categoricals = {c};
    std::vector<float> edges = c.edges;
    s.categorical = [edges](float x, int32_t) {
      if (std::isnan(x)) return std::vector<int64_t>{0};
      int64_t below = 0;
      for (float e : edges)
        below += e <= x ? 1 : 0;
      return std::vector<int64_t>{1 + below};
    };
    cases["bucketize"] = s;
  }
  {
    StepCase s;
    PlanCategorical c = categorical("c", CategoricalKind::kVocabulary);
    for (int32_t code = 0; code < 500; code += 1 + static_cast<int32_t>(rng() % 3))
      c.codes.push_back(code);
    std::shuffle(c.codes.begin(), c.codes.end(), rng);
    s.plan.categoricals = {c};
    std::vector<int32_t> codes = c.codes;
    s.categorical = [codes](float, int32_t code) {
      if (code < 0) return std::vector<int64_t>{0};
      for (std::size_t i = 0; i < codes.size(); ++i)
        if (codes[i] == code) return std::vector<int64_t>{static_cast<int64_t>(2 + i)};
      return std::vector<int64_t>{1};
    };
    cases["vocabulary"] = s;
  }
  {
    StepCase s;
    PlanCategorical c = categorical("c", CategoricalKind::kHash);
    c.program.seed = static_cast<uint32_t>(rng());
    c.program.buckets = 1 + static_cast<uint32_t>(rng() % 5000);
    s.plan.categoricals = {c};
    uint32_t seed = c.program.seed, buckets = c.program.buckets;
    s.categorical = [seed, buckets](float, int32_t code) {
      if (code < 0) return std::vector<int64_t>{0};
      uint64_t h =
          (static_cast<uint64_t>(static_cast<uint32_t>(code)) * 2654435761u) % (1ull << 32);
      h ^= seed;
      h ^= h >> 16;
      h = (h * 0x85ebca6bull) % (1ull << 32);
      h ^= h >> 13;
      h = (h * 0xc2b2ae35ull) % (1ull << 32);
      h ^= h >> 16;
      return std::vector<int64_t>{static_cast<int64_t>(1 + h % buckets)};
    };
    cases["hash"] = s;
  }
  cases["drop"] = StepCase{};
  {
    StepCase s;
    PlanFeature f = feature(kLog1p | kImpute | kStandardize | kClip);
    f.program.impute_value = 0.25f;
    f.program.center = 1.5f;
    f.scale = 2.0f;
    f.program.inv_scale = 0.5f;
    f.program.clip_low = -2.0f;
    f.program.clip_high = 3.0f;
    s.plan.features = {f, feature(kIndicator)};
    // The chain's reference takes log1p from transform_math.h (checked on its own above):
    // a 1-ulp difference there would be magnified by the subtraction that follows.
    s.features = [](float x) {
      float v = std::isnan(x) ? 0.25f : signed_log1p(x);
      volatile float d = v - 1.5f;
      float z = d * 0.5f;
      return std::vector<float>{z < -2.0f ? -2.0f : (z > 3.0f ? 3.0f : z),
                                std::isnan(x) ? 1.0f : 0.0f};
    };
    cases["chain"] = s;
  }
  return cases;
}

// Raw inputs: special values first, then a mix of scales, signs and codes.
inline void case_inputs(std::mt19937_64& rng, int64_t rows, std::vector<float>& x,
                        std::vector<int32_t>& c) {
  const float nan = std::numeric_limits<float>::quiet_NaN(),
              inf = std::numeric_limits<float>::infinity();
  const float fmax = std::numeric_limits<float>::max(), fmin = std::numeric_limits<float>::min();
  const float denorm = std::numeric_limits<float>::denorm_min();
  std::vector<float> special = {0.0f,   -0.0f, nan,    inf,     -inf,   fmax,    -fmax,
                                fmin,   -fmin, denorm, -denorm, 1e-40f, -1e-40f, 1e30f,
                                -1e30f, -3.0f, 2.5f,   7.0f,    1e20f};
  std::vector<int32_t> special_codes = {-1, -7, 0, 1, 499, 500, 998, 999, 1000, 2147483647};
  std::uniform_real_distribution<double> exponent(-44, 38);
  x.resize(static_cast<std::size_t>(rows));
  c.resize(static_cast<std::size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    auto k = static_cast<std::size_t>(i);
    if (k < special.size()) {
      x[k] = special[k];
    } else if (rng() % 10 == 0) {
      x[k] = nan;
    } else {
      double magnitude =
          rng() % 2 ? std::pow(10.0, exponent(rng)) : static_cast<double>(rng() % 2000) / 100.0;
      x[k] = static_cast<float>(rng() % 2 ? magnitude : -magnitude);
    }
    c[k] = k < special_codes.size() ? special_codes[k]
                                    : static_cast<int32_t>(rng() % 1100) - 50;  // some < 0
  }
}

inline void expect_float_close(float got, float want, int ulps, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": got " << got << ", want NaN";
    return;
  }
  int64_t a = std::bit_cast<int32_t>(got), b = std::bit_cast<int32_t>(want);
  if (a < 0) a = std::numeric_limits<int32_t>::min() - a;  // sign-magnitude to ordered ints
  if (b < 0) b = std::numeric_limits<int32_t>::min() - b;
  EXPECT_LE(std::llabs(a - b), ulps) << what << ": got " << got << ", want " << want;
}

// Runs every registered step (and the chain) through `apply` and the naive reference.
inline void check_every_step(const ApplyFn& apply) {
  std::mt19937_64 rng(42);
  auto cases = step_cases(rng);
  for (const std::string& name : registered_steps())
    ASSERT_TRUE(cases.count(name)) << "registered step '" << name << "' has no test case";
  const int64_t rows = 4099;  // not a multiple of the GPU tile
  std::vector<float> x;
  std::vector<int32_t> c;
  std::vector<float> y(static_cast<std::size_t>(rows), 0.0f);
  case_inputs(rng, rows, x, c);
  data::Schema schema = case_schema();
  for (const auto& [name, s] : cases) {
    SCOPED_TRACE("step " + name);
    CompiledPlan compiled = compile(s.plan, schema);
    std::vector<float> features;
    std::vector<int64_t> categorical;
    apply(compiled, {x.data(), c.data(), y.data()}, rows, features, categorical);
    const auto width = static_cast<std::size_t>(compiled.width());
    const auto cwidth = static_cast<std::size_t>(compiled.categorical_width());
    ASSERT_EQ(features.size(), static_cast<std::size_t>(rows) * width);
    ASSERT_EQ(categorical.size(), static_cast<std::size_t>(rows) * cwidth);
    for (std::size_t r = 0; r < static_cast<std::size_t>(rows); ++r) {
      std::string what =
          "row " + std::to_string(r) + " x=" + std::to_string(x[r]) + " c=" + std::to_string(c[r]);
      if (width > 0) {
        std::vector<float> want = s.features(x[r]);
        for (std::size_t f = 0; f < width; ++f)
          expect_float_close(features[r * width + f], want[f], s.ulps, what);
      }
      if (cwidth > 0) {
        std::vector<int64_t> want = s.categorical(x[r], c[r]);
        for (std::size_t k = 0; k < cwidth; ++k)
          ASSERT_EQ(categorical[r * cwidth + k], want[k]) << what;
      }
    }
  }
}

}  // namespace kiln::transform::testing
