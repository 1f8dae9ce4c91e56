#include "data/stats.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "data/loader.h"

namespace kiln::data {

namespace {

// Sorts doubles (no NaN) by value: an LSD radix sort of their order-preserving 64-bit keys,
// 11 bits a pass over only the bits that differ between keys (values that were float32
// leave the low 29 bits of the mantissa empty: 4 passes, not 6). Several times std::sort's
// speed on the sketch's buffers, which every value passes through once.
void radix_sort(std::vector<double>& items) {
  const std::size_t n = items.size();
  if (n < 64) {
    std::sort(items.begin(), items.end());
    return;
  }
  thread_local std::vector<uint64_t> keys, other;
  keys.resize(n);
  other.resize(n);
  constexpr uint64_t kSign = 0x8000000000000000ull;
  uint64_t differ = 0;
  for (std::size_t i = 0; i < n; ++i) {
    uint64_t u;
    std::memcpy(&u, &items[i], sizeof u);
    keys[i] = (u & kSign) ? ~u : (u | kSign);
    differ |= keys[i] ^ keys[0];
  }
  if (differ != 0) {
    constexpr int kBits = 11;
    const int low = std::countr_zero(differ), high = 64 - std::countl_zero(differ);
    for (int shift = low; shift < high; shift += kBits) {
      std::array<std::size_t, 1 << kBits> count{};
      for (std::size_t i = 0; i < n; ++i)
        ++count[(keys[i] >> shift) & ((1u << kBits) - 1)];
      std::size_t sum = 0;
      for (std::size_t& c : count) {
        const std::size_t here = c;
        c = sum;
        sum += here;
      }
      for (std::size_t i = 0; i < n; ++i)
        other[count[(keys[i] >> shift) & ((1u << kBits) - 1)]++] = keys[i];
      keys.swap(other);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const uint64_t u = (keys[i] & kSign) ? (keys[i] & ~kSign) : ~keys[i];
    std::memcpy(&items[i], &u, sizeof u);
  }
}

}  // namespace

QuantileSketch::QuantileSketch(int k) : k_(std::max(k, 8)) {}

void QuantileSketch::add(double value) {
  if (std::isnan(value)) return;
  if (levels_.empty()) {
    levels_.emplace_back();
    flip_.push_back(false);
  }
  levels_[0].push_back(value);
  ++count_;
  if (static_cast<int>(levels_[0].size()) >= 2 * k_) compact(0);
}

void QuantileSketch::add(const double* values, std::size_t n) {
  if (levels_.empty()) {
    levels_.emplace_back();
    flip_.push_back(false);
  }
  const auto full = static_cast<std::size_t>(2 * k_);
  for (std::size_t i = 0; i < n;) {
    std::vector<double>& level0 = levels_[0];  // again after each compaction
    const std::size_t take = std::min(full - level0.size(), n - i);
    level0.insert(level0.end(), values + i, values + i + take);
    count_ += static_cast<int64_t>(take);
    i += take;
    if (level0.size() >= full) compact(0);
  }
}

void QuantileSketch::compact(std::size_t level) {
  while (level < levels_.size() && static_cast<int>(levels_[level].size()) >= 2 * k_) {
    if (level + 1 == levels_.size()) {
      levels_.emplace_back();
      flip_.push_back(false);
    }
    std::vector<double>& items = levels_[level];
    radix_sort(items);
    // An odd item stays behind; the rest pair up and one of each pair is promoted.
    std::size_t pairs = items.size() / 2;
    std::size_t offset = flip_[level] ? 1 : 0;
    flip_[level] = !flip_[level];
    std::vector<double>& up = levels_[level + 1];
    for (std::size_t i = 0; i < pairs; ++i)
      up.push_back(items[2 * i + offset]);
    std::vector<double> rest;
    if (items.size() % 2 == 1) rest.push_back(items.back());
    items.swap(rest);
    error_bound_ += std::ldexp(1.0, static_cast<int>(level));
    ++level;
  }
}

void QuantileSketch::merge(const QuantileSketch& other) {
  KILN_ASSERT(other.k_ == k_, "merging sketches of different k");
  if (levels_.size() < other.levels_.size()) {
    levels_.resize(other.levels_.size());
    flip_.resize(other.levels_.size(), false);
  }
  for (std::size_t h = 0; h < other.levels_.size(); ++h) {
    levels_[h].insert(levels_[h].end(), other.levels_[h].begin(), other.levels_[h].end());
  }
  count_ += other.count_;
  error_bound_ += other.error_bound_;
  for (std::size_t h = 0; h < levels_.size(); ++h)
    compact(h);
}

namespace {
std::vector<std::pair<double, double>> weighted(const std::vector<std::vector<double>>& levels) {
  std::vector<std::pair<double, double>> items;
  for (std::size_t h = 0; h < levels.size(); ++h) {
    double w = std::ldexp(1.0, static_cast<int>(h));
    for (double v : levels[h])
      items.emplace_back(v, w);
  }
  std::sort(items.begin(), items.end());
  return items;
}
}  // namespace

double QuantileSketch::quantile(double q) const {
  if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
  auto items = weighted(levels_);
  double target = std::clamp(q, 0.0, 1.0) * static_cast<double>(count_);
  double cumulative = 0;
  for (const auto& [v, w] : items) {
    cumulative += w;
    if (cumulative >= target) return v;
  }
  return items.back().first;
}

std::vector<double> QuantileSketch::quantiles(const std::vector<double>& qs) const {
  if (count_ == 0) return std::vector<double>(qs.size(), std::numeric_limits<double>::quiet_NaN());
  const auto items = weighted(levels_);
  std::vector<double> out;
  out.reserve(qs.size());
  std::size_t i = 0;
  double cumulative = items.front().second;
  for (double q : qs) {
    const double target = std::clamp(q, 0.0, 1.0) * static_cast<double>(count_);
    while (cumulative < target && i + 1 < items.size())
      cumulative += items[++i].second;
    out.push_back(items[i].first);
  }
  return out;
}

double QuantileSketch::rank(double value) const {
  double r = 0;
  for (std::size_t h = 0; h < levels_.size(); ++h) {
    double w = std::ldexp(1.0, static_cast<int>(h));
    for (double v : levels_[h])
      r += v <= value ? w : 0;
  }
  return r;
}

void ColumnStats::add_block(const void* data, int64_t n) {
  // The block's finite values first; then their moments in two passes (exact for a block),
  // merged by Chan et al.'s update, and the values into the sketch in bulk.
  thread_local std::vector<double> finite;
  finite.clear();
  switch (mem_type(role)) {
    case MemType::kFloat32: {
      const float* v = static_cast<const float*>(data);
      for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(v[i]))
          ++missing;
        else if (std::isinf(v[i]))
          ++infinite;
        else
          finite.push_back(v[i]);
      }
      break;
    }
    case MemType::kInt32: {
      const int32_t* v = static_cast<const int32_t*>(data);
      for (int64_t i = 0; i < n; ++i) {
        if (v[i] < 0) {
          ++missing;
        } else {
          finite.push_back(v[i]);
          ++categories[v[i]];
        }
      }
      break;
    }
    case MemType::kInt64: {
      const int64_t* v = static_cast<const int64_t*>(data);
      for (int64_t i = 0; i < n; ++i)
        finite.push_back(static_cast<double>(v[i]));
      break;
    }
  }
  if (finite.empty()) return;
  double sum = 0, low = finite[0], high = finite[0];
  for (double v : finite) {
    sum += v;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  const double m = static_cast<double>(finite.size()), block_mean = sum / m;
  double block_m2 = 0;
  for (double v : finite)
    block_m2 += (v - block_mean) * (v - block_mean);
  const double c = static_cast<double>(count), delta = block_mean - mean;
  mean += delta * m / (c + m);
  m2 += block_m2 + delta * delta * c * m / (c + m);
  count += static_cast<int64_t>(finite.size());
  min = std::min(min, low);
  max = std::max(max, high);
  if (sketched) sketch.add(finite.data(), finite.size());
}

void ColumnStats::merge(const ColumnStats& o) {
  if (o.count > 0) {
    double n = static_cast<double>(count), m = static_cast<double>(o.count);
    double delta = o.mean - mean;
    mean += delta * m / (n + m);
    m2 += o.m2 + delta * delta * n * m / (n + m);
    count += o.count;
    min = std::min(min, o.min);
    max = std::max(max, o.max);
  }
  missing += o.missing;
  infinite += o.infinite;
  sketch.merge(o.sketch);
  for (const auto& [code, c] : o.categories)
    categories[code] += c;
}

std::vector<std::pair<int64_t, int64_t>> ColumnStats::top_categories(std::size_t k) const {
  std::vector<std::pair<int64_t, int64_t>> out(categories.begin(), categories.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (out.size() > k) out.resize(k);
  return out;
}

int64_t largest_block(const Dataset& dataset, int64_t block_rows) {
  int64_t largest = 0;
  for (const auto& shard : dataset.shards())
    largest = std::max(largest, std::min(block_rows, shard->rows()));
  return largest;
}

void for_each_block(const Dataset& dataset, int64_t block_rows, core::ThreadPool* pool,
                    const std::function<void(const Block&)>& each, const std::vector<void*>& into) {
  ColumnBuffers buffers(dataset.schema(), largest_block(dataset, block_rows), into);
  for (const auto& shard : dataset.shards()) {
    for (int64_t start = 0; start < shard->rows(); start += block_rows) {
      const int64_t n = std::min(block_rows, shard->rows() - start);
      buffers.resize(n);
      shard->read(start, n, buffers.pointers(), pool);
      each(Block{*shard, start, n, buffers.pointers()});
    }
  }
}

void for_each_column_block(const Dataset& dataset, int64_t block_rows, core::ThreadPool& pool,
                           const ColumnBlockFn& f, const std::vector<std::size_t>& columns) {
  const Schema& schema = dataset.schema();
  std::vector<std::size_t> wanted = columns;
  if (wanted.empty()) {
    for (std::size_t c = 0; c < schema.columns.size(); ++c)
      wanted.push_back(c);
  }
  const auto& shards = dataset.shards();
  if (std::any_of(shards.begin(), shards.end(), [](const auto& s) { return s->matrix_layout(); })) {
    for_each_block(dataset, block_rows, &pool, [&](const Block& b) {
      pool.parallel_for(static_cast<int64_t>(wanted.size()), [&](int64_t i) {
        const std::size_t c = wanted[static_cast<std::size_t>(i)];
        f(c, b.columns[c], b.rows);
      });
    });
    return;
  }
  const int64_t rows = largest_block(dataset, block_rows);
  std::atomic<bool> failed{false};
  pool.parallel_for(static_cast<int64_t>(wanted.size()), [&](int64_t i) {
    const std::size_t c = wanted[static_cast<std::size_t>(i)];
    std::vector<char> buffer(static_cast<std::size_t>(rows) * mem_size(schema.columns[c].role));
    std::vector<void*> out(schema.columns.size(), nullptr);
    out[c] = buffer.data();
    try {
      for (const auto& shard : shards) {
        for (int64_t start = 0; start < shard->rows(); start += block_rows) {
          if (failed.load(std::memory_order_relaxed)) return;
          const int64_t n = std::min(block_rows, shard->rows() - start);
          shard->read(start, n, out);
          f(c, buffer.data(), n);
        }
      }
    } catch (...) {
      failed.store(true, std::memory_order_relaxed);
      throw;
    }
  });
}

DatasetStats compute_stats(const Dataset& dataset, int64_t block_rows, int sketch_k,
                           const PrepareBlock& prepare) {
  DatasetStats stats;
  for (const Column& c : dataset.schema().columns) {
    ColumnStats s;
    s.name = c.name;
    s.role = c.role;
    s.sketch = QuantileSketch(sketch_k);
    stats.columns.push_back(std::move(s));
  }
  core::ThreadPool pool(0);  // columns are independent: one task per column
  for_each_column_block(dataset, block_rows, pool,
                        [&](std::size_t column, void* values, int64_t n) {
                          if (prepare) prepare(column, values, n);
                          stats.columns[column].add_block(values, n);
                        });
  for (const auto& shard : dataset.shards())
    stats.rows += shard->rows();
  return stats;
}

LabelCounts count_labels(const std::shared_ptr<const Dataset>& data) {
  const Dataset& dataset = *data;
  const int label = dataset.schema().find_role(Role::kLabel);
  KILN_CHECK(label >= 0, DataError, dataset.path(), ": no label column");
  LoaderOptions lo;
  lo.shuffle = false;
  lo.batch_size = 1 << 16;
  Loader loader({data}, lo);
  LabelCounts counts;
  while (const Batch* b = loader.next()) {
    const float* y = b->column<float>(static_cast<std::size_t>(label));
    for (int64_t r = 0; r < b->rows; ++r) {
      KILN_CHECK(y[r] == 0 || y[r] == 1, DataError, dataset.path(), ": label '",
                 dataset.schema().columns[static_cast<std::size_t>(label)].name, "' is ", y[r],
                 " at row ", counts.rows + r, "; binary labels must be 0 or 1");
      counts.positives += y[r] == 1 ? 1 : 0;
    }
    counts.rows += b->rows;
  }
  return counts;
}

}  // namespace kiln::data
