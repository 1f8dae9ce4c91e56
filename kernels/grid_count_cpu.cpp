// GridIndex's tables and the CPU reference of the count (kernels/grid_count.h).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/grid_count.h"

namespace kiln::kernels {

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
  const std::size_t buckets = std::size_t{1} << kBucketBits;
  constexpr int kShift = 32 - kBucketBits;
  from_.resize(buckets + 1);
  uint32_t below = 0;  // buckets in float order: the distinct points below advance
  for (std::size_t b = 0; b < buckets; ++b) {
    const float lowest = key_float(static_cast<uint32_t>(b << kShift));
    if (std::isnan(lowest)) {  // NaN patterns: below every float (negative NaNs) or above
      from_[b] = b < buckets / 2 ? 0 : n;
      continue;
    }
    while (below < n && distinct_[below] < static_cast<double>(lowest))
      ++below;
    from_[b] = below;
  }
  from_[buckets] = n;
  uint32_t widest = 0;
  for (std::size_t b = buckets; b-- > 0;) {  // NaN buckets above keep the order
    from_[b] = std::min(from_[b], from_[b + 1]);
    widest = std::max(widest, from_[b + 1] - from_[b]);
  }
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
