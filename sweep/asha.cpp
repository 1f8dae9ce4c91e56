#include "sweep/asha.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"

namespace kiln::sweep {

std::vector<int64_t> rung_steps(const AshaOptions& o) {
  KILN_CHECK(o.eta >= 2, ConfigError, "--eta: must be at least 2, got ", o.eta);
  KILN_CHECK(o.max_steps >= 1, ConfigError, "train.steps: must be at least 1, got ", o.max_steps);
  const double eta = static_cast<double>(o.eta);
  const int64_t min_steps =
      o.min_steps > 0
          ? o.min_steps
          : std::max<int64_t>(1, std::llround(static_cast<double>(o.max_steps) / (eta * eta)));
  KILN_CHECK(min_steps <= o.max_steps, ConfigError, "--min-steps: ", min_steps,
             " is more than train.steps (", o.max_steps, ")");
  const int k = static_cast<int>(std::floor(
      std::log(static_cast<double>(o.max_steps) / static_cast<double>(min_steps)) / std::log(eta) +
      1e-9));
  std::vector<int64_t> rungs;
  for (int i = k; i >= 0; --i)
    rungs.push_back(
        std::max<int64_t>(1, std::llround(static_cast<double>(o.max_steps) / std::pow(eta, i))));
  return rungs;
}

std::optional<std::string> promotion(const SweepState& state, const std::vector<int64_t>& rungs,
                                     int64_t eta, bool maximize) {
  for (int k = static_cast<int>(rungs.size()) - 2; k >= 0; --k) {
    struct Entry {
      double value;
      std::size_t order;
      const Trial* trial;
    };
    std::vector<Entry> results;
    for (std::size_t i = 0; i < state.trials.size(); ++i) {
      const Trial& t = state.trials[i];
      auto r = t.rungs.find(k);
      if (r != t.rungs.end() && std::isfinite(r->second.value))
        results.push_back({r->second.value, i, &t});
    }
    std::sort(results.begin(), results.end(), [&](const Entry& a, const Entry& b) {
      if (a.value != b.value) return maximize ? a.value > b.value : a.value < b.value;
      return a.order < b.order;
    });
    const std::size_t top = results.size() / static_cast<std::size_t>(eta);
    for (std::size_t i = 0; i < top; ++i) {
      const Trial& t = *results[i].trial;
      if (t.state == Trial::State::kPaused && t.rung == k) return t.id;
    }
  }
  return std::nullopt;
}

}  // namespace kiln::sweep
