// kiln sweep init | worker | run | status | best | report (docs/SWEEPS.md)
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/errors.h"
#include "core/files.h"
#include "data/dataset.h"
#include "sweep/journal.h"
#include "sweep/report.h"
#include "sweep/space.h"
#include "sweep/sweep.h"
#include "sweep/worker.h"
#include "trainer/auto_config.h"
#include "trainer/cli/commands.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

// A trial's full config: the sweep's base config with the trial's values set.
trainer::KilnConfig trial_config(const std::string& base_file, const sweep::Params& params) {
  return trainer::resolve_kiln_config({base_file}, sweep::overrides_of(params));
}

// Writes the best trial's config to `out` ("" when there is no best trial yet); returns it.
std::string write_best_config(const std::string& dir, const sweep::SweepSettings& settings,
                              const sweep::SweepState& state, std::string out) {
  const sweep::Trial* best = sweep::best_trial(state, settings.objective);
  if (best == nullptr) return "";
  if (out.empty()) out = (fs::path(dir) / "best.yaml").string();
  const trainer::KilnConfig config =
      trial_config((fs::path(dir) / "base.yaml").string(), best->params);
  core::atomic_write(out, "# kiln sweep " + dir + ": trial " + best->id + ", " +
                              settings.objective.name() + " " +
                              std::to_string(best->last_result()->value) + "\n" +
                              core::schema::to_yaml_text(config));
  return out;
}

