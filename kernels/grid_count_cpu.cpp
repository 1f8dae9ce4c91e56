// GridIndex's tables and the CPU reference of the count (kernels/grid_count.h).
#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "kernels/grid_count.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace kiln::kernels {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMax = std::numeric_limits<float>::max();
// The most thresholds a value is compared with at once (GridIndex::distinct_below).
constexpr std::size_t kMaxScan = 16;

#if defined(__x86_64__)
bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") != 0;
  return yes;
}

// Each value's distinct points at or below it, from its bucket's first: the count of the W
// thresholds from there that are at or below the value (a prefix of them: they are in order,
// and the NaN padding compares false), when no bucket spans more than W points.
template <int W>
__attribute__((target("avx2"))) void scan(const uint32_t* from, const float* above, float center,
                                          const float* values, int64_t n, uint32_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = values[i];
    const uint32_t first = from[GridIndex::bucket(x, center)];
    const __m256 value = _mm256_set1_ps(x);
    uint32_t at_or_below = 0;
    for (int w = 0; w < W; w += 8)
      at_or_below |= static_cast<uint32_t>(_mm256_movemask_ps(
                         _mm256_cmp_ps(_mm256_loadu_ps(above + first + w), value, _CMP_LE_OQ)))
                     << w;
    out[i] = first + static_cast<uint32_t>(std::countr_one(at_or_below));
  }
}

// add_moments, 8 values at a time: lanes 0-3 of the sums in one register, 4-7 in another.
__attribute__((target("avx2"))) int64_t add_moments_avx2(const float* values, int64_t n,
                                                         double shift, float below, float from,
                                                         Moments& m, std::vector<float>& tails) {
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256 inf = _mm256_set1_ps(kInf), low = _mm256_set1_ps(below), high = _mm256_set1_ps(from);
  const __m256d s = _mm256_set1_pd(shift);
  __m256d sum[2] = {_mm256_loadu_pd(m.sum), _mm256_loadu_pd(m.sum + 4)};
  __m256d sum_sq[2] = {_mm256_loadu_pd(m.sum_sq), _mm256_loadu_pd(m.sum_sq + 4)};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(values + i);
    const __m256 finite = _mm256_cmp_ps(_mm256_and_ps(x, magnitude), inf, _CMP_LT_OQ);
    const int finite_bits = _mm256_movemask_ps(finite);
    m.count += std::popcount(static_cast<unsigned>(finite_bits));
    const __m256 outer =
        _mm256_or_ps(_mm256_cmp_ps(x, low, _CMP_LT_OQ), _mm256_cmp_ps(x, high, _CMP_GE_OQ));
    for (unsigned t = static_cast<unsigned>(_mm256_movemask_ps(_mm256_and_ps(finite, outer)));
         t != 0; t &= t - 1)  // rare: a tail's value
      tails.push_back(values[i + std::countr_zero(t)]);
    const __m128 half[2] = {_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1)};
    const __m128i keep[2] = {_mm_castps_si128(_mm256_castps256_ps128(finite)),
                             _mm_castps_si128(_mm256_extractf128_ps(finite, 1))};
    for (int h = 0; h < 2; ++h) {  // a non-finite value adds 0
      const __m256d d = _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(half[h]), s),
                                      _mm256_castsi256_pd(_mm256_cvtepi32_epi64(keep[h])));
      sum[h] = _mm256_add_pd(sum[h], d);
      sum_sq[h] = _mm256_add_pd(sum_sq[h], _mm256_mul_pd(d, d));
    }
  }
  _mm256_storeu_pd(m.sum, sum[0]);
  _mm256_storeu_pd(m.sum + 4, sum[1]);
  _mm256_storeu_pd(m.sum_sq, sum_sq[0]);
  _mm256_storeu_pd(m.sum_sq + 4, sum_sq[1]);
  return i;
}
#endif

// Fills `table` from bucket `first` on with, per bucket b, the points i (of n, in order) with
// past(i) <= b, where past(i) is one more than point i's bucket and never decreases with i;
// n from the last point's bucket on. A bucket holds a run of points (equal past(i)): returns
// the longest run, or stops once a run is longer than `most` and returns its length.
template <class Past>
uint32_t fill_points_below(std::vector<uint32_t>& table, uint32_t first, uint32_t n, uint32_t most,
                           Past past) {
  uint32_t next = first;  // the first bucket not yet filled
  uint32_t run = 0, widest = 0;
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t p = past(i);
    run = p > next || i == 0 ? 1 : run + 1;
    widest = std::max(widest, run);
    if (widest > most) return widest;
    if (p > next) std::fill(table.begin() + next, table.begin() + p, i);
    next = std::max(next, p);
  }
  std::fill(table.begin() + next, table.end(), n);
  return widest;
}

}  // namespace

