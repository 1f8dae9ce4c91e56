#include "data/stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "data/dataset.h"
#include "data/synth.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::TempDir;

ColumnStats numeric_stats(const std::vector<float>& values, int64_t block) {
  ColumnStats s;
  s.role = Role::kNumeric;
  for (std::size_t at = 0; at < values.size(); at += static_cast<std::size_t>(block)) {
    int64_t n = std::min<int64_t>(block, static_cast<int64_t>(values.size() - at));
    s.add_block(values.data() + at, n);
  }
  return s;
}

TEST(Stats, MeanAndVarianceMatchExactSumsWithinOneInATrillion) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0, 1);
  std::vector<float> values;
  for (int i = 0; i < 300000; ++i)
    values.push_back(static_cast<float>(1e4 + 3.0 * normal(rng)));
  // Exact reference: long double two-pass over the same float values.
  long double sum = 0;
  for (float v : values)
    sum += v;
  long double mean = sum / values.size(), ss = 0;
  for (float v : values)
    ss += (v - mean) * (v - mean);
  long double variance = ss / (values.size() - 1);
  for (int64_t block : {1000, 65536, 300000}) {
    ColumnStats s = numeric_stats(values, block);
    EXPECT_EQ(s.count, 300000);
    EXPECT_LT(std::abs((s.mean - static_cast<double>(mean)) / static_cast<double>(mean)), 1e-12)
        << block;
    EXPECT_LT(
        std::abs((s.variance() - static_cast<double>(variance)) / static_cast<double>(variance)),
        1e-12)
        << block;
  }
}

TEST(Stats, CountsMissingInfiniteMinAndMax) {
  std::vector<float> values = {1, NAN, 3, INFINITY, -2, NAN};
  ColumnStats s = numeric_stats(values, 4);
  EXPECT_EQ(s.count, 3);
  EXPECT_EQ(s.missing, 2);
  EXPECT_EQ(s.infinite, 1);
  EXPECT_EQ(s.min, -2);
  EXPECT_EQ(s.max, 3);
}

// True rank range of v: [items < v, items <= v]; the estimate must be within the bound of it.
void expect_ranks_within_bound(const std::vector<double>& data, const QuantileSketch& sketch) {
  std::vector<double> sorted = data;
  std::sort(sorted.begin(), sorted.end());
  double bound = sketch.rank_error_bound();
  EXPECT_GT(bound, 0);
  // The worst case stated in stats.h: n * ceil(log2(n / k)) / (2k).
  double n = static_cast<double>(data.size());
  EXPECT_LE(bound, n * std::ceil(std::log2(n / sketch.k())) / (2.0 * sketch.k()));
  for (double q = 0.001; q < 1; q += 0.0137) {
    double v = sorted[static_cast<std::size_t>(q * static_cast<double>(sorted.size()))];
    double below =
        static_cast<double>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
    double upto =
        static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
    double est = sketch.rank(v);
    EXPECT_GE(est, below - bound) << "q=" << q;
    EXPECT_LE(est, upto + bound) << "q=" << q;
    double qv = sketch.quantile(q);
    double qrank =
        static_cast<double>(std::upper_bound(sorted.begin(), sorted.end(), qv) - sorted.begin());
    EXPECT_GE(qrank, q * static_cast<double>(sorted.size()) - bound - 1) << "q=" << q;
  }
}

TEST(QuantileSketch, RankErrorStaysWithinItsBoundOnLognormalData) {
  std::mt19937_64 rng(9);
  std::lognormal_distribution<double> lognormal(0, 2.5);
  std::vector<double> data(1000000);
  QuantileSketch a(512), b(512);
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = lognormal(rng);
    (i % 3 ? a : b).add(data[i]);  // two streams merged, as blocks are
  }
  a.merge(b);
  EXPECT_EQ(a.count(), 1000000);
  expect_ranks_within_bound(data, a);
}

TEST(QuantileSketch, RankErrorStaysWithinItsBoundOnDiscreteData) {
  std::mt19937_64 rng(2);
  std::poisson_distribution<int> poisson(3);
  std::vector<double> data(500000);
  QuantileSketch s(256);
  for (auto& v : data)
    s.add(v = poisson(rng));
  expect_ranks_within_bound(data, s);
}

