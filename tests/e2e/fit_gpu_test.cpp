// `kiln fit` on a GPU (label gpu; skips without one): the CUDA data path (pinned batches,
// copies on a side stream, the fused transform), bf16 autocast and the step captured in a
// CUDA graph, against the CPU and against the same steps run eagerly; a refit on train and
// valid; preemption and resume and divergence on the GPU.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "core/tfevents.h"
#include "kernels/device.h"
#include "run_kiln.h"
#include "synth_suite.h"
#include "tests/gpu.h"
#include "weights.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::read_json;
using testing::run_kiln;
using testing::slurp;

nlohmann::json last_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return nlohmann::json::parse(last);
}

class FitGpu : public testing::SynthSuite<30000> {
 protected:
  void SetUp() override {
    const kernels::CudaInfo info = kernels::cuda_info();
    KILN_SKIP_WITHOUT_GPU(info.compiled && !info.devices.empty(), info.note);
  }
  // Batch 512: an epoch is 46 full batches and a short one (steps 46, 93, 140, 187, ...,
  // 0-based). The batches alternate between the two sets of input buffers, so the short
  // one comes in set 0, then 1, and gets a graph of its own in each set at its second
  // occurrence there (steps 140 and 187).
  std::vector<std::string> fit_args(const std::string& name, int steps, int every,
                                    std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"fit",
                                     "data.train=" + (data() / "d/train").string(),
                                     "data.valid=" + (data() / "d/valid").string(),
                                     "data.batch_size=512",
                                     "run.dir=" + (fs::path(dir.path()) / "runs").string(),
                                     "run.name=" + name,
                                     "train.device=cuda",
                                     "train.steps=" + std::to_string(steps),
                                     "train.eval_every=" + std::to_string(every),
                                     "optim.warmup_steps=10",
                                     "model.hidden=[64,32]"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  fs::path run_dir(const std::string& name) const {
    return fs::path(dir.path()) / "runs/default" / name;
  }
  double objective(const std::string& name) const {
    return read_json(run_dir(name) / "result.json")["objective"]["value"].get<double>();
  }
};

TEST_F(FitGpu, TrainsAsWellAsOnTheCpuWithTheStepInACudaGraph) {
  auto gpu = run_kiln(fit_args("gpu", 300, 100, {"train.refit=true"}));
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  const std::size_t captured = gpu.err.find("captured in a CUDA graph");
  EXPECT_NE(captured, std::string::npos) << gpu.err;
  // The refit on train and valid: the GPU feed reads both splits, its step captured anew.
  EXPECT_NE(gpu.err.find("captured in a CUDA graph", captured + 1), std::string::npos) << gpu.err;
  EXPECT_NE(read_json(run_dir("gpu") / "result.json")["checkpoint"].get<std::string>().find(
                "/refit/checkpoints/"),
            std::string::npos);
  EXPECT_EQ(read_json(run_dir("gpu") / "run.json")["device"].get<std::string>().substr(0, 4),
            "cuda");
  const nlohmann::json line = last_line(run_dir("gpu") / "metrics.jsonl");
  EXPECT_TRUE(line.contains("copy_wait_s"));
  EXPECT_GE(line["gpu_wait_s"].get<double>(), 0.0);
  // The sampled GPU times of the last 100 steps: the step runs longer than the transform.
  ASSERT_TRUE(line.contains("gpu_step_ms")) << line.dump();
  EXPECT_GT(line["gpu_transform_ms"].get<double>(), 0.0);
  EXPECT_GT(line["gpu_step_ms"].get<double>(), line["gpu_transform_ms"].get<double>());
  // The event file: losses come back in windows of 64 steps, a window late, so between
  // evaluations 100 steps apart the train/loss points are the evaluations' own.
  std::string events;
  for (const auto& e : fs::directory_iterator(run_dir("gpu")))
    if (e.path().filename().string().starts_with("events.out.tfevents.")) events = e.path();
  ASSERT_FALSE(events.empty());
  std::vector<int64_t> loss_steps, auroc_steps;
  for (const core::TfScalar& s : core::read_tfevents(events).scalars) {
    if (s.tag == "val/auroc") auroc_steps.push_back(s.step);
    if (s.tag == "train/loss") {
      loss_steps.push_back(s.step);
      EXPECT_TRUE(std::isfinite(s.value) && s.value > 0);
    }
  }
  EXPECT_EQ(auroc_steps, (std::vector<int64_t>{100, 200, 300}));
  EXPECT_TRUE(std::is_sorted(loss_steps.begin(), loss_steps.end()) &&
              std::adjacent_find(loss_steps.begin(), loss_steps.end()) == loss_steps.end());
  for (int64_t step : {100, 200, 300})
    EXPECT_NE(std::find(loss_steps.begin(), loss_steps.end(), step), loss_steps.end()) << step;
  EXPECT_GE(loss_steps.size(), 3u);
  auto cpu = run_kiln(fit_args("cpu", 300, 100, {"train.device=cpu"}));
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_FALSE(last_line(run_dir("cpu") / "metrics.jsonl").contains("gpu_step_ms"));
  EXPECT_FALSE(last_line(run_dir("cpu") / "metrics.jsonl").contains("gpu_wait_s"));
  std::cout << "val AUROC: GPU (bf16, graph) " << objective("gpu") << ", CPU " << objective("cpu")
            << "\n";
  EXPECT_GT(objective("gpu"), objective("cpu") - 0.02);
}

// train.profile_steps on a GPU: the trace of steps 101-140 (1-based: the full batch's graphs
// are captured before it, the short batch's first one right after it) has the GPU's side,
// every kernel of the replayed graphs included: tests/bench/trace_summary.py finds the steps (by
// their record_step kernels, one a step) and the transform's kernel in each.
TEST_F(FitGpu, ProfileStepsTracesEveryKernelOfTheSteps) {
  auto fit = run_kiln(fit_args("traced", 150, 100, {"train.profile_steps=40"}));
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const fs::path trace = run_dir("traced") / "reports/trace.json";
  ASSERT_TRUE(fs::exists(trace)) << fit.err;
  const fs::path summary = fs::path(dir.path()) / "trace_summary.json";
  const std::string cmd = testing::python_script("tests/bench/trace_summary.py") + trace.string() +
                          " > " + summary.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(summary);
  std::ifstream in(summary);
  std::string first;
  std::getline(in, first);
  const nlohmann::json traced = nlohmann::json::parse(first);
  // 39 steps between the first and the last record_step; CUPTI may drop a session's first
  // kernels.
  EXPECT_GE(traced["steps"].get<int>(), 30) << first;
  EXPECT_GT(traced["transform_us"].get<double>(), 0.0) << first;
  EXPECT_GT(traced["launches_per_step"].get<double>(), 10.0) << first;
  EXPECT_GT(traced["busy_us"].get<double>(), 0.0) << first;
}

// Over four epochs: the full batches' graphs (one per set of input buffers) captured and
// replayed, and the short last batches run eagerly, then captured in each set and replayed.
// Also data.device_shuffle (the default): the same batches, put in order on the GPU instead
// of the CPU, so the same weights, bit for bit, in the deterministic fp32 mode.
TEST_F(FitGpu, GraphedStepsMatchEagerStepsAndShufflingOnTheGpuChangesNoBit) {
  const std::vector<std::string> fp32 = {"train.precision=fp32", "run.deterministic=true",
                                         "data.device_shuffle=false"};
  auto graph = run_kiln(fit_args("graph", 200, 100, fp32));
  ASSERT_EQ(graph.exit_code, 0) << graph.err;
  // The sizes captured in each set.
  std::map<int, std::set<int>> captured;
  const std::regex line(
      R"(captured in a CUDA graph \(batches of (\d+) rows in input buffers (\d)\))");
  for (std::sregex_iterator m(graph.err.begin(), graph.err.end(), line), end; m != end; ++m)
    captured[std::stoi((*m)[2])].insert(std::stoi((*m)[1]));
  for (int set : {0, 1}) {
    ASSERT_EQ(captured[set].size(), 2u) << "set " << set << ": " << graph.err;
    EXPECT_EQ(*captured[set].rbegin(), 512) << graph.err;  // and the short batch's size
  }
  EXPECT_EQ(*captured[0].begin(), *captured[1].begin());
  auto eager_args = fp32;
  eager_args.push_back("train.cuda_graph=false");
  auto eager = run_kiln(fit_args("eager", 200, 100, eager_args));
  ASSERT_EQ(eager.exit_code, 0) << eager.err;
  EXPECT_EQ(eager.err.find("captured in a CUDA graph"), std::string::npos);
  auto shuffled_args = fp32;
  shuffled_args.back() = "data.device_shuffle=true";
  auto shuffled = run_kiln(fit_args("gpu_shuffle", 200, 100, shuffled_args));
  ASSERT_EQ(shuffled.exit_code, 0) << shuffled.err;
  EXPECT_NE(shuffled.err.find("captured in a CUDA graph"), std::string::npos) << shuffled.err;
  const std::string last = "checkpoints/step_00000200";
  EXPECT_LT(testing::checkpoint_difference((run_dir("graph") / last).string(),
                                           (run_dir("eager") / last).string()),
            1e-4);
  EXPECT_EQ(testing::checkpoint_difference((run_dir("graph") / last).string(),
                                           (run_dir("gpu_shuffle") / last).string()),
            0.0);
}

// With data.device_shuffle, so that a resumed run starts the loader's ring in mid-epoch.
TEST_F(FitGpu, SigtermThenResumeContinuesTheOptimizerWhereItStopped) {
  const std::vector<std::string> fp32 = {"train.precision=fp32", "run.deterministic=true",
                                         "data.device_shuffle=true", "--resume", "auto"};
  auto straight = run_kiln(fit_args("straight", 400, 40, fp32));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  auto child = testing::start_kiln(fit_args("stopped", 400, 40, fp32));
  for (int i = 0; i < 6000 && !fs::exists(run_dir("stopped") / "metrics.jsonl"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::kill(child.pid, SIGTERM);
  auto stopped = testing::wait_kiln(child);
  ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
  const int at = read_json(run_dir("stopped") / "status.json")["step"].get<int>();
  ASSERT_LT(at, 400);
  // The optimizer's step counts, kept on the device, reach the checkpoint.
  std::string latest = slurp(run_dir("stopped") / "checkpoints/latest");
  latest.erase(latest.find_last_not_of(" \n") + 1);
  const auto state = read_json(run_dir("stopped") / "checkpoints" / latest / "state.json");
  for (const auto& [name, steps] : state["optimizer_steps"].items())
    EXPECT_EQ(steps.get<int>(), at) << name;
  auto resumed = run_kiln(fit_args("stopped", 400, 40, fp32));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::string last = "checkpoints/step_00000400";
  EXPECT_LT(testing::checkpoint_difference((run_dir("straight") / last).string(),
                                           (run_dir("stopped") / last).string()),
            1e-2);
}

TEST_F(FitGpu, ADivergingLossExits4NamingTheStep) {
  auto diverged = run_kiln(
      fit_args("nan", 200, 100, {"optim.lr=1e30", "optim.grad_clip=0", "optim.warmup_steps=0"}));
  EXPECT_EQ(diverged.exit_code, 4) << diverged.err;
  EXPECT_NE(diverged.last_err_line().find("at step"), std::string::npos) << diverged.err;
  EXPECT_EQ(read_json(run_dir("nan") / "status.json")["state"], "failed");
}

}  // namespace
}  // namespace kiln
