#include "data/profile.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "data/shard.h"
#include "data/stats.h"
#include "kernels/grid_count.h"

namespace kiln::data {
namespace {

using kernels::GridIndex;

NumericProfile numeric_from(const ColumnStats& s, const ProfileOptions& o) {
  NumericProfile p;
  p.count = s.count;
  p.missing = s.missing;
  p.mean = s.mean;
  p.variance = s.variance();
  if (s.count == 0) {
    p.counts = {0};
    return p;
  }
  p.min = s.min;
  p.max = s.max;
  p.rank_error = std::min(1.0, s.sketch.rank_error_bound() / static_cast<double>(s.count));
  std::vector<double> grid;
  for (int i = 0; i <= o.quantiles; ++i)
    grid.push_back(static_cast<double>(i) / o.quantiles);
  p.quantiles = s.sketch.quantiles(grid);
  p.quantiles.front() = s.min;
  p.quantiles.back() = s.max;
  for (std::size_t i = 1; i < p.quantiles.size(); ++i)  // a sketch's estimates never decrease
    p.quantiles[i] = std::max(p.quantiles[i], p.quantiles[i - 1]);
  // A column of few values (a label, a flag, a count) gets one bin per value: quantile cuts
  // would put a rare value in the same bin as the common one.
  std::vector<double> values = p.quantiles;
  values.erase(std::unique(values.begin(), values.end()), values.end());
  if (values.size() <= static_cast<std::size_t>(o.bins)) {
    p.edges = values;
  } else {
    std::vector<double> cuts;
    for (int j = 1; j < o.bins; ++j)
      cuts.push_back(static_cast<double>(j) / o.bins);
    for (double edge : s.sketch.quantiles(cuts))
      if (p.edges.empty() || edge > p.edges.back()) p.edges.push_back(edge);
  }
  p.counts.assign(p.edges.size() + 1, 0);
  return p;
}

CategoricalProfile categorical_from(const ColumnStats& s, const ProfileOptions& o) {
  CategoricalProfile p;
  p.count = s.count;
  p.missing = s.missing;
  p.distinct = static_cast<int64_t>(s.categories.size());
  int64_t counted = 0;
  for (const auto& [code, n] : s.top_categories(static_cast<std::size_t>(o.top_codes))) {
    p.codes[code] = n;
    counted += n;
  }
  p.other = p.count - counted;
  return p;
}

// The second pass: each numeric column's finite values into its bins, and its infinities.
void count_bins(NumericProfile& p, const float* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = v[i];
    if (std::isnan(x)) continue;
    if (std::isinf(x))
      ++(x > 0 ? p.pos_inf : p.neg_inf);
    else
      ++p.counts[bin_of(p.edges, x)];
  }
}

// A current numeric column seen through a reference column, without a sketch of its own:
// every finite value counted in its cell of the reference's quantile grid (values equal to a
// grid point apart, as that point's atom) and in the reference's bins, infinities apart. The
// current quantile function on the reference's grid then comes from the cumulative counts:
// exact at every grid point, linear within a cell (so its rank error is the largest share
// of current values inside one cell), between the smallest and largest current value of
// the cell; in the two outermost cells at each end, from a sketch of their values. Up to
// 8,192 values (a small window), their exact quantiles instead. The mean and variance come
// from the values' sums around the reference's mean (close to theirs unless they drifted
// far), in one pass.
class GridCounts {
 public:
  explicit GridCounts(const NumericProfile& reference)
      : GridCounts(reference, std::make_shared<const GridIndex>(reference.quantiles)) {}
  // `index`: the GridIndex of the reference's quantiles, built once for every window.
  GridCounts(const NumericProfile& reference, std::shared_ptr<const GridIndex> index)
      : grid_(reference.quantiles),
        shift_(reference.mean),
        index_(std::move(index)),
        counter_(*index_),
        counts_(grid_.size()) {
    // The tails' values as float comparisons (exact: see kernels::float_at_or_above); with
    // fewer than 2 points every finite value is in both.
    const std::size_t m = grid_.size();
    constexpr float kInf = std::numeric_limits<float>::infinity();
    low_below_ = m < 2 ? kInf : kernels::float_at_or_above(grid_[1]);
    high_from_ = m < 2 ? -kInf : kernels::float_at_or_above(grid_[m - 2]);
    counted_.edges = reference.edges;
    counted_.counts.assign(reference.edges.size() + 1, 0);
    // When every edge is a grid point (profiles cut their bins at their own quantiles), a
    // value's bin follows from its cell: the bins are the cells' counts added up.
    std::vector<std::size_t> edge_cell;
    for (double e : counted_.edges) {
      const std::size_t cell = bin_of(grid_, e);  // grid points <= e
      if (cell == 0 || grid_[cell - 1] != e) return;
      edge_cell.push_back(cell);
    }
    bin_of_cell_.resize(counts_.cells.size());
    for (std::size_t cell = 0; cell < counts_.cells.size(); ++cell)  // edges <= every value there
      bin_of_cell_[cell] = static_cast<std::size_t>(
          std::upper_bound(edge_cell.begin(), edge_cell.end(), cell) - edge_cell.begin());
  }

