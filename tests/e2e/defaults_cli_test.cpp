// `kiln fit` with nothing but the data: tables of 3 and 300 rows and of one column train and
// say what `auto` became, `kiln config show --data` says the same before a run, a validation
// split of one class is an error naming it, a small table's model is refitted on train and
// valid (and a refit stopped by a signal resumes to the same model). (Real data on the defaults
// alone: FitQuality in fit_cli_test.cpp.)
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/checkpoint.h"
#include "run_kiln.h"
#include "tests/temp_dir.h"
#include "weights.h"

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
    return read_json(run_dir(name) / "run.json");
  }
  // Train and valid splits of 300 rows of one_column (below).
  std::pair<std::string, std::string> one_column_splits();
  fs::path run_dir(const std::string& name) const {
    return fs::path(dir / "runs") / "default" / name;
  }
  // `kiln predict --model MODEL` on `data`: the scores file's text.
  std::string predict(const std::string& model, const std::string& data) {
    const std::string out = dir / "scores.csv";
    auto run = run_kiln({"predict", "--model", model, "--data", data, "--out", out});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return slurp(out);
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

std::pair<std::string, std::string> FitDefaults::one_column_splits() {
  return {import("train", one_column(300, 1)), import("valid", one_column(300, 2), "train")};
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
  // The log says it too, as overrides, when the run starts.
  EXPECT_NE(run.err.find("info auto for " + three + " (3 rows): data.batch_size=3 "),
            std::string::npos)
      << run.err;
  // Early stopping: the run ends long before its 1000 steps, at its best checkpoint.
  const auto result = nlohmann::json::parse(run.out);
  EXPECT_LT(result["steps"].get<int>(), 1000) << run.out;
  // Validated on its own rows: a refit would add none.
  EXPECT_EQ(result["refit"]["skipped"], "data.valid is data.train's data: it adds no rows");
  EXPECT_FALSE(fs::exists(run_dir("three") / "refit"));
}

TEST_F(FitDefaults, ThreeHundredRowsOfOneColumnLearnTheLink) {
  const auto [train, valid] = one_column_splits();
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
  const auto [train, valid] = one_column_splits();
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

// Under 20000 rows the model is trained again on train and valid together, to the best
// checkpoint's epoch: twice its steps when valid has as many rows as train. The refit is
// then the run's model (predict RUN scores with it); its checkpoint carries the selected
// checkpoint's evaluation, which estimates it.
TEST_F(FitDefaults, ASmallTablesModelIsRefittedOnTrainAndValidToTheBestEpoch) {
  const auto [train, valid] = one_column_splits();
  auto run = fit("r", train, valid);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto result = nlohmann::json::parse(run.out);
  const int best = result["best_step"].get<int>();
  const fs::path selected = run_dir("r") / "checkpoints" / core::checkpoint_name(best);
  const fs::path refitted = run_dir("r") / "refit/checkpoints" / core::checkpoint_name(2 * best);
  EXPECT_EQ(result["selected_checkpoint"], selected.string()) << run.out;
  EXPECT_EQ(result["checkpoint"], refitted.string()) << run.out;
  EXPECT_EQ(result["refit"]["steps"], 2 * best);
  EXPECT_EQ(result["refit"]["rows"], 600);
  EXPECT_EQ(run_json("r")["auto"]["train.refit"]["value"], true);
  EXPECT_EQ(read_json(run_dir("r") / "refit/run.json")["refit"]["of"], selected.string());
  EXPECT_EQ(read_json(refitted / "MANIFEST.json")["metrics"],
            read_json(selected / "MANIFEST.json")["metrics"]);
  EXPECT_TRUE(fs::exists(refitted / "scores.json"));
  EXPECT_TRUE(fs::exists(refitted / "profile.json"));

  const std::string by_run = predict(run_dir("r"), valid);
  EXPECT_EQ(by_run, predict(refitted, valid));
  EXPECT_NE(by_run, predict(selected, valid));
  // `kiln checkpoint ls` names the model: the refit's, after the run's own checkpoints.
  auto ls = run_kiln({"checkpoint", "ls", run_dir("r").string()});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find(refitted.string() + "  "), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find(" model (refitted on train and valid)\n"), std::string::npos) << ls.out;
  EXPECT_EQ(ls.out.find(" best model"), std::string::npos) << ls.out;

  // train.refit=false: the best checkpoint is the model, as before.
  auto plain =
      run_kiln({"fit", "data.train=" + train, "data.valid=" + valid, "run.dir=" + (dir / "runs"),
                "run.name=plain", "train.refit=false", "--json"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(fs::exists(run_dir("plain") / "refit"));
  EXPECT_FALSE(nlohmann::json::parse(plain.out).contains("refit"));
}

// SIGTERM in the refit: exit 75, the run preempted; --resume auto finishes the refit (the
// run itself, stopped early, trains no further), bit for bit the model of a run that was not
// stopped.
TEST_F(FitDefaults, ARefitStoppedByASignalResumesToTheModelOfAnUninterruptedRun) {
  const auto splits = one_column_splits();
  const std::string &train = splits.first, &valid = splits.second;
  auto args = [&](const std::string& name) {
    return std::vector<std::string>{"fit",
                                    "data.train=" + train,
                                    "data.valid=" + valid,
                                    "run.dir=" + (dir / "runs"),
                                    "run.name=" + name,
                                    "train.steps=200",
                                    "train.eval_every=100",
                                    "train.patience=0",
                                    "run.deterministic=true",
                                    "--resume",
                                    "auto"};
  };
  auto straight = run_kiln(args("straight"));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  const std::string model =
      read_json(run_dir("straight") / "result.json")["checkpoint"].get<std::string>();

  auto child = testing::start_kiln(args("stopped"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(run_dir("stopped") / "refit/run.json") &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(child.pid, SIGTERM);
  auto stopped = testing::wait_kiln(child);
  ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
  EXPECT_EQ(read_json(run_dir("stopped") / "status.json")["state"], "preempted");
  EXPECT_EQ(read_json(run_dir("stopped") / "refit/status.json")["state"], "preempted");
  EXPECT_FALSE(fs::exists(run_dir("stopped") / "refit/checkpoints/best"));
  const std::string metrics = slurp(run_dir("stopped") / "metrics.jsonl");

  auto resumed = run_kiln(args("stopped"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(slurp(run_dir("stopped") / "metrics.jsonl"), metrics);  // no further training
  EXPECT_EQ(read_json(run_dir("stopped") / "status.json")["state"], "done");
  const fs::path name = fs::path(model).filename();
  EXPECT_EQ(read_json(run_dir("stopped") / "result.json")["checkpoint"],
            (run_dir("stopped") / "refit/checkpoints" / name).string());
  EXPECT_EQ(testing::checkpoint_difference(
                model, (run_dir("stopped") / "refit/checkpoints" / name).string()),
            0.0);
}

}  // namespace
}  // namespace kiln
