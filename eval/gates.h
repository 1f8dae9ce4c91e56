// Gates: pass/fail conditions on an evaluation, e.g. `auroc >= 0.80`,
// `auroc >= baseline.auroc - 0.002`, `ap.ci_low > baseline.ap`, `ece <= 0.02`.
//
//   gate := side OP side          OP: >= <= > <
//   side := number | ref [(+|-) number]
//   ref  := [baseline[.NAME].]METRIC[.ci_low|.ci_high]
//
// `baseline.METRIC` is the first baseline given; `baseline.NAME.METRIC` a named one.
// Other commands gate on their own names (kiln drift: `drift_share < 0.3`,
// `psi.amount < 0.2`), with no baselines: see GateNames.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kiln::eval {

// The metrics a gate may name.
const std::vector<std::string>& gate_metrics();

// What a gate's refs may name. kiln eval's (the default) are gate_metrics() with baselines
// and .ci_low/.ci_high; a command with names of its own lists them whole (`drift_share`)
// or as prefixes followed by a column's name (`psi.` in `psi.amount`), and the whole word
// is the ref's metric.
struct GateNames {
  std::vector<std::string> exact;
  std::vector<std::string> prefixes;
  bool baselines = false;
  std::string example;  // for error messages: gates that parse, and the doc that says more
};
const GateNames& eval_gate_names();

struct GateRef {
  bool baseline = false;
  std::string baseline_name;  // "": the first baseline
  std::string metric;
  std::string part = "value";  // value, ci_low or ci_high
  std::string text() const;
};

struct GateSide {
  std::optional<GateRef> ref;  // none: a plain number
  double number = 0;           // the number, or the offset added to the ref
};

struct Gate {
  std::string text;
  GateSide left, right;
  std::string op;
};

// ConfigError (78) naming the gate and what is wrong (unknown metric: the nearest one).
Gate parse_gate(const std::string& text, const GateNames& names = eval_gate_names());

struct GateResult {
  std::string gate;
  bool passed = false;
  double left = 0, right = 0;
  std::string detail;  // why it failed when a value is undefined
  // {gate, passed, left, right, detail}; an undefined side is null.
  nlohmann::ordered_json to_json() const;
};

// The value a ref names, or nullopt when there is no such baseline (ConfigError then).
// A NaN value (e.g. log loss of scores that are not probabilities) fails the gate.
using GateLookup = std::function<std::optional<double>(const GateRef&)>;
GateResult evaluate_gate(const Gate& gate, const GateLookup& lookup);

}  // namespace kiln::eval