TEST(QuantileSketch, IsExactBeforeItsFirstCompaction) {
  QuantileSketch s(64);
  for (int i = 100; i >= 1; --i)
    s.add(i);
  EXPECT_EQ(s.rank_error_bound(), 0);
  EXPECT_EQ(s.quantile(0.5), 50);
  EXPECT_EQ(s.rank(10), 10);
}

TEST(Stats, CategoryCountsAreExactAcrossShards) {
  TempDir dir;
  SynthOptions o;
  o.out = dir.path();
  o.rows = 30000;
  o.shards = 3;
  synthesize(o);
  auto ds = Dataset::open(dir / "train");
  DatasetStats stats = compute_stats(*ds, 4000);
  int merchant = ds->schema().find("merchant");
  ASSERT_GE(merchant, 0);
  // Reference: read the column whole and count.
  std::map<int64_t, int64_t> counts;
  int64_t missing = 0;
  for (const auto& shard : ds->shards()) {
    ColumnBuffers buffers(ds->schema(), shard->rows());
    shard->read(0, shard->rows(), buffers.pointers());
    const int32_t* codes = buffers.column<int32_t>(static_cast<std::size_t>(merchant));
    for (int64_t i = 0; i < shard->rows(); ++i)
      codes[i] < 0 ? ++missing : ++counts[codes[i]];
  }
  const ColumnStats& s = stats.columns[merchant];
  EXPECT_EQ(s.missing, missing);
  EXPECT_EQ(s.categories.size(), counts.size());
  for (const auto& [code, count] : counts)
    EXPECT_EQ(s.categories.at(code), count) << code;
  auto top = s.top_categories(3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].first, 0);  // Zipf: code 0 is the most frequent
  EXPECT_GE(top[0].second, top[1].second);
}