  void add(const float* v, int64_t n) {
    counter_.add(v, n, counts_);
    add_values(v, n);
  }

  // What the cells' counts do not hold (the GPU's counts leave it to the host): the moments,
  // the values of the two outermost cells at each end (fewer than 2 grid points at or below
  // them; at least m - 1), the values themselves while there are at most kExact, and bins
  // whose edges are not grid points.
  void add_values(const float* v, int64_t n) {
    tails_.clear();
    kernels::add_moments(v, n, shift_, low_below_, high_from_, moments_, tails_);
    for (float x : tails_) {
      if (x < low_below_) low_tail_.add(x);
      if (x >= high_from_) high_tail_.add(x);
    }
    if (moments_.count <= static_cast<int64_t>(kExact)) {  // still few: keep them
      if (first_.capacity() == 0) first_.reserve(kExact);  // room made once
      for (int64_t i = 0; i < n; ++i)
        if (std::isfinite(v[i])) first_.push_back(v[i]);
    } else if (first_.capacity() > 0) {
      first_ = {};  // too many: their exact quantiles will not be wanted
    }
    if (bin_of_cell_.empty())
      for (int64_t i = 0; i < n; ++i)
        if (std::isfinite(v[i])) ++counted_.counts[bin_of(counted_.edges, v[i])];
  }

  // Counts of more values (the GPU's).
  void add_counts(const kernels::CellCounts& more) {
    for (std::size_t c = 0; c < more.cells.size(); ++c) {
      counts_.cells[c] += more.cells[c];
      counts_.low[c] = std::min(counts_.low[c], more.low[c]);
      counts_.high[c] = std::max(counts_.high[c], more.high[c]);
    }
    for (std::size_t a = 0; a < more.atoms.size(); ++a)
      counts_.atoms[a] += more.atoms[a];
    counts_.nan += more.nan;
    counts_.pos_inf += more.pos_inf;
    counts_.neg_inf += more.neg_inf;
  }

  // The statistics of the values counted.
  ColumnStats stats() const {
    ColumnStats s;
    s.sketched = false;
    s.count = moments_.count;
    s.missing = counts_.nan;
    s.infinite = counts_.pos_inf + counts_.neg_inf;
    if (moments_.count == 0) return s;
    const auto n = static_cast<double>(moments_.count);
    const double sum = moments_.total();
    s.mean = shift_ + sum / n;
    s.m2 = std::max(0.0, moments_.total_sq() - sum * sum / n);
    for (std::size_t c = 0; c < counts_.cells.size(); ++c) {
      if (counts_.cells[c] == 0) continue;
      s.min = std::min(s.min, static_cast<double>(counts_.low[c]));
      s.max = std::max(s.max, static_cast<double>(counts_.high[c]));
    }
    return s;
  }

