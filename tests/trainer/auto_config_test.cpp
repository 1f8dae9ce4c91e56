// The `auto` values of a training config, chosen from the train split's size
// (trainer/auto_config.h): tiny, small and large tables, values the config gives, reasons.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>

#include "core/errors.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"
#include "trainer/auto_config.h"

namespace kiln::trainer {
namespace {

using kiln::testing::error_of;

// key -> value of each choice, for the comparisons below.
std::map<std::string, std::string> chosen(KilnConfig& config, int64_t rows) {
  std::map<std::string, std::string> out;
  for (const AutoChoice& c : resolve_auto(config, {"train.h5", rows, 4, 1})) {
    EXPECT_FALSE(c.why.empty()) << c.key;
    out[c.key] = c.value;
  }
  return out;
}

TEST(AutoConfig, ASmallTableGetsSmallBatchesManyEpochsRegularizationAndAnEnsemble) {
  KilnConfig config;
  const auto c = chosen(config, 300);
  // 300 rows: batches of 256 (2 steps an epoch), 500 epochs make the 1000-step minimum.
  EXPECT_EQ(config.data.batch_size.get(), 256);
  EXPECT_EQ(config.train.epochs.get(), 500);
  EXPECT_EQ(config.train.steps.get(), 1000);
  EXPECT_EQ(config.train.eval_every.get(), 10);
  EXPECT_EQ(config.train.patience.get(), 16);
  EXPECT_EQ(config.optim.warmup_steps.get(), 50);
  EXPECT_DOUBLE_EQ(config.model.dropout.get(), 0.1);
  EXPECT_DOUBLE_EQ(config.optim.weight_decay.get(), 1e-2);
  EXPECT_EQ(config.model.ensemble.get(), 8);
  EXPECT_TRUE(config.model.linear_term.get());
  EXPECT_TRUE(config.train.refit.get());
  EXPECT_EQ(config.model.numeric_embedding.get(), 0);  // its parameters would overfit 300 rows
  EXPECT_DOUBLE_EQ(config.optim.lr.get(), 1e-3);
  EXPECT_EQ(c.size(), 13u);
  EXPECT_EQ(c.at("data.batch_size"), "256");
  EXPECT_EQ(c.at("train.steps"), "1000");
}

TEST(AutoConfig, FineTuningTakesAThirdOfTheLearningRateUnlessGivenOne) {
  KilnConfig tuned;
  DataFacts facts{"train.h5", 5000, 4, 1};
  facts.fine_tuning = true;
  const auto choices = resolve_auto(tuned, facts);
  EXPECT_DOUBLE_EQ(tuned.optim.lr.get(), 3e-4);
  const auto lr = std::find_if(choices.begin(), choices.end(),
                               [](const AutoChoice& c) { return c.key == "optim.lr"; });
  ASSERT_NE(lr, choices.end());
  EXPECT_NE(lr->why.find("fine-tuning"), std::string::npos) << lr->why;
  KilnConfig given;
  given.optim.lr = 0.01;
  resolve_auto(given, facts);
  EXPECT_DOUBLE_EQ(given.optim.lr.get(), 0.01);
}

TEST(AutoConfig, ThreeRowsMakeOneBatchOfThree) {
  KilnConfig config;
  chosen(config, 3);
  EXPECT_EQ(config.data.batch_size.get(), 3);
  EXPECT_EQ(config.train.epochs.get(), 1000);
  EXPECT_EQ(config.train.steps.get(), 1000);
  EXPECT_EQ(config.train.eval_every.get(), 10);
}

TEST(AutoConfig, FiveMillionRowsGetTheLargestBatchAStepCapAndOneModel) {
  KilnConfig config;
  chosen(config, 5000000);
  EXPECT_EQ(config.data.batch_size.get(), 4096);
  EXPECT_EQ(config.train.epochs.get(), 100);
  EXPECT_EQ(config.train.steps.get(), 30000);      // 100 epochs would be 122100 steps
  EXPECT_EQ(config.train.eval_every.get(), 1221);  // one epoch
  EXPECT_DOUBLE_EQ(config.model.dropout.get(), 0.0);
  EXPECT_DOUBLE_EQ(config.optim.weight_decay.get(), 1e-4);
  EXPECT_EQ(config.model.ensemble.get(), 1);
  EXPECT_EQ(config.model.numeric_embedding.get(), 16);
  EXPECT_EQ(config.optim.warmup_steps.get(), 100);
  EXPECT_FALSE(config.train.refit.get());
}

// A data-parallel job of 4 ranks: the global batch and the schedule of one process, each
// rank a quarter of the batch.
TEST(AutoConfig, RanksShareTheBatchOneProcessWouldTakeAndKeepItsSchedule) {
  KilnConfig one, four;
  chosen(one, 5000000);
  const auto c = resolve_auto(four, {"train.h5", 5000000, 4, 1, 4});
  EXPECT_EQ(four.data.batch_size.get(), 1024);
  EXPECT_EQ(four.train.steps.get(), one.train.steps.get());
  EXPECT_EQ(four.train.eval_every.get(), one.train.eval_every.get());
  EXPECT_NE(c.front().why.find("shared by 4 ranks"), std::string::npos) << c.front().why;

  // A small table in a job of 2 ranks is not refitted (the refit is for one process), and
  // asking for it there is an error before anything trains.
  KilnConfig small;
  resolve_auto(small, {"train.h5", 300, 4, 1, 2});
  EXPECT_FALSE(small.train.refit.get());
  KilnConfig asked;
  asked.train.refit = true;
  EXPECT_NE(error_of<ConfigError>([&] {
              resolve_auto(asked, {"train.h5", 300, 4, 1, 2});
            }).find("train.refit: true is for one process; this job has 2"),
            std::string::npos);
}

TEST(AutoConfig, GivenValuesAreKeptAndTheRestFollowFromThem) {
  KilnConfig config;
  config.data.batch_size.value = 64;
  config.train.epochs.value = 3;
  config.model.type = ModelType::kLogistic;
  const auto c = chosen(config, 6400);
  EXPECT_EQ(c.count("data.batch_size"), 0u);
  EXPECT_EQ(c.count("train.epochs"), 0u);
  EXPECT_EQ(config.data.batch_size.get(), 64);
  EXPECT_EQ(config.train.steps.get(), 300);   // 3 epochs of 100 steps
  EXPECT_EQ(config.model.ensemble.get(), 1);  // only the MLP makes ensembles
  EXPECT_EQ(config.model.numeric_embedding.get(), 0);

  KilnConfig capped;
  capped.train.max_steps = 500;
  chosen(capped, 6400);
  EXPECT_EQ(capped.train.steps.get(), 500);
}

TEST(AutoConfig, AStopBeyondTheStepsAndAnEmptyTableAreErrors) {
  KilnConfig config;
  config.train.stop_at = 5000;
  EXPECT_NE(error_of<ConfigError>([&] { chosen(config, 300); }).find("train.stop_at: 5000"),
            std::string::npos);
  KilnConfig empty;
  EXPECT_NE(error_of<DataError>([&] {
              resolve_auto(empty, {"empty.h5", 0, 1, 0});
            }).find("empty.h5: no rows"),
            std::string::npos);
}

TEST(AutoConfig, TheResolvedYamlEndsWithTheChoicesAndTheirReasons) {
  KilnConfig config;
  const DataFacts facts{"train.h5", 300, 4, 1};
  const auto choices = resolve_auto(config, facts);
  const std::string yaml = resolved_yaml(config, choices, facts);
  EXPECT_NE(yaml.find("# auto, for train.h5 (300 rows, 4 numeric and 1 categorical columns):\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("#   train.steps: 1000  (500 epochs of 2 steps)\n"), std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  batch_size: 256\n"), std::string::npos) << yaml;
}

// A checkpoint's config that leaves a key auto was written before the key existed: the model
// loads as it was trained (one MLP, no linear term or numeric embeddings), and a run resumed
// from it is not refitted. A value it gives is kept.
TEST(AutoConfig, ACheckpointsConfigWithoutAKeyLoadsAsBeforeTheKey) {
  kiln::testing::TempDir dir;
  std::ofstream(dir / "config.yaml") << "model:\n  type: mlp\n";
  const KilnConfig old = checkpoint_config(dir.path());
  EXPECT_EQ(old.model.ensemble.get(), 1);
  EXPECT_FALSE(old.model.linear_term.get());
  EXPECT_EQ(old.model.numeric_embedding.get(), 0);
  EXPECT_FALSE(old.train.refit.get());
  std::ofstream(dir / "config.yaml") << "model:\n  ensemble: 8\n  linear_term: true\n";
  const KilnConfig given = checkpoint_config(dir.path());
  EXPECT_EQ(given.model.ensemble.get(), 8);
  EXPECT_TRUE(given.model.linear_term.get());
  std::ofstream(dir / "config.yaml") << "model:\n  ensemble: 0\n";
  EXPECT_NE(error_of<ConfigError>([&] { checkpoint_config(dir.path()); }).find("model.ensemble"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::trainer
