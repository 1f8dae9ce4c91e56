// Data-parallel `kiln fit` on the CPU (Gloo), as launchers start it: the real torchrun from
// the venv, and by hand with Slurm's variables as srun sets them. Several processes train
// what one process trains on their batches put together; SIGTERM to one rank stops every
// rank at one step and the resumed job ends bit for bit where an uninterrupted one does;
// SIGKILL of one rank fails the others promptly, naming it; bad launches fail before any
// work, saying why (docs/DISTRIBUTED.md).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "core/checkpoint.h"
#include "run_kiln.h"
#include "synth_suite.h"
#include "weights.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;
using testing::KilnChild;
using testing::KilnRun;
using testing::read_json;
using testing::run_kiln;

// A TCP port nobody listens on now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

// metrics.jsonl's lines.
std::vector<nlohmann::json> metric_lines(const fs::path& run) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(testing::slurp(run / "metrics.jsonl"));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

fs::path torchrun() {
  return fs::path(KILN_PYTHON).parent_path() / "torchrun";
}

class DistributedCli : public testing::SynthSuite<8000> {
 protected:
  // A deterministic run without dropout (each rank drops its own rows), `batch` rows a rank.
  std::vector<std::string> fit_args(const std::string& name, int batch, int steps,
                                    std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"fit",
                                     "data.train=" + (data() / "d/train").string(),
                                     "data.valid=" + (data() / "d/valid").string(),
                                     "data.batch_size=" + std::to_string(batch),
                                     "data.threads=1",
                                     "run.dir=" + (fs::path(dir.path()) / "runs").string(),
                                     "run.name=" + name,
                                     "run.deterministic=true",
                                     "train.steps=" + std::to_string(steps),
                                     "train.eval_every=" + std::to_string(steps / 4),
                                     "train.patience=0",
                                     "train.dist_timeout_s=30",
                                     "data.eval_batch_size=100",
                                     "model.dropout=0",
                                     "model.hidden=[32,16]"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  fs::path run_dir(const std::string& name) const {
    return fs::path(dir.path()) / "runs/default" / name;
  }
  std::string checkpoint(const std::string& name, int step) const {
    return (run_dir(name) / "checkpoints" / core::checkpoint_name(step)).string();
  }

  // `world` processes started by hand with the variables srun sets.
  std::vector<KilnChild> start_ranks(int world, const std::vector<std::string>& args,
                                     int port) const {
    std::vector<KilnChild> ranks;
    for (int r = 0; r < world; ++r)
      ranks.push_back(testing::start_kiln(args, {{"SLURM_STEP_ID", "0"},
                                                 {"SLURM_PROCID", std::to_string(r)},
                                                 {"SLURM_LOCALID", std::to_string(r)},
                                                 {"SLURM_NTASKS", std::to_string(world)},
                                                 {"SLURM_JOB_NODELIST", "localhost"},
                                                 {"MASTER_PORT", std::to_string(port)},
                                                 {"RANK", ""},
                                                 {"WORLD_SIZE", ""}}));
    return ranks;
  }
  static std::vector<KilnRun> wait_all(const std::vector<KilnChild>& ranks) {
    std::vector<KilnRun> runs;
    for (const KilnChild& c : ranks)
      runs.push_back(testing::wait_kiln(c));
    return runs;
  }
};

// Gloo sums the ranks' gradients in another order than one process's backward does: fp32
// rounding (about 1e-7 a step) is all that may differ, so 1e-5 relative after 200 steps.
TEST_F(DistributedCli, TwoAndFourProcessesTrainWhatOneProcessTrainsOnTheirBatchesTogether) {
  if (!fs::exists(torchrun())) GTEST_SKIP() << "no torchrun at " << torchrun();
  const int steps = 200, batch = 32;
  // With 2 ranks the model has numeric embeddings: their parameters (one of three dimensions)
  // are synchronized like the layers'.
  const auto model_of = [](int world) {
    return std::vector<std::string>{"model.numeric_embedding=" +
                                    std::string(world == 2 ? "16" : "0")};
  };
  for (const int world : {2, 4}) {
    const std::string one = "one" + std::to_string(world),
                      many = "torchrun" + std::to_string(world);
    const std::vector<std::string> model = model_of(world);
    auto single = run_kiln(fit_args(one, batch * world, steps, model));
    ASSERT_EQ(single.exit_code, 0) << single.err;
    std::vector<std::string> args = {"--standalone", "--nproc-per-node", std::to_string(world),
                                     "--no-python", KILN_BINARY};
    for (const std::string& a : fit_args(many, batch, steps, model))
      args.push_back(a);
    const fs::path prom = fs::path(dir.path()) / many / "fit.prom";
    fs::create_directories(prom.parent_path());
    args.insert(args.end(), {"--metrics-file", prom.string()});
    auto job = testing::wait_kiln(testing::start_program(torchrun().string(), args));
    ASSERT_EQ(job.exit_code, 0) << job.err;
    // Every rank keeps its own metrics file (rank r > 0: fit.rank<r>.prom).
    for (int r = 0; r < world; ++r) {
      const fs::path file =
          r == 0 ? prom : prom.parent_path() / ("fit.rank" + std::to_string(r) + ".prom");
      const std::string text = testing::slurp(file);
      EXPECT_NE(text.find("kiln_fit_state{run=\"" + many + "\",experiment=\"default\",rank=\"" +
                          std::to_string(r) + "\",state=\"done\"} 1"),
                std::string::npos)
          << file << ":\n"
          << text;
    }
    const double difference =
        testing::checkpoint_difference(checkpoint(many, steps), checkpoint(one, steps));
    EXPECT_LT(difference, 1e-5) << "world " << world;
    // Each evaluation's train loss (the mean over every rank's rows) and metrics are the
    // single process's.
    const auto ours = metric_lines(run_dir(many)), theirs = metric_lines(run_dir(one));
    ASSERT_EQ(ours.size(), theirs.size());
    for (std::size_t i = 0; i < ours.size(); ++i) {
      EXPECT_EQ(ours[i]["step"], theirs[i]["step"]);
      for (const char* key : {"train/loss", "val/auroc", "val/log_loss"})
        EXPECT_NEAR(ours[i][key].get<double>(), theirs[i][key].get<double>(),
                    1e-6 * std::abs(theirs[i][key].get<double>()))
            << key << " at step " << ours[i]["step"];
    }
    const auto run = read_json(run_dir(many) / "run.json");
    EXPECT_EQ(run["world_size"], world);
    EXPECT_EQ(run["backend"], "gloo");
  }
  // By hand, as srun starts the tasks: the same result as torchrun's.
  auto ranks = wait_all(start_ranks(2, fit_args("srun2", batch, steps, model_of(2)), free_port()));
  for (const KilnRun& r : ranks)
    ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(testing::checkpoint_difference(checkpoint("srun2", steps), checkpoint("one2", steps)),
            1e-5);
}

TEST_F(DistributedCli, SigtermToOneRankStopsEveryRankAtOneStepAndTheResumeEndsBitForBit) {
  const int steps = 320, batch = 32;
  auto straight = wait_all(start_ranks(2, fit_args("straight", batch, steps), free_port()));
  for (const KilnRun& r : straight)
    ASSERT_EQ(r.exit_code, 0) << r.err;

  const auto args = fit_args("stopped", batch, steps, {"--resume", "auto"});
  std::vector<KilnChild> ranks = start_ranks(2, args, free_port());
  // After the first checkpoint, SIGTERM to rank 1 alone.
  const fs::path first = checkpoint("stopped", steps / 4);
  for (int i = 0; i < 600 && !fs::exists(fs::path(first) / "MANIFEST.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ::kill(ranks[1].pid, SIGTERM);
  const std::vector<KilnRun> stopped = wait_all(ranks);
  int stopped_at = -1;
  for (const KilnRun& r : stopped) {
    ASSERT_EQ(r.exit_code, 75) << r.err;
    const std::string line = r.last_err_line();
    const auto at = line.find(" at step ");
    ASSERT_NE(at, std::string::npos) << line;
    const int step = std::stoi(line.substr(at + 9));
    if (stopped_at >= 0) {
      EXPECT_EQ(step, stopped_at) << "the ranks stopped at different steps";
    }
    stopped_at = step;
  }
  EXPECT_LT(stopped_at, steps);
  auto status = read_json(run_dir("stopped") / "status.json");
  EXPECT_EQ(status["state"], "preempted");
  EXPECT_EQ(status["step"], stopped_at);

  const std::vector<KilnRun> resumed = wait_all(start_ranks(2, args, free_port()));
  for (const KilnRun& r : resumed)
    ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      testing::checkpoint_difference(checkpoint("straight", steps), checkpoint("stopped", steps)),
      0.0);
}

// TorchElastic's restart: torchrun --max-restarts 1 restarts both workers when one is
// killed, and --resume auto continues from the last checkpoint (the agent's store is read
// under a new attempt's prefix, so the failed attempt's keys do not confuse the new one).
TEST_F(DistributedCli, TorchrunRestartsTheGroupAfterARankDiesAndTheRunResumes) {
  if (!fs::exists(torchrun())) GTEST_SKIP() << "no torchrun at " << torchrun();
  const int steps = 800;
  std::vector<std::string> args = {"--standalone", "--nproc-per-node", "2", "--max-restarts", "1",
                                   "--no-python",  KILN_BINARY};
  for (const std::string& a :
       fit_args("elastic", 32, steps, {"train.eval_every=50", "--resume", "auto"}))
    args.push_back(a);
  const KilnChild job = testing::start_program(torchrun().string(), args);
  const fs::path first = checkpoint("elastic", 100);
  for (int i = 0; i < 600 && !fs::exists(fs::path(first) / "MANIFEST.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const int pid = read_json(run_dir("elastic") / "status.json")["pid"].get<int>();  // rank 0's
  ::kill(pid, SIGKILL);
  const KilnRun done = testing::wait_kiln(job);
  ASSERT_EQ(done.exit_code, 0) << done.err;
  EXPECT_NE(done.err.find("resuming"), std::string::npos) << done.err;
  EXPECT_EQ(read_json(run_dir("elastic") / "status.json")["state"], "done");
  EXPECT_TRUE(fs::exists(fs::path(checkpoint("elastic", steps)) / "MANIFEST.json"));
}

TEST_F(DistributedCli, SigkillOfOneRankFailsTheOtherPromptlyNamingItAndLeavesNothingHalfWritten) {
  auto args = fit_args("killed", 32, 4000, {"train.eval_every=50", "train.dist_timeout_s=20"});
  std::vector<KilnChild> ranks = start_ranks(2, args, free_port());
  const fs::path first = checkpoint("killed", 50);
  for (int i = 0; i < 600 && !fs::exists(fs::path(first) / "MANIFEST.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const auto killed_at = std::chrono::steady_clock::now();
  ::kill(ranks[1].pid, SIGKILL);
  const KilnRun survivor = testing::wait_kiln(ranks[0]);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  testing::wait_kiln(ranks[1]);
  EXPECT_EQ(survivor.exit_code, 69) << survivor.err;
  EXPECT_NE(survivor.last_err_line().find("rank 1 is gone"), std::string::npos) << survivor.err;
  EXPECT_LT(seconds, 20.0);
  EXPECT_EQ(read_json(run_dir("killed") / "status.json")["exit_code"], 69);
  for (const auto& entry : fs::directory_iterator(run_dir("killed") / "checkpoints")) {
    if (!entry.is_directory() || entry.path().filename().string().rfind("step_", 0) != 0) continue;
    auto verify = run_kiln({"checkpoint", "verify", entry.path().string()});
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  }
}

TEST_F(DistributedCli, BadLaunchesFailBeforeAnyWorkSayingWhy) {
  // A rank outside the world.
  auto outside =
      run_kiln(fit_args("outside", 32, 20), {{"RANK", "2"},
                                             {"WORLD_SIZE", "2"},
                                             {"MASTER_ADDR", "127.0.0.1"},
                                             {"MASTER_PORT", std::to_string(free_port())}});
  EXPECT_EQ(outside.exit_code, 78) << outside.err;
  EXPECT_NE(outside.err.find("RANK"), std::string::npos) << outside.err;

  // Ranks that resolve different configs: both exit 78, the odd one names the key.
  const int port = free_port();
  std::vector<KilnChild> ranks;
  for (int r = 0; r < 2; ++r) {
    auto args = fit_args("differ", 32, 20, {r == 1 ? "optim.lr=0.002" : "optim.lr=0.001"});
    ranks.push_back(testing::start_kiln(args, {{"RANK", std::to_string(r)},
                                               {"LOCAL_RANK", std::to_string(r)},
                                               {"WORLD_SIZE", "2"},
                                               {"MASTER_ADDR", "127.0.0.1"},
                                               {"MASTER_PORT", std::to_string(port)}}));
  }
  const KilnRun rank0 = testing::wait_kiln(ranks[0]), rank1 = testing::wait_kiln(ranks[1]);
  EXPECT_EQ(rank0.exit_code, 78) << rank0.err;
  EXPECT_EQ(rank1.exit_code, 78) << rank1.err;
  EXPECT_NE(rank1.last_err_line().find("optim.lr: this rank has 0.002, rank 0 has 0.001"),
            std::string::npos)
      << rank1.err;
  EXPECT_NE(rank0.last_err_line().find("rank 1 of 2"), std::string::npos) << rank0.err;
  EXPECT_FALSE(fs::exists(checkpoint("differ", 20)));

  // A rendezvous nobody serves: a clear error within the timeout.
  const auto start = std::chrono::steady_clock::now();
  auto unreachable = run_kiln(fit_args("alone", 32, 20, {"train.dist_timeout_s=3"}),
                              {{"RANK", "1"},
                               {"WORLD_SIZE", "2"},
                               {"MASTER_ADDR", "127.0.0.1"},
                               {"MASTER_PORT", std::to_string(free_port())}});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(unreachable.exit_code, 69) << unreachable.err;
  EXPECT_NE(unreachable.last_err_line().find("cannot reach the rendezvous at 127.0.0.1"),
            std::string::npos)
      << unreachable.err;
  EXPECT_LT(seconds, 20.0);
}

}  // namespace
}  // namespace kiln
