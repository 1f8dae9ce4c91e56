// The sweep machinery without LibTorch: spaces and samplers, the journal and its replay,
// ASHA's rungs and promotions, and workers racing on one journal (processes, real locks).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/errors.h"
#include "core/files.h"
#include "sweep/asha.h"
#include "sweep/journal.h"
#include "sweep/report.h"
#include "sweep/space.h"
#include "sweep/sweep.h"
#include "sweep/worker.h"
#include "tests/error_of.h"
#include "tests/temp_dir.h"

namespace kiln::sweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using testing::TempDir;

TEST(SweepSpace, ParsesEveryKindAndNamesTheKeyOfAMistake) {
  const SearchSpace s = parse_space(
      "optim.weight_decay: [0.0, 0.01]\n"
      "model.hidden: {choice: [[256, 128], [64]]}\n"
      "optim.lr: {log_uniform: [1.0e-4, 1.0e-2]}\n"
      "model.dropout: {uniform: [0, 0.5]}\n"
      "model.embedding_dim: {int: [2, 16]}\n"
      "optim.name: {grid: [adamw, \"sgd\"]}\n",
      "space.yaml");
  ASSERT_EQ(s.params.size(), 6u);
  EXPECT_EQ(s.params[0].kind, Param::Kind::kGrid);
  EXPECT_EQ(s.params[1].values[0], json::parse("[256, 128]"));
  EXPECT_EQ(s.params[2].kind, Param::Kind::kLogUniform);
  EXPECT_EQ(s.params[4].high, 16);
  EXPECT_EQ(s.params[5].values[1], "sgd");

  testing::error_of<ConfigError>([] { parse_space("optim.lr: {normal: [0, 1]}\n", "s.yaml"); });
  EXPECT_NE(testing::error_of<ConfigError>([] {
              parse_space("optim.lr: {normal: [0, 1]}\n", "s.yaml");
            }).find("optim.lr"),
            std::string::npos);
  EXPECT_NE(testing::error_of<ConfigError>([] {
              parse_space("optim.lr: {log_uniform: [0, 1]}\n", "s.yaml");
            }).find("lo > 0"),
            std::string::npos);
  EXPECT_NE(testing::error_of<ConfigError>([] {
              parse_space("optim.lr: {uniform: [2, 1]}\n", "s.yaml");
            }).find("lo <= hi"),
            std::string::npos);
  EXPECT_NE(testing::error_of<ConfigError>([] {
              parse_space("optim.lr: 0.1\n", "s.yaml");
            }).find("base config"),
            std::string::npos);
  EXPECT_NE(
      testing::error_of<ConfigError>([] { parse_space("optim.lr: []\n", "s.yaml"); }).find("empty"),
      std::string::npos);
  EXPECT_NE(testing::error_of<ConfigError>([] {
              parse_space("optim.name: [adamw, caf\xe9]\n", "s.yaml");
            }).find("s.yaml: the file is not UTF-8 (byte 0xE9 at offset 23)"),
            std::string::npos);
}

TEST(SweepSpace, GridRunsEveryCombinationAndRandomDependsOnlyOnTheSeed) {
  const SearchSpace grid = parse_space("a.x: [1, 2, 3]\nb.y: [true, false]\n", "s");
  const auto all = sample(grid, "grid", 0, 0);
  ASSERT_EQ(all.size(), 6u);
  std::set<std::string> distinct;
  for (const auto& p : all)
    distinct.insert(p.dump());
  EXPECT_EQ(distinct.size(), 6u);
  EXPECT_EQ(all[1].dump(), R"({"a.x":1,"b.y":false})");  // the last key varies fastest
  EXPECT_NE(testing::error_of<ConfigError>([&] {
              sample(grid, "grid", 4, 0);
            }).find("every combination (6)"),
            std::string::npos);
  const SearchSpace ranges = parse_space(
      "lr: {log_uniform: [1.0e-4, 1.0e-2]}\nd: {uniform: [0, 0.5]}\nn: {int: [2, 4]}\n", "s");
  EXPECT_NE(testing::error_of<ConfigError>([&] {
              sample(ranges, "grid", 0, 0);
            }).find("--sampler random"),
            std::string::npos);
  const auto a = sample(ranges, "random", 200, 7), b = sample(ranges, "random", 200, 7),
             c = sample(ranges, "random", 200, 8);
  EXPECT_EQ(json(a).dump(), json(b).dump());
  EXPECT_NE(json(a).dump(), json(c).dump());
  std::set<int64_t> ints;
  for (const auto& p : a) {
    EXPECT_GE(p["lr"].get<double>(), 1e-4);
    EXPECT_LE(p["lr"].get<double>(), 1e-2);
    EXPECT_GE(p["d"].get<double>(), 0);
    EXPECT_LE(p["d"].get<double>(), 0.5);
    ints.insert(p["n"].get<int64_t>());
  }
  EXPECT_EQ(ints, (std::set<int64_t>{2, 3, 4}));
  EXPECT_EQ(overrides_of(a[0])[2], "n=" + a[0]["n"].dump());
}