void add_init(CLI::App& sweep) {
  struct Args {
    ConfigArgs config;
    std::string space, dir, sampler = "random", scheduler = "asha", objective = "val/auroc:max";
    int64_t trials = 0, eta = 3, min_steps = 0;
    int64_t seed = -1;
    double heartbeat = 10, stale_after = 60;
  };
  auto a = std::make_shared<Args>();
  CLI::App* init = sweep.add_subcommand(
      "init",
      "Create a sweep directory: the resolved base config (data paths made absolute), the search "
      "space, and a journal holding every trial's values, each checked to make a valid config.");
  add_config_args(*init, a->config);
  init->add_option("--space", a->space, "search space YAML (docs/SWEEPS.md)")->required();
  init->add_option("--dir", a->dir, "sweep directory to create")->required();
  init->add_option("--sampler", a->sampler, "grid (every combination) or random")
      ->check(CLI::IsMember(sweep::sampler_names()))
      ->capture_default_str();
  init->add_option("--trials", a->trials, "trials to draw (random; default 20); a grid runs all")
      ->check(CLI::Range(int64_t{0}, int64_t{100000}));
  init->add_option("--seed", a->seed, "the sampler's seed; default run.seed")
      ->check(CLI::NonNegativeNumber);
  init->add_option("--scheduler", a->scheduler,
                   "asha (successive halving over train.steps) or none (every trial runs all "
                   "train.steps)")
      ->check(CLI::IsMember({"asha", "none"}))
      ->capture_default_str();
  init->add_option(
          "--objective", a->objective,
          "val/auroc, val/ap or val/log_loss, with :max or :min (each trial's train.metric)")
      ->capture_default_str();
  init->add_option("--eta", a->eta, "ASHA: the top 1/eta of each rung go on")
      ->check(CLI::Range(int64_t{2}, int64_t{100}))
      ->capture_default_str();
  init->add_option("--min-steps", a->min_steps,
                   "ASHA: the first rung's steps; default train.steps / eta^2 (three rungs)");
  init->add_option("--heartbeat", a->heartbeat, "seconds between a worker's heartbeats")
      ->check(CLI::Range(0.01, 3600.0))
      ->capture_default_str();
  init->add_option("--stale-after", a->stale_after,
                   "seconds of silence after which a running trial is requeued")
      ->check(CLI::Range(0.05, 86400.0))
      ->capture_default_str();
  init->callback([a] {
    trainer::KilnConfig base = resolve(a->config);
    KILN_CHECK(!base.data.train.empty() && !base.data.valid.empty(), ConfigError,
               "data.train and data.valid: a sweep's base config names both datasets");
    base.data.train = fs::absolute(base.data.train).lexically_normal().string();
    base.data.valid = fs::absolute(base.data.valid).lexically_normal().string();
    // The base's `auto` values are chosen once, for every trial alike (the same step budget).
    const trainer::DataFacts facts = trainer::data_facts(*data::Dataset::open(base.data.train));
    const std::vector<trainer::AutoChoice> choices = trainer::resolve_auto(base, facts);
    const std::string space_text = core::read_file(a->space, "search space");
    const sweep::SearchSpace space = sweep::parse_space(space_text, a->space);

    sweep::SweepSettings settings;
    settings.sampler = a->sampler;
    settings.seed = static_cast<uint64_t>(a->seed >= 0 ? a->seed : base.run.seed);
    settings.scheduler = a->scheduler;
    settings.objective = sweep::parse_objective(a->objective);
    settings.eta = a->eta;
    settings.rungs = a->scheduler == "asha"
                         ? sweep::rung_steps({a->min_steps, base.train.steps.get(), a->eta})
                         : std::vector<int64_t>{base.train.steps.get()};
    settings.heartbeat_s = a->heartbeat;
    settings.stale_after_s = a->stale_after;
    KILN_CHECK(a->stale_after > 2 * a->heartbeat, UsageError,
               "--stale-after must be more than twice --heartbeat (", a->heartbeat, " s)");
    const std::vector<sweep::Params> trials =
        sweep::sample(space, a->sampler, a->sampler == "random" && a->trials == 0 ? 20 : a->trials,
                      settings.seed);
    settings.trials = static_cast<int64_t>(trials.size());

    // Every trial must make a valid config now, not fail in a worker hours later.
    const std::string base_yaml = trainer::resolved_yaml(base, choices, facts);
    const fs::path check =
        fs::temp_directory_path() / ("kiln-sweep-base-" + std::to_string(::getpid()) + ".yaml");
    core::atomic_write(check.string(), base_yaml);
    try {
      for (std::size_t i = 0; i < trials.size(); ++i) {
        try {
          (void)trial_config(check.string(), trials[i]);
        } catch (const Error& e) {
          throw ConfigError(a->space + ": trial " + std::to_string(i) + " (" + trials[i].dump() +
                            ") does not make a valid config: " + e.what());
        }
      }
    } catch (...) {
      fs::remove(check);
      throw;
    }
    fs::remove(check);
    sweep::create_sweep(a->dir, settings, base_yaml, space_text, trials);
    std::string rungs;
    for (int64_t r : settings.rungs)
      rungs += (rungs.empty() ? "" : "/") + std::to_string(r);
    std::printf(
        "sweep %s: %lld trials (%s, seed %llu), scheduler %s, rungs %s steps, objective %s\n"
        "run it: kiln sweep run --dir %s --workers N   (or kiln sweep worker --dir %s on "
        "each machine)\n",
        a->dir.c_str(), static_cast<long long>(settings.trials), a->sampler.c_str(),
        static_cast<unsigned long long>(settings.seed), a->scheduler.c_str(), rungs.c_str(),
        a->objective.c_str(), a->dir.c_str(), a->dir.c_str());
  });
}

void add_worker(CLI::App& sweep) {
  auto options = std::make_shared<sweep::WorkerOptions>();
  CLI::App* worker = sweep.add_subcommand(
      "worker",
      "Pull trials from the sweep's journal and run them (each a `kiln fit` child) until none "
      "remain; any number of workers at once, on any machines sharing the directory. The name "
      "comes from --worker-id, SLURM_ARRAY_JOB_ID/SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, "
      "else host-pid. SIGTERM, SIGUSR1 or SIGINT: the trial checkpoints and is requeued; exit 75.");
  worker->add_option("--dir", options->dir, "sweep directory")->required();
  worker->add_option("--worker-id", options->id, "this worker's name in the journal (unique)");
  worker->add_option("--metrics-file", options->metrics_file,
                     "keep this node_exporter textfile (PATH.prom) up to date: the sweep's "
                     "trials by state (kiln_sweep_trials), this worker's state, runs and "
                     "heartbeat (docs/SWEEPS.md)");
  worker->callback([options] {
    options->kiln = self_path();
    const int code = sweep::run_worker(*options);
    KILN_CHECK(code == 0, PreemptedError,
               "worker stopped by a signal; its trial checkpointed and was requeued");
  });
}

