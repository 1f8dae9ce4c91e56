// Drift of current data against a reference profile (eval/data_drift.h): a known shift is
// found, the same distribution is not, and the rule set switches at 1,000 reference rows.
#include "eval/data_drift.h"

#include <gtest/gtest.h>

#include <random>

#include "data/dataset.h"
#include "data/profile.h"
#include "tests/temp_dir.h"

namespace kiln::eval {
namespace {

using kiln::testing::TempDir;

// `rows` rows: x ~ normal(shift, 1), y ~ normal(0, 1), c: codes 0..9 (skewed toward high
// codes when `recoded`), a label.
std::string write(const TempDir& dir, const std::string& name, int64_t rows, double shift,
                  bool recoded, uint64_t seed) {
  data::Schema schema{{{"x", data::Role::kNumeric, 0},
                       {"y", data::Role::kNumeric, 0},
                       {"c", data::Role::kCategorical, 10},
                       {"label", data::Role::kLabel, 0}}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> x(static_cast<std::size_t>(rows)), y(x.size()), label(x.size());
  std::vector<int32_t> c(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = normal(rng) + static_cast<float>(shift);
    y[i] = normal(rng);
    const int32_t code = static_cast<int32_t>(rng() % 10);
    c[i] = recoded ? std::max<int32_t>(code, static_cast<int32_t>(rng() % 10)) : code;
    label[i] = static_cast<float>(rng() % 5 == 0);
  }
  const std::string path = dir / name;
  data::DatasetWriter writer(path, schema, data::ShardWriteOptions{}, rows);
  writer.append(rows, {x.data(), y.data(), c.data(), label.data()});
  writer.finish();
  return path;
}

const ColumnDrift& column(const DataDrift& d, const std::string& name) {
  for (const auto& c : d.columns)
    if (c.name == name) return c;
  throw std::runtime_error("no column " + name);
}

DataDrift drift(const std::string& reference, const std::string& current) {
  const data::Profile r = data::profile_dataset(*data::Dataset::open(reference));
  return data_drift(r, data::profile_against(r, *data::Dataset::open(current)));
}

TEST(DataDrift, AKnownShiftIsFoundAndTheRestIsNot) {
  TempDir dir;
  const DataDrift d =
      drift(write(dir, "ref", 20000, 0, false, 1), write(dir, "cur", 20000, 0.5, true, 2));
  EXPECT_TRUE(column(d, "x").drifted);
  EXPECT_EQ(column(d, "x").method, "wasserstein");
  EXPECT_NEAR(column(d, "x").wasserstein, 0.5, 0.05);  // a shift of half a std
  EXPECT_FALSE(column(d, "y").drifted) << column(d, "y").score;
  EXPECT_TRUE(column(d, "c").drifted);
  EXPECT_EQ(column(d, "c").method, "jensen_shannon");
  EXPECT_FALSE(column(d, "label").drifted);
  EXPECT_EQ(d.features, 3);
  EXPECT_EQ(d.drifted, 2);
  EXPECT_TRUE(d.dataset_drifted);
  EXPECT_EQ(d.columns.front().drifted, true);  // the most severe first
}

TEST(DataDrift, TheSameDistributionDriftsInAtMostOneOfTwentySeeds) {
  TempDir dir;
  int flagged = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    const std::string tag = std::to_string(seed);
    const DataDrift d = drift(write(dir, "r" + tag, 5000, 0, false, 100 + seed),
                              write(dir, "c" + tag, 5000, 0, false, 200 + seed));
    flagged += d.dataset_drifted ? 1 : 0;
  }
  EXPECT_LE(flagged, 1);
}

TEST(DataDrift, SmallReferencesAreTestedWithPValues) {
  TempDir dir;
  const DataDrift d =
      drift(write(dir, "ref", 800, 0, false, 3), write(dir, "cur", 800, 0.5, true, 4));
  EXPECT_EQ(column(d, "x").method, "ks");
  EXPECT_TRUE(column(d, "x").drifted);
  EXPECT_LT(column(d, "x").ks_p, 0.05);
  EXPECT_EQ(column(d, "c").method, "chi_square");
  EXPECT_EQ(column(d, "label").method, "chi_square");  // two values: categories
}

}  // namespace
}  // namespace kiln::eval
