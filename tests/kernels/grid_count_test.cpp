// GridIndex and count_cells (kernels/grid_count.h), the CPU reference of the drift pass's
// count, against plain searches: std::upper_bound for a value's cell, min and max per cell.
#include "kernels/grid_count.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
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

// The bucket table as defined: per bucket searched, the distinct points below its smallest
// float; none before the first searched, all from table_high(); for each grid of
// grid_cases.h.
TEST(GridCount, TheBucketTableHoldsTheDistinctPointsBelowEachBucket) {
  std::vector<testing::GridCase> cases = testing::other_cases(10);
  cases.push_back(testing::awkward_case(10));
  for (const testing::GridCase& c : cases) {
    std::vector<double> distinct = c.points;
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    const GridIndex index(c.points);
    const std::vector<uint32_t>& from = index.from();
    for (uint32_t b = 0; b + 1 < from.size(); ++b) {
      const double lowest = GridIndex::key_float(b << (32 - GridIndex::kBucketBits));
      const auto below = static_cast<uint32_t>(
          std::lower_bound(distinct.begin(), distinct.end(), lowest) - distinct.begin());
      if (b < index.table_low()) {
        ASSERT_EQ(from[b], 0u) << b;
      } else if (b >= index.table_high()) {
        ASSERT_EQ(from[b], distinct.size()) << b;
      } else {
        ASSERT_EQ(from[b], below) << b << " " << lowest;
      }
    }
    EXPECT_EQ(from.back(), distinct.size());
  }
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

// count_cells against a value-by-value count, over calls of several sizes.
TEST(GridCount, CountCellsCountsEveryValueInItsCell) {
  std::vector<testing::GridCase> cases = testing::other_cases(30000);
  cases.push_back(testing::awkward_case(100003));
  int64_t specials = 0;
  for (const testing::GridCase& c : cases) {
    const GridIndex index(c.points);
    CellCounts counts(c.points.size()), expected(c.points.size());
    for (int64_t start = 0, size = 1; start < static_cast<int64_t>(c.values.size());
         start += size, size = size * 3 + 1)
      count_cells(index, c.values.data() + start,
                  std::min<int64_t>(size, static_cast<int64_t>(c.values.size()) - start), counts);
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
    specials += expected.nan + expected.pos_inf + expected.neg_inf;
  }
  EXPECT_GT(specials, 0) << "the cases have NaN and infinities";
}

}  // namespace
}  // namespace kiln::kernels
