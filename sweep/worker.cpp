#include "sweep/worker.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/errors.h"
#include "core/files.h"
#include "core/log.h"
#include "core/process.h"
#include "core/signals.h"
#include "core/textfile_metrics.h"
#include "core/thread_pool.h"
#include "core/topology.h"
#include "sweep/sweep.h"

namespace kiln::sweep {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using core::Child;
using core::exit_code_of;
using core::spawn;

void pause_for(double seconds, const core::StopSignals& signals) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (signals.received() == 0 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

// The worker's node_exporter textfile (WorkerOptions::metrics_file); disabled without one.
class WorkerMetrics {
 public:
  WorkerMetrics(const std::string& path, const std::string& dir, const std::string& worker)
      : file_(path, {{"sweep", fs::path(dir).filename().string()}, {"worker", worker}}) {}

  // The sweep as `s` has it and this worker's `state` ("running", "waiting", "done",
  // "preempted") after `runs` trial runs: written now when `now`, else every few seconds.
  void update(const SweepState& s, const char* state, int runs, bool now = false) {
    if (!file_.enabled()) return;
    for (const auto t : {Trial::State::kQueued, Trial::State::kRunning, Trial::State::kPaused,
                         Trial::State::kCompleted, Trial::State::kPruned, Trial::State::kFailed})
      file_.set("kiln_sweep_trials", "gauge", "The sweep's trials in each state.",
                static_cast<double>(std::count_if(s.trials.begin(), s.trials.end(),
                                                  [&](const Trial& x) { return x.state == t; })),
                {{"state", state_name(t)}});
    file_.set_state("kiln_sweep_worker_state", "1 for the worker's state, 0 for the others.",
                    {"running", "waiting", "done", "preempted"}, state);
    file_.set("kiln_sweep_worker_runs_total", "counter",
              "Trial runs (one rung each) this worker has started.", runs);
    file_.set_heartbeat("kiln_sweep_worker_heartbeat_timestamp_seconds",
                        "Unix time of the worker's last sign of life.");
    if (now)
      file_.write();
    else
      file_.write_every(std::chrono::seconds(5));
  }

 private:
  core::TextfileMetrics file_;
};

// Why a trial failed: the reason its status.json gives when it says "failed" (an older
// status may be left from an earlier rung), else the signal that killed it, else the last
// line the trial printed.
std::string failure_reason(const std::string& tdir, int exit_code) {
  try {
    const json status = json::parse(core::read_file((fs::path(tdir) / "status.json").string()));
    if (status.value("state", "") == "failed" && status.contains("reason") &&
        status["reason"].is_string() && !status["reason"].get<std::string>().empty())
      return status["reason"].get<std::string>();
  } catch (const std::exception&) {
  }
  if (exit_code > 128) return "killed by signal " + std::to_string(exit_code - 128);
  std::string last;
  try {
    std::istringstream lines(core::read_file((fs::path(tdir) / "fit.log").string()));
    for (std::string line; std::getline(lines, line);)
      if (!line.empty() && !line.starts_with("--- ")) last = line;
  } catch (const std::exception&) {
  }
  return last.empty() ? "no reason given" : last;
}

// The event that records a finished run of a trial.
// `forwarded`: the stop signal the worker passed on (0: none). A trial that signal killed
// before it could catch it (while starting) is requeued like one that checkpointed.
json outcome_event(const Job& job, const SweepSettings& settings, const std::string& tdir,
                   int exit_code, int forwarded, double wall_s) {
  json e = {{"trial", job.trial}, {"lease", job.lease}, {"wall_s", wall_s}};
  if (exit_code == static_cast<int>(ExitCode::kPreempted) ||
      (forwarded != 0 && exit_code == 128 + forwarded)) {
    e["event"] = "requeue";
    e["reason"] = exit_code == static_cast<int>(ExitCode::kPreempted)
                      ? "stopped by a signal; resumes from its checkpoint"
                      : "stopped by a signal while starting; starts again";
    return e;
  }
  if (exit_code == 0) {
    const std::string path = (fs::path(tdir) / "result.json").string();
    try {
      const json r = json::parse(core::read_file(path, "trial result"));
      const json& value = r.at("objective").at("value");
      KILN_CHECK(value.is_number(), DataError, "objective.value is not a number");
      const bool last_rung = job.rung + 1 == static_cast<int>(settings.rungs.size());
      e["event"] = "rung";
      e["rung"] = job.rung;
      e["steps"] = r.at("steps").get<int64_t>();
      e["value"] = value.get<double>();
      e["final"] = last_rung || r.at("stopped_early").get<bool>();
      return e;
    } catch (const std::exception& error) {
      e["event"] = "finish";
      e["state"] = "failed";
      e["exit"] = static_cast<int>(ExitCode::kBadData);
      e["reason"] = path + ": " + error.what();
      return e;
    }
  }
  e["event"] = "finish";
  e["state"] = "failed";
  e["exit"] = exit_code;
  e["reason"] = failure_reason(tdir, exit_code);
  return e;
}

// Appends `event` if `job`'s lease is still current; false when it was revoked.
bool record(Journal& journal, const Job& job, json event) {
  bool current = true;
  journal.transact([&](const SweepState& s) -> std::vector<json> {
    const Trial* t = s.find(job.trial);
    current = t != nullptr && t->state == Trial::State::kRunning && t->lease == job.lease;
    if (!current) return {};
    return {std::move(event)};
  });
  return current;
}

// Runs one claimed trial to its rung. Returns false when a signal stopped it.
bool run_trial(const core::StopSignals& signals, Journal& journal, const SweepSettings& settings,
               const WorkerOptions& options, const std::string& dir, const std::string& worker,
               const Job& job, WorkerMetrics& metrics, int runs) {
  const std::string tdir = trial_dir(dir, job.trial);
  fs::create_directories(tdir);
  const Trial* trial = journal.state().find(job.trial);
  std::vector<std::string> argv = {options.kiln,
                                   "fit",
                                   "--config",
                                   (fs::path(dir) / "base.yaml").string(),
                                   "run.dir=" + json(dir).dump(),
                                   "run.experiment=\"trials\"",
                                   "run.name=" + json(job.trial).dump(),
                                   "train.metric=" + json(settings.objective.metric).dump(),
                                   "train.stop_at=" + std::to_string(job.steps),
                                   "log.prometheus_textfile=\"\"",  // the worker's file says it
                                   "train.refit=false"};  // a trial's objective is its valid metric
  for (const std::string& o : overrides_of(trial->params))
    argv.push_back(o);
  argv.push_back("--resume");
  argv.push_back("auto");
  core::log_info(detail::concat("worker ", worker, ": trial ", job.trial, " rung ", job.rung,
                                " to ", job.steps, " steps (lease ", job.lease, ")"));
  const std::string log = (fs::path(tdir) / "fit.log").string();
  std::string header = "--- " + core::utc_timestamp() + " worker " + worker + " lease " +
                       std::to_string(job.lease) + ":";
  for (const auto& a : argv)
    header += " " + a;
  if (const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      fd >= 0) {
    header += "\n";
    (void)!::write(fd, header.data(), header.size());
    ::close(fd);
  }
  const auto start = Clock::now();
  Child child;
  try {
    child.pid = spawn(argv, {}, log, true);
  } catch (const Error& e) {  // this worker cannot run trials: give the trial back and stop
    record(journal, job,
           {{"event", "requeue"},
            {"trial", job.trial},
            {"lease", job.lease},
            {"reason", std::string("worker ") + worker + " could not start it: " + e.what()}});
    throw;
  }
  auto next_beat = start + std::chrono::duration<double>(settings.heartbeat_s);
  int forwarded = 0;
  int exit_code = -1;
  while ((exit_code = child.poll()) < 0) {
    if (signals.received() != 0 && forwarded == 0) {
      // kiln fit checkpoints on SIGTERM and SIGUSR1; SIGINT would kill it.
      forwarded = signals.received() == SIGINT ? SIGTERM : signals.received();
      core::log_info(detail::concat("worker ", worker, ": signal ", signals.received(),
                                    ", asking trial ", job.trial, " to checkpoint"));
      ::kill(child.pid, forwarded);
    }
    if (Clock::now() >= next_beat) {
      next_beat += std::chrono::duration<double>(settings.heartbeat_s);
      bool current = true;
      try {
        current = record(journal, job,
                         {{"event", "heartbeat"},
                          {"trial", job.trial},
                          {"lease", job.lease},
                          {"worker", worker}});
      } catch (const OutputError& e) {
        core::log_warn(std::string("heartbeat not written: ") + e.what());
      }
      metrics.update(journal.state(), "running", runs);
      if (!current) {
        core::log_warn(detail::concat("worker ", worker, ": trial ", job.trial,
                                      " was given to another worker (this one was silent too "
                                      "long); stopping my run of it"));
        return true;  // Child's destructor kills it
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  json event = outcome_event(job, settings, tdir, exit_code, forwarded, wall);
  if (!record(journal, job, event))
    core::log_warn(
        detail::concat("worker ", worker, ": trial ", job.trial,
                       " was given to another worker meanwhile; its result is not recorded"));
  else if (event["event"] == "finish")
    core::log_warn(detail::concat("trial ", job.trial, " failed (exit ", exit_code,
                                  "): ", event["reason"].get<std::string>()));
  return forwarded == 0 || event["event"] != "requeue";
}

}  // namespace

std::string worker_identity() {
  const char* array_job = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (array_job && task) return std::string("slurm-") + array_job + "_" + task;
  if (const char* index = std::getenv("JOB_COMPLETION_INDEX"))
    return std::string("k8s-") + index + "-" + core::host_name();
  return core::host_name() + "-" + std::to_string(::getpid());
}

int run_worker(const WorkerOptions& options) {
  const std::string dir = fs::absolute(options.dir).lexically_normal().string();
  const SweepSettings settings = SweepSettings::read(dir);
  const std::string worker = options.id.empty() ? worker_identity() : options.id;
  Journal journal(dir);
  core::StopSignals signals({SIGTERM, SIGUSR1, SIGINT});
  core::log_info(detail::concat("worker ", worker, ": sweep ", dir));
  WorkerMetrics metrics(options.metrics_file, dir, worker);
  int trials = 0;
  while (true) {
    if (signals.received() != 0) {
      core::log_info(detail::concat("worker ", worker, ": stopped by signal ", signals.received()));
      metrics.update(journal.state(), "preempted", trials, true);
      return static_cast<int>(ExitCode::kPreempted);
    }
    Job job;
    journal.transact([&](const SweepState& s) {
      std::vector<json> events;
      job = next_job(s, settings, worker, journal_now(), events);
      return events;
    });
    if (job.kind == Job::Kind::kDone) {
      core::log_info(detail::concat("worker ", worker, ": the sweep is done (", trials,
                                    " runs by this worker)"));
      metrics.update(journal.state(), "done", trials, true);
      return 0;
    }
    if (job.kind == Job::Kind::kWait) {
      metrics.update(journal.state(), "waiting", trials);
      pause_for(std::min(1.0, settings.heartbeat_s), signals);
      continue;
    }
    ++trials;
    metrics.update(journal.state(), "running", trials, true);
    if (!run_trial(signals, journal, settings, options, dir, worker, job, metrics, trials)) {
      core::log_info(detail::concat("worker ", worker, ": stopped by signal; trial ", job.trial,
                                    " checkpointed and requeued"));
      metrics.update(journal.state(), "preempted", trials, true);
      return static_cast<int>(ExitCode::kPreempted);
    }
  }
}

int run_workers(const LaunchOptions& given) {
  LaunchOptions options = given;
  if (options.trials_per_gpu > 0) {
    KILN_CHECK(!options.gpus.empty(), UsageError, "--trials-per-gpu needs --gpus");
    options.workers = static_cast<int>(options.gpus.size()) * options.trials_per_gpu;
  }
  KILN_CHECK(options.workers >= 1 && options.workers <= 1024, UsageError,
             "--workers: expected 1 to 1024, got ", options.workers);
  const std::string dir = fs::absolute(options.dir).lexically_normal().string();
  (void)SweepSettings::read(dir);  // fail here, not N times
  const std::string host = core::host_name();
  core::StopSignals signals({SIGTERM, SIGUSR1, SIGINT});
  std::vector<Child> children(static_cast<std::size_t>(options.workers));
  // The workers' trials share this machine's cores. LibTorch's intra-op threads (OpenMP)
  // spin while they wait for each other, so N trials that each take every core run several
  // times slower than N trials on a share each (two trials on 2 cores: 19 s against 3.4 s,
  // docs/SWEEPS.md). The user's OMP_NUM_THREADS is kept.
  const char* omp = std::getenv("OMP_NUM_THREADS");
  const std::string threads = std::to_string(std::max(1, core::usable_cores() / options.workers));
  for (int i = 0; i < options.workers; ++i) {
    std::map<std::string, std::string> env;
    if (omp == nullptr || *omp == '\0') env["OMP_NUM_THREADS"] = threads;
    if (!options.gpus.empty())
      env["CUDA_VISIBLE_DEVICES"] = options.gpus[static_cast<std::size_t>(i) % options.gpus.size()];
    const std::string id = host + "-" + std::to_string(::getpid()) + "-w" + std::to_string(i);
    children[static_cast<std::size_t>(i)].pid =
        spawn({options.kiln, "sweep", "worker", "--dir", dir, "--worker-id", id}, env, "", false);
  }
  int forwarded = 0, result = 0, live = options.workers;
  bool preempted = false;
  while (live > 0) {
    if (signals.received() != 0 && forwarded == 0) {
      forwarded = signals.received();
      for (Child& c : children)
        if (c.pid > 0) ::kill(c.pid, forwarded);
    }
    for (Child& c : children) {
      const int code = c.poll();
      if (code < 0) continue;
      --live;
      if (code == static_cast<int>(ExitCode::kPreempted))
        preempted = true;
      else if (code != 0 && result == 0)
        result = code;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return preempted ? static_cast<int>(ExitCode::kPreempted) : result;
}

}  // namespace kiln::sweep