TEST(SweepObjective, AcceptsTheMetricsWithTheirDirection) {
  EXPECT_TRUE(parse_objective("val/auroc:max").maximize);
  EXPECT_FALSE(parse_objective("val/log_loss").maximize);
  EXPECT_EQ(parse_objective("val/ap").metric, "ap");
  EXPECT_NE(
      testing::error_of<ConfigError>([] { parse_objective("val/auroc:min"); }).find("maximized"),
      std::string::npos);
  testing::error_of<ConfigError>([] { parse_objective("train/loss"); });
}

TEST(Asha, RungsAreTheBudgetDividedByPowersOfEta) {
  EXPECT_EQ(rung_steps({0, 1000, 3}), (std::vector<int64_t>{111, 333, 1000}));
  EXPECT_EQ(rung_steps({100, 1000, 3}), (std::vector<int64_t>{111, 333, 1000}));
  EXPECT_EQ(rung_steps({10, 810, 3}), (std::vector<int64_t>{10, 30, 90, 270, 810}));
  EXPECT_EQ(rung_steps({500, 1000, 3}), (std::vector<int64_t>{1000}));
  EXPECT_EQ(rung_steps({1, 16, 2}), (std::vector<int64_t>{1, 2, 4, 8, 16}));
  testing::error_of<ConfigError>([] { rung_steps({2000, 1000, 3}); });
}

// Builds a state by events, as workers would journal them.
struct Script {
  SweepState state;
  int64_t line = 0;
  void event(json e) {
    e["t"] = 1.0;
    state.apply(e, "script line " + std::to_string(++line));
  }
  void add(int n) {
    for (int i = 0; i < n; ++i)
      event({{"event", "add"}, {"trial", "t" + std::to_string(i)}, {"params", json::object()}});
  }
  void claim(const std::string& id, int rung) {
    event({{"event", "claim"},
           {"trial", id},
           {"lease", state.leases + 1},
           {"worker", "w"},
           {"rung", rung}});
  }
  // Claims `id` for `rung` and records `value` there.
  void result(const std::string& id, int rung, double value, bool final = false) {
    claim(id, rung);
    event({{"event", "rung"},
           {"trial", id},
           {"lease", state.leases},
           {"rung", rung},
           {"steps", rung + 1},
           {"value", value},
           {"final", final}});
  }
};