  // The profile of the values counted.
  NumericProfile profile() {
    counter_.take(counts_);
    const ColumnStats s = stats();
    NumericProfile p = counted_;
    p.pos_inf = counts_.pos_inf;
    p.neg_inf = counts_.neg_inf;
    if (!bin_of_cell_.empty())
      for (std::size_t cell = 0; cell < counts_.cells.size(); ++cell)
        p.counts[bin_of_cell_[cell]] += counts_.cells[cell];
    p.count = s.count;
    p.missing = s.missing;
    p.mean = s.mean;
    p.variance = s.variance();
    if (s.count == 0 || grid_.size() < 2) return p;
    p.min = s.min;
    p.max = s.max;
    if (s.count <= static_cast<int64_t>(kExact)) {  // few values (a small window): exact quantiles
      ColumnStats exact = s;
      exact.sketch = QuantileSketch(static_cast<int>(kExact));
      const std::vector<double> values(first_.begin(), first_.end());
      exact.sketch.add(values.data(), values.size());
      ProfileOptions o;
      o.quantiles = static_cast<int>(grid_.size()) - 1;
      NumericProfile q = numeric_from(exact, o);
      p.quantiles = std::move(q.quantiles);
      p.rank_error = q.rank_error;
      return p;
    }
    // The CDF's pieces in order: open intervals (linear) and atoms (a jump at a value).
    struct Piece {
      double low, high;
      int64_t count;
    };
    // An open piece spans its cell's current values, not the whole cell: a tail cell of the
    // reference may be far wider than the values that fell in it.
    const std::vector<int64_t>& cells = counts_.cells;
    auto low = [&](std::size_t cell) { return static_cast<double>(counts_.low[cell]); };
    auto high = [&](std::size_t cell) { return static_cast<double>(counts_.high[cell]); };
    std::vector<Piece> pieces;
    pieces.reserve(2 * grid_.size() + 1);
    pieces.push_back({low(0), high(0), cells[0]});
    int64_t widest = cells[0];
    for (std::size_t i = 0; i < grid_.size(); ++i) {
      if (i + 1 < grid_.size() && grid_[i + 1] == grid_[i]) continue;  // the last of equal points
      const double next = i + 1 < grid_.size() ? grid_[i + 1] : s.max;
      const int64_t open = cells[i + 1] - counts_.atoms[i];
      pieces.push_back({grid_[i], grid_[i], counts_.atoms[i]});
      pieces.push_back({std::max(grid_[i], low(i + 1)), std::min(next, high(i + 1)), open});
      widest = std::max(widest, open);
    }
    const std::size_t points = grid_.size();
    p.quantiles.assign(points, 0);
    std::size_t at = 0;
    int64_t below = 0;  // values in the pieces before `at`
    const auto low_count = static_cast<double>(low_tail_.count());
    const auto high_count = static_cast<double>(high_tail_.count());
    std::vector<std::size_t> low_points, high_points;  // the grid points within a tail
    std::vector<double> low_ranks, high_ranks;         // and their ranks among its values
    for (std::size_t q = 0; q < points; ++q) {
      const double rank =
          static_cast<double>(q) / static_cast<double>(points - 1) * static_cast<double>(s.count);
      while (at + 1 < pieces.size() &&
             (pieces[at].count == 0 || rank > static_cast<double>(below + pieces[at].count))) {
        below += pieces[at].count;
        ++at;
      }
      const Piece& piece = pieces[at];
      const double share =
          piece.count > 0 ? (rank - static_cast<double>(below)) / static_cast<double>(piece.count)
                          : 0;
      p.quantiles[q] = piece.low + std::clamp(share, 0.0, 1.0) * (piece.high - piece.low);
      // The two outermost cells at each end (the reference's tails, where a cell can span an
      // outlier) keep their values in sketches: their quantiles are the values'.
      if (low_count > 0 && rank <= low_count) {
        low_points.push_back(q);
        low_ranks.push_back(rank / low_count);
      } else if (high_count > 0 && rank > static_cast<double>(s.count) - high_count) {
        high_points.push_back(q);
        high_ranks.push_back((rank - (static_cast<double>(s.count) - high_count)) / high_count);
      }
    }
    auto from_tail = [&](const QuantileSketch& tail, const std::vector<std::size_t>& points,
                         const std::vector<double>& ranks) {
      if (points.empty()) return;
      const std::vector<double> values = tail.quantiles(ranks);  // ranks ascend
      for (std::size_t i = 0; i < points.size(); ++i)
        p.quantiles[points[i]] = values[i];
    };
    from_tail(low_tail_, low_points, low_ranks);
    from_tail(high_tail_, high_points, high_ranks);
    p.quantiles.front() = s.min;
    p.quantiles.back() = s.max;
    for (std::size_t i = 1; i < points; ++i)
      p.quantiles[i] = std::clamp(p.quantiles[i], p.quantiles[i - 1], s.max);
    p.rank_error = static_cast<double>(widest) / static_cast<double>(s.count);
    return p;
  }

