// Counting float columns in the cells of sorted grids: a drift check's pass over current data
// (data/profile.h's profile_against counts each column in the cells of its reference's
// quantile grid). GridIndex says where a float falls among the points; count_cells is the
// CPU reference of the count; DeviceGridCounter (grid_count_cuda.cu, CUDA builds only)
// counts many columns in one launch and gives the same counts, bit for bit. CUDA-free header:
// streams are void* (cudaStream_t).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::kernels {

// The largest float at or below a double, and the smallest at or above it (-Inf or +Inf where
// no finite float is: a profile's points are doubles, maybe beyond the floats' range). For a
// finite float x and a double d: x <= d exactly when x <= float_at_or_below(d), x >= d when
// x >= float_at_or_above(d).
float float_at_or_below(double point);
float float_at_or_above(double point);

// Where finite floats fall among sorted points (the number of points at or below each),
// through a table on the leading bits of the float's distance from a center (the middle
// point): the values of one bucket share the range of answers they can have, so the search
// covers the few distinct points in that range, not all of them, in the same number of steps
// for every value (no branch to mispredict). Measured from the center, a grid's points spread
// over the buckets whatever its offset (a column of values near 100 or 37.5 as one near 0).
// For the 1,001-point quantile grid a drift check counts on.
class GridIndex {
 public:
  explicit GridIndex(const std::vector<double>& points);

  std::size_t points() const { return at_or_below_.back(); }

  std::size_t operator()(float value) const {  // value finite
    return at_or_below_[distinct_below(value)];
  }

  // The answers for n values at once (NaN and infinite values get some answer in range).
  void operator()(const float* values, int64_t n, uint32_t* out) const {
    distinct_below(values, n, out);
    for (int64_t i = 0; i < n; ++i)
      out[i] = at_or_below_[out[i]];
  }

  // The number of distinct points at or below a finite value: halvings from the bucket's
  // first, each against the float at or above a point (for a finite float x and a point d,
  // x >= d exactly when x >= float_at_or_above(d)).
  uint32_t distinct_below(float value) const {
    uint32_t at = from_[bucket(value)];
    for (uint32_t step = top_step_; step > 0; step >>= 1)
      at = above_[at + step - 1] <= value ? at + step : at;
    return at;
  }

  // The same for n values at once (grid_count_cpu.cpp): where buckets of equal width between
  // the first and last points span at most kLinearWidest points each (a grid whose points are
  // spread evenly enough: the quantiles of a normal column), each value compared with its
  // equal-width bucket's few thresholds; else, where every bucket of the table above spans at
  // most 16 distinct points and the CPU has AVX2, with its 8 or 16 thresholds at once; else
  // the halvings of 32 values interleaved, so that each step's loads overlap.
  void distinct_below(const float* values, int64_t n, uint32_t* out) const;

  // The equal-width buckets' table (CPU only): a value's bucket, monotone in the value (NaN
  // and -Inf in bucket 0, +Inf in the last, top + 1); the most distinct points a bucket
  // holds (more than kLinearWidest: no table, UINT32_MAX).
  static constexpr uint32_t kLinearWidest = 4;
  static uint32_t linear_bucket(float value, float low, float scale, float top) {
    float v = (value - low) * scale;
    v = v > -1.0f ? v : -1.0f;  // NaN too
    v = v < top ? v : top;
    return static_cast<uint32_t>(static_cast<int32_t>(v) + 1);
  }
  uint32_t linear_widest() const { return linear_widest_; }

  // The tables, as DeviceGridCounter copies them to the GPU. The bucket table's entries
  // differ only from table_low() to table_high(): 0 below, the distinct points above.
  static constexpr int kBucketBits = 14;
  float center() const { return center_; }
  const std::vector<uint32_t>& from() const { return from_; }  // 2^kBucketBits + 1
  uint32_t table_low() const { return table_low_; }
  uint32_t table_high() const { return table_high_; }
  const std::vector<double>& distinct() const { return distinct_; }  // with the NaN padding
  const std::vector<uint32_t>& at_or_below() const { return at_or_below_; }
  uint32_t top_step() const { return top_step_; }
  uint32_t widest() const { return widest_; }  // the most distinct points a bucket spans