// The example worked by hand: 9 trials, eta 3, rungs [1, 3, 9]; results arrive one by one
// and after each the promotion rule (top floor(n/3) of a rung, highest rung first) is asked.
TEST(Asha, PromotesAsTheHandWorkedExampleSays) {
  Script s;
  s.add(9);
  const std::vector<int64_t> rungs = {1, 3, 9};
  auto next = [&] { return promotion(s.state, rungs, 3, true).value_or("none"); };
  s.result("t0", 0, 0.50);
  EXPECT_EQ(next(), "none");  // n=1: top 0
  s.result("t1", 0, 0.70);
  EXPECT_EQ(next(), "none");  // n=2: top 0
  s.result("t2", 0, 0.60);
  EXPECT_EQ(next(), "t1");  // n=3: top 1 = t1 (0.70)
  s.result("t1", 1, 0.72);  // promoted and run
  EXPECT_EQ(next(), "none");
  s.result("t3", 0, 0.80);
  s.result("t4", 0, 0.55);
  EXPECT_EQ(next(), "t3");  // n=5: top 1 = t3
  s.claim("t3", 1);         // running
  s.result("t5", 0, 0.65);
  EXPECT_EQ(next(), "none");  // n=6: top 2 = t3 (running), t1 (promoted)
  s.result("t6", 0, 0.90);
  EXPECT_EQ(next(), "t6");  // n=7: top 2 = t6, t3
  s.result("t6", 1, 0.79);
  EXPECT_EQ(next(), "none");  // rung 1 n=2: top 0; rung 0 top 2 both promoted
  s.event({{"event", "rung"},
           {"trial", "t3"},
           {"lease", s.state.find("t3")->lease},
           {"rung", 1},
           {"steps", 3},
           {"value", 0.81},
           {"final", false}});
  EXPECT_EQ(next(), "t3");  // rung 1 n=3: top 1 = t3 (0.81), to rung 2 first
  s.result("t3", 2, 0.83, true);
  EXPECT_EQ(next(), "none");
  s.result("t7", 0, 0.75);
  s.result("t8", 0, 0.40);
  EXPECT_EQ(next(), "t7");  // n=9: top 3 = t6, t3, t7; t1 (0.70) stays promoted (async)
  // Minimizing turns the order around: rung 1's lowest of 3 is t1 (0.72), paused there.
  EXPECT_EQ(promotion(s.state, rungs, 3, false).value_or("none"), "t1");
}

TEST(SweepJournal, ReplayRejectsWhatNoWorkerWritesAndNamesTheLine) {
  Script s;
  s.add(2);
  s.claim("t0", 0);
  EXPECT_NE(testing::error_of<DataError>([&] { s.claim("t0", 0); }).find("t0 is running"),
            std::string::npos);
  EXPECT_NE(
      testing::error_of<DataError>([&] {
        s.event({{"event", "claim"}, {"trial", "t1"}, {"lease", 7}, {"worker", "w"}, {"rung", 0}});
      }).find("out of order"),
      std::string::npos);
  EXPECT_NE(testing::error_of<DataError>([&] {
              s.event({{"event", "add"}, {"trial", "t1"}, {"params", json::object()}});
            }).find("added twice"),
            std::string::npos);
  EXPECT_NE(testing::error_of<DataError>([&] {
              s.event({{"event", "heartbeat"}, {"trial", "t9"}, {"lease", 1}});
            }).find("script line"),
            std::string::npos);
  // A revoked lease's events change nothing.
  s.event({{"event", "requeue"}, {"trial", "t0"}, {"lease", 1}, {"reason", "silent"}});
  s.event({{"event", "rung"},
           {"trial", "t0"},
           {"lease", 1},
           {"rung", 0},
           {"steps", 1},
           {"value", 0.9},
           {"final", true}});
  EXPECT_EQ(s.state.find("t0")->state, Trial::State::kQueued);
  EXPECT_TRUE(s.state.find("t0")->rungs.empty());
}

TEST(SweepJournal, CutsATornLastLineAndReportsAMalformedOne) {
  TempDir dir;
  Journal::create(dir.path(), {{{"event", "add"}, {"trial", "t0"}, {"params", json::object()}}});
  {
    std::ofstream out(fs::path(dir.path()) / "journal.jsonl", std::ios::app);
    out << R"({"event":"claim","trial":"t0","lea)";  // a writer killed mid-line
  }
  EXPECT_EQ(Journal::read(dir.path()).trials.size(), 1u);
  Journal journal(dir.path());
  journal.transact([](const SweepState& s) -> std::vector<json> {
    return {{{"event", "claim"},
             {"trial", "t0"},
             {"lease", s.leases + 1},
             {"worker", "w"},
             {"rung", 0}}};
  });
  const SweepState state = Journal::read(dir.path());
  EXPECT_EQ(state.find("t0")->state, Trial::State::kRunning);
  EXPECT_EQ(state.lines, 2);
  {
    std::ofstream out(fs::path(dir.path()) / "journal.jsonl", std::ios::app);
    out << "not json\n";
  }
  const std::string error = testing::error_of<DataError>([&] { Journal::read(dir.path()); });
  EXPECT_NE(error.find("journal.jsonl line 3"), std::string::npos) << error;
  testing::error_of<InputError>([] { Journal::read("/nonexistent/sweep"); });
}

