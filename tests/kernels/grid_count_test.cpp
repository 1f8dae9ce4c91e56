// GridIndex and count_cells (kernels/grid_count.h), the CPU reference of the drift pass's
// count, against plain searches: std::upper_bound for a value's cell, min and max per cell.
#include "kernels/grid_count.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tests/kernels/grid_cases.h"

namespace kiln::kernels {
namespace {

// The number of points at or below v.
std::size_t cell_of(const std::vector<double>& points, float v) {
  return static_cast<std::size_t>(
      std::upper_bound(points.begin(), points.end(), static_cast<double>(v)) - points.begin());
}

// GridIndex answers as the plain search does for every finite float, one at a time and a
// block at once (where NaN and the infinities get answers in range).
TEST(GridCount, TheGridIndexAgreesWithThePlainSearch) {
  const testing::GridCase c = testing::awkward_case(200000);
  const GridIndex index(c.points);
  EXPECT_EQ(index.points(), c.points.size());
  std::vector<uint32_t> cells(c.values.size());
  index(c.values.data(), static_cast<int64_t>(c.values.size()), cells.data());
  for (std::size_t i = 0; i < c.values.size(); ++i) {
    const float v = c.values[i];
    if (std::isfinite(v)) {
      ASSERT_EQ(index(v), cell_of(c.points, v)) << v;
      ASSERT_EQ(cells[i], cell_of(c.points, v)) << v;
    } else {
      ASSERT_LE(cells[i], c.points.size()) << v;
    }
  }
  EXPECT_EQ(GridIndex({})(1.5f), 0u);
}

// The smallest float of bucket b (by key, NaN apart), or NaN when no float falls in it:
// bucket() keeps order, so a search over the keys of -Inf to +Inf finds it.
float smallest_in(const GridIndex& index, uint32_t b) {
  uint32_t low = GridIndex::order_key(-std::numeric_limits<float>::infinity());
  uint32_t high = GridIndex::order_key(std::numeric_limits<float>::infinity());
  if (index.bucket(GridIndex::key_float(high)) < b) return std::numeric_limits<float>::quiet_NaN();
  while (low < high) {  // the first key whose float's bucket is b or later
    const uint32_t middle = low + (high - low) / 2;
    if (index.bucket(GridIndex::key_float(middle)) < b)
      low = middle + 1;
    else
      high = middle;
  }
  const float smallest = GridIndex::key_float(low);
  return index.bucket(smallest) == b ? smallest : std::numeric_limits<float>::quiet_NaN();
}

// The bucket table as defined: per bucket searched that holds a float, the distinct points
// below its smallest float; none before the first searched, all from table_high(); for each
// grid of grid_cases.h.
TEST(GridCount, TheBucketTableHoldsTheDistinctPointsBelowEachBucket) {
  std::vector<testing::GridCase> cases = testing::other_cases(10);
  cases.push_back(testing::awkward_case(10));
  for (const testing::GridCase& c : cases) {
    std::vector<double> distinct = c.points;
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    const GridIndex index(c.points);
    const std::vector<uint32_t>& from = index.from();
    int checked = 0;
    for (uint32_t b = 0; b + 1 < from.size(); ++b) {
      if (b < index.table_low()) {
        ASSERT_EQ(from[b], 0u) << b;
      } else if (b >= index.table_high()) {
        ASSERT_EQ(from[b], distinct.size()) << b;
      } else if (const float lowest = smallest_in(index, b); !std::isnan(lowest)) {
        const auto below = static_cast<uint32_t>(
            std::lower_bound(distinct.begin(), distinct.end(), static_cast<double>(lowest)) -
            distinct.begin());
        ASSERT_EQ(from[b], below) << b << " " << lowest;
        ++checked;
      }
    }
    EXPECT_EQ(from.back(), distinct.size());
    EXPECT_TRUE(distinct.empty() || checked > 0);
  }
}

// The block search without the equal-width table (the thresholds compared at once where a
// bucket spans at most 16 points and the CPU has AVX2, else the halvings) and the one-value
// search answer as the plain search, on grids whose widest bucket is at most 8 points, 9 to
// 16, and more: uniform grids of several densities, one offset far from zero, and a cluster
// of adjacent floats, each with an outlier (so its equal-width buckets are too wide to use).
TEST(GridCount, TheSearchesAgreeOnGridsOfEveryWidth) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> uniform(0, 1);
  std::vector<std::vector<double>> grids;
  for (int n : {600, 1800, 5000}) {
    std::vector<double> g;
    for (int i = 0; i < n; ++i)
      g.push_back(uniform(rng));
    std::sort(g.begin(), g.end());
    grids.push_back(g);
    for (double& p : g)
      p = static_cast<float>(p + 1000.0);  // the same grid offset: the same widths
    grids.push_back(g);
  }
  std::vector<double> cluster;
  for (float p = 7.5f; cluster.size() < 300; p = std::nextafter(p, 8.0f))
    cluster.push_back(p);
  cluster.insert(cluster.begin(), {-2.0, 0.0, 1.0});
  grids.push_back(cluster);
  bool narrow = false, medium = false, wide = false;
  for (std::vector<double>& points : grids) {
    points.push_back(points.back() + 1e7);
    const GridIndex index(points);
    ASSERT_GT(index.linear_widest(), GridIndex::kLinearWidest);
    narrow = narrow || index.widest() <= 8;
    medium = medium || (index.widest() > 8 && index.widest() <= 16);
    wide = wide || index.widest() > 16;
    const auto low = static_cast<float>(points.front()), high = static_cast<float>(points.back());
    std::uniform_real_distribution<float> around(low - (high - low) / 10, high + (high - low) / 10);
    std::vector<float> values;
    for (double p : points) {
      const auto f = static_cast<float>(p);
      values.insert(values.end(), {f, std::nextafter(f, -INFINITY), std::nextafter(f, INFINITY)});
    }
    for (int i = 0; i < 20000; ++i)
      values.push_back(around(rng));
    std::vector<uint32_t> found(values.size());
    index(values.data(), static_cast<int64_t>(values.size()), found.data());
    for (std::size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(found[i], cell_of(points, values[i])) << values[i] << ", widest " << index.widest();
      ASSERT_EQ(index(values[i]), found[i]) << values[i];
    }
  }
  EXPECT_TRUE(narrow && medium && wide) << narrow << medium << wide;
}

// The equal-width table (the CPU's block search where every equal-width bucket holds at most
// GridIndex::kLinearWidest points) answers as the plain search: on a normal column's quantile
// grid, a flag's two values, a few integers, and a narrow grid seen through values as far as
// the floats go (their distance from the first point, scaled, overflows to infinity).
TEST(GridCount, TheEqualWidthTableAgreesWithThePlainSearch) {
  std::vector<testing::GridCase> cases = testing::other_cases(20000);
  cases.resize(2);
  cases.push_back({{-3, -1, 0, 2, 5, 8}, {}});
  cases.push_back({{-1.0, -0.5, 0.25, 1.0}, {}});
  constexpr float kMax = std::numeric_limits<float>::max();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::mt19937_64 rng(11);
  for (testing::GridCase& c : cases) {
    const GridIndex index(c.points);
    ASSERT_LE(index.linear_widest(), GridIndex::kLinearWidest) << c.points.size();
    const auto low = static_cast<float>(c.points.front()),
               high = static_cast<float>(c.points.back());
    std::uniform_real_distribution<float> around(low - (high - low), high + (high - low));
    for (double p : c.points) {
      const auto f = static_cast<float>(p);
      c.values.insert(c.values.end(), {f, std::nextafter(f, -kInf), std::nextafter(f, kInf)});
    }
    c.values.insert(c.values.end(), {kMax, -kMax, 1e30f, -1e30f, kInf, -kInf, nan, -nan});
    for (int i = 0; i < 20000; ++i)
      c.values.push_back(around(rng));
    std::vector<uint32_t> found(c.values.size());
    index(c.values.data(), static_cast<int64_t>(c.values.size()), found.data());
    for (std::size_t i = 0; i < c.values.size(); ++i) {
      if (std::isfinite(c.values[i]))
        ASSERT_EQ(found[i], cell_of(c.points, c.values[i])) << c.values[i];
      else
        ASSERT_LE(found[i], c.points.size()) << c.values[i];
    }
  }
  // A grid with an outlier, whose points crowd a few equal-width buckets, has no such table.
  EXPECT_GT(GridIndex(testing::awkward_case(10).points).linear_widest(), GridIndex::kLinearWidest);
}

// For finite floats, comparing with a double is comparing with its float at or below or at or
// above: doubles that are floats, between floats, subnormal, and beyond the floats' range.
TEST(GridCount, TheFloatsAtOrAboveAndBelowADoubleCompareAsTheDouble) {
  constexpr float kMax = std::numeric_limits<float>::max();
  constexpr float kInf = std::numeric_limits<float>::infinity();
  const std::vector<double> doubles = {0.0,
                                       -0.0,
                                       0.1,
                                       -0.1,
                                       1.0,
                                       2.25,
                                       1e-40,
                                       -1e-40,
                                       1e-46,
                                       -1e-46,
                                       1e300,
                                       -1e300,
                                       kMax,
                                       -kMax,
                                       std::nextafter(static_cast<double>(kMax), 1e300),
                                       std::nextafter(-static_cast<double>(kMax), -1e300)};
  for (double d : doubles) {
    const float below = float_at_or_below(d), above = float_at_or_above(d);
    EXPECT_LE(static_cast<double>(below), d) << d;
    EXPECT_GE(static_cast<double>(above), d) << d;
    std::vector<float> xs = {0.0f,
                             -0.0f,
                             kMax,
                             -kMax,
                             std::numeric_limits<float>::denorm_min(),
                             -std::numeric_limits<float>::denorm_min()};
    for (float f : {below, above}) {
      if (!std::isfinite(f)) continue;
      for (float x = std::nextafter(std::nextafter(f, -kInf), -kInf), i = 0; i < 5;
           x = std::nextafter(x, kInf), ++i)
        if (std::isfinite(x)) xs.push_back(x);
    }
    for (float x : xs) {
      const auto xd = static_cast<double>(x);
      EXPECT_EQ(xd <= d, x <= below) << x << " " << d;
      EXPECT_EQ(xd >= d, x >= above) << x << " " << d;
      EXPECT_EQ(xd < d, x < above) << x << " " << d;
      EXPECT_EQ(xd > d, x > below) << x << " " << d;
    }
  }
}

// count_cells and CellCounter against a value-by-value count, over calls of several sizes.
TEST(GridCount, CountCellsCountsEveryValueInItsCell) {
  std::vector<testing::GridCase> cases = testing::other_cases(30000);
  cases.push_back(testing::awkward_case(100003));
  int64_t specials = 0;
  for (const testing::GridCase& c : cases) {
    const GridIndex index(c.points);
    CellCounts counts(c.points.size()), expected(c.points.size());
    // One CellCounter over all the calls (past 65,535 values it adds its slots to the cells
    // in the middle of a call) and a count_cells per call count the same.
    CellCounts counted(c.points.size());
    CellCounter counter(index);
    for (int64_t start = 0, size = 1; start < static_cast<int64_t>(c.values.size());
         start += size, size = size * 3 + 1) {
      const int64_t n = std::min<int64_t>(size, static_cast<int64_t>(c.values.size()) - start);
      count_cells(index, c.values.data() + start, n, counts);
      counter.add(c.values.data() + start, n, counted);
    }
    counter.take(counted);
    for (float v : c.values) {
      if (std::isnan(v)) {
        ++expected.nan;
      } else if (std::isinf(v)) {
        ++(v > 0 ? expected.pos_inf : expected.neg_inf);
      } else {
        const std::size_t cell = cell_of(c.points, v);
        ++expected.cells[cell];
        if (cell > 0 && c.points[cell - 1] == v) ++expected.atoms[cell - 1];
        expected.low[cell] = std::min(expected.low[cell], v == 0 ? 0.0f : v);
        expected.high[cell] = std::max(expected.high[cell], v == 0 ? 0.0f : v);
      }
    }
    ASSERT_EQ(counts, expected) << c.points.size() << " points";
    ASSERT_EQ(counted, expected) << c.points.size() << " points, one CellCounter";
    specials += expected.nan + expected.pos_inf + expected.neg_inf;
  }
  EXPECT_GT(specials, 0) << "the cases have NaN and infinities";
}

// A slot's two counts share 32 bits: 200,000 values on one grid point (each in the cell and
// the point's atom), counted by one CellCounter in calls of 30,000, are all counted.
TEST(GridCount, ACellCounterCountsPastASlotsSixteenBits) {
  const std::vector<double> points = {-1.0, 0.5, 2.0};
  const GridIndex index(points);
  const std::vector<float> values(30000, 0.5f);
  CellCounts counts(points.size());
  CellCounter counter(index);
  for (int call = 0; call < 6; ++call)
    counter.add(values.data(), static_cast<int64_t>(values.size()), counts);
  counter.add(values.data(), 20000, counts);
  counter.take(counts);
  EXPECT_EQ(counts.cells, (std::vector<int64_t>{0, 0, 200000, 0}));
  EXPECT_EQ(counts.atoms, (std::vector<int64_t>{0, 200000, 0}));
  EXPECT_EQ(counts.low[2], 0.5f);
  EXPECT_EQ(counts.high[2], 0.5f);
}

// add_moments (AVX2 where the CPU has it) gives the bits of the plain loop it specifies:
// value i of a call in lane i % 8, its distance from the shift and its square added there,
// 0 for NaN and the infinities; the tails' values in order. Calls of every length, so the
// vector loop's remainder and short calls are covered.
TEST(GridCount, AddMomentsGivesThePlainLoopsBits) {
  std::vector<testing::GridCase> cases = testing::other_cases(30000);
  cases.push_back(testing::awkward_case(100003));
  int64_t tails_seen = 0;
  for (const testing::GridCase& c : cases) {
    const double shift = c.points.empty() ? 0.0 : c.points[c.points.size() / 2] + 0.1;
    const float below = c.points.size() < 2 ? std::numeric_limits<float>::infinity()
                                            : float_at_or_above(c.points[1]);
    const float from = c.points.size() < 2 ? -std::numeric_limits<float>::infinity()
                                           : float_at_or_above(c.points[c.points.size() - 2]);
    Moments m, expected;
    std::vector<float> tails, expected_tails;
    for (int64_t start = 0, size = 1; start < static_cast<int64_t>(c.values.size());
         start += size, size = size * 3 + 1) {
      const int64_t n = std::min<int64_t>(size, static_cast<int64_t>(c.values.size()) - start);
      add_moments(c.values.data() + start, n, shift, below, from, m, tails);
      for (int64_t i = 0; i < n; ++i) {
        const float x = c.values[static_cast<std::size_t>(start + i)];
        const double d = std::isfinite(x) ? static_cast<double>(x) - shift : 0.0;
        expected.count += std::isfinite(x) ? 1 : 0;
        expected.sum[i % 8] += d;
        expected.sum_sq[i % 8] += d * d;
        if (std::isfinite(x) && (x < below || x >= from)) expected_tails.push_back(x);
      }
    }
    ASSERT_EQ(m.count, expected.count) << c.points.size() << " points";
    for (int lane = 0; lane < 8; ++lane) {
      ASSERT_EQ(m.sum[lane], expected.sum[lane]) << "lane " << lane;
      ASSERT_EQ(m.sum_sq[lane], expected.sum_sq[lane]) << "lane " << lane;
    }
    ASSERT_EQ(tails, expected_tails) << c.points.size() << " points";
    tails_seen += static_cast<int64_t>(tails.size());
  }
  EXPECT_GT(tails_seen, 0) << "the cases have values in the outer cells";
}

}  // namespace
}  // namespace kiln::kernels
