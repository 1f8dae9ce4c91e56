// Grids and values for the grid count's tests (kernels/grid_count.h), CPU and GPU: points
// with ties, both zeros, subnormals, huge values and points that are not floats; values equal
// to points, the extremes, NaN of both signs and the infinities.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace kiln::kernels::testing {

struct GridCase {
  std::vector<double> points;  // sorted
  std::vector<float> values;
};

// The awkward grid of 1,000 points and n values around it.
inline GridCase awkward_case(int n, unsigned seed = 5) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> wide(0, 4);
  GridCase c;
  c.points = {-0.0, 0.0, 1e-40, -3.5, 2.25, 2.25, 2.25, 1e30, -1e30, 0.1};
  for (int i = 0; i < 990; ++i)
    c.points.push_back(static_cast<float>((i % 2 ? 1 : -1) * wide(rng)));
  std::sort(c.points.begin(), c.points.end());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  c.values = {0.0f,
              -0.0f,
              1e-45f,
              -1e-45f,
              2.25f,
              0.1f,
              std::numeric_limits<float>::max(),
              -std::numeric_limits<float>::max(),
              nan,
              -nan,
              inf,
              -inf};
  for (double p : c.points)
    c.values.push_back(static_cast<float>(p));
  while (static_cast<int>(c.values.size()) < n)
    c.values.push_back(static_cast<float>((c.values.size() % 2 ? 1 : -1) * wide(rng)));
  c.values.resize(static_cast<std::size_t>(n));
  std::shuffle(c.values.begin(), c.values.end(), rng);
  return c;
}

// Columns of other shapes: a quantile grid of normal values seen through shifted data, a
// grid of a few repeated values (a flag's), one point, no points (an empty reference), and
// points beyond the floats' range at both ends (a profile's points are doubles).
inline std::vector<GridCase> other_cases(int n, unsigned seed = 9) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<GridCase> out(5);
  std::vector<float> sample(20000);
  for (float& v : sample)
    v = normal(rng);
  std::sort(sample.begin(), sample.end());
  for (int i = 0; i <= 1000; ++i)
    out[0].points.push_back(sample[static_cast<std::size_t>(i) * (sample.size() - 1) / 1000]);
  for (int i = 0; i <= 1000; ++i)
    out[1].points.push_back(i < 700 ? 0.0 : 1.0);
  out[2].points = {3.0};
  for (int i = 0; i < n; ++i) {
    out[0].values.push_back(normal(rng) * 1.5f + 0.5f);
    out[1].values.push_back(i % 3 == 0 ? 1.0f : 0.0f);
    out[2].values.push_back(i % 2 ? 3.0f : normal(rng) + 3.0f);
    out[3].values.push_back(i % 5 == 0 ? std::numeric_limits<float>::quiet_NaN() : normal(rng));
    const float big = std::numeric_limits<float>::max();
    out[4].values.push_back(i % 7 == 0 ? (i % 2 ? big : -big) : normal(rng) * 4);
  }
  out[4].points = {-1e300, -2.0, 0.5, 0.5, 7.0, 1e300};
  return out;
}

}  // namespace kiln::kernels::testing
