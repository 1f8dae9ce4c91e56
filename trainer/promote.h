// `kiln registry promote` as a library function: an alias moves to a candidate version only
// on evidence. No LibTorch in this header.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "eval/report.h"
#include "trainer/options.h"

namespace kiln::trainer {

struct PromoteOptions {
  std::string registry;            // the registry directory
  std::string name;                // the model
  std::string from = "candidate";  // an alias or a version (vN): the candidate
  std::string to = "champion";     // the alias that moves
  std::string data;                // the labelled dataset both versions score
  eval::ReportOptions report;      // metrics, intervals and gates; no gates: the default
  bool force = false;              // move without evidence (recorded as forced)
  DeviceChoice device = DeviceChoice::kAuto;
};

// The gate a promotion passes when none is given and the alias holds a version.
inline constexpr const char* kDefaultPromoteGate = "auroc >= baseline.auroc";

struct PromoteResult {
  int64_t candidate = 0;
  std::optional<int64_t> champion;  // what the alias held; nullopt: nothing
  bool moved = false;
  std::string report_id;          // NAME/reports/<id>, attached to the candidate; "" when forced
  nlohmann::ordered_json report;  // report.json; null when forced
};

// Scores `data` with the candidate and the alias's current holder (its baseline "champion"),
// compares them as `kiln eval` does (DeLong for AUROC, paired bootstrap for the rest),
// attaches the report to the candidate, and moves the alias only when every gate passes,
// with compare-and-set on the holder it evaluated (ConflictError, exit 5, when another
// writer moved it meanwhile). When the alias holds nothing the candidate is evaluated alone
// (gates naming a baseline are a ConfigError). With `force` nothing is scored and the move
// is recorded as forced. A failed gate: `moved` false, the report attached and the alias
// unmoved (the caller exits 3 with eval::check_gates). UsageError when the candidate already
// holds the alias, or --from is neither vN nor an alias name.
PromoteResult promote(const PromoteOptions& options);

}  // namespace kiln::trainer