void add_run(CLI::App& sweep) {
  auto options = std::make_shared<sweep::LaunchOptions>();
  auto gpus = std::make_shared<std::string>();
  CLI::App* run = sweep.add_subcommand(
      "run",
      "Run the sweep with N local workers (`kiln sweep worker` processes) until it is done.");
  run->add_option("--dir", options->dir, "sweep directory")->required();
  run->add_option("--workers", options->workers,
                  "worker processes; each one's trials get OMP_NUM_THREADS = cores / N "
                  "(LibTorch's threads) unless it is set")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  run->add_option("--gpus", *gpus,
                  "comma-separated GPU ids; worker i sees gpus[i mod n] as CUDA_VISIBLE_DEVICES "
                  "(several workers may share a GPU)");
  run->add_option("--trials-per-gpu", options->trials_per_gpu,
                  "with --gpus: run K trials at once on each GPU (K workers a GPU, "
                  "len(gpus) x K in all, instead of --workers); small models leave a GPU idle "
                  "between their kernels, and K trials fill it")
      ->check(CLI::Range(1, 64))
      ->excludes("--workers");
  run->callback([options, gpus] {
    options->kiln = self_path();
    options->gpus.clear();
    std::string rest = *gpus;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      const std::string id = rest.substr(0, comma);
      KILN_CHECK(!id.empty(), UsageError, "--gpus: an empty id in '", *gpus, "'");
      options->gpus.push_back(id);
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    }
    const int code = sweep::run_workers(*options);
    const sweep::SweepState state = sweep::Journal::read(options->dir);
    int64_t done = 0;
    for (const auto& t : state.trials)
      done += t.finished();
    std::printf("sweep %s: %lld of %zu trials finished\n", options->dir.c_str(),
                static_cast<long long>(done), state.trials.size());
    if (code == static_cast<int>(ExitCode::kPreempted))
      throw PreemptedError("stopped by a signal; running trials checkpointed and were requeued");
    KILN_CHECK(code == 0, InternalError, "a worker exited with ", code, " (its log is above)");
  });
}

void add_status(CLI::App& sweep) {
  auto dir = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* status = sweep.add_subcommand("status", "Show each trial's state, rung and value.");
  status->add_option("--dir", *dir, "sweep directory")->required();
  status->add_flag("--json", *as_json, "print the state as JSON");
  status->callback([dir, as_json] {
    const sweep::SweepSettings settings = sweep::SweepSettings::read(*dir);
    const sweep::SweepState state = sweep::Journal::read(*dir);
    const double now = sweep::journal_now();
    json trials = json::array();
    std::map<std::string, int64_t> counts;
    for (const auto& t : state.trials) {
      ++counts[sweep::state_name(t.state)];
      auto r = t.last_result();
      json row = {{"trial", t.id},
                  {"state", sweep::state_name(t.state)},
                  {"rung", t.rung},
                  {"steps", r ? r->steps : 0},
                  {"value", r ? json(r->value) : json(nullptr)},
                  {"worker", t.worker},
                  {"params", t.params}};
      if (t.state == sweep::Trial::State::kRunning) row["heartbeat_age_s"] = now - t.heartbeat;
      if (!t.reason.empty()) row["reason"] = t.reason;
      trials.push_back(std::move(row));
    }
    if (*as_json) {
      std::cout
          << json{{"settings", settings.to_json()}, {"counts", counts}, {"trials", trials}}.dump(2)
          << "\n";
      return;
    }
    std::printf("sweep %s: %lld trials;", dir->c_str(),
                static_cast<long long>(state.trials.size()));
    for (const auto& [name, n] : counts)
      std::printf(" %s %lld", name.c_str(), static_cast<long long>(n));
    std::printf("\n%-8s %-10s %4s %7s %10s  %s\n", "trial", "state", "rung", "steps",
                settings.objective.name().c_str(), "worker");
    for (const auto& row : trials) {
      std::printf(
          "%-8s %-10s %4lld %7lld %10s  %s%s\n", row["trial"].get<std::string>().c_str(),
          row["state"].get<std::string>().c_str(),
          static_cast<long long>(row["rung"].get<int64_t>()),
          static_cast<long long>(row["steps"].get<int64_t>()),
          row["value"].is_null() ? "" : std::to_string(row["value"].get<double>()).c_str(),
          row["worker"].get<std::string>().c_str(),
          row.contains("reason") ? ("  (" + row["reason"].get<std::string>() + ")").c_str() : "");
    }
  });
}

