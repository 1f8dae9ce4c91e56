// The metrics docs/cluster/grafana-dashboard.json queries, for tests that check each one is
// written.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "run_kiln.h"

namespace kiln::testing {

// The names starting with `prefix` (kiln_fit_, kiln_sweep_) in the dashboard's queries.
inline std::set<std::string> dashboard_metrics(const std::string& prefix) {
  const nlohmann::json dashboard = nlohmann::json::parse(
      slurp(std::filesystem::path(KILN_SOURCE_DIR) / "docs/cluster/grafana-dashboard.json"));
  const std::regex metric(prefix + "[a-z_]+");
  std::set<std::string> names;
  for (const auto& panel : dashboard["panels"])
    for (const auto& target : panel["targets"]) {
      const std::string expr = target["expr"];
      for (auto m = std::sregex_iterator(expr.begin(), expr.end(), metric);
           m != std::sregex_iterator(); ++m)
        names.insert(m->str());
    }
  return names;
}

}  // namespace kiln::testing