 private:
  std::vector<double> grid_;
  double shift_;                               // the reference's mean
  float low_below_, high_from_;                // values below / from: the low / high tail
  kernels::Moments moments_;                   // of the finite values' distance from shift_
  std::shared_ptr<const GridIndex> index_;     // the cell of a value
  kernels::CellCounter counter_;               // counts values into counts_
  kernels::CellCounts counts_;                 // the values in the grid's cells
  QuantileSketch low_tail_, high_tail_;        // the values of the two outermost cells at each end
  std::vector<float> tails_;                   // add_values's: the tails' values of a block
  static constexpr std::size_t kExact = 8192;  // up to this many values: exact quantiles
  std::vector<float> first_;                   // the finite values, while at most kExact
  std::vector<std::size_t> bin_of_cell_;       // empty: an edge is not a grid point
  NumericProfile counted_;                     // the bins: counted here when bin_of_cell_ is empty
};

}  // namespace

const ColumnProfile* Profile::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

Profile profile_dataset(const Dataset& dataset, const ProfileOptions& o) {
  KILN_CHECK(o.bins >= 1 && o.quantiles >= 2 && o.top_codes >= 0, UsageError,
             "profile: bins must be at least 1, quantiles at least 2, top codes not negative");
  const DatasetStats stats = compute_stats(dataset, o.block_rows, o.sketch_k);
  Profile p;
  p.rows = stats.rows;
  p.path = dataset.path();
  p.fingerprint = dataset.fingerprint();
  std::vector<int> slot(stats.columns.size(), -1);  // schema column -> profile column
  std::vector<std::size_t> numeric;                 // the schema's numeric columns profiled
  for (std::size_t c = 0; c < stats.columns.size(); ++c) {
    const ColumnStats& s = stats.columns[c];
    if (!profiled(s.role)) continue;
    ColumnProfile column;
    column.name = s.name;
    column.role = s.role;
    if (column.is_categorical()) {
      column.categorical = categorical_from(s, o);
      column.categorical.dictionary = code_dictionary(dataset, s.name);
    } else {
      column.numeric = numeric_from(s, o);
      numeric.push_back(c);
    }
    slot[c] = static_cast<int>(p.columns.size());
    p.columns.push_back(std::move(column));
  }
  core::ThreadPool pool(0);
  for_each_column_block(
      dataset, o.block_rows, pool,
      [&](std::size_t c, void* values, int64_t n) {
        count_bins(p.columns[static_cast<std::size_t>(slot[c])].numeric,
                   static_cast<const float*>(values), n);
      },
      numeric);
  return p;
}

