// kiln fit | predict | checkpoint, driven as a user, a scheduler or a pipeline would:
// the run directory, checkpoints that Python's safetensors reads, verification of damaged
// checkpoints, SIGTERM and resume bitwise, SIGKILL at many points, divergence.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "fit_suite.h"
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

int count_lines(const fs::path& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    n += !line.empty();
  return n;
}

int count_substr(const std::string& text, const std::string& part) {
  int n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
    ++n;
  return n;
}

// The steps of metrics.jsonl's lines, in order.
std::vector<int> metric_steps(const fs::path& path) {
  std::ifstream in(path);
  std::vector<int> steps;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) steps.push_back(nlohmann::json::parse(line)["step"].get<int>());
  return steps;
}

// every, 2 * every, ..., last.
std::vector<int> every_step(int every, int last) {
  std::vector<int> steps;
  for (int s = every; s <= last; s += every)
    steps.push_back(s);
  return steps;
}

using FitCli = testing::FitSuite<30000>;

TEST_F(FitCli, WritesARunDirectoryWhoseCheckpointsVerifyAndPythonReads) {
  auto fit = run_kiln(fit_args("a", 60, 20, {"train.keep_last=1"}));
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const fs::path run = run_dir("a");
  for (const char* file : {"config.resolved.yaml", "run.json", "status.json", "result.json",
                           "metrics.jsonl", "checkpoints/latest", "checkpoints/best"})
    EXPECT_TRUE(fs::exists(run / file)) << file;
  EXPECT_TRUE(fs::is_directory(run / "reports"));
  EXPECT_EQ(read_json(run / "status.json")["state"], "done");
  EXPECT_EQ(count_lines(run / "metrics.jsonl"), 3);
  auto result = read_json(run / "result.json");
  EXPECT_EQ(result["steps"], 60);
  EXPECT_EQ(result["objective"]["name"], "val/auroc");
  EXPECT_GT(result["objective"]["value"].get<double>(), 0.5);
  // keep_last 1: the latest, and the best when it is another.
  const std::string latest = slurp(run / "checkpoints/latest");
  EXPECT_EQ(latest, "step_00000060\n");
  int kept = 0;
  for (const auto& e : fs::directory_iterator(run / "checkpoints"))
    kept += e.is_directory();
  EXPECT_EQ(kept, slurp(run / "checkpoints/best") == latest ? 1 : 2);

  // verify checks what a reader of the run loads: the latest, the best, and the model (the
  // refit's), each once.
  auto verify = run_kiln({"checkpoint", "verify", run.string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("step_00000060 (step 60, "), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("latest"), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("/refit/checkpoints/step_"), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("; model)"), std::string::npos) << verify.out;
  EXPECT_EQ(count_substr(verify.out, "ok: "), slurp(run / "checkpoints/best") == latest ? 2 : 3)
      << verify.out;
  {  // a damaged model fails the run's verify, naming the file
    const fs::path copy = fs::path(dir.path()) / "copy";
    fs::copy(run, copy, fs::copy_options::recursive);
    const fs::path refit = copy / "refit/checkpoints";
    std::string best = slurp(refit / "best");
    best.pop_back();
    const fs::path weights = refit / best / "model.safetensors";
    fs::permissions(weights, fs::perms::owner_write, fs::perm_options::add);
    std::fstream file(weights, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(-1, std::ios::end);
    const char last = static_cast<char>(file.get());
    file.seekp(-1, std::ios::end);
    file.put(static_cast<char>(last ^ 1));
    file.close();
    auto damaged = run_kiln({"checkpoint", "verify", copy.string()});
    EXPECT_EQ(damaged.exit_code, 65) << damaged.out;
    EXPECT_NE(damaged.err.find(weights.string() + ": SHA-256 differs"), std::string::npos)
        << damaged.err;
  }
  auto ls = run_kiln({"checkpoint", "ls", run.string(), "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  const auto listed = nlohmann::json::parse(ls.out);
  ASSERT_GE(listed.size(), 2u) << ls.out;
  // The run's own checkpoints, the newest latest; then its model, the refit's (train.refit is
  // auto's choice for this table).
  EXPECT_EQ(listed[listed.size() - 2]["latest"], true) << ls.out;
  EXPECT_EQ(listed.back()["model"], true) << ls.out;
  EXPECT_NE(listed.back()["path"].get<std::string>().find("/refit/checkpoints/"), std::string::npos)
      << ls.out;
  fs::create_directories(fs::path(dir.path()) / "empty");
  auto none = run_kiln({"checkpoint", "ls", (fs::path(dir.path()) / "empty").string()});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_NE(none.out.find("no checkpoints in"), std::string::npos) << none.out;

  // Python's safetensors package loads both files.
  const fs::path checkpoint = run / "checkpoints/step_00000060";
  for (const char* file : {"model.safetensors", "optimizer.safetensors"}) {
    const std::string cmd = testing::python_script("tests/core/safetensors_check.py") + "load " +
                            (checkpoint / file).string() + " > " +
                            (fs::path(dir.path()) / "py.json").string();
    ASSERT_EQ(std::system(cmd.c_str()), 0) << file;
    auto loaded = read_json(fs::path(dir.path()) / "py.json");
    EXPECT_GE(loaded["tensors"].size(), 6u) << file;  // MLP: 3 linear layers and embeddings
  }
  auto manifest = read_json(checkpoint / "MANIFEST.json");
  EXPECT_EQ(manifest["format"], "kiln.checkpoint");
  EXPECT_EQ(manifest["files"].size(), 8u);  // with profile.json, dictionaries.json, scores.json

  // predict: one row per input row, in order, as CSV and as a shard `kiln eval` reads.
  auto predict =
      run_kiln({"predict", "--model", run.string(), "--data", (data() / "d/test").string(), "--out",
                (fs::path(dir.path()) / "p.csv").string()});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  auto test_rows = read_json(data() / "d/test/dataset.json")["rows"].get<int>();
  EXPECT_EQ(count_lines(fs::path(dir.path()) / "p.csv"), test_rows + 1);
  EXPECT_EQ(slurp(fs::path(dir.path()) / "p.csv").substr(0, 15), "id,label,score\n");
  predict =
      run_kiln({"predict", "--model", checkpoint.string(), "--data", (data() / "d/test").string(),
                "--out", (fs::path(dir.path()) / "p.h5").string()});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  auto eval = run_kiln({"eval", "--scores", (fs::path(dir.path()) / "p.h5").string(), "--out",
                        (fs::path(dir.path()) / "report").string(), "--json", "eval.bootstrap=0"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(eval.out)["data"]["rows"], test_rows);

  // kiln eval --model: the checkpoint scores the data itself, against a checkpoint baseline
  // and the prior; the report carries the model's lineage.
  auto other = run_kiln(fit_args("other", 20, 20, {"model.type=logistic"}));
  ASSERT_EQ(other.exit_code, 0) << other.err;
  eval = run_kiln({"eval", "--model", run.string(), "--data", (data() / "d/test").string(),
                   "--baseline", "logistic=" + run_dir("other").string(), "--baseline", "prior",
                   "--out", (fs::path(dir.path()) / "report2").string(), "--json",
                   "eval.bootstrap=0"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  auto report = nlohmann::json::parse(eval.out);
  EXPECT_EQ(report["data"]["rows"], test_rows);
  EXPECT_EQ(report["baselines"].size(), 2u);
  const auto& lineage = report["provenance"]["model"];
  // The run's model: the refit of its best checkpoint on train and valid (train.refit: auto
  // on this small table), which result.json names.
  EXPECT_EQ(lineage["checkpoint"], read_json(run / "result.json")["checkpoint"]);
  EXPECT_NE(lineage["checkpoint"].get<std::string>().find("/refit/checkpoints/"),
            std::string::npos);
  EXPECT_EQ(lineage["model"], "mlp");
  EXPECT_EQ(lineage["trained_on"], read_json(data() / "d/train/dataset.json")["fingerprint"]);
  auto no_data =
      run_kiln({"eval", "--model", run.string(), "--out", (fs::path(dir.path()) / "r3").string()});
  EXPECT_EQ(no_data.exit_code, 64);
  EXPECT_NE(no_data.last_err_line().find("--model needs --data"), std::string::npos);
}

TEST_F(FitCli, DamagedCheckpointsFailVerificationAndResumeSkipsThem) {
  auto fit = run_kiln(fit_args("b", 40, 20));
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  const fs::path checkpoints = run_dir("b") / "checkpoints";
  const fs::path last = checkpoints / "step_00000040";
  {  // one byte of the weights changed
    std::fstream f(last / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
  }
  auto verify = run_kiln({"checkpoint", "verify", last.string()});
  EXPECT_EQ(verify.exit_code, 65);
  EXPECT_NE(verify.last_err_line().find("model.safetensors: SHA-256 differs"), std::string::npos)
      << verify.err;

  // --resume auto goes back to the newest checkpoint that verifies and goes on from there.
  auto resumed = run_kiln(fit_args("b", 60, 20, {"--resume", "auto"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("skipping a checkpoint that does not verify"), std::string::npos);
  EXPECT_NE(
      read_json(run_dir("b") / "run.json")["resumed_from"].get<std::string>().find("step_00000020"),
      std::string::npos);
  EXPECT_EQ(read_json(run_dir("b") / "result.json")["steps"], 60);
  EXPECT_EQ(run_kiln({"checkpoint", "verify", (checkpoints / "step_00000040").string()}).exit_code,
            0);  // rewritten by the resumed run

  // A manifest from the future, and one that is not JSON.
  auto manifest = read_json(last / "MANIFEST.json");
  manifest["version"] = 99;
  std::ofstream(last / "MANIFEST.json") << manifest.dump();
  verify = run_kiln({"checkpoint", "verify", last.string()});
  EXPECT_EQ(verify.exit_code, 65);
  EXPECT_NE(verify.last_err_line().find("newer than this Kiln reads"), std::string::npos);
  std::ofstream(last / "MANIFEST.json") << "{\"format\": ";
  EXPECT_EQ(run_kiln({"checkpoint", "verify", last.string()}).exit_code, 65);
  EXPECT_EQ(
      run_kiln({"checkpoint", "verify", (fs::path(dir.path()) / "nothing").string()}).exit_code,
      66);
}

// Waits until `path` has at least `lines` lines (the run got that far), up to 60 s.
bool wait_for_lines(const fs::path& path, int lines) {
  for (int i = 0; i < 6000; ++i) {
    if (fs::exists(path) && count_lines(path) >= lines) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Bit for bit, with run.deterministic (one intra-op thread on the CPU): with several,
// runs on a loaded machine now and then differ in their last digits (docs/TRAINING.md,
// Determinism).
TEST_F(FitCli, SigtermMidEpochThenResumeEndsEqualToAnUninterruptedRun) {
  const int steps = 160, every = 40;
  auto straight = run_kiln(fit_args("straight", steps, every, {"run.deterministic=true"}));
  ASSERT_EQ(straight.exit_code, 0) << straight.err;

  const std::vector<std::string> resumable = {"run.deterministic=true", "--resume", "auto"};
  auto child = testing::start_kiln(fit_args("stopped", steps, every, resumable));
  ASSERT_TRUE(wait_for_lines(run_dir("stopped") / "metrics.jsonl", 1));
  ::kill(child.pid, SIGTERM);
  auto stopped = testing::wait_kiln(child);
  ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
  EXPECT_NE(stopped.last_err_line().find("stopped by signal"), std::string::npos);
  auto status = read_json(run_dir("stopped") / "status.json");
  EXPECT_EQ(status["state"], "preempted");
  const int stopped_at = status["step"].get<int>();
  EXPECT_GE(stopped_at, every);
  EXPECT_LT(stopped_at, steps);
  EXPECT_NE(stopped_at % 75, 0) << "expected a stop in mid-epoch";

  auto resumed = run_kiln(fit_args("stopped", steps, every, resumable));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_json(run_dir("stopped") / "status.json")["state"], "done");
  const std::string last = "checkpoints/step_00000160";
  EXPECT_EQ(testing::checkpoint_difference((run_dir("straight") / last).string(),
                                           (run_dir("stopped") / last).string()),
            0.0);
  EXPECT_EQ(metric_steps(run_dir("stopped") / "metrics.jsonl"), every_step(every, steps));
}

TEST_F(FitCli, AFreshRunDoesNotWriteOverAnotherRunsCheckpoints) {
  ASSERT_EQ(run_kiln(fit_args("once", 20, 10)).exit_code, 0);
  const std::string metrics = slurp(run_dir("once") / "metrics.jsonl");
  auto twice = run_kiln(fit_args("once", 30, 10));
  EXPECT_EQ(twice.exit_code, 74) << twice.err;
  EXPECT_NE(twice.last_err_line().find("already holds a run's checkpoints; continue it with "
                                       "--resume auto, or choose another run.name"),
            std::string::npos)
      << twice.err;
  EXPECT_EQ(slurp(run_dir("once") / "metrics.jsonl"), metrics);
  EXPECT_EQ(read_json(run_dir("once") / "result.json")["steps"], 20);
  auto resumed = run_kiln(fit_args("once", 30, 10, {"--resume", "auto"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(metric_steps(run_dir("once") / "metrics.jsonl"), every_step(10, 30));
}

// A second `kiln fit` of a run that another one is writing (the command run twice, a job
// requeued while its first start still runs) is refused, naming the writer, and writes
// nothing; once the writer has stopped, the run resumes.
TEST_F(FitCli, ARunThatAnotherProcessWritesIsRefusedUntilItEnds) {
  auto first = testing::start_kiln(fit_args("busy", 4000, 20, {"--resume", "auto"}));
  ASSERT_TRUE(wait_for_lines(run_dir("busy") / "metrics.jsonl", 1));
  for (const std::vector<std::string>& resume :
       {std::vector<std::string>{"--resume", "auto"}, std::vector<std::string>{}}) {
    auto second = run_kiln(fit_args("busy", 40, 20, resume));
    EXPECT_EQ(second.exit_code, 74) << second.err;
    EXPECT_NE(second.last_err_line().find("is being written by another kiln fit (pid " +
                                          std::to_string(first.pid) + " on "),
              std::string::npos)
        << second.err;
  }
  ::kill(first.pid, SIGTERM);
  auto stopped = testing::wait_kiln(first);
  ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
  EXPECT_EQ(read_json(run_dir("busy") / "status.json")["state"], "preempted")
      << "the refused starts wrote nothing";
  const int at = read_json(run_dir("busy") / "status.json")["step"].get<int>();
  auto resumed = run_kiln(fit_args("busy", at + 20, 20, {"--resume", "auto"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
}

TEST_F(FitCli, SigusrOneStopsLikeSigtermAndFurtherSignalsChangeNothing) {
  auto child = testing::start_kiln(fit_args("usr1", 400, 20, {"--resume", "auto"}));
  ASSERT_TRUE(wait_for_lines(run_dir("usr1") / "metrics.jsonl", 1));
  ::kill(child.pid, SIGUSR1);
  // Once the first signal is in, later ones change nothing: the first decides.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ::kill(child.pid, SIGTERM);
  ::kill(child.pid, SIGTERM);
  auto stopped = testing::wait_kiln(child);
  ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
  EXPECT_NE(stopped.last_err_line().find("stopped by signal " + std::to_string(SIGUSR1)),
            std::string::npos)
      << stopped.err;
  auto status = read_json(run_dir("usr1") / "status.json");
  EXPECT_EQ(status["state"], "preempted");
  EXPECT_EQ(status["exit_code"], 75);
  auto verify = run_kiln({"checkpoint", "verify", run_dir("usr1").string()});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_NE(verify.out.find("step_" +
                            std::string(8 - std::to_string(status["step"].get<int>()).size(), '0') +
                            std::to_string(status["step"].get<int>())),
            std::string::npos)
      << "the latest checkpoint is the one written at the stop";
}

TEST_F(FitCli, SigkillAtManyPointsResumesFromTheLastCheckpointThatVerifies) {
  // A checkpoint every 4 steps, so that many kills land during a checkpoint write.
  const auto args = fit_args("killed", 200, 4, {"--resume", "auto", "train.keep_last=2"});
  int kills = 0;
  for (int i = 0; i < 10; ++i) {
    auto child = testing::start_kiln(args);
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + 90 * i));
    if (::kill(child.pid, SIGKILL) == 0) ++kills;
    testing::wait_kiln(child);
    // Whatever the moment, the pointer names a checkpoint that verifies, or there is none yet.
    const fs::path latest = run_dir("killed") / "checkpoints/latest";
    if (fs::exists(latest)) {
      auto verify =
          run_kiln({"checkpoint", "verify", (run_dir("killed") / "checkpoints").string()});
      EXPECT_EQ(verify.exit_code, 0) << "after kill " << i << ": " << verify.err;
    }
  }
  EXPECT_GE(kills, 5);
  auto last = run_kiln(args);
  ASSERT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(read_json(run_dir("killed") / "result.json")["steps"], 200);
  // What a kill inside the final checkpoint's pointer writes leaves; the next run, with
  // nothing left to train, removes it.
  for (const char* name : {".latest.tmp.99999", ".best.tmp.99999"})
    std::ofstream(run_dir("killed") / "checkpoints" / name) << "step_000";
  auto again = run_kiln(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  for (const auto& e : fs::directory_iterator(run_dir("killed") / "checkpoints"))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos)
        << "left over: " << e.path();
  // Each evaluation once: the lines a killed run wrote past its last checkpoint went.
  EXPECT_EQ(metric_steps(run_dir("killed") / "metrics.jsonl"), every_step(4, 200));
}

// train.profile_steps: PyTorch's profiler over the steps after the first evaluation, into
// reports/trace.json; a run that ends first still writes its trace. On the CPU the trace
// holds the host's operators only, which tests/bench/trace_summary.py says (exit 1).
TEST_F(FitCli, ProfileStepsTracesTheStepsAfterTheFirstEvaluation) {
  // One MLP: an ensemble's head is a product and a sum, not an addmm.
  auto fit = run_kiln(fit_args("traced", 40, 20, {"train.profile_steps=5", "model.ensemble=1"}));
  ASSERT_EQ(fit.exit_code, 0) << fit.err;
  EXPECT_NE(fit.err.find("tracing steps 21 to 25"), std::string::npos) << fit.err;
  const fs::path trace = run_dir("traced") / "reports/trace.json";
  ASSERT_TRUE(fs::exists(trace)) << fit.err;
  EXPECT_FALSE(fs::exists(trace.string() + ".tmp"));
  const auto events = read_json(trace)["traceEvents"];
  int linear_layers = 0;  // aten::addmm: 4 a forward pass (3 layers, the linear term), 5 steps
  for (const auto& e : events)
    linear_layers += e.value("name", "") == "aten::addmm";
  EXPECT_EQ(linear_layers, 20) << events.size() << " events";
  EXPECT_EQ(read_json(run_dir("traced") / "result.json")["steps"], 40);
  const std::string summary =
      testing::python_script("tests/bench/trace_summary.py") + trace.string() + " 2>/dev/null";
  EXPECT_EQ(WEXITSTATUS(std::system(summary.c_str())), 1);  // no GPU steps

  auto short_run = run_kiln(fit_args("traced_to_end", 30, 20, {"train.profile_steps=100"}));
  ASSERT_EQ(short_run.exit_code, 0) << short_run.err;
  EXPECT_TRUE(fs::exists(run_dir("traced_to_end") / "reports/trace.json")) << short_run.err;

  auto negative = run_kiln(fit_args("negative", 30, 20, {"train.profile_steps=-1"}));
  EXPECT_EQ(negative.exit_code, 78);
  EXPECT_NE(negative.last_err_line().find("train.profile_steps"), std::string::npos)
      << negative.err;
}

TEST_F(FitCli, ADivergingLossExits4NamingTheStepAndBadConfigsExit78) {
  auto diverged = run_kiln(
      fit_args("nan", 50, 25, {"optim.lr=1e30", "optim.grad_clip=0", "optim.warmup_steps=0"}));
  EXPECT_EQ(diverged.exit_code, 4) << diverged.err;
  EXPECT_NE(diverged.last_err_line().find("at step"), std::string::npos) << diverged.err;
  EXPECT_EQ(read_json(run_dir("nan") / "status.json")["state"], "failed");

  auto bad = run_kiln(fit_args("bad", 10, 5, {"model.type=forest"}));
  EXPECT_EQ(bad.exit_code, 78);
  EXPECT_NE(bad.last_err_line().find("model.type"), std::string::npos) << bad.err;
  auto no_data = run_kiln({"fit", "run.dir=" + (fs::path(dir.path()) / "runs").string()});
  EXPECT_EQ(no_data.exit_code, 78);
  EXPECT_NE(no_data.last_err_line().find("data.train"), std::string::npos) << no_data.err;
}

TEST_F(FitCli, SplitsImportedOneByOneMustAgreeOnCategoryCodes) {
  const char* cities[] = {"Paris", "Berlin", "Rome"};
  for (const char* split : {"train", "valid"}) {
    std::ofstream csv(dir / (std::string(split) + ".csv"));
    csv << "city,x,label\n";
    const int first = split[0] == 't' ? 0 : 2;  // valid meets Rome first
    for (int r = 0; r < 300; ++r)
      csv << cities[(first + r) % 3] << "," << r % 7 << "," << (r % 5 == 0) << "\n";
  }
  auto import = [&](const std::string& split, std::vector<std::string> extra) {
    std::vector<std::string> args = {"data",  "import",    "--csv",   dir / (split + ".csv"),
                                     "--out", dir / split, "--label", "label"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_kiln(args).exit_code;
  };
  ASSERT_EQ(import("train", {}), 0);
  ASSERT_EQ(import("valid", {}), 0);
  const std::vector<std::string> data = {"data.train=" + dir / "train",
                                         "data.valid=" + dir / "valid"};
  auto apart = run_kiln(fit_args("apart", 10, 5, data));
  EXPECT_EQ(apart.exit_code, 65);
  EXPECT_NE(apart.last_err_line().find("column 'city': code 0 is 'Rome' here but 'Paris' in " +
                                       dir / "train"),
            std::string::npos)
      << apart.err;
  fs::remove_all(dir / "valid");
  ASSERT_EQ(import("valid", {"--like", dir / "train"}), 0);
  auto like = run_kiln(fit_args("like", 10, 5, data));
  ASSERT_EQ(like.exit_code, 0) << like.err;

  // The model and its reference profile record train's dictionary: data to score imported
  // on its own (Rome first) is refused by predict, eval and drift, naming the column; the
  // same rows imported --like train are scored.
  const std::string run = run_dir("like");
  auto refusals = [&](const std::string& data) {
    std::vector<std::string> codes;
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"predict", "--model", run, "--data", data, "--out",
                                   dir / "scores.csv"},
          {"eval", "--model", run, "--data", data, "--out", dir / "eval"},
          {"drift", "--reference", run, "--data", data, "--out", dir / "drift"}}) {
      const auto r = run_kiln(args);
      codes.push_back(std::to_string(r.exit_code));
      // The checkpoint's dictionaries.json names the code that differs and the --like to use.
      if (r.exit_code == 65)
        EXPECT_THAT(r.last_err_line(),
                    ::testing::MatchesRegex(".*" + data +
                                            ": column 'city': code 0 is 'Rome' here but 'Paris' "
                                            "in .*/dictionaries.json, .* --like .*"))
            << r.err;
    }
    return codes;
  };
  fs::remove_all(dir / "valid");
  ASSERT_EQ(import("valid", {}), 0);
  EXPECT_EQ(refusals(dir / "valid"), (std::vector<std::string>{"65", "65", "65"}));
  fs::remove_all(dir / "valid");
  ASSERT_EQ(import("valid", {"--like", dir / "train"}), 0);
  EXPECT_EQ(refusals(dir / "valid"), (std::vector<std::string>{"0", "0", "0"}));
  // Imported alone, rows of train's first two cities in its order number them as train does:
  // compared with the model's strings, a dictionary shorter than train's passes.
  {
    std::ofstream csv(dir / "two.csv");
    csv << "city,x,label\n";
    for (int r = 0; r < 40; ++r)
      csv << cities[r % 2] << "," << r % 7 << "," << (r % 5 == 0) << "\n";
  }
  ASSERT_EQ(run_kiln({"data", "import", "--csv", dir / "two.csv", "--out", dir / "two", "--label",
                      "label"})
                .exit_code,
            0);
  EXPECT_EQ(refusals(dir / "two"), (std::vector<std::string>{"0", "0", "0"}));
  // Fine-tuning: --init's strings check the new splits (the shorter dictionary passes, train's
  // other order does not), and the new model keeps them all (its dictionaries.json).
  const auto fine_tune = [&](const std::string& name, const std::string& data) {
    std::vector<std::string> args =
        fit_args(name, 10, 5, {"data.train=" + data, "data.valid=" + data});
    args.insert(args.begin() + 1, {"--init", run});
    return run_kiln(args);
  };
  auto tuned = fine_tune("tuned", dir / "two");
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  const std::string latest = slurp(run_dir("tuned") / "checkpoints/latest");
  EXPECT_EQ(read_json(run_dir("tuned") / "checkpoints" /
                      latest.substr(0, latest.find_last_not_of("\n") + 1) /
                      "dictionaries.json")["columns"]["city"],
            nlohmann::json({"Paris", "Berlin", "Rome"}));
  fs::copy_file(dir / "valid.csv", dir / "alone.csv");
  ASSERT_EQ(import("alone", {}), 0);
  auto refused = fine_tune("refused", dir / "alone");
  EXPECT_EQ(refused.exit_code, 65) << refused.err;
  EXPECT_NE(refused.last_err_line().find("alone: column 'city': code 0 is 'Rome' here but 'Paris'"),
            std::string::npos)
      << refused.err;

  // Without the training data: --like the model (a run, or one of its checkpoints) takes the
  // roles and codes its checkpoint keeps (profile.json, dictionaries.json).
  std::string checkpoint;
  for (const auto& entry : fs::directory_iterator(fs::path(run) / "checkpoints"))
    if (entry.is_directory()) checkpoint = entry.path();
  for (const std::string& model : {run, checkpoint}) {
    fs::remove_all(dir / "valid");
    ASSERT_EQ(import("valid", {"--like", model}), 0) << model;
    EXPECT_EQ(refusals(dir / "valid"), (std::vector<std::string>{"0", "0", "0"})) << model;
  }
  // Rows to score: no label, and an id column, which the model's profile does not know.
  std::ofstream(dir / "score.csv") << "customer,x,city\n17,3,Oslo\n42,4,Berlin\n";
  auto unlabelled = run_kiln({"data", "import", "--csv", dir / "score.csv", "--out", dir / "score",
                              "--like", run, "--role", "customer=id"});
  EXPECT_EQ(unlabelled.exit_code, 0) << unlabelled.err;
  EXPECT_EQ(run_kiln({"predict", "--model", run, "--data", dir / "score", "--out",
                      dir / "score.scores.csv"})
                .exit_code,
            0);
  EXPECT_EQ(slurp(dir / "score.scores.csv").substr(0, 12), "id,score\n17,");
  // The CSV itself where a dataset belongs: the error gives the import --like the model.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"predict", "--model", run, "--data", dir / "score.csv", "--out",
                                 dir / "csv.scores.csv"},
        {"drift", "--reference", run, "--data", dir / "score.csv", "--out", dir / "csv_drift"}}) {
    const auto csv = run_kiln(args);
    EXPECT_EQ(csv.exit_code, 65) << args[0];
    EXPECT_NE(csv.last_err_line().find("score.csv' is a CSV file, where a dataset is expected; "
                                       "import it first, with the columns and category codes it "
                                       "must have: kiln data import --csv " +
                                       dir / "score.csv" + " --out DIR --like " + run),
              std::string::npos)
        << csv.err;
  }
  auto known = run_kiln({"data", "import", "--csv", dir / "score.csv", "--out", dir / "known",
                         "--like", run, "--role", "x=categorical"});
  EXPECT_EQ(known.exit_code, 78);
  EXPECT_NE(known.last_err_line().find("--role x=categorical: --like " + run +
                                       " gives column 'x' its role (numeric)"),
            std::string::npos)
      << known.err;
  auto no_model = run_kiln({"data", "import", "--csv", dir / "valid.csv", "--out", dir / "none",
                            "--like", "registry:city@champion", "--registry", dir / "registry"});
  EXPECT_EQ(no_model.exit_code, 66) << no_model.err;
}

TEST_F(FitCli, ALabelOtherThanZeroOrOneExits65BeforeTraining) {
  std::ofstream(dir / "three.csv") << "x,label\n0.1,0\n0.2,1\n0.3,2\n0.4,1\n";
  ASSERT_EQ(run_kiln({"data", "import", "--csv", dir / "three.csv", "--out", dir / "three",
                      "--label", "label"})
                .exit_code,
            0);
  auto run = run_kiln(
      fit_args("three", 10, 5, {"data.train=" + dir / "three", "data.valid=" + dir / "three"}));
  EXPECT_EQ(run.exit_code, 65);
  EXPECT_NE(run.last_err_line().find("three: label 'label' is 2 at row 2; binary labels must be"),
            std::string::npos)
      << run.err;
  EXPECT_FALSE(fs::exists(run_dir("three") / "checkpoints/latest"));
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// scikit-learn's breast-cancer data through `kiln data import`, `kiln fit` with `fit_args`
// (besides the data and run paths), `kiln predict` with the run's best checkpoint on the
// held-out test split and `kiln eval`: the test AUROC.
double breast_cancer_auroc(const std::vector<std::string>& fit_args) {
  TempDir dir;
  const fs::path d = dir.path();
  const std::string make =
      testing::python_script("tests/trainer/breast_cancer.py") + d.string() + " > /dev/null";
  EXPECT_EQ(std::system(make.c_str()), 0);
  for (const char* split : {"train", "valid", "test"}) {
    auto imported =
        run_kiln({"data", "import", "--csv", (d / (std::string(split) + ".csv")).string(), "--out",
                  (d / split).string(), "--label", "malignant", "--positive", "1"});
    EXPECT_EQ(imported.exit_code, 0) << imported.err;
  }
  std::vector<std::string> args = {"fit", "data.train=" + (d / "train").string(),
                                   "data.valid=" + (d / "valid").string(),
                                   "run.dir=" + (d / "runs").string(), "run.name=bc"};
  args.insert(args.end(), fit_args.begin(), fit_args.end());
  auto fit = run_kiln(args);
  EXPECT_EQ(fit.exit_code, 0) << fit.err;
  auto predict = run_kiln({"predict", "--model", (d / "runs/default/bc").string(), "--data",
                           (d / "test").string(), "--out", (d / "scores.h5").string()});
  EXPECT_EQ(predict.exit_code, 0) << predict.err;
  auto eval = run_kiln({"eval", "--scores", (d / "scores.h5").string(), "--out",
                        (d / "report").string(), "--json", "eval.bootstrap=0"});
  EXPECT_EQ(eval.exit_code, 0) << eval.err;
  return eval.exit_code == 0
             ? nlohmann::json::parse(eval.out)["metrics"]["auroc"]["value"].get<double>()
             : 0.0;
}

// The MLP config (configs/fraud_mlp.yaml with a smaller batch and budget).
TEST(FitQuality, BreastCancerWithTheMlpConfigReachesTestAuroc098) {
  const double auroc = breast_cancer_auroc(
      {"--config", std::string(KILN_SOURCE_DIR) + "/configs/fraud_mlp.yaml",
       "run.experiment=default", "data.batch_size=64", "train.steps=600", "train.eval_every=50"});
  std::printf("breast cancer, MLP config, test AUROC %.4f\n", auroc);
  EXPECT_GE(auroc, 0.98);
}

// Nothing but the data: the `auto` defaults.
TEST(FitQuality, BreastCancerWithTheDefaultsReachesTestAuroc098) {
  const double auroc = breast_cancer_auroc({});
  std::printf("breast cancer, defaults, test AUROC %.4f\n", auroc);
  EXPECT_GE(auroc, 0.98);
}

}  // namespace
}  // namespace kiln
