#include "data/synth.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/dataset.h"
#include "tests/temp_dir.h"

namespace kiln::data {
namespace {

using kiln::testing::TempDir;

TEST(Synth, IsDeterministicFromTheSeed) {
  TempDir a, b, c;
  SynthOptions o;
  o.rows = 20000;
  o.out = a.path();
  auto first = synthesize(o);
  o.out = b.path();
  ::sleep(1);  // files written at another second must still be identical
  auto second = synthesize(o);
  o.out = c.path();
  o.seed = 1;
  auto third = synthesize(o);
  for (const char* split : {"train", "valid", "test", "oot"}) {
    EXPECT_EQ(first.at(split).fingerprint, second.at(split).fingerprint) << split;
    EXPECT_NE(first.at(split).fingerprint, third.at(split).fingerprint) << split;
  }
}

TEST(Synth, SplitsRowsByHashAndTimeWithTheRequestedPositiveRate) {
  TempDir dir;
  for (const char* preset : {"fraud", "credit"}) {
    SynthOptions o;
    o.rows = 100000;
    o.shards = 5;
    o.preset = preset;
    o.positive_rate = 0.05;
    o.label_noise = 0;
    o.out = dir / preset;
    auto s = synthesize(o);
    EXPECT_EQ(s.at("train").rows + s.at("valid").rows + s.at("test").rows + s.at("oot").rows,
              100000);
    EXPECT_EQ(s.at("oot").rows, 10000);
    EXPECT_NEAR(s.at("valid").rows, 0.15 * 90000, 600);
    EXPECT_EQ(s.at("train").shards, 5);
    int64_t positives = 0;
    for (const auto& [name, split] : s)
      positives += split.positives;
    EXPECT_NEAR(static_cast<double>(positives) / 100000.0, 0.05, 0.006) << preset;
    // The out-of-time split is the latest by time.
    auto train = Dataset::open(dir / preset + "/train");
    auto oot = Dataset::open(dir / preset + "/oot");
    EXPECT_GE(oot->schema().find_role(Role::kTime), 0);
    EXPECT_EQ(train->schema().columns.size(), oot->schema().columns.size());
  }
}

// scikit-learn, an independent judge: a non-linear model must clearly beat logistic
// regression on synth data (tests/data/synth_signal.py).
TEST(Synth, ANonlinearModelClearlyBeatsLogisticRegression) {
  if (std::system((std::string(KILN_PYTHON) + " -c 'import sklearn, h5py' 2>/dev/null").c_str()) !=
      0) {
    GTEST_SKIP() << KILN_PYTHON << " has no scikit-learn";
  }
  TempDir dir;
  SynthOptions o;
  o.out = dir.path();
  o.rows = 300000;
  o.seed = 5;
  synthesize(o);
  std::string cmd = std::string(KILN_PYTHON) + " " + KILN_SOURCE_DIR +
                    "/tests/data/synth_signal.py " + dir.path() + " > " + (dir / "signal.json");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto result = nlohmann::json::parse(std::ifstream(dir / "signal.json"));
  double logistic = result["logistic_auroc"], boosted = result["boosted_auroc"];
  EXPECT_GT(logistic, 0.55) << result;  // there is linear signal too
  EXPECT_GT(boosted, logistic + 0.05) << result;
}

TEST(Synth, RejectsBadOptions) {
  TempDir dir;
  SynthOptions o;
  o.out = dir.path();
  o.rows = 10;
  EXPECT_THROW(synthesize(o), ConfigError);
  o.rows = 1000;
  o.positive_rate = 1.5;
  EXPECT_THROW(synthesize(o), ConfigError);
  o.positive_rate = 0.02;
  o.preset = "retail";
  EXPECT_THROW(synthesize(o), ConfigError);
}

}  // namespace
}  // namespace kiln::data
