// Streaming statistics of a dataset's columns: one pass, bounded memory, mergeable.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace kiln::data {

// A deterministic mergeable quantile sketch (Manku-Rajagopalan-Lindsay compactors): level h
// holds up to `k` items of weight 2^h; when a level is full it is sorted and every other
// item is promoted (alternating which half, deterministically). Each compaction of items of
// weight w moves any rank by at most w, so the sketch tracks the exact bound of its rank
// error: |estimated rank - true rank| <= rank_error_bound() for every query. For n items
// that is at most n * ceil(log2(n / k)) / (2k): with k = 4096, 0.2% of n at n = 10^9.
// Not thread-safe; merge per-thread sketches instead.
class QuantileSketch {
 public:
  explicit QuantileSketch(int k = 4096);
  void add(double value);                         // NaN is not added
  void add(const double* values, std::size_t n);  // values without NaN
  void merge(const QuantileSketch& other);
  int64_t count() const { return count_; }
  // The smallest stored value whose estimated rank (items <= it) reaches q * count.
  // NaN when empty.
  double quantile(double q) const;
  // quantile() at each of `qs` (non-decreasing), the sketch's items sorted once.
  std::vector<double> quantiles(const std::vector<double>& qs) const;
  // Estimated number of items <= value.
  double rank(double value) const;
  double rank_error_bound() const { return error_bound_; }
  int k() const { return k_; }

 private:
  void compact(std::size_t level);
  int k_;
  int64_t count_ = 0;
  double error_bound_ = 0;
  std::vector<std::vector<double>> levels_;
  std::vector<bool> flip_;  // per level: which half the next compaction keeps
};

struct ColumnStats {
  std::string name;
  Role role = Role::kNumeric;
  int64_t count = 0;    // non-missing values
  int64_t missing = 0;  // NaN (numeric) or -1 (categorical)
  double mean = 0;      // fp64, merged with Chan et al.'s pairwise update
  double m2 = 0;        // sum of squared deviations from the mean
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  int64_t infinite = 0;  // +-Inf values (counted, excluded from mean/variance/sketch)
  QuantileSketch sketch;
  bool sketched = true;  // false: the values skip the sketch (a caller that needs no quantiles)
  std::unordered_map<int64_t, int64_t> categories;  // categorical: code -> count

  double variance() const { return count > 1 ? m2 / static_cast<double>(count - 1) : 0.0; }
  void add_block(const void* data, int64_t n);
  void merge(const ColumnStats& other);
  // The `k` most frequent codes, most frequent first (ties: smaller code first).
  std::vector<std::pair<int64_t, int64_t>> top_categories(std::size_t k) const;
};

struct DatasetStats {
  int64_t rows = 0;
  std::vector<ColumnStats> columns;  // in schema order
};

// Called on each column's block before it is counted (e.g. the transform fit applies log1p);
// may change the values in place. Calls for different columns run concurrently.
using PrepareBlock = std::function<void(std::size_t column, void* values, int64_t rows)>;

// One block of a pass (for_each_block): its shard, its first row in the shard, its rows,
// and each schema column's values (the in-memory type of its role).
struct Block {
  const ShardFile& shard;
  int64_t start = 0, rows = 0;
  const std::vector<void*>& columns;
};

// The rows of the largest block a pass in blocks of `block_rows` reads: fewer than
// block_rows when no shard has that many.
int64_t largest_block(const Dataset& dataset, int64_t block_rows);

// Reads every shard of the dataset in blocks of `block_rows` (a block's columns in parallel
// on `pool` when given) and calls `each` on the blocks in order. A column whose entry of
// `into` is not null is read there (the caller's memory, room for largest_block values); the
// others into buffers of the pass's own.
void for_each_block(const Dataset& dataset, int64_t block_rows, core::ThreadPool* pool,
                    const std::function<void(const Block&)>& each,
                    const std::vector<void*>& into = {});

// Calls `f` on every block of `block_rows` rows (or fewer, a shard's last) of each of
// `columns` (schema indexes; every column when empty), a column's blocks in row order and
// the columns concurrently on `pool`: calls for one column never overlap. A column is read
// by the task that then calls `f` on it, one block after another, so what `f` keeps of it
// stays in that core's cache. The matrix layout stores a row's features together: there,
// a block's columns are read at once and then handed to `f` concurrently. After a call
// throws, the other columns stop at their next block and the first error is rethrown.
using ColumnBlockFn = std::function<void(std::size_t column, void* values, int64_t rows)>;
void for_each_column_block(const Dataset& dataset, int64_t block_rows, core::ThreadPool& pool,
                           const ColumnBlockFn& f, const std::vector<std::size_t>& columns = {});

// One pass over every shard of the dataset in blocks of `block_rows`.
DatasetStats compute_stats(const Dataset& dataset, int64_t block_rows = 65536, int sketch_k = 4096,
                           const PrepareBlock& prepare = nullptr);

// The label column's classes, in one pass in dataset order (weights ignored).
struct LabelCounts {
  int64_t rows = 0;
  int64_t positives = 0;
};
// DataError naming the dataset, the label and the row of a value that is not 0 or 1, or when
// the dataset has no label column.
LabelCounts count_labels(const std::shared_ptr<const Dataset>& dataset);

}  // namespace kiln::data
