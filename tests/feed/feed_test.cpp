// feed::Feed's host path: the loader's batches through the CPU reference transform, the
// label and weight columns beside them, and the GPU path refused by a build without CUDA.
#include "feed/feed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/errors.h"
#include "kernels/device.h"
#include "kernels/transform.h"
#include "tests/temp_dir.h"
#include "transform/plan.h"

namespace kiln::feed {
namespace {

using kiln::testing::TempDir;

// x with missing values, a categorical column, label and weight, in shards of 900 rows.
std::shared_ptr<const data::Dataset> make_dataset(const std::string& dir, int64_t rows) {
  using data::Role;
  data::Schema schema{{{"x", Role::kNumeric, 0},
                       {"c", Role::kCategorical, 20},
                       {"label", Role::kLabel, 0},
                       {"weight", Role::kWeight, 0}}};
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> x(rows), label(rows), weight(rows);
  std::vector<int32_t> c(rows);
  for (int64_t i = 0; i < rows; ++i) {
    x[i] = i % 11 == 0 ? NAN : normal(rng);
    c[i] = static_cast<int32_t>(rng() % 20);
    label[i] = static_cast<float>(i % 3 == 0);
    weight[i] = 1.0f + static_cast<float>(i % 4);
  }
  data::DatasetWriter writer(dir, schema, {}, 900);
  writer.append(rows, {x.data(), c.data(), label.data(), weight.data()});
  writer.finish();
  return data::Dataset::open(dir);
}

TEST(Feed, TheHostPathIsTheLoadersBatchesThroughTheCpuReference) {
  TempDir dir;
  const auto ds = make_dataset(dir / "ds", 5000);
  const kernels::CompiledPlan plan =
      transform::compile(transform::fit_transform(*ds, {}), ds->schema());
  FeedOptions fo;
  fo.batch_size = 512;
  fo.shuffle_window = 1500;
  fo.seed = 3;
  Feed feed({ds}, plan, fo);
  data::LoaderOptions lo;
  lo.batch_size = 512;
  lo.shuffle_window = 1500;
  lo.seed = 3;
  data::Loader loader({ds}, lo);
  EXPECT_FALSE(feed.gpu());
  EXPECT_TRUE(feed.device_outputs().empty());
  EXPECT_EQ(feed.batches_per_epoch(), loader.batches_per_epoch());
  for (int epoch = 0; epoch < 2; ++epoch) {
    int64_t batches = 0;
    while (const FeedBatch* b = feed.next()) {
      const data::Batch* want = loader.next();
      ASSERT_NE(want, nullptr);
      ASSERT_EQ(b->rows, want->rows);
      ASSERT_EQ(b->source->index, want->index);
      std::vector<float> features(static_cast<std::size_t>(want->rows * plan.width()));
      std::vector<int64_t> categorical(
          static_cast<std::size_t>(want->rows * plan.categorical_width()));
      kernels::apply_cpu(plan, want->columns.data(), want->rows, features.data(),
                         categorical.data());
      EXPECT_EQ(std::memcmp(b->features, features.data(), features.size() * sizeof(float)), 0);
      EXPECT_EQ(std::vector<int64_t>(b->categorical, b->categorical + categorical.size()),
                categorical);
      EXPECT_EQ(std::vector<float>(b->label, b->label + b->rows),
                std::vector<float>(want->column<float>(2), want->column<float>(2) + want->rows));
      EXPECT_EQ(std::vector<float>(b->weight, b->weight + b->rows),
                std::vector<float>(want->column<float>(3), want->column<float>(3) + want->rows));
      ++batches;
    }
    EXPECT_EQ(loader.next(), nullptr);
    EXPECT_EQ(batches, feed.batches_per_epoch());
  }
}

TEST(Feed, SeekContinuesFromTheCursorAndAMissingWeightIsNull) {
  TempDir dir;
  const auto ds = make_dataset(dir / "ds", 3000);
  transform::TransformOptions options;
  const kernels::CompiledPlan plan =
      transform::compile(transform::fit_transform(*ds, options), ds->schema());
  FeedOptions fo;
  fo.batch_size = 256;
  Feed first({ds}, plan, fo);
  for (int i = 0; i < 5; ++i)
    first.next();
  const data::LoaderCursor cursor = first.cursor();
  const FeedBatch* expected = first.next();
  Feed second({ds}, plan, fo);
  second.seek(cursor);
  const FeedBatch* got = second.next();
  ASSERT_EQ(got->rows, expected->rows);
  EXPECT_EQ(std::memcmp(got->features, expected->features,
                        static_cast<std::size_t>(got->rows * plan.width()) * sizeof(float)),
            0);

  data::Schema unweighted{{{"x", data::Role::kNumeric, 0}, {"y", data::Role::kLabel, 0}}};
  data::DatasetWriter writer(dir / "x", unweighted, {}, 100);
  std::vector<float> x(50, 2.0f), y(50, 1.0f);
  writer.append(50, {x.data(), y.data()});
  writer.finish();
  const auto xs = data::Dataset::open(dir / "x");
  Feed feed({xs}, transform::compile(transform::fit_transform(*xs, options), xs->schema()), fo);
  const FeedBatch* b = feed.next();
  EXPECT_EQ(b->rows, 50);
  EXPECT_EQ(b->label[49], 1.0f);
  EXPECT_EQ(b->weight, nullptr);
}

TEST(Feed, ABuildWithoutCudaRefusesTheGpuPath) {
  if (kernels::built_with_cuda()) GTEST_SKIP() << "this build has CUDA";
  TempDir dir;
  const auto ds = make_dataset(dir / "ds", 100);
  const kernels::CompiledPlan plan =
      transform::compile(transform::fit_transform(*ds, {}), ds->schema());
  FeedOptions fo;
  fo.gpu = true;
  EXPECT_THROW(Feed({ds}, plan, fo), ConfigError);
}

}  // namespace
}  // namespace kiln::feed