SweepSettings settings_for(std::vector<int64_t> rungs) {
  SweepSettings s;
  s.rungs = std::move(rungs);
  s.heartbeat_s = 1;
  s.stale_after_s = 10;
  return s;
}

TEST(SweepScheduler, RequeuesSilentTrialsAndPrefersWorkInProgress) {
  Script s;
  s.add(3);
  s.claim("t0", 0);  // heartbeat at t=1
  const SweepSettings settings = settings_for({10});
  std::vector<json> events;
  Job job = next_job(s.state, settings, "b", 5.0, events);  // 4 s of silence: not yet stale
  EXPECT_EQ(job.trial, "t1");
  events.clear();
  job = next_job(s.state, settings, "b", 20.0, events);  // 19 s: requeued, and taken first
  EXPECT_EQ(job.trial, "t0");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["event"], "requeue");
  EXPECT_NE(events[0]["reason"].get<std::string>().find("worker w silent for 19 s"),
            std::string::npos);
  EXPECT_EQ(events[1]["lease"], 2);
  // A worker restarted under its own name takes its old trial back at once.
  events.clear();
  job = next_job(s.state, settings, "w", 2.0, events);
  EXPECT_EQ(job.trial, "t0");
  EXPECT_NE(events[0]["reason"].get<std::string>().find("restarted"), std::string::npos);
}

TEST(SweepScheduler, WaitsWhileTrialsRunThenPrunesThePausedAndFinishes) {
  Script s;
  s.add(3);
  const SweepSettings settings = settings_for({1, 3, 9});
  s.result("t0", 0, 0.5);
  s.result("t1", 0, 0.6);
  s.claim("t2", 0);
  std::vector<json> events;
  EXPECT_EQ(next_job(s.state, settings, "b", 1.0, events).kind, Job::Kind::kWait);
  EXPECT_TRUE(events.empty());
  s.event({{"event", "rung"},
           {"trial", "t2"},
           {"lease", s.state.find("t2")->lease},
           {"rung", 0},
           {"steps", 1},
           {"value", 0.7},
           {"final", false}});
  Job job = next_job(s.state, settings, "b", 1.0, events);
  EXPECT_EQ(job.trial, "t2");
  EXPECT_EQ(job.rung, 1);
  EXPECT_EQ(job.steps, 3);
  for (auto& e : events)
    s.state.apply(e, "next_job");
  s.event({{"event", "rung"},
           {"trial", "t2"},
           {"lease", job.lease},
           {"rung", 1},
           {"steps", 3},
           {"value", 0.71},
           {"final", false}});
  events.clear();
  EXPECT_EQ(next_job(s.state, settings, "b", 1.0, events).kind, Job::Kind::kDone);
  ASSERT_EQ(events.size(), 3u);  // t0, t1 at rung 0 and t2 at rung 1 pruned
  for (auto& e : events)
    s.state.apply(e, "next_job");
  for (const Trial& t : s.state.trials)
    EXPECT_EQ(t.state, Trial::State::kPruned) << t.id;
  EXPECT_EQ(best_trial(s.state, settings.objective)->id, "t2");  // the highest rung reached
}

