// A dataset for the profile tests (data/profile.h), CPU and GPU: skewed numeric values with
// NaN and both infinities, a constant column, an all-missing column, a categorical of 300
// codes with a long tail (and missing values), a time column (one second a row), a label.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace kiln::data::testing {

// `rows` rows in shards of `shard_rows`; `shift` moves the skewed column's log-mean.
inline std::string make_profile_dataset(const std::string& path, int64_t rows, int64_t shard_rows,
                                        unsigned seed, float shift = 0) {
  Schema schema{{{"amount", Role::kNumeric, 0},
                 {"constant", Role::kNumeric, 0},
                 {"empty", Role::kNumeric, 0},
                 {"merchant", Role::kCategorical, 300},
                 {"ts", Role::kTime, 0},
                 {"label", Role::kLabel, 0}}};
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<float> lognormal(3.0f + shift, 1.5f);
  std::vector<float> amount(rows), constant(rows, 2.5f), empty(rows, NAN), label(rows);
  std::vector<int32_t> merchant(rows);
  std::vector<int64_t> ts(rows);
  for (int64_t i = 0; i < rows; ++i) {
    amount[i] = i % 101 == 0   ? NAN
                : i % 997 == 0 ? INFINITY
                : i % 991 == 0 ? -INFINITY
                               : lognormal(rng);
    merchant[i] =
        i % 23 == 0 ? -1 : static_cast<int32_t>(std::min<uint64_t>(rng() % 1000, rng() % 300));
    ts[i] = i;
    label[i] = static_cast<float>(rng() % 10 == 0);
  }
  DatasetWriter writer(path, schema, ShardWriteOptions{}, shard_rows);
  writer.append(rows, {amount.data(), constant.data(), empty.data(), merchant.data(), ts.data(),
                       label.data()});
  writer.finish();
  return path;
}

}  // namespace kiln::data::testing