// for_each_block reads every row once, in order, in blocks no taller than asked and never
// across shards; a column given a place in `into` is read there (the GPU pass's pinned
// memory) with the same values.
TEST(ForEachBlock, ReadsEveryRowInOrderAndAColumnIntoTheCallersMemory) {
  TempDir dir;
  Schema schema{{{"x", Role::kNumeric, 0}, {"y", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  std::vector<float> x(2500), y(2500), label(2500, 0.0f);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(i);
    y[i] = static_cast<float>(i) * 0.5f;
  }
  DatasetWriter writer(dir / "d", schema, {}, 1000);
  writer.append(static_cast<int64_t>(x.size()), {x.data(), y.data(), label.data()});
  writer.finish();
  const auto ds = Dataset::open(dir / "d");
  std::vector<float> mine(300);
  core::ThreadPool pool(2);
  std::vector<float> seen_x, seen_y;
  std::vector<int64_t> starts;
  for_each_block(*ds, 300, &pool,
                 [&](const Block& b) {
                   EXPECT_LE(b.rows, 300);
                   EXPECT_EQ(b.columns[1], mine.data());
                   starts.push_back(b.start);
                   const auto* bx = static_cast<const float*>(b.columns[0]);
                   seen_x.insert(seen_x.end(), bx, bx + b.rows);
                   seen_y.insert(seen_y.end(), mine.data(), mine.data() + b.rows);
                 },
                 {nullptr, mine.data(), nullptr});
  EXPECT_EQ(seen_x, x);
  EXPECT_EQ(seen_y, y);
  // Shards of 1,000 rows in blocks of 300: 0, 300, 600, 900 in each of the first two shards.
  EXPECT_EQ(starts, (std::vector<int64_t>{0, 300, 600, 900, 0, 300, 600, 900, 0, 300}));
}

// A column's blocks come to one task in row order; after a call throws, the other columns
// stop at their next block and the error is what the pass throws.
TEST(ForEachColumnBlock, ReadsAColumnsBlocksInOrderOnOneThreadAndStopsAtAnError) {
  TempDir dir;
  Schema schema{{{"x", Role::kNumeric, 0}, {"y", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  std::vector<float> x(10000), y(10000), label(10000, 0.0f);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(i);
    y[i] = -static_cast<float>(i);
  }
  DatasetWriter writer(dir / "d", schema, {}, 1000);
  writer.append(static_cast<int64_t>(x.size()), {x.data(), y.data(), label.data()});
  writer.finish();
  const auto ds = Dataset::open(dir / "d");
  core::ThreadPool pool(2);
  std::vector<std::vector<float>> seen(3);
  std::vector<std::set<std::thread::id>> threads(3);
  for_each_column_block(*ds, 300, pool,
                        [&](std::size_t c, void* values, int64_t rows) {
                          const auto* v = static_cast<const float*>(values);
                          seen[c].insert(seen[c].end(), v, v + rows);
                          threads[c].insert(std::this_thread::get_id());
                        },
                        {0, 1});
  EXPECT_EQ(seen[0], x);
  EXPECT_EQ(seen[1], y);
  EXPECT_TRUE(seen[2].empty()) << "a column not asked for is not read";
  EXPECT_EQ(threads[0].size(), 1u);
  EXPECT_EQ(threads[1].size(), 1u);
  // x throws at its first block; y (40 blocks of 300 rows, 1 ms each) stops soon after.
  std::atomic<int> y_blocks{0};
  const std::string error = kiln::testing::error_of<DataError>([&] {
    for_each_column_block(*ds, 300, pool,
                          [&](std::size_t c, void*, int64_t) {
                            if (c == 0) throw DataError("x is bad");
                            ++y_blocks;
                            std::this_thread::sleep_for(std::chrono::milliseconds(1));
                          },
                          {0, 1});
  });
  EXPECT_EQ(error, "x is bad");
  EXPECT_LT(y_blocks.load(), 20);
}

// A two-column dataset (x, label) in shards of 700 rows.
std::shared_ptr<const Dataset> labelled(const std::string& dir, const std::vector<float>& labels) {
  Schema schema{{{"x", Role::kNumeric, 0}, {"label", Role::kLabel, 0}}};
  std::vector<float> x(labels.size(), 1.0f);
  DatasetWriter writer(dir, schema, {}, 700);
  writer.append(static_cast<int64_t>(labels.size()), {x.data(), labels.data()});
  writer.finish();
  return Dataset::open(dir);
}

TEST(CountLabels, CountsRowsAndPositivesOverEveryShard) {
  TempDir dir;
  std::vector<float> labels(2000, 0.0f);
  for (std::size_t i = 0; i < labels.size(); i += 7)
    labels[i] = 1.0f;
  const LabelCounts counts = count_labels(labelled(dir / "ds", labels));
  EXPECT_EQ(counts.rows, 2000);
  EXPECT_EQ(counts.positives, 286);
}

TEST(CountLabels, ALabelThatIsNotZeroOrOneNamesTheDatasetAndRow) {
  TempDir dir;
  std::vector<float> labels(1500, 1.0f);
  labels[1234] = 2.0f;
  const auto ds = labelled(dir / "ds", labels);
  try {
    count_labels(ds);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("label 'label' is 2 at row 1234"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find(ds->path()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::data

namespace kiln::data {
namespace {

TEST(QuantileSketch, ManyQuantilesAtOnceEqualEachAlone) {
  QuantileSketch sketch(64);  // small: many compactions
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> lognormal(0, 2);
  for (int i = 0; i < 50000; ++i)
    sketch.add(lognormal(rng));
  std::vector<double> qs;
  for (int i = 0; i <= 1000; ++i)
    qs.push_back(i / 1000.0);
  const std::vector<double> all = sketch.quantiles(qs);
  ASSERT_EQ(all.size(), qs.size());
  for (std::size_t i = 0; i < qs.size(); ++i)
    EXPECT_EQ(all[i], sketch.quantile(qs[i])) << qs[i];
  EXPECT_TRUE(std::isnan(QuantileSketch().quantiles({0.5})[0]));
}

}  // namespace
}  // namespace kiln::data