namespace {

// Current rows counted through a reference profile (profile_against's work), over all rows
// or a window of them at a time. With the GPU, the numeric columns are counted there
// (kernels::DeviceGridCounter; those whose grid fits it): their rows come in device memory
// too, and the host keeps only what the counts do not hold (GridCounts::add_values).
class Against {
 public:
  // The grids' indexes are built on `pool`, or shared with `same` (an Against of the same
  // reference). A column's counts may be added block by block with add(), or with
  // add_column() from a pass a column at a time (for_each_column_block).
  Against(const Profile& reference, const Dataset& current, bool gpu, int64_t block_rows,
          core::ThreadPool& pool, const Against* same = nullptr)
      : Against(reference, current, gpu, block_rows, pool, same, false) {}

  // For a pass a column at a time on the CPU: a numeric column's index and counters are made
  // by the task that counts it, at its first block, and its profile is taken at its last and
  // they are freed, so that a core makes the next column's tables in the memory the last one
  // freed (the 100 columns' tables made at once were some 13 MB of fresh pages, 3,300 page
  // faults that serialized the two cores for a tenth of the drift check's time).
  static Against by_column(const Profile& reference, const Dataset& current,
                           core::ThreadPool& pool) {
    return Against(reference, current, false, 0, pool, nullptr, true);
  }

 private:
  Against(const Profile& reference, const Dataset& current, bool gpu, int64_t block_rows,
          core::ThreadPool& pool, const Against* same, bool by_column)
      : reference_(reference),
        by_column_(by_column),
        rows_(current.rows()),
        slot_(current.schema().columns.size(), -1),
        indexes_(same != nullptr ? same->indexes_ : decltype(indexes_)(reference.columns.size())),
        on_gpu_(reference.columns.size(), false) {
    if (same == nullptr && !by_column) {
      pool.parallel_for(static_cast<int64_t>(indexes_.size()), [&](int64_t k) {
        const ColumnProfile& r = reference.columns[static_cast<std::size_t>(k)];
        if (!r.is_categorical())
          indexes_[static_cast<std::size_t>(k)] =
              std::make_shared<const GridIndex>(r.numeric.quantiles);
      });
    }
    const Schema& schema = current.schema();
    for (std::size_t k = 0; k < reference.columns.size(); ++k) {
      const ColumnProfile& r = reference.columns[k];
      const int c = schema.find(r.name);
      // Data to score has no label: its rows count as missing it (finish()).
      if (c < 0 && r.role == Role::kLabel && schema.find_role(Role::kLabel) < 0) {
        unlabelled_ = static_cast<int>(k);
        continue;
      }
      KILN_CHECK(c >= 0, DataError, current.path(), ": no column '", r.name,
                 "', which the reference profile (", reference.path, ") has");
      KILN_CHECK(schema.columns[static_cast<std::size_t>(c)].role == r.role, DataError,
                 current.path(), ": column '", r.name, "' is ",
                 role_name(schema.columns[static_cast<std::size_t>(c)].role),
                 ", the reference's is ", role_name(r.role));
      if (same == nullptr && r.is_categorical() && r.categorical.dictionary)
        check_codes(current, r.name, *r.categorical.dictionary, "the reference profile",
                    reference.path);
      slot_[static_cast<std::size_t>(c)] = static_cast<int>(k);
      // A grid too fine for the GPU's shared memory is counted on the CPU.
      if (gpu && !r.is_categorical() && kernels::DeviceGridCounter::fits(*indexes_[k])) {
        gpu_columns_.push_back(static_cast<std::size_t>(c));
        gpu_slots_.push_back(k);
        on_gpu_[k] = true;
      }
    }
    if (!gpu_slots_.empty()) {
      std::vector<const GridIndex*> grids;
      for (std::size_t k : gpu_slots_)
        grids.push_back(indexes_[k].get());
      counter_ =
          std::make_unique<kernels::DeviceGridCounter>(grids, largest_block(current, block_rows));
    }
    restart(pool);
  }