double Moments::total() const {
  return ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
}

double Moments::total_sq() const {
  return ((sum_sq[0] + sum_sq[1]) + (sum_sq[2] + sum_sq[3])) +
         ((sum_sq[4] + sum_sq[5]) + (sum_sq[6] + sum_sq[7]));
}

void add_moments(const float* values, int64_t n, double shift, float below, float from, Moments& m,
                 std::vector<float>& tails) {
  int64_t i = 0;
#if defined(__x86_64__)
  if (has_avx2()) i = add_moments_avx2(values, n, shift, below, from, m, tails);
#endif
  for (; i < n; ++i) {
    const float x = values[i];
    const bool finite = std::isfinite(x);
    const double d = finite ? static_cast<double>(x) - shift : 0.0;
    m.count += finite ? 1 : 0;
    m.sum[i % 8] += d;
    m.sum_sq[i % 8] += d * d;
    if (finite && (x < below || x >= from)) tails.push_back(x);
  }
}

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
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (n == 0) {
    above_.assign(kMaxScan, nan);  // what a scan reads
    return;
  }
  // The center: the middle point's float toward zero (a finite float, whatever the point).
  const double middle = distinct_[n / 2];
  center_ = middle < 0 ? float_at_or_above(middle) : float_at_or_below(middle);
  // Only the buckets from that of the largest float at or below the first point to the one
  // past that of the smallest float at or above the last are searched: no point is below
  // the first's smallest float, every point is below the last's.
  table_low_ = bucket(float_at_or_below(distinct_.front()));
  table_high_ = bucket(float_at_or_above(distinct_.back())) + 1;
  // Point i is below the smallest float of exactly the buckets after that of its largest
  // float at or below it (the next float is above it): with the points in order, the
  // buckets from there to the next point's such bucket have i + 1 points below them.
  widest_ = fill_points_below(from_, table_low_, n, UINT32_MAX, [&](uint32_t i) {
    return bucket(float_at_or_below(distinct_[i])) + 1;
  });
  top_step_ = widest_ == 0 ? 0 : std::bit_floor(widest_);
  // NaN past the points, as far as a read goes: the halvings' 2 * top_step, a scan's kMaxScan.
  above_.assign(n + std::max<std::size_t>(2 * std::size_t{top_step_}, kMaxScan), nan);
  for (uint32_t i = 0; i < n; ++i)
    above_[i] = float_at_or_above(distinct_[i]);
  distinct_.resize(n + 2 * std::size_t{top_step_}, std::numeric_limits<double>::quiet_NaN());
  build_linear(n);
}

void GridIndex::build_linear(uint32_t n) {
  // Some 8 buckets a point (32 KB for the 1,001-point grid): the closest of a normal column's
  // 1,001 quantiles (at its center) are 0.0025 standard deviations apart, and 8,192 buckets
  // over its range (about -4.4 to 4.4 for 100,000 rows) 0.0011 wide: one point a bucket.
  if (n < 2) return;
  const float low = above_[0], high = above_[n - 1];
  const uint32_t buckets = std::clamp<uint32_t>(std::bit_ceil(8 * n), 64, 8192);
  const auto scale = static_cast<float>(buckets / (static_cast<double>(high) - low));
  if (!std::isfinite(low) || !std::isfinite(high) || !std::isfinite(scale) || !(scale > 0)) return;
  const uint32_t last = buckets + 2;
  const auto top = static_cast<float>(last - 1);
  // A value's bucket never decreases with it: points in a bucket before a value's are at or
  // below it, those in a bucket after it above it; only its own bucket's are compared.
  linear_from_.assign(last + 1, 0);
  const uint32_t widest = fill_points_below(linear_from_, 0, n, kLinearWidest, [&](uint32_t i) {
    return linear_bucket(above_[i], low, scale, top) + 1;
  });
  if (widest > kLinearWidest) {
    linear_from_ = {};
    return;
  }
  linear_low_ = low;
  linear_scale_ = scale;
  linear_top_ = top;
  linear_widest_ = widest;
}

