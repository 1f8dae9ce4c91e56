// A sweep directory (docs/SWEEPS.md): its settings (sweep.json), its creation, and the one
// decision every worker makes under the journal's lock: what to run next. No LibTorch.
//
//   D/sweep.json   settings        D/base.yaml  the resolved base config
//   D/space.yaml   the space       D/journal.jsonl, D/journal.lock
//   D/trials/<id>/ each trial's Kiln run directory (and fit.log)
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "sweep/asha.h"
#include "sweep/journal.h"
#include "sweep/space.h"

namespace kiln::sweep {

// What a sweep maximizes or minimizes: val/<metric> of each trial's result.json.
struct Objective {
  std::string metric = "auroc";  // auroc | ap | log_loss (train.metric of every trial)
  bool maximize = true;
  std::string name() const { return "val/" + metric; }
};

// Parses "val/auroc", "val/auroc:max", "val/log_loss:min", ... ConfigError naming the text
// for another metric or a direction the metric does not have.
Objective parse_objective(const std::string& text);

struct SweepSettings {
  std::string sampler = "random";  // grid | random
  int64_t trials = 0;              // trials in the sweep
  uint64_t seed = 0;               // the sampler's seed
  std::string scheduler = "asha";  // asha | none
  Objective objective;
  int64_t eta = 3;             // ASHA's reduction factor
  std::vector<int64_t> rungs;  // step budget of each rung; one rung without ASHA
  double heartbeat_s = 10;     // how often a worker says it is alive
  double stale_after_s = 60;   // a running trial whose worker is silent this long is requeued

  nlohmann::ordered_json to_json() const;
  // Reads D/sweep.json as untrusted input: InputError when missing, DataError when malformed.
  static SweepSettings read(const std::string& dir);
};

// Creates the sweep's files in `dir` (made if missing): base.yaml, space.yaml, the journal
// with one "add" event per trial, then sweep.json, whose presence marks a sweep. UsageError
// (64) when `dir` already holds a sweep: nothing is overwritten.
void create_sweep(const std::string& dir, const SweepSettings& settings,
                  const std::string& base_yaml, const std::string& space_text,
                  const std::vector<Params>& trials);

// A trial's run directory: D/trials/<id>.
std::string trial_dir(const std::string& dir, const std::string& trial);

struct Job {
  enum class Kind { kRun, kWait, kDone };
  Kind kind = Kind::kDone;
  std::string trial;  // kRun: the trial, the rung to train it to, its budget and lease
  int rung = 0;
  int64_t steps = 0;
  int64_t lease = 0;
};

// What `worker` (which holds no trial) does next, and the journal events that record it:
//  1. requeue running trials whose worker has been silent for stale_after_s, and those
//     held under this worker's own id (it was restarted);
//  2. claim, in this order, a trial with work in progress that was requeued, an ASHA
//     promotion, the next new trial;
//  3. otherwise wait while any trial runs, or, when none does, prune the paused trials and
//     report the sweep done.
Job next_job(const SweepState& state, const SweepSettings& settings, const std::string& worker,
             double now, std::vector<nlohmann::json>& events);

// The trial ranked first: completed trials (the last rung, or stopped early) first, then the
// highest rung reached, then the best value there, then the earliest; nullptr when no trial
// has a result.
const Trial* best_trial(const SweepState& state, const Objective& objective);
// Every trial with a result in that order, then the rest in id order.
std::vector<const Trial*> leaderboard(const SweepState& state, const Objective& objective);

}  // namespace kiln::sweep
