// The sweep report (docs/SWEEPS.md): report.json for machines, and report.html rendered from
// it (inline SVG, no scripts, no network): the leaderboard, the best trial and its config,
// the objective against each parameter, ASHA's rungs with the rank correlation between
// them, and the best value against the training steps spent.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "sweep/space.h"
#include "sweep/sweep.h"

namespace kiln::sweep {

// report.json. `best_config` is the path of the best trial's config file ("" when none).
nlohmann::ordered_json sweep_report(const std::string& dir, const SweepSettings& settings,
                                    const SearchSpace& space, const SweepState& state,
                                    const std::string& best_config);

std::string render_sweep_html(const nlohmann::ordered_json& report);

// Spearman's rank correlation of paired values (average ranks for ties); NaN for fewer
// than 3 pairs or a constant side.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace kiln::sweep