 public:
  // The schema columns counted on the GPU, in its order (none without it).
  const std::vector<std::size_t>& gpu_columns() const { return gpu_columns_; }

  // The schema columns the reference profiles (what a pass reads).
  std::vector<std::size_t> columns() const {
    std::vector<std::size_t> out;
    for (std::size_t c = 0; c < slot_.size(); ++c)
      if (slot_[c] >= 0) out.push_back(c);
    return out;
  }

  // Rows [offset, offset + n) of the block read: host[c] holds schema column c's rows and
  // (with the GPU) `device` the gpu_columns' rows in their order. The columns on `pool`.
  void add(const std::vector<void*>& host, const kernels::DeviceColumns* device, int64_t offset,
           int64_t n, core::ThreadPool& pool) {
    pool.parallel_for(static_cast<int64_t>(slot_.size()), [&](int64_t c) {
      const auto column = static_cast<std::size_t>(c);
      if (slot_[column] < 0) return;
      const std::size_t element = mem_size(reference_.columns[column_slot(column)].role);
      add_column(column, static_cast<const char*>(host[column]) + offset * element, n);
    });
    if (counter_ && n > 0) counter_->add(device->device() + offset, n, device->stride());
  }

  // The next n rows of schema column c (one the reference profiles), on the CPU: calls for
  // different columns may run concurrently.
  void add_column(std::size_t c, const void* values, int64_t n) {
    const std::size_t k = column_slot(c);
    if (reference_.columns[k].is_categorical()) {
      stats_[k].add_block(values, n);
      return;
    }
    GridCounts& grid = counts(k);
    if (on_gpu_[k])
      grid.add_values(static_cast<const float*>(values), n);
    else
      grid.add(static_cast<const float*>(values), n);
    if (by_column_ && (added_[k] += n) == rows_) {  // the column's last block
      taken_[k] = grid.profile();
      grids_[k].reset();
    }
  }

  // The profile of the rows added since the start (or the last restart), the columns on
  // `pool`.
  Profile finish(int64_t rows, const std::string& path, const std::string& fingerprint,
                 core::ThreadPool& pool) {
    if (counter_) {
      std::vector<kernels::CellCounts> counts;
      counter_->take(counts);
      for (std::size_t d = 0; d < gpu_slots_.size(); ++d)
        grids_[gpu_slots_[d]]->add_counts(counts[d]);
    }
    Profile p;
    p.rows = rows;
    p.path = path;
    p.fingerprint = fingerprint;
    p.columns.resize(reference_.columns.size());
    pool.parallel_for(static_cast<int64_t>(p.columns.size()), [&](int64_t at) {
      const auto k = static_cast<std::size_t>(at);
      const ColumnProfile& r = reference_.columns[k];
      ColumnProfile& column = p.columns[k];
      column.name = r.name;
      column.role = r.role;
      if (column.is_categorical()) {
        CategoricalProfile& cat = column.categorical;
        cat.count = stats_[k].count;
        cat.missing = stats_[k].missing;
        cat.distinct = static_cast<int64_t>(stats_[k].categories.size());
        int64_t listed = 0;
        for (const auto& [code, n] : r.categorical.codes) {
          const auto it = stats_[k].categories.find(code);
          cat.codes[code] = it == stats_[k].categories.end() ? 0 : it->second;
          listed += cat.codes[code];
        }
        cat.other = cat.count - listed;
      } else {
        column.numeric = taken_[k] ? std::move(*taken_[k]) : counts(k).profile();
      }
    });
    if (unlabelled_ >= 0) p.columns[static_cast<std::size_t>(unlabelled_)].numeric.missing = rows;
    return p;
  }

