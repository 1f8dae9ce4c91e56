// GridIndex's tables and the CPU reference of the count (kernels/grid_count.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/grid_count.h"

namespace kiln::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMax = std::numeric_limits<float>::max();

}  // namespace

float float_at_or_below(double point) {
  if (point > kMax) return kMax;
  if (point < -kMax) return -kInf;
  const auto f = static_cast<float>(point);
  return static_cast<double>(f) > point ? std::nextafter(f, -kInf) : f;
}

float float_at_or_above(double point) {
  if (point < -kMax) return -kMax;
  if (point > kMax) return kInf;
  const auto f = static_cast<float>(point);
  return static_cast<double>(f) < point ? std::nextafter(f, kInf) : f;
}

GridIndex::GridIndex(const std::vector<double>& points) {
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (distinct_.empty() || points[i] != distinct_.back()) {
      distinct_.push_back(points[i]);
      at_or_below_.push_back(static_cast<uint32_t>(i));
    }
    at_or_below_.back() = static_cast<uint32_t>(i + 1);
  }
  at_or_below_.insert(at_or_below_.begin(), 0);
  const auto n = static_cast<uint32_t>(distinct_.size());
  from_.assign((std::size_t{1} << kBucketBits) + 1, 0);
  if (n == 0) return;
  // Only the buckets from that of the largest float at or below the first point to the one
  // past that of the smallest float at or above the last are searched: no point is below
  // the first's smallest float, every point is below the last's.
  table_low_ = bucket(float_at_or_below(distinct_.front()));
  table_high_ = bucket(float_at_or_above(distinct_.back())) + 1;
  // Point i is below the smallest float of exactly the buckets after that of its largest
  // float at or below it (the next float is above it): with the points in order, the
  // buckets from there to the next point's such bucket have i + 1 points below them.
  uint32_t next = table_low_;  // the first bucket not yet filled
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t past = bucket(float_at_or_below(distinct_[i])) + 1;
    if (past > next) std::fill(from_.begin() + next, from_.begin() + past, i);
    next = std::max(next, past);
  }
  std::fill(from_.begin() + next, from_.end(), n);
  uint32_t widest = 0;
  for (uint32_t b = table_low_; b < table_high_; ++b)
    widest = std::max(widest, from_[b + 1] - from_[b]);
  top_step_ = widest == 0 ? 0 : std::bit_floor(widest);
  distinct_.resize(n + 2 * std::size_t{top_step_}, std::numeric_limits<double>::quiet_NaN());
}

CellCounts::CellCounts(std::size_t points)
    : cells(points + 1, 0),
      atoms(points, 0),
      low(points + 1, std::numeric_limits<float>::infinity()),
      high(points + 1, -std::numeric_limits<float>::infinity()) {}

void count_cells(const GridIndex& index, const float* values, int64_t n, CellCounts& counts) {
  const std::vector<double>& distinct = index.distinct();
  const std::vector<uint32_t>& at_or_below = index.at_or_below();
  constexpr int64_t kBatch = 1024;
  uint32_t found[kBatch];
  for (int64_t start = 0; start < n; start += kBatch) {
    const int64_t m = std::min(kBatch, n - start);
    const float* v = values + start;
    index.distinct_below(v, m, found);
    for (int64_t i = 0; i < m; ++i) {
      const float x = v[i];
      if (std::isnan(x)) {
        ++counts.nan;
        continue;
      }
      if (std::isinf(x)) {
        ++(x > 0 ? counts.pos_inf : counts.neg_inf);
        continue;
      }
      const uint32_t at = found[i];
      const uint32_t cell = at_or_below[at];
      ++counts.cells[cell];
      if (at > 0 && distinct[at - 1] == static_cast<double>(x)) ++counts.atoms[cell - 1];
      counts.low[cell] = std::min(counts.low[cell], x + 0.0f);
      counts.high[cell] = std::max(counts.high[cell], x + 0.0f);
    }
  }
}

}  // namespace kiln::kernels
