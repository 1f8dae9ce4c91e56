// A dataset's reference profile (docs/MONITORING.md): what drift checks compare new data
// against, without the reference rows. Per numeric column: counts (missing, +Inf, -Inf),
// mean, variance, min, max, its quantile function from a mergeable sketch (with the sketch's
// rank error), and exact counts on bins cut at the reference's own quantiles; per
// categorical column: the counts of its most frequent codes, the rest as "other", and
// missing. Two streaming passes over the dataset (the sketch, then the bins), each column on
// its own thread. profile.json is untrusted when read back: DataError naming the file and
// the field.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace kiln::data {

inline constexpr const char* kProfileFormat = "kiln.profile";
inline constexpr int kProfileVersion = 1;

struct ProfileOptions {
  int bins = 20;         // histogram bins at the reference quantiles 1/bins, 2/bins, ...
  int quantiles = 1000;  // the quantile function at q = 0, 1/quantiles, ..., 1
  int top_codes = 100;   // categorical codes counted one by one; the rest are "other"
  int sketch_k = 4096;   // the quantile sketch's size (data/stats.h)
  int64_t block_rows = 65536;
  // profile_against and profile_windows: count the numeric columns on the GPU
  // (kernels::DeviceGridCounter: the same counts as the CPU's; the mean and variance equal
  // within rounding). The caller checks that there is one (kernels::gpu_available).
  bool gpu = false;
};

struct NumericProfile {
  int64_t count = 0;  // finite values
  int64_t missing = 0, pos_inf = 0, neg_inf = 0;
  double mean = 0, variance = 0, min = 0, max = 0;
  // At q = i / (size - 1); empty when count is 0. Like the edges, the data's float32 values
  // (a current profile's are interpolated inside cells: profile.json rounds them to floats).
  std::vector<double> quantiles;
  double rank_error = 0;  // the sketch's rank error bound, as a fraction of count
  // Bin i holds the finite values v with edges[i-1] <= v < edges[i] (edges[-1] = -inf,
  // edges[size] = +inf): edges.size() + 1 bins. Edges are increasing (ties removed).
  std::vector<double> edges;
  std::vector<int64_t> counts;
};

struct CategoricalProfile {
  int64_t count = 0;                 // non-missing values
  int64_t missing = 0;               // code -1
  std::map<int64_t, int64_t> codes;  // the most frequent codes and their counts
  int64_t other = 0;                 // values of the other codes
  int64_t distinct = 0;              // codes seen
  // The dataset's dictionary of the column (a reference's: profile_against checks that the
  // current data's codes mean the same strings); none for data without one.
  std::optional<CodeDictionary> dictionary;
};

struct ColumnProfile {
  std::string name;
  Role role = Role::kNumeric;  // numeric, categorical or label
  NumericProfile numeric;      // numeric and label columns
  CategoricalProfile categorical;
  bool is_categorical() const { return role == Role::kCategorical; }
};

// The roles a profile holds: numeric, categorical and the label.
inline bool profiled(Role role) {
  return role == Role::kNumeric || role == Role::kCategorical || role == Role::kLabel;
}

struct Profile {
  int64_t rows = 0;
  std::string path, fingerprint;       // the dataset profiled
  std::vector<ColumnProfile> columns;  // its numeric, categorical and label columns, in order

  const ColumnProfile* find(const std::string& name) const;
  // The JSON text that write() writes (docs/MONITORING.md), and the same as a JSON value.
  std::string dump() const;
  nlohmann::ordered_json to_json() const;
  // DataError naming `where` and the field for anything malformed or inconsistent (counts
  // that do not add up, edges that do not increase, quantiles that decrease, ...).
  static Profile from_json(const nlohmann::json& json, const std::string& where);
  static Profile read(const std::string& path);  // InputError when missing
  void write(const std::string& path) const;     // atomically
};

// The profile of a dataset's numeric, categorical and label columns.
Profile profile_dataset(const Dataset& dataset, const ProfileOptions& options = {});

// Current data seen through a reference profile, in one streaming pass: for each reference
// column, the current column's profile with the reference's bins (its counts on the
// reference's edges), its quantiles on the reference's grid (from its counts in the cells
// of the reference's quantile grid: exact at the grid's points, linear inside a cell, the
// largest cell's share as the rank error; no sketch), and for a categorical column
// the counts of the reference's listed codes (zeros kept) with every other code in `other`.
// The result has the reference's columns, in its order. DataError naming the column when
// `current` lacks one, has it with another role, or numbers its strings otherwise
// (check_codes).
Profile profile_against(const Profile& reference, const Dataset& current,
                        const ProfileOptions& options = {});

// Windows of current data over time or order (kiln drift --by COLUMN --window SIZE):
// consecutive rows in dataset order, a window ending where the next row's window begins.
// A duration's window of a row is floor(t / seconds) of its time column (seconds since the
// epoch, so 1d windows are UTC days); a count's is its row number / rows. Windows without
// rows are not reported.
struct WindowOptions {
  std::string by;       // the time, id or numeric column whose values each window spans
  int64_t seconds = 0;  // a duration (needs a time column), or
  int64_t rows = 0;     // a row count (`by` optional)
};

struct Window {
  int64_t index = 0;           // floor(t / seconds), or row / rows
  double first = 0, last = 0;  // the `by` values of its first and last rows (0 without `by`)
  Profile profile;             // its rows through the reference, as profile_against's
};

// Calls `each` with every window in order as soon as it is complete, and returns the profile
// of all the rows (profile_against's): one streaming pass.
// DataError naming the column (and the shard and row) for a `by` column the data lacks, of a
// role that cannot be windowed, with a missing value, or (durations) decreasing.
Profile profile_windows(const Profile& reference, const Dataset& current,
                        const WindowOptions& window, const std::function<void(Window&&)>& each,
                        const ProfileOptions& options = {});

// One numeric column held in memory (a model's scores): its profile as profile_dataset makes
// a column's, and through a reference column as profile_against does.
NumericProfile profile_values(const float* values, int64_t n, const ProfileOptions& options = {});
NumericProfile profile_values_against(const NumericProfile& reference, const float* values,
                                      int64_t n);

// The bin of a finite value: the number of edges at or below it. Branch-free: the same
// steps whatever the value (the loop over a block's values does not mispredict).
inline std::size_t bin_of(const std::vector<double>& edges, double value) {
  if (edges.empty()) return 0;
  const double* base = edges.data();
  std::size_t n = edges.size();
  while (n > 1) {  // the answer is in [base, base + n] counted from edges.data()
    const std::size_t half = n / 2;
    base = base[half] <= value ? base + half : base;
    n -= half;
  }
  return static_cast<std::size_t>(base - edges.data()) + (*base <= value ? 1 : 0);
}

}  // namespace kiln::data