  // Counts from zero again (the next window's), the columns' counters made on `pool`.
  void restart(core::ThreadPool& pool) {
    stats_.clear();
    stats_.resize(reference_.columns.size());
    grids_.clear();
    grids_.resize(reference_.columns.size());
    taken_.clear();
    taken_.resize(reference_.columns.size());
    added_.assign(reference_.columns.size(), 0);
    pool.parallel_for(static_cast<int64_t>(grids_.size()), [&](int64_t at) {
      const auto k = static_cast<std::size_t>(at);
      stats_[k].role = reference_.columns[k].role;
      stats_[k].sketched = false;  // numeric: the grid's counts; categorical: its codes
      if (indexes_[k]) grids_[k].emplace(reference_.columns[k].numeric, indexes_[k]);
    });
  }

 private:
  std::size_t column_slot(std::size_t c) const { return static_cast<std::size_t>(slot_[c]); }

  // Numeric column k's counts, made here when a pass by column reaches it.
  GridCounts& counts(std::size_t k) {
    if (!grids_[k]) grids_[k].emplace(reference_.columns[k].numeric);
    return *grids_[k];
  }

  const Profile& reference_;
  const bool by_column_;   // see by_column()
  const int64_t rows_;     // the current data's
  std::vector<int> slot_;  // schema column -> reference column
  int unlabelled_ = -1;    // the reference's label, which the data (to score) lacks; else -1
  std::vector<ColumnStats> stats_;                         // the categorical columns' codes
  std::vector<std::shared_ptr<const GridIndex>> indexes_;  // of the numeric columns' grids
  std::vector<std::optional<GridCounts>> grids_;      // numeric columns' counts on the reference's
                                                      // grid and bins
  std::vector<int64_t> added_;                        // by column: the rows counted
  std::vector<std::optional<NumericProfile>> taken_;  // by column: the profiles of those done
  std::vector<std::size_t> gpu_columns_, gpu_slots_;  // the GPU's columns: schema, reference
  std::vector<bool> on_gpu_;                          // per reference column
  std::unique_ptr<kernels::DeviceGridCounter> counter_;
};

// The GPU's staging for the columns an Against counts there (none without them), and
// where for_each_block reads them: its pinned memory.
std::unique_ptr<kernels::DeviceColumns> device_columns(const Against& against,
                                                       const Dataset& current,
                                                       const ProfileOptions& o,
                                                       std::vector<void*>& into) {
  const std::vector<std::size_t>& columns = against.gpu_columns();
  if (columns.empty()) return nullptr;
  auto device = std::make_unique<kernels::DeviceColumns>(static_cast<int>(columns.size()),
                                                         largest_block(current, o.block_rows));
  into.assign(current.schema().columns.size(), nullptr);
  for (std::size_t d = 0; d < columns.size(); ++d)
    into[columns[d]] = device->host(static_cast<int>(d));
  return device;
}

}  // namespace

Profile profile_against(const Profile& reference, const Dataset& current, const ProfileOptions& o) {
  core::ThreadPool pool(0);
  Against against = o.gpu ? Against(reference, current, true, o.block_rows, pool)
                          : Against::by_column(reference, current, pool);
  std::vector<void*> into;
  const auto device = device_columns(against, current, o, into);
  if (device) {  // a block of every column at a time: the GPU's columns go up together
    for_each_block(
        current, o.block_rows, &pool,
        [&](const Block& b) {
          device->upload(b.rows);
          against.add(b.columns, device.get(), 0, b.rows, pool);
        },
        into);
  } else if (const std::vector<std::size_t> columns = against.columns(); !columns.empty()) {
    // A column at a time, its grid's tables in the cache of the core counting it.
    for_each_column_block(
        current, o.block_rows, pool,
        [&](std::size_t c, const void* values, int64_t n) { against.add_column(c, values, n); },
        columns);
  }
  return against.finish(current.rows(), current.path(), current.fingerprint(), pool);
}