  // A float's key: unsigned order is float order (-0 is +0).
  static constexpr uint32_t order_key(float value) {
    const auto bits = std::bit_cast<uint32_t>(value + 0.0f);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  }
  // The float of a key.
  static constexpr float key_float(uint32_t key) {
    return std::bit_cast<float>((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
  }
  // A value's bucket: the leading bits of the key of its distance from `center`, rounded to
  // a float (rounding keeps order, so a larger value's bucket is never a smaller one).
  static constexpr uint32_t bucket(float value, float center) {
    return order_key(value - center) >> (32 - kBucketBits);
  }
  uint32_t bucket(float value) const { return bucket(value, center_); }

 private:
  void build_linear(uint32_t n);  // the equal-width table, where it serves
  template <uint32_t W>           // W: at least linear_widest_
  void linear_scan(const float* values, int64_t n, uint32_t* out) const;

  // The points without repeats, then NaN padding (no value is at or above it). The distinct
  // points before from_[bucket] are <= every value of the bucket, those from the next
  // bucket's on are > them: halvings from the bucket's first find the count.
  std::vector<double> distinct_;
  std::vector<float> above_;           // per distinct point, the float at or above it; padding
  std::vector<uint32_t> at_or_below_;  // per count of distinct points <= x: the points <= x
  std::vector<uint32_t> from_;         // per bucket: the distinct points below its smallest float
  float center_ = 0;
  uint32_t table_low_ = 0, table_high_ = 0;
  uint32_t widest_ = 0;
  uint32_t top_step_ = 0;  // half the power of two above widest_
  // The equal-width buckets (linear_bucket): from the first distinct point's float at or
  // above it, `linear_scale_` buckets a unit, the last bucket linear_top_ + 1.
  float linear_low_ = 0, linear_scale_ = 0, linear_top_ = 0;
  std::vector<uint32_t> linear_from_;  // per bucket (linear_top_ + 2): the distinct points in
                                       // the buckets before it; empty: no table
  uint32_t linear_widest_ = UINT32_MAX;
};

// One column's values in the cells of a grid of m points: cell c holds the finite values
// with c points at or below them.
struct CellCounts {
  explicit CellCounts(std::size_t points = 0);
  std::vector<int64_t> cells;    // m + 1: finite values per cell
  std::vector<int64_t> atoms;    // m: values equal to a point (at the last of equal points)
  std::vector<float> low, high;  // m + 1: per cell, its smallest and largest value (-0 counts
                                 // as +0); +Inf and -Inf while the cell is empty
  int64_t nan = 0, pos_inf = 0, neg_inf = 0;
  bool operator==(const CellCounts&) const = default;
};

// The CPU reference: adds n values to `counts` (sized for index.points()).
void count_cells(const GridIndex& index, const float* values, int64_t n, CellCounts& counts);

// count_cells over many calls (a column's blocks, one after another): each value counted in
// a 16-byte slot per search answer (all that one value changes, where the cells' four
// arrays would take four cache lines and a lookup of the cell), the slots added to `counts`
// (sized for index.points(); the same one at every call) every 65,535 values (a slot's two
// counts share 32 bits) and by take(). `index` must outlive it.
class CellCounter {
 public:
  explicit CellCounter(const GridIndex& index);
  void add(const float* values, int64_t n, CellCounts& counts);
  // Adds the values counted and not yet added to `counts`.
  void take(CellCounts& counts);

 private:
  struct Slot {
    float point;      // the distinct point below (an equal value is its atom); NaN: none is a float
    float low, high;  // the smallest and largest value
    uint32_t counts;  // the values, and the atoms << 16
  };
  const GridIndex* index_;
  std::vector<Slot> slots_;
  int64_t pending_ = 0;  // values in the slots
  int64_t nan_ = 0, pos_inf_ = 0, neg_inf_ = 0;
};

// What a column's cell counts do not hold and the host adds beside them (data/profile.cpp's
// GridCounts): the finite values' count and the sum and sum of squares of their distance
// from a shift, each sum in 8 lanes (value i in lane i % 8, added up lane by lane at the
// end), so AVX2 and the scalar loop give the same bits.
struct Moments {
  int64_t count = 0;
  double sum[8] = {}, sum_sq[8] = {};
  double total() const;     // of sum
  double total_sq() const;  // of sum_sq
};

// Adds values[i] to lane i % 8 of `m` and appends the finite values below `below` or at or
// above `from` (a grid's outer cells) to `tails`, in order.
void add_moments(const float* values, int64_t n, double shift, float below, float from, Moments& m,
                 std::vector<float>& tails);

// Float columns of a block of rows on their way to the GPU: the caller writes each column's
// rows into host(c) (pinned memory), upload() copies them to device() in one copy, column c
// at device() + c * stride(). Built only with CUDA (grid_count_none.cpp throws elsewhere).
class DeviceColumns {
 public:
  DeviceColumns(int columns, int64_t max_rows);  // allocates, synchronously
  ~DeviceColumns();
  DeviceColumns(const DeviceColumns&) = delete;
  DeviceColumns& operator=(const DeviceColumns&) = delete;

  float* host(int column) const { return host_ + column * stride_; }
  // Copies the first `rows` of every column on `stream` (after the work enqueued there,
  // which may still read device()) and returns when the copy is done: host() is free again.
  void upload(int64_t rows, void* stream = nullptr);
  const float* device() const { return device_; }
  int64_t stride() const { return stride_; }

 private:
  [[maybe_unused]] int columns_;  // read by the CUDA build only
  int64_t stride_;
  float* host_ = nullptr;
  float* device_ = nullptr;
};

// Many float columns counted on the GPU, each in the cells of its own grid: the counts of
// count_cells, bit for bit. Not thread-safe; one per stream. Grids whose tables do not fit a
// block's shared memory (more than a few thousand points: fits()) are refused: DataError saying so.
// Built only with CUDA (grid_count_none.cpp throws elsewhere).
class DeviceGridCounter {
 public:
  // `grids[c]` for column c; launches of at most `max_rows` rows. Copies the grids' tables to
  // the GPU, synchronously.
  DeviceGridCounter(const std::vector<const GridIndex*>& grids, int64_t max_rows);
  ~DeviceGridCounter();
  DeviceGridCounter(const DeviceGridCounter&) = delete;
  DeviceGridCounter& operator=(const DeviceGridCounter&) = delete;

  // Whether the current GPU can count on `grid` (its tables fit a block's shared memory).
  static bool fits(const GridIndex& grid);

  // Enqueues the count of `rows` (<= max_rows) rows of every column on `stream`: `values` is
  // device memory, column c's rows from values + c * column_stride.
  void add(const float* values, int64_t rows, int64_t column_stride, void* stream = nullptr);

  // Waits for `stream` and returns every column's counts since the last take (or the
  // construction); the device's counts start again from zero.
  void take(std::vector<CellCounts>& counts, void* stream = nullptr);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace kiln::kernels
