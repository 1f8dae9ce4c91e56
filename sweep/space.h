// A sweep's search space and its samplers (docs/SWEEPS.md). No LibTorch.
//
// The space is a YAML map from config keys (dotted, as in overrides) to what they range
// over:
//   optim.weight_decay: [0.0, 0.01, 0.05]        # a grid list
//   model.hidden: {choice: [[256, 128], [512]]}  # one of these values
//   optim.lr: {log_uniform: [1.0e-4, 1.0e-2]}    # exp(uniform(log lo, log hi))
//   model.dropout: {uniform: [0.0, 0.5]}         # uniform(lo, hi)
//   model.embedding_dim: {int: [2, 16]}          # an integer in [lo, hi]
// A grid sweep runs every combination of lists and choices (a continuous range is then an
// error); a random sweep draws each key independently, a list as a choice.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::sweep {

struct Param {
  enum class Kind { kGrid, kChoice, kUniform, kLogUniform, kInt };
  std::string key;  // a config key, e.g. optim.lr
  Kind kind = Kind::kGrid;
  std::vector<nlohmann::json> values;  // grid and choice
  double low = 0, high = 0;            // uniform, log_uniform and int (inclusive)
};

struct SearchSpace {
  std::vector<Param> params;  // in the file's order
};

// One trial's values: an object from config key to value.
using Params = nlohmann::ordered_json;

// Parses a space. ConfigError (78) naming `source` and the key for anything malformed:
// an unknown kind, a range with lo > hi (or lo <= 0 for log_uniform), an empty list.
SearchSpace parse_space(const std::string& yaml_text, const std::string& source);

// The samplers, in one list: "grid" and "random".
const std::vector<std::string>& sampler_names();

// The trials' values. grid: every combination, the last key varying fastest (`trials` must
// be 0 or the number of combinations); random: `trials` draws that depend only on `seed`.
// ConfigError for an unknown sampler, or a continuous range in a grid.
std::vector<Params> sample(const SearchSpace& space, const std::string& sampler, int64_t trials,
                           uint64_t seed);

// `key=value` overrides that set a trial's values (values in JSON, which YAML reads).
std::vector<std::string> overrides_of(const Params& params);

}  // namespace kiln::sweep
