// The run object's files: state.json (TrainingState) as untrusted input, the run directory
// (resume, metrics.jsonl) and the checkpoint listing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/checkpoint.h"
#include "core/errors.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"
#include "trainer/run_dir.h"
#include "trainer/training_state.h"

namespace kiln::trainer {
namespace {

namespace fs = std::filesystem;
using kiln::testing::error_of;
using kiln::testing::TempDir;

TrainingState sample_state() {
  TrainingState s;
  s.step = 40;
  s.cursor = {2, 7};
  s.pos_weight = 3.5;
  s.best_value = 0.8125;
  s.best_step = 30;
  s.evals_without_gain = 1;
  s.lr = 1e-3;
  s.rng_cpu = std::string("\x00\x01\xfe\xff", 4);
  s.optimizer_steps = {{"head.weight", 40}, {"layers.0.bias", 39}};
  return s;
}

// A checkpoint directory holding only state.json.
std::string with_state(const TempDir& dir, const std::string& text) {
  fs::create_directories(dir / "ckpt");
  std::ofstream(dir / "ckpt/state.json") << text;
  return dir / "ckpt";
}

TEST(TrainingState, WhatIsWrittenReadsBackTheSame) {
  TempDir dir;
  const TrainingState s = sample_state();
  const TrainingState back = TrainingState::read(with_state(dir, s.to_json_text()));
  EXPECT_EQ(back.step, s.step);
  EXPECT_EQ(back.cursor, s.cursor);
  EXPECT_EQ(back.pos_weight, s.pos_weight);
  EXPECT_EQ(back.best_value, s.best_value);
  EXPECT_EQ(back.best_step, s.best_step);
  EXPECT_EQ(back.evals_without_gain, s.evals_without_gain);
  EXPECT_EQ(back.lr, s.lr);
  EXPECT_EQ(back.rng_cpu, s.rng_cpu);
  EXPECT_EQ(back.optimizer_steps, s.optimizer_steps);
  const auto json = nlohmann::json::parse(s.to_json_text());
  EXPECT_EQ(json["rng_cpu"], "0001feff");
  EXPECT_EQ(json["epoch"], 2);
}

// A data-parallel job's state: every rank's generator, in rank order.
TEST(TrainingState, ADataParallelJobsStateKeepsEveryRanksGenerator) {
  TempDir dir;
  TrainingState s = sample_state();
  s.world_size = 3;
  s.rng_cpu_ranks = {std::string("\x01\x02", 2), std::string("\x03", 1)};
  const TrainingState back = TrainingState::read(with_state(dir, s.to_json_text()));
  EXPECT_EQ(back.world_size, 3);
  EXPECT_EQ(back.rng_cpu_ranks, s.rng_cpu_ranks);
  nlohmann::json bad = nlohmann::json::parse(s.to_json_text());
  bad["rng_cpu_ranks"][1] = "zz";
  TempDir other;
  EXPECT_NE(error_of<DataError>([&] {
              TrainingState::read(with_state(other, bad.dump()));
            }).find("rng_cpu_ranks holds a value that is not hexadecimal"),
            std::string::npos);
  // A single process's state says world_size 1; one written before the key existed reads so.
  nlohmann::json old = nlohmann::json::parse(sample_state().to_json_text());
  EXPECT_EQ(old["world_size"], 1);
  old.erase("world_size");
  TempDir older;
  EXPECT_EQ(TrainingState::read(with_state(older, old.dump())).world_size, 1);
}

TEST(TrainingState, NoBestValueYetIsNullAndReadsAsNone) {
  TempDir dir;
  TrainingState s = sample_state();
  s.best_value = -INFINITY;  // no evaluation has beaten the start yet
  s.best_step = -1;
  EXPECT_TRUE(nlohmann::json::parse(s.to_json_text())["best_value"].is_null());
  EXPECT_FALSE(TrainingState::read(with_state(dir, s.to_json_text())).best_value.has_value());
}

TEST(TrainingState, EachBadFieldIsRefusedNamingTheFileAndKey) {
  const nlohmann::json good = nlohmann::json::parse(sample_state().to_json_text());
  struct Case {
    const char* key;
    nlohmann::json value;
    const char* says;
  };
  for (const Case& c :
       {Case{"step", -1, "'step' is -1, outside [0, "}, Case{"step", "40", "no integer 'step'"},
        Case{"epoch", 41, "'epoch' is 41, outside [0, 40]"},
        Case{"best_step", -2, "'best_step' is -2, outside [-1, 40]"},
        Case{"evals_without_gain", 3.5, "no integer 'evals_without_gain'"},
        Case{"pos_weight", 0, "pos_weight 0 is not a positive number"},
        Case{"pos_weight", nullptr, "no pos_weight"},
        Case{"rng_cpu", "0g", "rng_cpu is not hexadecimal"},
        Case{"rng_cpu", 7, "rng_cpu is not a string"},
        Case{"optimizer_steps", {{"w", -1}}, "optimizer_steps['w'] is not a step"},
        Case{"optimizer_steps", 5, "optimizer_steps is not an object"},
        Case{"world_size", 0, "'world_size' is 0, outside [1, "},
        Case{"world_size", 3, "rng_cpu_ranks must list the generator states of ranks 1 to 2"}}) {
    TempDir dir;
    nlohmann::json bad = good;
    bad[c.key] = c.value;
    const std::string path = with_state(dir, bad.dump());
    const std::string e = error_of<DataError>([&] { TrainingState::read(path); });
    EXPECT_NE(e.find(path + "/state.json"), std::string::npos) << e;
    EXPECT_NE(e.find(c.says), std::string::npos) << c.key << ": " << e;
  }
  TempDir dir;
  EXPECT_NE(error_of<DataError>([&] {
              TrainingState::read(with_state(dir, "[1, 2]"));
            }).find("not a JSON object"),
            std::string::npos);
  EXPECT_THROW(TrainingState::read(dir / "nowhere"), InputError);
}

// A checkpoint with a state.json and metrics, as `kiln fit` writes one.
std::string save(const std::string& run, int64_t step, double auroc, bool best) {
  core::CheckpointContents c;
  c.step = step;
  TrainingState s = sample_state();
  s.step = step;
  c.files["state.json"] = s.to_json_text();
  c.metrics = {{"val/auroc", auroc}};
  return core::write_checkpoint((fs::path(run) / "checkpoints").string(), c, best);
}

TEST(RunDirectory, AFreshStartRefusesARunWithCheckpointsAndResumeAutoFindsTheNewest) {
  TempDir dir;
  RunOptions options;
  options.dir = dir / "runs";
  options.experiment = "e";
  options.name = "r";
  std::string newest;
  {
    RunDirectory fresh = RunDirectory::open(options, "");
    EXPECT_EQ(fresh.path(), dir / "runs/e/r");
    EXPECT_TRUE(fs::is_directory(fresh.file("reports")));
    EXPECT_FALSE(fresh.resumed().has_value());
    save(fresh.path(), 10, 0.6, true);
    newest = save(fresh.path(), 20, 0.7, true);
    // While it is open for writing, no other writer opens it, resuming or not.
    for (const char* resume : {"", "auto"})
      EXPECT_NE(testing::error_of<OutputError>([&] { RunDirectory::open(options, resume); })
                    .find("is being written by another kiln fit (pid " +
                          std::to_string(::getpid()) + " on "),
                std::string::npos);
  }
  EXPECT_NE(testing::error_of<OutputError>([&] {
              RunDirectory::open(options, "");
            }).find("already holds a run's checkpoints"),
            std::string::npos);
  {
    const RunDirectory resumed = RunDirectory::open(options, "auto");
    ASSERT_TRUE(resumed.resumed().has_value());
    EXPECT_EQ(resumed.resumed()->path, newest);
  }
  // A checkpoint named by path: its run, wherever run.name points.
  options.name = "elsewhere";
  EXPECT_EQ(RunDirectory::open(options, newest).path(), dir / "runs/e/r");
  // A run id is made when run.name is empty.
  options.name = "";
  EXPECT_NE(RunDirectory::open(options, "").path(), dir / "runs/e/");
}

TEST(RunDirectory, MetricsFromAStepDropsTheLinesAfterIt) {
  TempDir dir;
  RunOptions options;
  options.dir = dir.path();
  options.name = "r";
  RunDirectory run = RunDirectory::open(options, "");
  {
    auto metrics = run.metrics_from(0);
    for (int step : {10, 20, 30})
      metrics->write(nlohmann::json{{"step", step}});
  }
  run.metrics_from(20)->write(nlohmann::json{{"step", 30}, {"again", true}});
  std::ifstream in(run.file("metrics.jsonl"));
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1]["step"], 20);
  EXPECT_TRUE(lines[2].contains("again"));
  run.status("done", 30, "", 0);
  const auto status = nlohmann::json::parse(std::ifstream(run.file("status.json")));
  EXPECT_EQ(status["state"], "done");
  EXPECT_EQ(status["exit_code"], 0);
}