Profile profile_windows(const Profile& reference, const Dataset& current, const WindowOptions& w,
                        const std::function<void(Window&&)>& each, const ProfileOptions& o) {
  const Schema& schema = current.schema();
  KILN_CHECK((w.seconds > 0) != (w.rows > 0), UsageError,
             "a window is a duration or a row count, not both or neither");
  const int by = w.by.empty() ? -1 : schema.find(w.by);
  KILN_CHECK(w.by.empty() || by >= 0, DataError, current.path(), ": no column '", w.by,
             "' to window by");
  const Role by_role = by >= 0 ? schema.columns[static_cast<std::size_t>(by)].role : Role::kId;
  KILN_CHECK(w.rows > 0 || by_role == Role::kTime, DataError, current.path(), ": column '", w.by,
             "' is ", role_name(by_role),
             "; a window of a duration needs a time column (int64 seconds since the epoch)");
  KILN_CHECK(by < 0 || by_role == Role::kTime || by_role == Role::kId || by_role == Role::kNumeric,
             DataError, current.path(), ": column '", w.by, "' is ", role_name(by_role),
             "; windows follow a time, id or numeric column");
  core::ThreadPool pool(0);
  Against whole(reference, current, o.gpu, o.block_rows, pool),
      against(reference, current, o.gpu, o.block_rows, pool, &whole);
  std::vector<void*> into;
  const auto device = device_columns(against, current, o, into);
  Window open;
  int64_t window_id = 0, row = 0, open_rows = 0;
  bool any = false;
  double previous = 0;
  auto close = [&] {
    open.profile = against.finish(open_rows, current.path(), current.fingerprint(), pool);
    against.restart(pool);
    each(std::move(open));
    open = Window{};
    open_rows = 0;
  };
  auto block = [&](const Block& b) {
    if (device) device->upload(b.rows);
    const std::vector<void*>& host = b.columns;
    const ShardFile& shard = b.shard;
    const int64_t start = b.start, n = b.rows;
    // The --by value of a row in the block read.
    auto key = [&](int64_t i) -> double {
      if (by < 0) return 0;
      const void* column = host[static_cast<std::size_t>(by)];
      if (by_role == Role::kNumeric) return static_cast<const float*>(column)[i];
      return static_cast<double>(static_cast<const int64_t*>(column)[i]);
    };
    for (int64_t i = 0; i < n;) {
      // The run of rows from i that belong to one window.
      int64_t j = i;
      int64_t id = 0;
      for (; j < n; ++j, ++row) {
        const double v = key(j);
        if (by >= 0) {
          KILN_CHECK(!std::isnan(v), DataError, shard.path(), ": column '", w.by, "' row ",
                     start + j, " is missing; windows need every row's value");
          KILN_CHECK(!(w.seconds > 0 && any && v < previous), DataError, shard.path(), ": column '",
                     w.by, "' decreases at row ", start + j, " (", v, " after ", previous,
                     "); time windows need rows in time order");
        }
        id = w.rows > 0 ? row / w.rows
                        : static_cast<int64_t>(std::floor(v / static_cast<double>(w.seconds)));
        if (any && id != window_id) break;
        if (!any || open_rows == 0) {
          open.first = v;
          open.index = id;
        }
        open.last = v;
        previous = v;
        window_id = id;
        any = true;
        ++open_rows;
      }
      against.add(host, device.get(), i, j - i, pool);
      whole.add(host, device.get(), i, j - i, pool);
      if (j < n) {
        close();
        window_id = id;
      }
      i = j;
    }
  };
  for_each_block(current, o.block_rows, &pool, block, into);
  if (open_rows > 0) close();
  return whole.finish(current.rows(), current.path(), current.fingerprint(), pool);
}

NumericProfile profile_values(const float* values, int64_t n, const ProfileOptions& o) {
  ColumnStats s;
  s.sketch = QuantileSketch(o.sketch_k);
  s.add_block(values, n);
  NumericProfile p = numeric_from(s, o);
  count_bins(p, values, n);
  return p;
}

NumericProfile profile_values_against(const NumericProfile& reference, const float* values,
                                      int64_t n) {
  GridCounts grid(reference);
  grid.add(values, n);
  return grid.profile();
}

}  // namespace kiln::data
