// kernels/transform_math.h against golden values from an independent numpy implementation
// (tests/kernels/transform_golden.py, checked in with its output).
#include "kernels/transform_math.h"

#include <gtest/gtest.h>

#include <bit>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace kiln::kernels {
namespace {

nlohmann::json golden() {
  return nlohmann::json::parse(
      std::ifstream(std::string(KILN_SOURCE_DIR) + "/tests/kernels/transform_golden.json"));
}

std::vector<float> floats(const nlohmann::json& bits) {
  std::vector<float> out;
  for (uint32_t b : bits.get<std::vector<uint32_t>>())
    out.push_back(std::bit_cast<float>(b));
  return out;
}

// Distance in units in the last place; NaN matches NaN only.
int64_t ulps(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  auto key = [](float f) {
    int32_t i = std::bit_cast<int32_t>(f);
    return i < 0 ? int64_t{INT32_MIN} - i : int64_t{i};
  };
  return std::llabs(key(a) - key(b));
}

TEST(TransformMath, MatchesNumpyBitForBitExceptLog1pWithinOneUlp) {
  nlohmann::json g = golden();
  std::vector<float> x = floats(g["values"]);
  std::vector<float> log1p = floats(g["signed_log1p"]), clipped = floats(g["clip"]["out"]),
                     standardized = floats(g["standardize"]["out"]),
                     imputed = floats(g["impute"]["out"]),
                     indicator = floats(g["impute"]["indicator"]),
                     smooth = floats(g["smooth_clip"]["out"]);
  const float lo = g["clip"]["lo"], hi = g["clip"]["hi"];
  const float center = g["standardize"]["center"], inv_scale = g["standardize"]["inv_scale"];
  const float value = g["impute"]["value"], bound = g["smooth_clip"]["bound"];
  ASSERT_EQ(x.size(), 319u);
  for (std::size_t i = 0; i < x.size(); ++i) {
    // numpy and glibc may round log1p differently; the math library promises 1 ulp.
    EXPECT_LE(ulps(signed_log1p(x[i]), log1p[i]), 1) << "x=" << x[i];
    EXPECT_EQ(std::signbit(signed_log1p(x[i])), std::signbit(log1p[i])) << "x=" << x[i];
    EXPECT_EQ(ulps(clip(x[i], lo, hi), clipped[i]), 0) << "x=" << x[i];
    EXPECT_EQ(ulps(smooth_clip(x[i], bound), smooth[i]), 0) << "x=" << x[i];
    EXPECT_EQ(ulps(standardize(x[i], center, inv_scale), standardized[i]), 0) << "x=" << x[i];
    EXPECT_EQ(ulps(impute(x[i], value), imputed[i]), 0) << "x=" << x[i];
    EXPECT_EQ(missing_indicator(x[i]), indicator[i]) << "x=" << x[i];
  }
}

TEST(TransformMath, BucketizeSendsTiesUpAndNanToZero) {
  nlohmann::json g = golden()["bucketize"];
  std::vector<float> edges = floats(g["edges"]), values = floats(g["values"]);
  std::vector<int64_t> expected = g["out"];
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(bucketize(values[i], edges.data(), static_cast<int32_t>(edges.size())), expected[i])
        << "x=" << values[i];
  }
  EXPECT_EQ(bucketize(0.5f, edges.data(), 7), 6);  // equal to a (repeated) edge: above both
  EXPECT_EQ(bucketize(1.0f, edges.data(), 0), 1);  // no edges: one bucket
  EXPECT_EQ(bucketize(std::nanf(""), edges.data(), 7), 0);
}

TEST(TransformMath, HashBucketsMatchTheReferenceAndKeepZeroForMissing) {
  nlohmann::json g = golden()["hash"];
  const uint32_t seed = g["seed"], buckets = g["buckets"];
  std::vector<int32_t> codes = g["codes"];
  std::vector<int64_t> expected = g["out"];
  for (std::size_t i = 0; i < codes.size(); ++i) {
    int64_t h = hash_bucket(codes[i], seed, buckets);
    EXPECT_EQ(h, expected[i]) << "code " << codes[i];
    if (codes[i] >= 0) {
      EXPECT_TRUE(h >= 1 && h <= buckets);
    }
  }
  EXPECT_EQ(hash_bucket(-1, seed, buckets), 0);
}

}  // namespace
}  // namespace kiln::kernels