TEST(CheckpointInfos, ListStepsMetricsPointersAndSizes) {
  TempDir dir;
  const std::string first = save(dir / "run", 10, 0.75, true);
  const std::string second = save(dir / "run", 20, 0.70, false);
  const std::vector<core::CheckpointInfo> list = core::checkpoint_infos(dir / "run");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].path, first);
  EXPECT_TRUE(list[0].best);
  EXPECT_FALSE(list[0].latest);
  EXPECT_EQ(list[0].step, 10);
  EXPECT_EQ(list[0].metrics["val/auroc"], 0.75);
  EXPECT_GT(list[0].bytes, 0u);
  EXPECT_TRUE(list[1].latest);
  EXPECT_FALSE(list[1].best);
  EXPECT_EQ(list[1].to_json()["step"], 20);
  EXPECT_EQ(core::checkpoint_infos(dir / "run/checkpoints").size(), 2u);  // its checkpoints/ too
  EXPECT_THROW(core::checkpoint_infos(dir / "nothing"), InputError);
  // The run's model: its best, or once refitted the refit's, listed last.
  EXPECT_TRUE(list[0].model);
  EXPECT_FALSE(list[1].model);
  const std::string refitted = save(dir / "run/refit", 30, 0.75, true);
  const std::vector<core::CheckpointInfo> with_refit = core::checkpoint_infos(dir / "run");
  ASSERT_EQ(with_refit.size(), 3u);
  EXPECT_FALSE(with_refit[0].model);
  EXPECT_EQ(with_refit[2].path, refitted);
  EXPECT_TRUE(with_refit[2].model);
  EXPECT_FALSE(with_refit[2].best);
  EXPECT_EQ(with_refit[2].to_json()["model"], true);
}

}  // namespace
}  // namespace kiln::trainer