// Two processes claim and finish 300 trials on one journal as fast as they can: every trial
// is claimed exactly once and finished exactly once.
TEST(SweepJournal, TwoProcessesRacingLoseAndDuplicateNothing) {
  TempDir dir;
  const int n = 300;
  std::vector<Params> trials(n, Params::object());
  SweepSettings settings = settings_for({10});
  settings.trials = n;
  create_sweep(dir.path(), settings, "{}\n", "x: [1]\n", trials);
  auto work = [&](const std::string& name) {
    Journal journal(dir.path());
    while (true) {
      Job job;
      journal.transact([&](const SweepState& s) {
        std::vector<json> events;
        job = next_job(s, settings, name, journal_now(), events);
        return events;
      });
      if (job.kind == Job::Kind::kDone) return;
      if (job.kind == Job::Kind::kWait) continue;
      journal.transact([&](const SweepState&) -> std::vector<json> {
        return {{{"event", "rung"},
                 {"trial", job.trial},
                 {"lease", job.lease},
                 {"rung", 0},
                 {"steps", 10},
                 {"value", 0.5},
                 {"final", true},
                 {"worker", name}}};
      });
    }
  };
  const pid_t other = ::fork();
  if (other == 0) {
    try {
      work("child");
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  work("parent");
  int status = 0;
  ::waitpid(other, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::map<std::string, int> claims, finals;
  std::set<std::string> workers;
  std::ifstream in(fs::path(dir.path()) / "journal.jsonl");
  for (std::string line; std::getline(in, line);) {
    const json e = json::parse(line);
    if (e["event"] == "claim") {
      ++claims[e["trial"].get<std::string>()];
      workers.insert(e["worker"].get<std::string>());
    }
    if (e["event"] == "rung") ++finals[e["trial"].get<std::string>()];
  }
  EXPECT_EQ(claims.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(finals.size(), static_cast<std::size_t>(n));
  for (const auto& [id, k] : claims)
    EXPECT_EQ(k, 1) << id;
  for (const auto& [id, k] : finals)
    EXPECT_EQ(k, 1) << id;
  EXPECT_EQ(workers.size(), 2u);  // both took part
  for (const Trial& t : Journal::read(dir.path()).trials)
    EXPECT_EQ(t.state, Trial::State::kCompleted);
}

TEST(SweepDirectory, RefusesToOverwriteASweepAndReadsItsSettingsBack) {
  TempDir dir;
  SweepSettings settings = settings_for({111, 333, 1000});
  settings.trials = 1;
  settings.seed = 42;
  create_sweep(dir.path(), settings, "{}\n", "x: [1]\n", {Params::object()});
  const SweepSettings back = SweepSettings::read(dir.path());
  EXPECT_EQ(back.to_json(), settings.to_json());
  testing::error_of<UsageError>([&] { create_sweep(dir.path(), settings, "{}\n", "", {}); });
  core::atomic_write((fs::path(dir.path()) / "sweep.json").string(), R"({"format": 2})");
  EXPECT_NE(testing::error_of<DataError>([&] { SweepSettings::read(dir.path()); }).find("newer"),
            std::string::npos);
}

// A worker that cannot start its trials (a missing or half-written binary) gives the trial
// back and stops, instead of marking every trial of the sweep failed.
TEST(SweepWorker, AWorkerThatCannotStartTrialsRequeuesAndStops) {
  TempDir dir;
  SweepSettings settings = settings_for({10});
  settings.trials = 2;
  create_sweep(dir.path(), settings, "{}\n", "x: [1, 2]\n", {Params::object(), Params::object()});
  WorkerOptions options;
  options.dir = dir.path();
  options.id = "w";
  options.kiln = fs::path(dir.path()) / "no-such-kiln";
  const std::string error = testing::error_of<InputError>([&] { run_worker(options); });
  EXPECT_NE(error.find("no-such-kiln"), std::string::npos) << error;
  const SweepState state = Journal::read(dir.path());
  EXPECT_EQ(state.find("t0000")->state, Trial::State::kQueued);
  EXPECT_NE(state.find("t0000")->reason.find("could not start it"), std::string::npos);
  EXPECT_EQ(state.find("t0001")->claims, 0);
}

TEST(SweepReport, SpearmanMatchesHandValues) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // scipy.stats.spearmanr([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]).statistic == 0.8
  EXPECT_NEAR(spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}), 0.8, 1e-15);
  // with ties: spearmanr([1, 2, 2, 3], [1, 3, 2, 4]).statistic == 0.9486832980505138
  EXPECT_NEAR(spearman({1, 2, 2, 3}, {1, 3, 2, 4}), 0.9486832980505138, 1e-15);
  EXPECT_TRUE(std::isnan(spearman({1, 2}, {1, 2})));
}

}  // namespace
}  // namespace kiln::sweep