void GridIndex::distinct_below(const float* values, int64_t n, uint32_t* out) const {
  // The equal-width table: `drift_bench count` 3.15 -> 2.28 ns a value (with the count).
  if (!linear_from_.empty()) {
    if (linear_widest_ == 1)
      linear_scan<1>(values, n, out);
    else if (linear_widest_ == 2)
      linear_scan<2>(values, n, out);
    else
      linear_scan<kLinearWidest>(values, n, out);
    return;
  }
#if defined(__x86_64__)
  if (widest_ <= kMaxScan && has_avx2()) {
    if (widest_ <= 8)
      scan<8>(from_.data(), above_.data(), center_, values, n, out);
    else
      scan<16>(from_.data(), above_.data(), center_, values, n, out);
    return;
  }
#endif
  // 32 lanes: the drift pass 56 -> 42 ms against 8 on this project's 2-core development
  // machine; 64 and 128 no faster.
  constexpr int kLanes = 32;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    uint32_t at[kLanes];
    for (int l = 0; l < kLanes; ++l)
      at[l] = from_[bucket(values[i + l])];
    for (uint32_t step = top_step_; step > 0; step >>= 1)
      for (int l = 0; l < kLanes; ++l)
        at[l] = above_[at[l] + step - 1] <= values[i + l] ? at[l] + step : at[l];
    for (int l = 0; l < kLanes; ++l)
      out[i + l] = at[l];
  }
  for (; i < n; ++i)
    out[i] = distinct_below(values[i]);
}

template <uint32_t W>
void GridIndex::linear_scan(const float* values, int64_t n, uint32_t* out) const {
  const uint32_t* from = linear_from_.data();
  const float* above = above_.data();  // NaN past the points: compares false
  const float low = linear_low_, scale = linear_scale_, top = linear_top_;  // not reread
  for (int64_t i = 0; i < n; ++i) {
    const float x = values[i];
    const uint32_t first = from[linear_bucket(x, low, scale, top)];
    uint32_t at = first;
    for (uint32_t w = 0; w < W; ++w)
      at += above[first + w] <= x ? 1 : 0;
    out[i] = at;
  }
}

CellCounts::CellCounts(std::size_t points)
    : cells(points + 1, 0),
      atoms(points, 0),
      low(points + 1, std::numeric_limits<float>::infinity()),
      high(points + 1, -std::numeric_limits<float>::infinity()) {}

CellCounter::CellCounter(const GridIndex& index)
    : index_(&index), slots_(index.at_or_below().size()) {
  const std::vector<double>& distinct = index.distinct();
  for (std::size_t at = 0; at < slots_.size(); ++at) {
    const double below = at == 0 ? std::numeric_limits<double>::quiet_NaN() : distinct[at - 1];
    const float f = float_at_or_below(below);
    slots_[at] = {static_cast<double>(f) == below ? f : std::numeric_limits<float>::quiet_NaN(),
                  kInf, -kInf, 0};
  }
}

void CellCounter::add(const float* values, int64_t n, CellCounts& counts) {
  constexpr int64_t kBatch = 1024, kRun = 64 * kBatch - 1;
  uint32_t found[kBatch];
  for (int64_t start = 0; start < n;) {
    const int64_t m = std::min({kBatch, n - start, kRun - pending_});
    const float* v = values + start;
    index_->distinct_below(v, m, found);
    for (int64_t i = 0; i < m; ++i) {
      const float x = v[i];
      if (!(std::fabs(x) < kInf)) {  // one test for the rare case (was two: 1.5 -> 1.3 ns)
        ++(std::isnan(x) ? nan_ : x > 0 ? pos_inf_ : neg_inf_);
        continue;
      }
      Slot& s = slots_[found[i]];
      s.counts += 1u + (static_cast<uint32_t>(x == s.point) << 16);
      s.low = std::min(s.low, x + 0.0f);
      s.high = std::max(s.high, x + 0.0f);
    }
    start += m;
    pending_ += m;
    if (pending_ == kRun) take(counts);  // a slot's counts could overflow next
  }
}

void CellCounter::take(CellCounts& counts) {
  const std::vector<uint32_t>& at_or_below = index_->at_or_below();
  for (std::size_t at = 0; at < slots_.size(); ++at) {
    Slot& s = slots_[at];
    if (s.counts == 0) continue;
    const uint32_t cell = at_or_below[at];
    counts.cells[cell] += s.counts & 0xffffu;
    if (s.counts > 0xffffu) counts.atoms[cell - 1] += s.counts >> 16;
    counts.low[cell] = std::min(counts.low[cell], s.low);
    counts.high[cell] = std::max(counts.high[cell], s.high);
    s.counts = 0;
    s.low = kInf;
    s.high = -kInf;
  }
  counts.nan += nan_;
  counts.pos_inf += pos_inf_;
  counts.neg_inf += neg_inf_;
  nan_ = pos_inf_ = neg_inf_ = 0;
  pending_ = 0;
}

void count_cells(const GridIndex& index, const float* values, int64_t n, CellCounts& counts) {
  CellCounter counter(index);
  counter.add(values, n, counts);
  counter.take(counts);
}

}  // namespace kiln::kernels
