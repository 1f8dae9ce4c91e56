// `kiln fit` with nothing but the data: tables of 3 and 300 rows and of one column train and
// say what `auto` became, `kiln config show --data` says the same before a run, a validation
// split of one class is an error naming it. (Real data on the defaults alone: FitQuality in
// fit_cli_test.cpp.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "run_kiln.h"
#include "tests/temp_dir.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::read_json;
using testing::run_kiln;
using testing::slurp;
using testing::TempDir;

class FitDefaults : public ::testing::Test {
 protected:
  // CSV text -> an imported dataset `name` (with train's category codes when `like` is given).
  std::string import(const std::string& name, const std::string& csv,
                     const std::string& like = "") {
    std::ofstream(dir / (name + ".csv")) << csv;
    std::vector<std::string> args = {"data",  "import",   "--csv",   dir / (name + ".csv"),
                                     "--out", dir / name, "--label", "label"};
    if (!like.empty()) args.insert(args.end(), {"--like", dir / like});
    auto imported = run_kiln(args);
    EXPECT_EQ(imported.exit_code, 0) << imported.err;
    return dir / name;
  }
  testing::KilnRun fit(const std::string& name, const std::string& train,
                       const std::string& valid) {
    return run_kiln({"fit", "data.train=" + train, "data.valid=" + valid,
                     "run.dir=" + (dir / "runs"), "run.name=" + name, "--json"});
  }
  nlohmann::json run_json(const std::string& name) const {
    return read_json(fs::path(dir / "runs") / "default" / name / "run.json");
  }
  TempDir dir;
};

// One numeric column with a noisy linear link to the label.
std::string one_column(int rows, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal;
  std::string csv = "x,label\n";
  for (int i = 0; i < rows; ++i) {
    const double x = normal(rng);
    csv += std::to_string(x) + "," + (x + normal(rng) > 0 ? "1" : "0") + "\n";
  }
  return csv;
}

TEST_F(FitDefaults, ThreeRowsTrainAndTheRunSaysWhatAutoBecame) {
  const std::string three = import("three", "x,y,label\n0.1,a,0\n0.5,b,1\n0.2,a,0\n");
  auto run = fit("three", three, three);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto chosen = run_json("three")["auto"];
  EXPECT_EQ(chosen["data.batch_size"]["value"], 3) << chosen.dump(1);
  EXPECT_EQ(chosen["train.steps"]["value"], 1000) << chosen.dump(1);
  EXPECT_NE(chosen["data.batch_size"]["why"].get<std::string>().find("at most the rows"),
            std::string::npos);
  const std::string yaml = slurp(fs::path(dir / "runs") / "default/three/config.resolved.yaml");
  EXPECT_NE(yaml.find("# auto, for " + three + " (3 rows, 1 numeric and 1 categorical columns)"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("#   data.batch_size: 3  ("), std::string::npos) << yaml;
  // Early stopping: the run ends long before its 1000 steps, at its best checkpoint.
  const auto result = nlohmann::json::parse(run.out);
  EXPECT_LT(result["steps"].get<int>(), 1000) << run.out;
}

TEST_F(FitDefaults, ThreeHundredRowsOfOneColumnLearnTheLink) {
  const std::string train = import("train", one_column(300, 1));
  const std::string valid = import("valid", one_column(300, 2), "train");
  auto run = fit("one", train, valid);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto result = nlohmann::json::parse(run.out);
  // The Bayes-optimal AUROC of this link is about 0.85; a model that learned nothing is 0.5.
  EXPECT_GT(result["objective"]["value"].get<double>(), 0.78) << run.out;
  const auto chosen = run_json("one")["auto"];
  EXPECT_EQ(chosen["data.batch_size"]["value"], 256);
  EXPECT_EQ(chosen["model.ensemble"]["value"], 8);

  // kiln config show --data says the same before any run.
  auto show = run_kiln({"config", "show", "--data", train, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const auto shown = nlohmann::json::parse(show.out);
  EXPECT_EQ(shown["auto"], chosen);
  EXPECT_EQ(shown["config"]["train"]["steps"], 1000);
  auto yaml = run_kiln({"config", "show", "--data", train});
  EXPECT_NE(yaml.out.find("#   train.steps: 1000  (500 epochs of 2 steps)"), std::string::npos)
      << yaml.out;
  auto missing = run_kiln({"config", "show", "--data", dir / "nothing"});
  EXPECT_EQ(missing.exit_code, 66) << missing.err;
}

// A resumed run is the run it continues: its `auto` values are the ones it started with, even
// where the rules would now choose otherwise (here a smaller max_steps).
TEST_F(FitDefaults, AResumedRunKeepsTheAutoValuesItStartedWith) {
  const std::string train = import("train", one_column(300, 1));
  const std::string valid = import("valid", one_column(300, 2), "train");
  auto first = run_kiln({"fit", "data.train=" + train, "data.valid=" + valid,
                         "run.dir=" + (dir / "runs"), "run.name=r", "train.stop_at=40"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto resumed =
      run_kiln({"fit", "data.train=" + train, "data.valid=" + valid, "run.dir=" + (dir / "runs"),
                "run.name=r", "train.stop_at=60", "train.max_steps=500", "--resume", "auto"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto chosen = run_json("r")["auto"];
  EXPECT_EQ(chosen["train.steps"]["value"], 1000) << chosen.dump(1);
  EXPECT_EQ(chosen["train.steps"]["why"], "the value of the checkpoint resumed from");
  EXPECT_EQ(chosen["model.ensemble"]["value"], 8);
}

TEST_F(FitDefaults, AValidationSplitOfOneClassIsAnErrorNamingIt) {
  const std::string train = import("train", "x,label\n0.1,0\n0.5,1\n0.2,0\n0.7,1\n");
  const std::string valid = import("valid", "x,label\n0.1,0\n0.2,0\n0.3,0\n", "train");
  auto run = fit("nopos", train, valid);
  EXPECT_EQ(run.exit_code, 65) << run.err;
  EXPECT_NE(
      run.last_err_line().find("data.valid: " + valid + " has no positive labels in its 3 rows"),
      std::string::npos)
      << run.err;
  EXPECT_FALSE(fs::exists(fs::path(dir / "runs") / "default/nopos/checkpoints/latest"));
}

}  // namespace
}  // namespace kiln