void add_best(CLI::App& sweep) {
  auto dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  CLI::App* best = sweep.add_subcommand(
      "best", "Print the best trial and write its config, which kiln fit --config takes as it is.");
  best->add_option("--dir", *dir, "sweep directory")->required();
  best->add_option("--out", *out, "where to write the best config; default <dir>/best.yaml");
  best->add_flag("--json", *as_json, "print the best trial as JSON");
  best->callback([dir, out, as_json] {
    const sweep::SweepSettings settings = sweep::SweepSettings::read(*dir);
    const sweep::SweepState state = sweep::Journal::read(*dir);
    const sweep::Trial* b = sweep::best_trial(state, settings.objective);
    KILN_CHECK(b != nullptr, InputError, *dir, ": no trial has a result yet");
    const std::string config = write_best_config(*dir, settings, state, *out);
    json j = {{"trial", b->id},
              {"state", sweep::state_name(b->state)},
              {"objective", settings.objective.name()},
              {"value", b->last_result()->value},
              {"steps", b->last_result()->steps},
              {"params", b->params},
              {"run_dir", sweep::trial_dir(fs::absolute(*dir).string(), b->id)},
              {"config", config}};
    if (*as_json) {
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("best: trial %s (%s), %s %.6f at step %lld\nparams: %s\nconfig: %s\n",
                b->id.c_str(), sweep::state_name(b->state), settings.objective.name().c_str(),
                b->last_result()->value, static_cast<long long>(b->last_result()->steps),
                b->params.dump().c_str(), config.c_str());
  });
}

void add_report(CLI::App& sweep) {
  auto dir = std::make_shared<std::string>();
  CLI::App* report = sweep.add_subcommand(
      "report",
      "Write <dir>/report.json and report.html (leaderboard, objective by parameter, ASHA rungs "
      "and their rank correlation, the search's progress) and <dir>/best.yaml.");
  report->add_option("--dir", *dir, "sweep directory")->required();
  report->callback([dir] {
    const std::string d = fs::absolute(*dir).lexically_normal().string();
    const sweep::SweepSettings settings = sweep::SweepSettings::read(d);
    const sweep::SweepState state = sweep::Journal::read(d);
    const std::string space_path = (fs::path(d) / "space.yaml").string();
    const sweep::SearchSpace space =
        sweep::parse_space(core::read_file(space_path, "search space"), space_path);
    const std::string config = write_best_config(d, settings, state, "");
    const json report = sweep::sweep_report(d, settings, space, state, config);
    core::atomic_write((fs::path(d) / "report.json").string(), report.dump(1) + "\n");
    core::atomic_write((fs::path(d) / "report.html").string(), sweep::render_sweep_html(report));
    std::printf("report: %s/report.html (and report.json)%s%s\n", d.c_str(),
                config.empty() ? "" : "; best config: ", config.c_str());
  });
}

}  // namespace

void add_sweep_command(CLI::App& app) {
  CLI::App* sweep = app.add_subcommand(
      "sweep",
      "Hyperparameter sweeps: grid or random search, ASHA, a crash-proof journal, local, Slurm "
      "and Kubernetes workers (docs/SWEEPS.md).");
  sweep->require_subcommand(1);
  add_init(*sweep);
  add_worker(*sweep);
  add_run(*sweep);
  add_status(*sweep);
  add_best(*sweep);
  add_report(*sweep);
}

}  // namespace kiln::cli
