// ASHA, asynchronous successive halving (Li et al., "A System for Massively Parallel
// Hyperparameter Tuning", 2020), over training steps. No LibTorch.
//
// Rung k trains a trial to rungs[k] steps; the last rung is the full budget. Whenever a
// worker asks for work, a trial paused at rung k is promoted to k+1 if it is among the top
// floor(n / eta) of the n results recorded at rung k so far, highest rung first. Promoted
// trials continue from their own checkpoint; those never promoted end as "pruned".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sweep/journal.h"

namespace kiln::sweep {

struct AshaOptions {
  int64_t min_steps = 0;  // the first rung's budget; 0: max_steps / eta^2 (three rungs)
  int64_t max_steps = 0;  // the last rung's budget: the base config's train.steps
  int64_t eta = 3;        // reduction factor: the top 1/eta of a rung go on
};

// The rungs' step budgets, rounded: max_steps / eta^K, ..., max_steps / eta, max_steps,
// with K = floor(log_eta(max_steps / min_steps)). ConfigError (78) for eta < 2, a budget
// below 1 or min_steps > max_steps.
std::vector<int64_t> rung_steps(const AshaOptions& options);

// The paused trial to promote now, if any: scanning from the highest promotable rung down,
// the best-ranked paused trial among the top floor(n / eta) of rung k's n results. Ties in
// value go to the earlier trial. `maximize` says the objective's direction.
std::optional<std::string> promotion(const SweepState& state, const std::vector<int64_t>& rungs,
                                     int64_t eta, bool maximize);

}  // namespace kiln::sweep
