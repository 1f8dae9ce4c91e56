// Gates: pass/fail conditions on an evaluation, e.g. `auroc >= 0.80`,
// `auroc >= baseline.auroc - 0.002`, `ap.ci_low > baseline.ap`, `ece <= 0.02`.
//
//   gate := side OP side          OP: >= <= > <
//   side := number | ref [(+|-) number]
//   ref  := [baseline[.NAME].]METRIC[.ci_low|.ci_high]
//
// `baseline.METRIC` is the first baseline given; `baseline.NAME.METRIC` a named one.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kiln::eval {

// The metrics a gate may name.
const std::vector<std::string>& gate_metrics();

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
Gate parse_gate(const std::string& text);

struct GateResult {
  std::string gate;
  bool passed = false;
  double left = 0, right = 0;
  std::string detail;  // why it failed when a value is undefined
};

// The value a ref names, or nullopt when there is no such baseline (ConfigError then).
// A NaN value (e.g. log loss of scores that are not probabilities) fails the gate.
using GateLookup = std::function<std::optional<double>(const GateRef&)>;
GateResult evaluate_gate(const Gate& gate, const GateLookup& lookup);

}  // namespace kiln::eval
